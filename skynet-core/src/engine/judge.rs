//! Planning, judging and the human gate: submit, approve, deny, cancel, wait.

use super::schedule::Placement;
use super::{JobEvent, Skynet, SubmitRequest};
use crate::job::{Approval, Job, JobId, JobStatus};
use crate::plan::Plan;
use crate::planner::PlanRequest;
use crate::policy::Verdict;
use crate::store::StatusChange;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::broadcast;

/// Longest intent accepted, in bytes.
const MAX_INTENT_BYTES: usize = 16 * 1024;
/// Longest idempotency key accepted, in bytes.
const MAX_IDEMPOTENCY_KEY: usize = 200;
/// Longest step or job time budget accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 86_400);

/// An idempotency key is 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII
/// characters (spaces allowed), whichever front-end it came through: what an
/// HTTP header can carry, so a key works the same everywhere.
fn check_idempotency_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
    {
        return Err(Error::InvalidInput(format!(
            "the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )));
    }
    Ok(())
}

/// Plan the request and run the policy over every step.
pub(crate) async fn plan_and_judge(sk: &Skynet, req: &SubmitRequest) -> Result<(Plan, PathBuf)> {
    plan_and_judge_with(sk, req, &*sk.inner.planner).await
}

/// [`plan_and_judge`] with a given planner (chat proposes its own plan).
pub(crate) async fn plan_and_judge_with(
    sk: &Skynet,
    req: &SubmitRequest,
    planner: &dyn crate::planner::Planner,
) -> Result<(Plan, PathBuf)> {
    let intent = req.intent_text();
    if intent.is_empty() {
        return Err(Error::InvalidInput(
            "the intent is empty: say what to do, e.g. \"check git status and list the files\""
                .into(),
        ));
    }
    if intent.len() > MAX_INTENT_BYTES {
        return Err(Error::InvalidInput(format!(
            "the intent is {} bytes; the limit is {MAX_INTENT_BYTES}",
            intent.len()
        )));
    }
    if let Some(key) = &req.idempotency_key {
        check_idempotency_key(key)?;
    }
    if let Some(p) = &req.provider
        && !sk
            .inner
            .providers
            .contains_key(crate::provider::canonical_name(p))
    {
        return Err(sk.unregistered_provider(p));
    }
    let root = match &req.base {
        Some(base) => super::roots::confined_root(base, req.root.as_deref())?,
        None => crate::policy::resolve_root(req.root.clone())?,
    };
    for (what, limit) in [
        ("step timeout", req.step_timeout),
        ("job timeout", req.job_timeout()),
    ] {
        if let Some(limit) = limit
            && (limit > MAX_TIMEOUT || limit.is_zero())
        {
            return Err(Error::InvalidInput(format!(
                "{what} {limit:?} is out of range: give between 1 ms and {} days",
                MAX_TIMEOUT.as_secs() / 86_400
            )));
        }
    }
    let step_timeout_ms = req.step_timeout.map(|d| d.as_millis() as u64);
    let mut constraints = req.constraints.clone();
    constraints.extend(req.limits.planner_lines());
    // The requester's own similar past runs: data for the planner and
    // an annotation for the approver, never a say in any risk.
    let recalled = sk.recall_runs(&intent, &req.principal).await;
    let preq = PlanRequest {
        intent,
        root: root.clone(),
        context: req.context.clone(),
        constraints,
        step_timeout_ms,
        past_runs: recalled
            .iter()
            .take(crate::memory::recall::PROMPT_RUNS)
            .map(crate::memory::PastRun::from)
            .collect(),
    };
    let mut plan = if req.steps.is_empty() {
        planner.plan(&preq).await?
    } else {
        caller_plan(&req.steps, &preq)?
    };
    // Time limits are resolved when each step runs (crate::timeouts): the
    // provider's and the worker's settings count there. The request's step
    // budget goes with the plan.
    plan.step_timeout_ms = step_timeout_ms;
    // The request's outputs are what the whole plan produces: kept after
    // its last step.
    if let Some(last) = plan.steps.last_mut() {
        last.artifacts.extend(req.artifacts.iter().cloned());
    }
    judge_plan(sk, &mut plan, &root)?;
    req.limits.bound(&mut plan)?;
    sk.estimate(&mut plan, &req.principal).await;
    sk.annotate_history(&mut plan, &recalled, &req.principal)
        .await;
    Ok((plan, root))
}

/// The caller's own steps as a plan, each action built from its
/// parameters (ones it does not take are left out: they change nothing
/// that runs).
fn caller_plan(steps: &[crate::scheduler::SpecStep], preq: &PlanRequest) -> Result<Plan> {
    let spec = crate::scheduler::ExecutionSpec {
        job_id: None,
        steps: steps.to_vec(),
    };
    let described = spec
        .actions()?
        .value
        .into_iter()
        .map(|a| (a.name().replace('_', " "), a))
        .collect();
    let mut plan = crate::planner::scripted::plan_from_actions(preq, described, "caller")?;
    for (step, spec) in plan.steps.iter_mut().zip(steps) {
        step.artifacts = spec.artifacts.clone();
    }
    Ok(plan)
}

/// Classify every step with the policy: risk = max(claim, catalog, policy);
/// any forbidden step refuses the whole plan. A pipeline's stages are each
/// judged as if they ran alone: the step is as risky as its strictest
/// stage, a forbidden stage forbids it, and the decision names the stage
/// that set the risk ([`crate::policy::Policy::check_command`]). The
/// planner's label can only raise a step's risk, never lower it.
pub(crate) fn judge_plan(sk: &Skynet, plan: &mut Plan, root: &Path) -> Result<()> {
    if plan.steps.is_empty() {
        return Err(Error::Planning("the plan has no steps".into()));
    }
    for (i, step) in plan.steps.iter_mut().enumerate() {
        if let Some(why) = pipeline_problem(&step.command) {
            return Err(Error::Planning(format!("{}: {why}", step_label(i, step))));
        }
        let mut decision = crate::probe::judge(&sk.inner.policy, &step.action, &step.command, root);
        if decision.verdict == Verdict::Forbid {
            decision.reasons.insert(0, step_label(i, step));
            return Err(Error::Forbidden {
                decision: Box::new(decision),
            });
        }
        if step.artifacts.is_empty() {
            let program = step.command.argv.first().map_or("", String::as_str);
            let defaults = step.action.default_artifacts(program);
            step.artifacts = defaults.iter().map(|p| p.to_string()).collect();
        }
        if let Err(Error::InvalidInput(why)) =
            crate::artifact::collect::check_patterns(&step.artifacts)
        {
            return Err(Error::InvalidInput(format!(
                "{}: {why}",
                step_label(i, step)
            )));
        }
        step.risk = step.risk.max(step.action.base_risk()).max(decision.risk);
        step.decision = Some(decision);
        step.network = crate::probe::network_label(&step.action, &step.command);
    }
    plan.refresh();
    Ok(())
}

/// What is wrong with a pipeline no planner should have made: a stage
/// without a program, or more stages than
/// [`MAX_STAGES`](crate::action::MAX_STAGES).
fn pipeline_problem(command: &crate::plan::Command) -> Option<String> {
    if !command.is_pipeline() {
        return None;
    }
    if command.stage_count() > crate::action::MAX_STAGES {
        return Some(format!(
            "the pipeline has {} stages; at most {} are run",
            command.stage_count(),
            crate::action::MAX_STAGES
        ));
    }
    command
        .stages()
        .position(|argv| argv.first().is_none_or(|p| p.trim().is_empty()))
        .map(|i| format!("stage {} of the pipeline names no program", i + 1))
}

/// How messages name a step: `step 2 (Run the tests)`.
pub(crate) fn step_label(index: usize, step: &crate::plan::Step) -> String {
    format!("step {} ({})", index + 1, step.description)
}

impl Skynet {
    /// Plan, judge and record a job. READ_ONLY plans are queued at once
    /// (when auto-approval is on); anything riskier waits in `planned`.
    pub async fn submit(&self, req: SubmitRequest) -> Result<Job> {
        self.submit_with(req, &*self.inner.planner).await
    }

    /// [`Skynet::submit`] with a given planner.
    pub(crate) async fn submit_with(
        &self,
        req: SubmitRequest,
        planner: &dyn crate::planner::Planner,
    ) -> Result<Job> {
        let (job, placed) = self.prepare_job(&req, planner).await?;
        self.insert_new(job, &req, placed).await
    }

    /// The job `req` asks for, planned, judged, placed and gated, not yet
    /// stored: every submit path (by hand, a schedule's tick, an
    /// initiative proposal) makes its job here.
    pub(crate) async fn prepare_job(
        &self,
        req: &SubmitRequest,
        planner: &dyn crate::planner::Planner,
    ) -> Result<(Job, Placement)> {
        let (plan, root) = plan_and_judge_with(self, req, planner).await?;
        let placed = self.place(&plan, req.requested_provider()).await?;
        let auto = self.runs_unasked(&plan, &placed).await;
        let job = self.new_job(req, plan, root, placed.provider.clone(), auto);
        Ok((job, placed))
    }

    /// Whether `plan`, placed on its provider, runs without a human: it
    /// needs no approval, and (failing closed) its provider confines
    /// READ_ONLY steps, so a local step without a working sandbox waits for
    /// a human like a WRITE one.
    pub(crate) async fn runs_unasked(&self, plan: &Plan, placed: &Placement) -> bool {
        !self.needs_approval(plan) && self.confines_read_only(&placed.provider).await
    }

    /// Whether a human must approve `plan` before it runs: anything but a
    /// READ_ONLY plan whose every step the policy allows, or everything
    /// when auto-approval is off. The one place this is decided.
    pub fn needs_approval(&self, plan: &Plan) -> bool {
        let read_only = plan.risk == crate::RiskLevel::ReadOnly
            && plan.steps.iter().all(|s| {
                s.decision
                    .as_ref()
                    .is_none_or(|d| d.verdict == Verdict::Allow)
            });
        !(read_only && self.inner.config.auto_approve_read_only)
    }

    /// Record a judged plan as a job: queued (approved by `auto`) when
    /// `auto`, else awaiting approval. With an idempotency key already
    /// used, the first job is returned when this request is the same, and
    /// [`Error::IdempotencyConflict`] refuses it when it is not.
    pub(crate) async fn record(
        &self,
        req: &SubmitRequest,
        plan: Plan,
        root: PathBuf,
        placed: Placement,
        auto: bool,
    ) -> Result<Job> {
        let job = self.new_job(req, plan, root, placed.provider.clone(), auto);
        self.insert_new(job, req, placed).await
    }

    /// The job `req` asks for, with its judged `plan` on `provider`:
    /// queued (approved by `auto`) when `auto`, else awaiting approval.
    pub(crate) fn new_job(
        &self,
        req: &SubmitRequest,
        plan: Plan,
        root: PathBuf,
        provider: String,
        auto: bool,
    ) -> Job {
        let now = Utc::now();
        let request_hash = req
            .idempotency_key
            .as_ref()
            .map(|_| request_hash(req, &root));
        Job {
            id: JobId::new(),
            intent: req.intent_text(),
            status: if auto {
                JobStatus::Queued
            } else {
                JobStatus::Planned
            },
            risk: plan.risk,
            approval: auto.then(|| Approval {
                approver: "auto".into(),
                plan_hash: plan.hash.clone(),
                at: now,
            }),
            plan: Some(plan),
            root,
            provider,
            priority: req.priority,
            attempts: 0,
            max_attempts: self.inner.config.max_attempts,
            lease: None,
            run_at: now,
            timeout_ms: req
                .job_timeout()
                .or(self.inner.config.timeouts.job)
                .map(|d| d.as_millis() as u64),
            created_at: now,
            queued_at: auto.then_some(now),
            started_at: None,
            finished_at: None,
            error: None,
            source: req.source,
            idempotency_key: req.idempotency_key.clone(),
            request_hash,
            principal: req.principal.clone(),
            expires_at: (!auto).then(|| {
                chrono::Duration::from_std(self.inner.config.approval_ttl)
                    .ok()
                    .and_then(|ttl| now.checked_add_signed(ttl))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }),
            retry_of: None,
            origin: None,
        }
    }

    /// Insert `job` (made by [`Skynet::new_job`] for `req`), record its
    /// placement and announce it. A repeated idempotency key returns the
    /// first job, or refuses a different request.
    pub(crate) async fn insert_new(
        &self,
        job: Job,
        req: &SubmitRequest,
        placed: Placement,
    ) -> Result<Job> {
        let (stored, created) = self.inner.store.insert_job(&job).await?;
        if !created {
            if !same_request(&stored, &job, req) {
                return Err(Error::IdempotencyConflict {
                    key: req.idempotency_key.clone().unwrap_or_default(),
                    job: stored.id,
                });
            }
            return Ok(stored);
        }
        self.announce_new(&stored, placed).await;
        Ok(stored)
    }

    /// After a new job is stored: record why it went to its provider and
    /// tell this process's listeners.
    pub(crate) async fn announce_new(&self, stored: &Job, placed: Placement) {
        if let Some(why) = placed.explanation {
            self.record_placement(&stored.id, &why).await;
        }
        self.publish_status(&stored.id, stored.status);
    }

    /// Does `provider` confine READ_ONLY steps (see
    /// [`Provider::confines_read_only`](crate::provider::Provider::confines_read_only))?
    async fn confines_read_only(&self, provider: &str) -> bool {
        match self.inner.providers.get(provider) {
            Some(p) => p.confines_read_only().await,
            None => false,
        }
    }

    /// Why READ_ONLY work placed on `provider` waits for a human, in the
    /// provider's own words
    /// ([`Provider::unconfined_reason`](crate::provider::Provider::unconfined_reason)).
    pub(crate) fn unconfined_reason(&self, provider: &str) -> String {
        let why = match self.inner.providers.get(provider) {
            Some(p) => p.unconfined_reason(),
            None => "is not registered here, so nothing confines READ_ONLY steps there".into(),
        };
        format!("provider `{provider}` {why}")
    }

    /// Approve the job's plan. `plan_hash` (full, or a prefix of at least
    /// [`crate::plan::MIN_HASH_PREFIX`] hex digits) must name the plan the
    /// job holds now, so approving plan A never runs plan B.
    pub async fn approve(&self, id: &JobId, plan_hash: &str, approver: &str) -> Result<Job> {
        if approver.trim().is_empty() {
            return Err(Error::InvalidInput("the approver's name is empty".into()));
        }
        let job = self.inner.store.get_job(id).await?;
        let approval = approval_of(&job, plan_hash, approver)?;
        let job = self.inner.store.approve(id, approval).await?;
        self.publish_status(&job.id, job.status);
        Ok(job)
    }

    /// Deny a plan that awaits approval.
    pub async fn deny(&self, id: &JobId, reason: Option<String>, actor: &str) -> Result<Job> {
        let error = reason.unwrap_or_else(|| format!("denied by {actor}"));
        self.change_status(id, JobStatus::Denied, error, actor)
            .await
    }

    /// Cancel a job that has not finished. A running step is killed: at
    /// once in this process, within one heartbeat in any other.
    pub async fn cancel(&self, id: &JobId, actor: &str) -> Result<Job> {
        let job = self
            .change_status(
                id,
                JobStatus::Cancelled,
                format!("cancelled by {actor}"),
                actor,
            )
            .await?;
        if let Ok(running) = self.inner.running.lock()
            && let Some(token) = running.get(id)
        {
            token.cancel();
        }
        Ok(job)
    }

    /// A human's status change (deny, cancel): recorded, then announced.
    async fn change_status(
        &self,
        id: &JobId,
        to: JobStatus,
        error: String,
        actor: &str,
    ) -> Result<Job> {
        let change = StatusChange {
            error: Some(error),
            actor: Some(actor.to_string()),
        };
        let job = self.inner.store.set_status(id, to, change).await?;
        self.publish_status(&job.id, job.status);
        Ok(job)
    }

    /// Wait until the job is terminal (or `timeout` passes:
    /// [`Error::Timeout`]). Wakes on live events, polls the store for
    /// changes made by other processes.
    pub async fn wait(&self, id: &JobId, timeout: Option<Duration>) -> Result<Job> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut rx = self.subscribe();
        loop {
            let job = self.inner.store.get_job(id).await?;
            if job.status.is_terminal() {
                return Ok(job);
            }
            // Read the store again on this job's status changes in this
            // process (not on every output line of every job), or after a
            // poll interval for changes made by other processes.
            let poll = tokio::time::sleep(Duration::from_millis(200));
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    _ = &mut poll => break,
                    event = rx.recv() => match event {
                        Ok(JobEvent::Status { job, .. }) if &job == id => break,
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        _ => {}
                    },
                    _ = async {
                        match deadline {
                            Some(d) => tokio::time::sleep_until(d).await,
                            None => std::future::pending().await,
                        }
                    } => {
                        return Err(Error::Timeout(format!("job {id} is still {} after the wait", job.status)));
                    }
                }
            }
        }
    }
}

