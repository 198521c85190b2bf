//! Stable, front-end facing views of plans and jobs: the JSON every
//! front-end prints and the HTTP API answers, kept apart from the storage
//! types so those can move. With the `openapi` feature each view also
//! describes itself as an OpenAPI schema, so the documented shape is the
//! compiled one.

use crate::action::SandboxProfile;
use crate::job::{Approval, Job, JobFailure, JobId, JobSource, JobStatus};
use crate::plan::{Plan, Step};
use crate::policy::{Decision, Verdict};
use crate::provider::Stream;
use crate::risk::RiskLevel;
use crate::store::{LogLine, StepRecord, StepStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A plan as shown to people and programs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub usage: Option<crate::plan::PlanUsage>,
    /// Expected duration of the whole plan in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_ms: Option<u64>,
    /// How the requester's similar past runs ended (from memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_runs: Option<crate::memory::PastRuns>,
    /// `similar past runs: 3 succeeded, 1 failed: <reason>` (present
    /// with `past_runs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_runs_line: Option<String>,
    /// What to know before approving (the same steps failed repeatedly
    /// of late, ...), each with `kind` and its fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::memory::PlanWarning>,
}

/// A step as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepView {
    /// What a human reads.
    pub description: String,
    /// The catalog action, `{"kind": ..., params...}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub action: serde_json::Value,
    /// The argv that runs (a pipeline's first stage).
    pub command: Vec<String>,
    /// A pipeline's further stages, in order: `command`'s output feeds
    /// the first (shown as `a | b | c`; SKYNET connects them, no shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipe: Vec<Vec<String>>,
    /// Working directory.
    pub cwd: String,
    /// What is fed to the program's stdin (the content `write_file` writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Effective risk.
    pub risk: RiskLevel,
    /// The policy decision behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionView>,
    /// Checkpoint (jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StepStateView>,
    /// Expected duration in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_ms: Option<u64>,
    /// The network label: what this READ_ONLY probe step reaches
    /// (`dns example.com`, `GET https://…`); absent for steps without
    /// network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// How much of the host the step sees on the local provider (`inspect`,
    /// `host`; left out for the default sandbox), from its action and
    /// risk, so the approver sees it before approving.
    #[serde(default, skip_serializing_if = "SandboxProfile::is_default")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "inspect"))]
    pub sandbox_profile: SandboxProfile,
    /// The files the step keeps as artifacts (paths or glob patterns
    /// relative to the root); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
}

/// A policy decision that explains itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionView {
    /// The risk the policy assigns.
    pub risk: RiskLevel,
    /// `allow`, `prompt` or `forbid`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "prompt"))]
    pub verdict: Verdict,
    /// Why, most important first.
    pub reasons: Vec<String>,
    /// The deciding rule.
    pub rule: Option<String>,
}

impl From<&Decision> for DecisionView {
    fn from(d: &Decision) -> Self {
        DecisionView {
            risk: d.risk,
            verdict: d.verdict,
            reasons: d.reasons.clone(),
            rule: d.rule.clone(),
        }
    }
}

// Kept here, not in `policy/`: what a verdict means to a caller that
// asked "may this run?" is a view of it, not part of judging.
impl Verdict {
    /// Whether a step with this verdict may ever run (after an approval
    /// when [`Verdict::requires_approval`]).
    pub fn allowed(self) -> bool {
        self != Verdict::Forbid
    }

    /// Whether a human must approve before it runs.
    pub fn requires_approval(self) -> bool {
        self == Verdict::Prompt
    }
}

