//! Ledger rules every backend shares: what may be inserted, where a
//! completion or an expired lease sends a job, which event kinds callers
//! may write, and how an event chain is verified. Backends differ only in
//! their SQL.

use crate::job::{Approval, FailureKind, Job, JobFailure, JobId, JobStatus, ReviewResolution};
use crate::risk::RiskLevel;
use crate::store::codec::{micros, to_json};
use crate::store::{
    ChainReport, Completion, Event, Review, StepOutcome, StepRecord, StepStatus, chain,
};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Page size of [`JobStore::list_jobs`] when none is given.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// The largest page [`JobStore::list_jobs`] returns.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// Statuses an approval can queue a job from (every way into `queued`
/// but a retry out of `running`).
pub(crate) fn approvable(status: JobStatus) -> bool {
    status != JobStatus::Running && status.can_become(JobStatus::Queued)
}

/// What the reaper does with a job whose lease expired, given its step
/// checkpoints.
fn reap_decision(job: &Job, steps: &[StepRecord]) -> (JobStatus, String) {
    let worker = job.lease.as_ref().map_or("?", |l| l.worker.as_str());
    // A step that already ended badly decided the job: the worker died
    // between recording the step and finishing the job. Re-running would
    // repeat a step whose outcome is known.
    if let Some(ended) = steps.iter().find(|s| {
        matches!(
            s.status,
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Cancelled
        )
    }) {
        let to = match ended.status {
            StepStatus::TimedOut => JobStatus::TimedOut,
            StepStatus::Cancelled => JobStatus::Cancelled,
            _ => JobStatus::Failed,
        };
        let what = ended
            .error
            .clone()
            .unwrap_or_else(|| format!("step {} {}", ended.index + 1, ended.status.as_str()));
        return (
            to,
            format!("{what} (recorded by worker {worker}, which then lost its lease)"),
        );
    }
    let in_flight = steps
        .iter()
        .find(|s| s.status == StepStatus::Running)
        .map(|s| (s.index, s.risk));
    match in_flight {
        Some((index, risk)) if risk >= RiskLevel::Write => (
            JobStatus::NeedsReview,
            format!(
                "worker {worker} lost its lease while step {} ({risk}) was running; it may \
                 have changed things, so it is not re-run: review the job",
                index + 1
            ),
        ),
        _ if job.attempts >= job.max_attempts => (
            JobStatus::Failed,
            format!(
                "attempts exhausted ({}/{}): worker {worker} lost its lease",
                job.attempts, job.max_attempts
            ),
        ),
        _ => (
            JobStatus::Queued,
            format!(
                "worker {worker} lost its lease during attempt {}/{}; re-queued",
                job.attempts, job.max_attempts
            ),
        ),
    }
}

/// Refuse a job that may not be inserted as it is.
pub(crate) fn check_new_job(job: &Job) -> Result<()> {
    if !matches!(
        job.status,
        JobStatus::Created | JobStatus::Planned | JobStatus::Queued
    ) {
        return Err(Error::InvalidInput(format!(
            "a new job must be created, planned or queued, not {}",
            job.status
        )));
    }
    // The store itself refuses to queue what nobody approved: a queued
    // job must carry an approval of exactly its plan.
    let approved = match (&job.plan, &job.approval) {
        (Some(plan), Some(a)) => a.plan_hash == plan.hash,
        _ => false,
    };
    if job.status == JobStatus::Queued && !approved {
        return Err(Error::InvalidInput(format!(
            "job {} cannot be inserted as queued without an approval of its plan",
            job.id
        )));
    }
    Ok(())
}

/// The change a completion makes to a running `job` held under
/// `lease_id`: the target status, the error, and for a retry when it may
/// run again (attempts exhausted = dead letter: failed).
pub(crate) fn completion_transition(
    job: &Job,
    lease_id: &str,
    completion: Completion,
) -> Transition {
    let mut attempts = None;
    let (to, error, run_at) = match completion {
        Completion::Succeeded => (JobStatus::Succeeded, None, None),
        Completion::Failed(e) => (JobStatus::Failed, Some(e), None),
        Completion::TimedOut(e) => (JobStatus::TimedOut, Some(e), None),
        Completion::Cancelled => (
            JobStatus::Cancelled,
            Some("cancelled while running".to_string()),
            None,
        ),
        Completion::Retry { error, run_at } if job.attempts < job.max_attempts => {
            (JobStatus::Queued, Some(error), Some(run_at))
        }
        Completion::Retry { error, .. } => (
            JobStatus::Failed,
            Some(format!(
                "attempts exhausted ({}/{}): {error}",
                job.attempts, job.max_attempts
            )),
            None,
        ),
        Completion::Released(why) => {
            // Not the job's fault: this attempt does not count.
            attempts = Some(job.attempts.saturating_sub(1));
            (
                JobStatus::Queued,
                Some(why),
                Some(crate::store::codec::now()),
            )
        }
        Completion::NeedsReview(why) => (JobStatus::NeedsReview, Some(why), None),
    };
    let mut t = Transition::to(to)
        .guard("lease_id", lease_id)
        .set("error", error.clone().into())
        .note("attempt", job.attempts)
        .step_error(error.clone());
    if let Some(lease) = &job.lease {
        t = t.note("worker", lease.worker.clone());
    }
    if let Some(limit) = error.as_deref().and_then(JobFailure::timeout_of) {
        t = t.note("timeout", serde_json::json!(limit));
    }
    if let Some(error) = error {
        t = t.note("error", error);
    }
    if let Some(attempts) = attempts {
        t = t
            .set("attempts", Val::Int(attempts.into()))
            .note("released", true);
    }
    if let Some(run_at) = run_at {
        let run_at = chain::truncate_to_micros(run_at);
        t = t
            .set("run_at", Val::Int(micros(run_at)))
            .note("run_at", chain::canonical_time(run_at));
    }
    t
}