/// `approver`'s approval of `job`'s plan, which `plan_hash` (full, or a
/// prefix of at least [`crate::plan::MIN_HASH_PREFIX`] hex digits) must
/// name: the one check of a hash a person gives, for approvals and
/// reviews alike. The store checks the full hash again as it queues.
pub(crate) fn approval_of(job: &Job, plan_hash: &str, approver: &str) -> Result<Approval> {
    crate::plan::Plan::check_hash_text(plan_hash)?;
    let Some(plan) = &job.plan else {
        return Err(Error::InvalidTransition {
            job: job.id.clone(),
            from: job.status,
            to: JobStatus::Queued,
        });
    };
    if !plan.hash_matches(plan_hash) {
        return Err(Error::StaleApproval {
            job: job.id.clone(),
            given: plan_hash.to_string(),
            actual: plan.hash.clone(),
        });
    }
    Ok(Approval {
        approver: approver.trim().to_string(),
        plan_hash: plan.hash.clone(),
        at: Utc::now(),
    })
}

/// Whether `new` (what `req` would have inserted) asks for the same work
/// as `stored`, the job its idempotency key made first: same intent, root,
/// priority and budget, and the same provider when the request names one.
/// SHA-256 over everything a request asks for (the root as confined), so a
/// repeated idempotency key is compared with the whole first request.
fn request_hash(req: &SubmitRequest, root: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let mut whole = serde_json::json!({
        "intent": req.intent.trim(),
        "root": root,
        "provider": req.requested_provider().map(crate::provider::canonical_name),
        "priority": req.priority,
        "timeout_ms": req.timeout.map(|d| d.as_millis() as u64),
        "step_timeout_ms": req.step_timeout.map(|d| d.as_millis() as u64),
        "context": req.context,
        "constraints": req.constraints,
    });
    // Added only when used, so the hashes of requests kept before these
    // fields existed still match.
    if !req.steps.is_empty() {
        whole["steps"] = serde_json::json!(req.steps);
    }
    if req.limits != crate::engine::PlanConstraints::default() {
        whole["limits"] = req.limits.to_json();
    }
    if !req.artifacts.is_empty() {
        whole["artifacts"] = serde_json::json!(req.artifacts);
    }
    hex::encode(Sha256::digest(whole.to_string().as_bytes()))
}

/// Whether a repeated idempotency key comes with the first request again.
/// Jobs from before request hashes were kept are compared field by field.
fn same_request(stored: &Job, new: &Job, req: &SubmitRequest) -> bool {
    if let (Some(a), Some(b)) = (&stored.request_hash, &new.request_hash) {
        return a == b;
    }
    stored.intent == new.intent
        && stored.root == new.root
        && stored.priority == new.priority
        && stored.timeout_ms == new.timeout_ms
        && req
            .provider
            .as_deref()
            .is_none_or(|p| crate::provider::canonical_name(p) == stored.provider)
}