/// A step's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepStateView {
    /// Index in the plan.
    pub index: u32,
    /// `pending`, `running`, `succeeded`, `failed`, `timed_out`,
    /// `cancelled`, `skipped`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "succeeded"))]
    pub status: StepStatus,
    /// Effective risk.
    pub risk: RiskLevel,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Started (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub started_at: Option<DateTime<Utc>>,
    /// Finished (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub finished_at: Option<DateTime<Utc>>,
    /// Output bytes.
    pub output_bytes: u64,
    /// Output was capped.
    pub truncated: bool,
    /// Why it failed, as a person reads it.
    pub error: Option<String>,
    /// The time limit that stopped it and the level that set it (timed
    /// out steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<crate::timeouts::TimeLimit>,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLineView {
    /// Position in the job's log.
    pub seq: i64,
    /// Step index.
    pub step: u32,
    /// `stdout`, `stderr` or `system`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "stdout"))]
    pub stream: Stream,
    /// Text (secrets redacted).
    pub text: String,
    /// When (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: DateTime<Utc>,
}

impl From<LogLine> for LogLineView {
    fn from(l: LogLine) -> Self {
        LogLineView {
            seq: l.seq,
            step: l.step,
            stream: l.stream,
            text: l.text,
            at: l.at,
        }
    }
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
            estimate_ms: plan.estimate_ms,
            past_runs: plan.past_runs.clone(),
            past_runs_line: plan.past_runs.as_ref().map(crate::memory::PastRuns::line),
            warnings: plan.warnings.clone(),
        }
    }
}

fn step_view(s: &Step, state: Option<StepStateView>) -> StepView {
    StepView {
        description: s.description.clone(),
        action: serde_json::to_value(&s.action).unwrap_or(serde_json::Value::Null),
        command: s.command.argv.clone(),
        pipe: s.command.pipe.iter().map(|p| p.argv.clone()).collect(),
        cwd: s.command.cwd.display().to_string(),
        stdin: s.command.stdin.clone(),
        risk: s.risk,
        decision: s.decision.as_ref().map(DecisionView::from),
        state,
        estimate_ms: s.estimate_ms,
        network: s.network.clone(),
        sandbox_profile: SandboxProfile::for_step(&s.action, &s.command, s.risk),
        artifacts: s.artifacts.clone(),
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

    fn state(self, r: &StepRecord) -> StepStateView {
        let failure = r
            .error
            .as_deref()
            .map(|e| self.failure(JobFailure::decode(e, JobStatus::Failed)));
        StepStateView {
            index: r.index,
            status: r.status,
            risk: r.risk,
            exit_code: r.exit_code,
            started_at: r.started_at,
            finished_at: r.finished_at,
            output_bytes: r.output_bytes,
            truncated: r.truncated,
            timeout: failure.as_ref().and_then(|f| f.timeout),
            error: failure.map(|f| f.message),
        }
    }
}

/// A job as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobView {
    /// Id.
    pub id: String,
    /// Intent.
    pub intent: String,
    /// Status.
    pub status: JobStatus,
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
    /// Recorded (RFC 3339, like every timestamp here).
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
    /// Who submitted it.
    pub source: JobSource,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// The principal that owns the job (submitted it).
    pub principal: String,
    /// A dry run: it runs on the `mock` provider, which runs nothing.
    pub dry_run: bool,
    /// When the request for approval lapses (RFC 3339; plans awaiting
    /// approval only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The job this one submitted again (a retry: the same plan, judged
    /// again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// The schedule tick or initiative proposal (strategy and reason) that
    /// made the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<crate::job::JobOrigin>,
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
            status: job.status,
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
            source: job.source,
            idempotency_key: job.idempotency_key.clone(),
            principal: job.principal.to_string(),
            dry_run: job.provider == "mock",
            expires_at: job.expires_at.map(t),
            retry_of: job.retry_of.as_ref().map(JobId::to_string),
            origin: job.origin.clone(),
            plan: job
                .plan
                .as_ref()
                .map(|p| PlanView::showing(p, states, details)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_says_whether_it_may_run_and_whether_a_human_must_approve() {
        let answers = [Verdict::Allow, Verdict::Prompt, Verdict::Forbid]
            .map(|v| (v.allowed(), v.requires_approval()));
        assert_eq!(answers, [(true, false), (true, true), (false, false)]);
    }
}