/// The change that queues a job under `approval` at `now`: only a job
/// whose plan hash is the approved one (the guard), with the approval
/// recorded and the approver in its event. Every way into `queued` but a
/// retry out of `running` is built here (an approval, a review's requeue).
pub(crate) fn approval_transition(approval: &Approval, now: DateTime<Utc>) -> Result<Transition> {
    let mut t = Transition::to(JobStatus::Queued)
        .guard("plan_hash", approval.plan_hash.clone())
        .set("approval", Val::Text(to_json(approval, "approval")?))
        .set("run_at", Val::Int(micros(now)))
        .set("error", Val::Null)
        .note("actor", approval.approver.clone())
        .note("approver", approval.approver.clone())
        .note("plan_hash", approval.plan_hash.clone());
    t.allowed.retain(|s| approvable(*s));
    Ok(t)
}

/// The change `review` makes to `job` (in `needs_review`) at `now`, with
/// who, why and the resolution in its event. Only from `needs_review`; a
/// requeue is an approval of `review.plan_hash`, and any resolution given
/// a hash holds only while the plan is that one.
pub(crate) fn review_transition(
    job: &Job,
    review: &Review,
    now: DateTime<Utc>,
) -> Result<Transition> {
    let mut t = match review.resolution {
        ReviewResolution::Requeue => {
            let Some(hash) = &review.plan_hash else {
                return Err(Error::InvalidInput(format!(
                    "requeueing job {} queues it again, which needs a fresh approval of its plan: \
                     give the plan hash you reviewed",
                    job.id
                )));
            };
            let approval = Approval {
                approver: review.reviewer.clone(),
                plan_hash: hash.clone(),
                at: now,
            };
            // It runs again: it has not finished.
            approval_transition(&approval, now)?.set("finished_at", Val::Null)
        }
        ReviewResolution::Fail => {
            let error = reviewed_failure(job, review).encode();
            Transition::to(JobStatus::Failed)
                .set("error", Val::Text(error.clone()))
                .step_error(Some(error))
        }
        ReviewResolution::MarkSucceeded => {
            Transition::to(JobStatus::Succeeded).set("error", Val::Null)
        }
    };
    if review.resolution != ReviewResolution::Requeue
        && let Some(hash) = &review.plan_hash
    {
        t = t.guard("plan_hash", hash.clone());
    }
    // Out of `needs_review` only, whatever the target's other ways in.
    t.allowed = vec![JobStatus::NeedsReview];
    Ok(t.note("actor", review.reviewer.clone())
        .note("principal", review.principal.as_str())
        .note("review", review.resolution.as_str())
        .note("reason", review.reason.clone()))
}

/// What a job failed on review records: why it needed a review (its
/// interrupted step kept), then who failed it and why.
fn reviewed_failure(job: &Job, review: &Review) -> JobFailure {
    let before = job.failure();
    let mut message = before
        .as_ref()
        .map(|f| format!("{}; ", f.message))
        .unwrap_or_default();
    message.push_str(&format!("marked failed on review by {}", review.reviewer));
    if let Some(reason) = &review.reason {
        message.push_str(&format!(": {reason}"));
    }
    JobFailure {
        step: before.and_then(|f| f.step),
        ..JobFailure::new(FailureKind::Other, message)
    }
}

/// Event kinds only the status-changing methods may write.
pub(crate) const RESERVED_KINDS: [&str; 2] = ["status", "submitted"];

/// Walk `events` from the job's genesis and compare the end with `head`.
pub(crate) fn verify_chain(id: &JobId, events: &[Event], head: Option<&str>) -> ChainReport {
    let broken = |problem: String| ChainReport {
        events: events.len(),
        intact: false,
        problem: Some(problem),
    };
    let mut prev = chain::genesis(id);
    for e in events {
        if e.prev_hash != prev {
            return broken(format!(
                "event {}: does not link to the event before it (events removed or reordered?)",
                e.seq
            ));
        }
        let expected = chain::event_hash(&prev, id, &e.kind, &e.data, e.at);
        if e.hash != expected {
            return broken(format!("event {}: hash mismatch (data altered?)", e.seq));
        }
        prev = expected;
    }
    // No recorded head is only right for a job without events.
    let recorded = match head {
        Some(head) => head,
        None if events.is_empty() => prev.as_str(),
        None => "",
    };
    if recorded != prev {
        return broken(format!(
            "chain head mismatch: the job records a different last event than the {} found \
             (events were removed or added)",
            events.len()
        ));
    }
    ChainReport {
        events: events.len(),
        intact: true,
        problem: None,
    }
}

