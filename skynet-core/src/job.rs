//! Jobs, their status and the one transition table.

use crate::plan::Plan;
use crate::risk::RiskLevel;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A job's id: a UUIDv7 string, so ids sort by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        JobId(uuid::Uuid::now_v7().to_string())
    }
    /// Parse an id given by a user; only well-formed UUIDs are accepted.
    pub fn parse(s: &str) -> crate::Result<Self> {
        uuid::Uuid::parse_str(s.trim())
            .map(|u| JobId(u.to_string()))
            .map_err(|_| crate::Error::JobNotFound(s.to_string()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobStatus {
    /// Recorded, not yet planned.
    Created,
    /// Planned and waiting for a human approval.
    Planned,
    /// Approved and waiting for a worker.
    Queued,
    /// A worker holds its lease and runs its steps.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed (or attempts ran out).
    Failed,
    /// A step or the job ran out of time.
    TimedOut,
    /// A human denied the plan.
    Denied,
    /// Cancelled before it finished.
    Cancelled,
    /// A worker was lost while a WRITE/ADMIN step ran: a human must look.
    NeedsReview,
}

/// Every status, in life order.
pub const ALL_STATUSES: [JobStatus; 10] = [
    JobStatus::Created,
    JobStatus::Planned,
    JobStatus::Queued,
    JobStatus::Running,
    JobStatus::Succeeded,
    JobStatus::Failed,
    JobStatus::TimedOut,
    JobStatus::Denied,
    JobStatus::Cancelled,
    JobStatus::NeedsReview,
];

impl JobStatus {
    /// Stable string form, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Created => "created",
            JobStatus::Planned => "planned",
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::TimedOut => "timed_out",
            JobStatus::Denied => "denied",
            JobStatus::Cancelled => "cancelled",
            JobStatus::NeedsReview => "needs_review",
        }
    }

    /// The job's run has ended: no worker and no ordinary status change
    /// moves it further. Only `needs_review` has ways on, and only a
    /// human's review takes them (see [`ReviewResolution`]).
    pub fn is_terminal(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// THE transition table. Everything else (core and SQL compare-and-set)
    /// derives from this one function, and [`ReviewResolution::target`]
    /// for the ways out of `needs_review`, which only a review takes.
    pub fn allowed_next(self) -> &'static [JobStatus] {
        use JobStatus::*;
        match self {
            Created => &[Planned, Queued, Failed, Cancelled],
            Planned => &[Queued, Denied, Cancelled],
            // Running -> Queued is a retry or a READ_ONLY lease recovery.
            Queued => &[Running, Cancelled],
            Running => &[Succeeded, Failed, TimedOut, Cancelled, Queued, NeedsReview],
            Succeeded | Failed | TimedOut | Denied | Cancelled | NeedsReview => &[],
        }
    }

    /// Whether `self -> to` is allowed.
    pub fn can_become(self, to: JobStatus) -> bool {
        self.allowed_next().contains(&to)
    }

    /// The statuses from which `to` may be reached (for SQL `WHERE status IN`).
    pub fn allowed_from(to: JobStatus) -> Vec<JobStatus> {
        ALL_STATUSES
            .into_iter()
            .filter(|s| s.can_become(to))
            .collect()
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        ALL_STATUSES
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                crate::Error::InvalidInput(format!(
                    "unknown job status {s:?}; one of: {}",
                    ALL_STATUSES.map(|s| s.as_str()).join(", ")
                ))
            })
    }
}

/// How a human resolves a job a lost worker left in `needs_review`
/// ([`Skynet::resolve_review`](crate::Skynet::resolve_review)). These are
/// the only ways out of `needs_review`: a worker, the reaper or a plain
/// status change never take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReviewResolution {
    /// Queue it again: it resumes at its first unfinished step, the
    /// interrupted one included. Queueing needs a fresh approval bound to
    /// the plan hash, as any queueing does.
    Requeue,
    /// End it as failed.
    Fail,
    /// End it as succeeded: the reviewer checked that the interrupted
    /// step did what it should.
    MarkSucceeded,
}

/// Every resolution, in the order front-ends list them.
pub const ALL_RESOLUTIONS: [ReviewResolution; 3] = [
    ReviewResolution::Requeue,
    ReviewResolution::Fail,
    ReviewResolution::MarkSucceeded,
];

