//! Stable, front-end facing views of plans and jobs (the JSON every
//! front-end prints), kept apart from the storage types so those can move.

use crate::job::{Approval, Job, JobFailure};
use crate::plan::{Plan, Step};
use crate::policy::Decision;
use crate::risk::RiskLevel;
use crate::store::StepRecord;
use serde::{Deserialize, Serialize};

/// A plan as shown to people and programs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanView {
    /// One-line summary.
    pub summary: String,
    /// Overall risk.
    pub risk: RiskLevel,
    /// Content hash an approval must name.
    pub hash: String,
    /// Which planner made it.
    pub planner: String,
    /// Steps in order.
    pub steps: Vec<StepView>,
    /// Model tokens and estimated cost (LLM planners only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::plan::PlanUsage>,
}

/// A step as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepView {
    /// What a human reads.
    pub description: String,
    /// The catalog action, `{"kind": ..., params...}`.
    pub action: serde_json::Value,
    /// The argv that runs.
    pub command: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// What is fed to the program's stdin (the content `write_file` writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Effective risk.
    pub risk: RiskLevel,
    /// The policy decision behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Checkpoint (jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StepRecord>,
}

impl PlanView {
    /// View of a plan (without step states).
    pub fn new(plan: &Plan) -> Self {
        Self::with_states(plan, &[])
    }

    /// View of a plan with its step checkpoints (their errors as people
    /// read them).
    pub fn with_states(plan: &Plan, states: &[StepRecord]) -> Self {
        Self::showing(plan, states, Details::Full)
    }

    fn showing(plan: &Plan, states: &[StepRecord], details: Details) -> Self {
        PlanView {
            summary: plan.summary.clone(),
            risk: plan.risk,
            hash: plan.hash.clone(),
            planner: plan.planner.clone(),
            steps: plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| step_view(s, states.get(i).map(|r| details.state(r))))
                .collect(),
            usage: plan.usage.clone(),
        }
    }
}

fn step_view(s: &Step, state: Option<StepRecord>) -> StepView {
    StepView {
        description: s.description.clone(),
        action: serde_json::to_value(&s.action).unwrap_or(serde_json::Value::Null),
        command: s.command.argv.clone(),
        cwd: s.command.cwd.display().to_string(),
        stdin: s.command.stdin.clone(),
        risk: s.risk,
        decision: s.decision.clone(),
        state,
    }
}

/// How much of a provider's failure a viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Details {
    /// Everything (operators, admins, the local user).
    Full,
    /// Not what a provider said when it failed: its message may name
    /// hosts, paths or credentials.
    NoProviderDetails,
}

impl Details {
    fn failure(self, failure: JobFailure) -> JobFailure {
        match self {
            Details::Full => failure,
            Details::NoProviderDetails => failure.without_provider_details(),
        }
    }

    fn state(self, record: &StepRecord) -> StepRecord {
        let mut record = record.clone();
        record.error = record.error.as_deref().map(|e| {
            self.failure(JobFailure::decode(e, crate::JobStatus::Failed))
                .message
        });
        record
    }
}

/// A job as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    /// Id.
    pub id: String,
    /// Intent.
    pub intent: String,
    /// Status.
    pub status: String,
    /// Overall risk.
    pub risk: RiskLevel,
    /// Sandbox root.
    pub root: String,
    /// Provider.
    pub provider: String,
    /// Priority.
    pub priority: i32,
    /// Claims so far / allowed.
    pub attempts: u32,
    /// Max attempts.
    pub max_attempts: u32,
    /// Approval, if given.
    pub approval: Option<Approval>,
    /// Worker holding the lease while running.
    pub worker: Option<String>,
    /// Timestamps (RFC 3339).
    pub created_at: String,
    /// Entered the queue.
    pub queued_at: Option<String>,
    /// First claimed.
    pub started_at: Option<String>,
    /// Finished.
    pub finished_at: Option<String>,
    /// Why it failed, as a person reads it (`failure.message`).
    pub error: Option<String>,
    /// Why it failed, as data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<JobFailure>,
    /// Source.
    pub source: String,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// The plan with step states.
    pub plan: Option<PlanView>,
}

impl JobView {
    /// View of a job with its step checkpoints.
    pub fn new(job: &Job, states: &[StepRecord]) -> Self {
        Self::showing(job, states, Details::Full)
    }

    /// View of a job with its step checkpoints, showing `details`.
    pub fn showing(job: &Job, states: &[StepRecord], details: Details) -> Self {
        let t = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339();
        let failure = job.failure().map(|f| details.failure(f));
        JobView {
            id: job.id.to_string(),
            intent: job.intent.clone(),
            status: job.status.to_string(),
            risk: job.risk,
            root: job.root.display().to_string(),
            provider: job.provider.clone(),
            priority: job.priority,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            approval: job.approval.clone(),
            worker: job.lease.as_ref().map(|l| l.worker.clone()),
            created_at: t(job.created_at),
            queued_at: job.queued_at.map(t),
            started_at: job.started_at.map(t),
            finished_at: job.finished_at.map(t),
            error: failure.as_ref().map(|f| f.message.clone()),
            failure,
            source: job.source.as_str().to_string(),
            idempotency_key: job.idempotency_key.clone(),
            plan: job
                .plan
                .as_ref()
                .map(|p| PlanView::showing(p, states, details)),
        }
    }
}