/// A caller-chosen event kind, trimmed, unless it is reserved.
pub(crate) fn check_event_kind(kind: &str) -> Result<&str> {
    let kind = kind.trim();
    if kind.is_empty() || RESERVED_KINDS.contains(&kind) {
        return Err(Error::InvalidInput(format!(
            "event kind {kind:?} is not allowed here: status events are written by the \
                 status changes themselves"
        )));
    }
    Ok(kind)
}

/// A step can only finish in a final status.
pub(crate) fn check_step_outcome(outcome: &StepOutcome) -> Result<()> {
    if matches!(outcome.status, StepStatus::Pending | StepStatus::Running) {
        return Err(Error::InvalidInput(format!(
            "a finished step cannot be {}",
            outcome.status.as_str()
        )));
    }
    Ok(())
}

pub(crate) fn no_such_step(id: &JobId, index: u32) -> Error {
    Error::InvalidInput(format!("job {id} has no step with index {index}"))
}

/// A value for one `SET column = ?`.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map_or(Val::Null, Val::Text)
    }
}

/// One compare-and-set status change.
#[derive(Debug)]
pub(crate) struct Transition {
    /// Target status.
    pub to: JobStatus,
    /// The statuses the job may be in (normally `allowed_from(to)`, possibly narrowed).
    pub allowed: Vec<JobStatus>,
    /// Extra `AND column = value` conditions (the lease fence, the plan hash).
    pub guards: Vec<(&'static str, String)>,
    /// Extra `SET column = value` pairs (status, lease clearing,
    /// `queued_at` and `finished_at` are added by `Tx::transition`).
    pub sets: Vec<(&'static str, Val)>,
    /// Event fields besides `from` and `to`.
    pub event: Map<String, Value>,
    /// Text recorded on step checkpoints this change stops.
    pub step_error: Option<String>,
}

impl Transition {
    /// A change to `to` from anywhere the transition table allows.
    pub fn to(to: JobStatus) -> Self {
        Transition {
            to,
            allowed: JobStatus::allowed_from(to),
            guards: Vec::new(),
            sets: Vec::new(),
            event: Map::new(),
            step_error: None,
        }
    }
    /// Add `SET column = value`.
    pub fn set(mut self, column: &'static str, value: Val) -> Self {
        self.sets.push((column, value));
        self
    }
    /// Also require `column = value`.
    pub fn guard(mut self, column: &'static str, value: impl Into<String>) -> Self {
        self.guards.push((column, value.into()));
        self
    }
    /// Record `error` on the job's step checkpoints this change stops.
    pub fn step_error(mut self, error: Option<String>) -> Self {
        self.step_error = error;
        self
    }
    /// Add an event field.
    pub fn note(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.event.insert(key.to_string(), value.into());
        self
    }
}

/// The change that puts a queued `job` under a fresh lease `lease_id` for
/// `worker` at `now`: running, attempt + 1, with the lease in its event.
pub(crate) fn claim_transition(
    job: &Job,
    worker: &str,
    lease_id: &str,
    lease: std::time::Duration,
    now: DateTime<Utc>,
) -> Transition {
    let expires = crate::store::codec::plus(now, lease);
    let attempt = job.attempts.saturating_add(1);
    Transition::to(JobStatus::Running)
        .set("lease_id", Val::Text(lease_id.to_string()))
        .set("lease_worker", Val::Text(worker.to_string()))
        .set("lease_expires_at", Val::Int(micros(expires)))
        .set("attempts", Val::Int(attempt.into()))
        .set(
            "started_at",
            Val::Int(micros(job.started_at.unwrap_or(now))),
        )
        .note("worker", worker)
        .note("attempt", attempt)
        .note("lease", lease_id)
        .note("lease_expires_at", chain::canonical_time(expires))
}

/// What the reaper does with `job`, whose lease `lease_id` expired, given
/// its step checkpoints: the change to apply at `now` and the report of it.
pub(crate) fn reap_transition(
    job: &Job,
    lease_id: &str,
    steps: &[StepRecord],
    now: DateTime<Utc>,
) -> (Transition, crate::store::Reaped) {
    let (to, reason) = reap_decision(job, steps);
    let mut t = Transition::to(to)
        .guard("lease_id", lease_id)
        .set("error", Val::Text(reason.clone()))
        .note("actor", "reaper")
        .note("reason", reason.clone())
        .note("attempt", job.attempts)
        .step_error(Some(reason.clone()));
    if let Some(lease) = &job.lease {
        t = t.note("worker", lease.worker.clone());
    }
    if to == JobStatus::Queued {
        t = t.set("run_at", Val::Int(micros(now)));
    }
    let reaped = crate::store::Reaped {
        job: job.id.clone(),
        status: to,
        reason,
    };
    (t, reaped)
}