impl ReviewResolution {
    /// Stable string form (as HTTP and Python take it).
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewResolution::Requeue => "requeue",
            ReviewResolution::Fail => "fail",
            ReviewResolution::MarkSucceeded => "mark_succeeded",
        }
    }

    /// The status a `needs_review` job takes.
    pub fn target(self) -> JobStatus {
        match self {
            ReviewResolution::Requeue => JobStatus::Queued,
            ReviewResolution::Fail => JobStatus::Failed,
            ReviewResolution::MarkSucceeded => JobStatus::Succeeded,
        }
    }
}

impl fmt::Display for ReviewResolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReviewResolution {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        ALL_RESOLUTIONS
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                crate::Error::InvalidInput(format!(
                    "unknown review resolution {s:?}; one of: {}",
                    ALL_RESOLUTIONS.map(|r| r.as_str()).join(", ")
                ))
            })
    }
}

/// Who or what submitted a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobSource {
    /// The `skynet` CLI.
    #[default]
    Cli,
    /// The HTTP API.
    Http,
    /// Python bindings.
    Python,
    /// The Telegram bot.
    Telegram,
    /// An autonomous maintenance proposal.
    Initiative,
    /// A tick of a recurring schedule.
    Schedule,
    /// A trigger fired by an event.
    Trigger,
    /// Embedded library use.
    Library,
}

impl JobSource {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            JobSource::Cli => "cli",
            JobSource::Http => "http",
            JobSource::Python => "python",
            JobSource::Telegram => "telegram",
            JobSource::Initiative => "initiative",
            JobSource::Schedule => "schedule",
            JobSource::Trigger => "trigger",
            JobSource::Library => "library",
        }
    }

    /// Whether the job was started by SKYNET itself (a trigger, a schedule
    /// or the initiative engine) rather than asked for: its events never
    /// fire triggers, so no trigger can start a loop.
    pub fn is_autonomous(self) -> bool {
        matches!(
            self,
            JobSource::Trigger | JobSource::Schedule | JobSource::Initiative
        )
    }
}

impl FromStr for JobSource {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "cli" => JobSource::Cli,
            "http" => JobSource::Http,
            "python" => JobSource::Python,
            "telegram" => JobSource::Telegram,
            "initiative" => JobSource::Initiative,
            "schedule" => JobSource::Schedule,
            "trigger" => JobSource::Trigger,
            "library" => JobSource::Library,
            other => {
                return Err(crate::Error::InvalidInput(format!(
                    "unknown job source {other:?}"
                )));
            }
        })
    }
}

/// Why a job nobody submitted by hand exists: the schedule tick that fired
/// it, or the initiative strategy that proposed it and its reason. Stored
/// with the job (and in its `submitted` event), shown in job views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobOrigin {
    /// One tick of a recurring schedule.
    Schedule {
        /// The schedule's id.
        schedule: String,
        /// The tick it fired for (RFC 3339).
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        tick: DateTime<Utc>,
    },
    /// A proposal of the initiative engine.
    Initiative {
        /// The strategy that proposed it (`maintenance`, `recovery`,
        /// `optimization`, ...).
        strategy: String,
        /// What in the system's state made it propose the job.
        reason: String,
    },
    /// A trigger fired by an event of the global log.
    Trigger {
        /// The trigger's id.
        trigger: String,
        /// The id of the event that fired it.
        event: i64,
    },
}

/// Who approved which plan, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ApprovalView))]
pub struct Approval {
    /// `"auto"` for READ_ONLY auto-approval, else the approver's name.
    pub approver: String,
    /// The plan hash the approver saw; only that plan runs.
    pub plan_hash: String,
    /// When (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: DateTime<Utc>,
}

/// A worker's claim on a running job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Fencing token: every write by the worker must present it.
    pub id: String,
    /// The worker that holds it.
    pub worker: String,
    /// When it lapses unless renewed by a heartbeat.
    pub expires_at: DateTime<Utc>,
}

/// One unit of work: an intent, its plan, and its life so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// What the user asked for, verbatim.
    pub intent: String,
    /// Current status.
    pub status: JobStatus,
    /// The plan (absent only while `created`).
    pub plan: Option<Plan>,
    /// Overall risk (max of the plan's steps).
    pub risk: RiskLevel,
    /// The sandbox root every step is confined to.
    pub root: PathBuf,
    /// Provider name the job runs on.
    pub provider: String,
    /// Higher runs first.
    pub priority: i32,
    /// Approval, once given.
    pub approval: Option<Approval>,
    /// Times a worker has claimed it.
    pub attempts: u32,
    /// Give up (dead-letter as `failed`) after this many attempts.
    pub max_attempts: u32,
    /// The current lease while running.
    pub lease: Option<Lease>,
    /// Not claimable before this instant (delayed retries).
    pub run_at: DateTime<Utc>,
    /// Overall time budget in milliseconds, if any.
    pub timeout_ms: Option<u64>,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Last entered `queued`.
    pub queued_at: Option<DateTime<Utc>>,
    /// First claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// Reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed / was denied / needs review.
    pub error: Option<String>,
    /// Who submitted it.
    pub source: JobSource,
    /// Caller-chosen key: a duplicate submit returns the existing job.
    /// Keys are scoped to the principal: two principals' keys never meet.
    pub idempotency_key: Option<String>,
    /// Who owns the job: the principal that submitted it.
    #[serde(default)]
    pub principal: crate::principal::Principal,
    /// SHA-256 of the whole request that made the job, compared when its
    /// idempotency key comes again (absent on jobs from before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    /// When the request for approval lapses: a plan awaiting approval
    /// (`planned`) may be approved until then, never after (set from
    /// [`EngineConfig::approval_ttl`](crate::EngineConfig::approval_ttl)
    /// when the plan is recorded; absent on auto-approved jobs and on jobs
    /// from before approvals expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The job this one submitted again ([`Skynet::retry`](crate::Skynet::retry)):
    /// the same plan, judged again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<JobId>,
    /// The schedule tick or initiative proposal that made the job (none
    /// for work submitted by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<JobOrigin>,
}

/// What kind of ending a [`JobFailure`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FailureKind {
    /// A step's command exited non-zero or was killed by a signal.
    StepFailed,
    /// A step or the job ran out of time.
    TimedOut,
    /// The execution provider itself failed (not the command).
    Provider,
    /// Cancelled before it finished.
    Cancelled,
    /// A human denied the plan.
    Denied,
    /// A worker was lost mid-step: a human must look.
    NeedsReview,
    /// Anything else (attempts exhausted, a refused plan, ...).
    Other,
}

/// Why a job (or one step) ended without succeeding, as data: front-ends
/// read the fields instead of parsing a message.
///
/// Stored in the ledger's error text as JSON (see [`JobFailure::encode`]);
/// a plain-text error written before failures were structured still reads
/// back, as a failure of the kind its job's status implies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FailureView))]
pub struct JobFailure {
    /// What kind of ending.
    pub kind: FailureKind,
    /// The step it happened in (0-based), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// The step's exit code, when its command exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The provider that failed ([`FailureKind::Provider`] only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The time limit that stopped it and the level that set it
    /// ([`FailureKind::TimedOut`] only; see [`crate::timeouts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<crate::timeouts::TimeLimit>,
    /// What a person reads.
    pub message: String,
}

/// Marks an encoded [`JobFailure`] in the error text.
const FAILURE_TAG: &str = "{\"failure\":";

impl JobFailure {
    /// A failure of `kind` with `message` and no step details.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        JobFailure {
            kind,
            step: None,
            exit_code: None,
            provider: None,
            timeout: None,
            message: message.into(),
        }
    }

    /// The text stored in the ledger's error column: a JSON object that
    /// [`JobFailure::decode`] reads back.
    pub fn encode(&self) -> String {
        serde_json::json!({ "failure": self }).to_string()
    }

    /// Read a stored error text: an encoded failure, or (older rows, and
    /// errors written without structure) a plain message whose kind the
    /// job's `status` implies.
    pub fn decode(text: &str, status: JobStatus) -> JobFailure {
        // The store may have put words in front (`attempts exhausted
        // (3/3): ...`): they become part of the message.
        if let Some(at) = text.find(FAILURE_TAG)
            && let Ok(serde_json::Value::Object(mut o)) = serde_json::from_str(&text[at..])
            && let Some(f) = o.remove("failure")
            && let Ok(mut failure) = serde_json::from_value::<JobFailure>(f)
        {
            failure.message.insert_str(0, &text[..at]);
            return failure;
        }
        let kind = match status {
            JobStatus::TimedOut => FailureKind::TimedOut,
            JobStatus::Cancelled => FailureKind::Cancelled,
            JobStatus::Denied => FailureKind::Denied,
            JobStatus::NeedsReview => FailureKind::NeedsReview,
            _ => FailureKind::Other,
        };
        JobFailure::new(kind, text)
    }

    /// The message of a stored error text (encoded or plain).
    pub fn message_of(text: &str) -> String {
        JobFailure::decode(text, JobStatus::Failed).message
    }

    /// The time limit a stored error text records, if a limit stopped it.
    pub fn timeout_of(text: &str) -> Option<crate::timeouts::TimeLimit> {
        JobFailure::decode(text, JobStatus::TimedOut).timeout
    }

    /// This failure with provider details hidden: a provider's message
    /// may name hosts, paths or credentials.
    pub fn without_provider_details(mut self) -> Self {
        if let (FailureKind::Provider, Some(name)) = (self.kind, &self.provider) {
            let at = self
                .step
                .map(|s| format!("step {}: ", s + 1))
                .unwrap_or_default();
            self.message = format!("{at}provider {name} failed; the details need an admin key");
        }
        self
    }
}

impl Job {
    /// Why the job ended without succeeding, if it did.
    pub fn failure(&self) -> Option<JobFailure> {
        self.error
            .as_deref()
            .map(|text| JobFailure::decode(text, self.status))
    }

    /// The error as a person reads it.
    pub fn error_message(&self) -> Option<String> {
        self.failure().map(|f| f.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_statuses_have_no_exits() {
        for s in ALL_STATUSES {
            assert_eq!(s.is_terminal(), s.allowed_next().is_empty());
        }
        assert!(JobStatus::Succeeded.is_terminal());
        assert!(!JobStatus::Running.is_terminal());
    }

    #[test]
    fn status_round_trips_through_text() {
        for s in ALL_STATUSES {
            assert_eq!(s.as_str().parse::<JobStatus>().ok(), Some(s));
        }
        assert!("bogus".parse::<JobStatus>().is_err());
    }

    #[test]
    fn allowed_from_is_the_inverse_of_allowed_next() {
        for to in ALL_STATUSES {
            for from in JobStatus::allowed_from(to) {
                assert!(from.can_become(to));
            }
        }
        assert_eq!(
            JobStatus::allowed_from(JobStatus::Denied),
            vec![JobStatus::Planned]
        );
    }

    #[test]
    fn review_resolutions_leave_needs_review_only_by_review() {
        for r in ALL_RESOLUTIONS {
            assert_eq!(r.as_str().parse::<ReviewResolution>().ok(), Some(r));
            // Not in the ordinary table: set_status never takes them.
            assert!(!JobStatus::NeedsReview.can_become(r.target()));
        }
        let e = "retry".parse::<ReviewResolution>().expect_err("unknown");
        assert!(
            e.to_string().contains("requeue, fail, mark_succeeded"),
            "{e}"
        );
    }

    #[test]
    fn failures_round_trip_and_plain_text_still_reads() {
        let f = JobFailure {
            kind: FailureKind::Provider,
            step: Some(0),
            exit_code: None,
            provider: Some("mock".into()),
            timeout: None,
            message: "step 1 (x): provider mock: token=abc".into(),
        };
        assert_eq!(JobFailure::decode(&f.encode(), JobStatus::Failed), f);
        let old = JobFailure::decode("not today", JobStatus::Denied);
        assert_eq!(old.kind, FailureKind::Denied);
        assert_eq!(old.message, "not today");
        let cut = JobFailure {
            timeout: Some(crate::timeouts::TimeLimit {
                level: crate::timeouts::TimeoutLevel::Provider,
                limit_ms: 60_000,
            }),
            ..JobFailure::new(FailureKind::TimedOut, "step 1 (x) timed out")
        };
        assert_eq!(JobFailure::decode(&cut.encode(), JobStatus::TimedOut), cut);
        let hidden = f.without_provider_details();
        assert!(!hidden.message.contains("token"), "{}", hidden.message);
        assert!(hidden.message.contains("admin key"));
    }
}
