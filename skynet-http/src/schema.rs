//! The wire types of the v1 API, with their OpenAPI schemas.
//!
//! Jobs, plans, steps, decisions and log lines are core's
//! [`skynet_core::view`] types, which describe themselves (core's `openapi`
//! feature): what a handler returns is what the document says. This module
//! adds the request bodies and the envelopes only this API has.

use serde::{Deserialize, Serialize};
use skynet_core::Decision;
use skynet_core::engine::Checked;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

pub use skynet_core::RiskLevel as Risk;
pub use skynet_core::action::Ignored;
pub use skynet_core::engine::ApprovalGate;
pub use skynet_core::scheduler::{Diagnosis as DiagnosisView, ProviderScore as ProviderScoreView};
pub use skynet_core::view::{
    DecisionView, JobView, LogLineView, PlanView, StepStateView, StepView,
};
pub use skynet_core::{Approval as ApprovalView, JobFailure as FailureView};

/// `POST /v1/jobs`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// What to do, in plain words.
    #[schema(example = "list the files")]
    pub intent: String,
    /// Sandbox root, inside the server's root (default: the server's root).
    #[serde(default, alias = "cwd")]
    #[schema(example = ".")]
    pub root: Option<String>,
    /// Provider to run on; it must run every step of the plan (default:
    /// the scheduler picks among the server's candidates; the choice is a
    /// `provider_selected` event).
    #[serde(default)]
    #[schema(example = "local")]
    pub provider: Option<String>,
    /// Higher runs first.
    #[serde(default)]
    pub priority: i32,
    /// Whole-job time budget in milliseconds.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// Per-step time budget in milliseconds.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub step_timeout_ms: Option<u64>,
    /// A dry run: plan, judge and record the job on the `mock` provider,
    /// which runs nothing; the job is shown as `dry_run` everywhere.
    #[serde(default)]
    pub dry_run: bool,
    /// Files the job produces to keep as artifacts: paths or glob
    /// patterns relative to the root (`target/release/app`,
    /// `reports/*.xml`), collected after the plan's last step.
    #[serde(default)]
    pub artifacts: Vec<String>,
}

/// `GET /v1/jobs` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses, e.g. `queued,running`.
    pub status: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/jobs/{id}/approve`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The plan hash the approver reviewed (full, or ≥ 12 hex digits).
    pub plan_hash: String,
}

/// `POST /v1/jobs/{id}/deny`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `GET /v1/jobs/{id}/logs` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Only the last N matching lines.
    pub tail: Option<u32>,
    /// Only lines containing this text.
    pub search: Option<String>,
    /// Only this step (0-based index).
    pub step: Option<u32>,
    /// Only lines after this `seq` (for following).
    pub after_seq: Option<i64>,
    /// Only lines recorded at or after this time: RFC 3339, or a duration
    /// ago (`10m`, `2h`).
    pub since: Option<String>,
    /// Only lines recorded before this time: RFC 3339, or a duration ago.
    pub until: Option<String>,
    /// Only this stream: `stdout`, `stderr` or `system`.
    pub stream: Option<String>,
}

/// `POST /v1/gc` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GcQuery {
    /// Only list what would be removed.
    #[serde(default)]
    pub dry_run: bool,
}

/// A job's log lines.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogsView {
    /// Lines in order.
    pub lines: Vec<LogLineView>,
}

/// `GET .../events` query: where to resume (the `Last-Event-ID` header wins).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Send events after this one: a job's event `seq`, or a global log
    /// position (`XID-ID`, or an id on SQLite).
    pub after: Option<String>,
    /// Global log only: these types, comma-separated (`job.failed`, or a
    /// prefix such as `provider.*`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub r#type: Option<String>,
}

/// `POST /v1/plan` (the original API).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PlanBody {
    /// The caller's own id for the request, echoed in the answer.
    #[serde(default)]
    #[schema(example = "9b2f6a0e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")]
    pub request_id: Option<String>,
    /// The intent.
    #[schema(example = "read README.md, then write 'done' to notes.txt")]
    pub user_message: String,
    /// Planner context; `root` (or `cwd`) picks the sandbox root.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: BTreeMap<String, serde_json::Value>,
    /// Free-text constraints for the planner (a list), or the original
    /// object (its keys are described in the schema): `max_risk` (a
    /// riskier plan is refused with 403), `requires_approval_for` (catalog actions whose
    /// steps then need a human), `time_budget_min` (the job's time budget)
    /// are honoured; other keys (`max_cost_usd`, `allowed_targets`, ...)
    /// are listed in `ignored_constraints`.
    #[serde(default)]
    #[schema(schema_with = constraints_schema)]
    pub constraints: serde_json::Value,
    /// Files the work produces to keep as artifacts (paths or glob
    /// patterns relative to the root), collected after the last step.
    #[serde(default)]
    pub artifacts: Vec<String>,
}

/// `constraints`: a list of texts or an object.
fn constraints_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
    };
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let object = OneOfBuilder::new()
        .description(Some(
            "Free-text constraints for the planner (a list), or the original object: \
             `max_risk`, `requires_approval_for` and `time_budget_min` are honoured; other keys \
             (`max_cost_usd`, `allowed_targets`, ...) are listed in `ignored_constraints`.",
        ))
        .item(ArrayBuilder::new().items(text()))
        .item(
            ObjectBuilder::new()
                .property(
                    "max_risk",
                    text().description(Some(
                        "READ_ONLY, WRITE, ADMIN (or the original low, med, high): a riskier \
                         plan is refused with 403",
                    )),
                )
                .property(
                    "requires_approval_for",
                    ArrayBuilder::new().items(text()).description(Some(
                        "Catalog actions whose steps need a human even when READ_ONLY",
                    )),
                )
                .property(
                    "time_budget_min",
                    ObjectBuilder::new()
                        .schema_type(Type::Number)
                        .description(Some("The job's whole time budget, in minutes")),
                )
                .additional_properties(Some(AdditionalProperties::FreeForm(true))),
        )
        .build();
    Schema::OneOf(object)
}

/// `POST /v1/plan` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlanAnswer {
    /// The plan.
    pub execution_plan: PlanView,
    /// Steps that need approval (empty: runs without a human).
    pub approval_gates: Vec<ApprovalGate>,
    /// Paths the plan writes or creates.
    pub artifacts: Vec<String>,
    /// The files its steps declare to keep as artifacts (paths or
    /// patterns relative to the root), in step order.
    pub expected_artifacts: Vec<String>,
    /// Overall risk.
    pub risk_level: Risk,
    /// The hash an approval must name.
    pub plan_hash: String,
    /// Whether a human must approve before it runs.
    pub requires_approval: bool,
    /// The request's `request_id`, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Constraint keys that were not used, and why.
    #[serde(default)]
    pub ignored_constraints: Vec<Ignored>,
}

/// One step's report in `POST /v1/report`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepReport {
    /// The step, as the reporter numbers it (SKYNET's views count from 0,
    /// the original API's clients from 1); also read as `step_id`.
    #[serde(alias = "step_id")]
    pub step: u32,
    /// What happened (`succeeded`, `failed`, ...).
    pub status: String,
    /// Output or notes.
    #[serde(default)]
    pub output: Option<String>,
    /// Error text.
    #[serde(default)]
    pub error: Option<String>,
    /// When the step started (as the reporter writes it, e.g. RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Where the reporter put what the step produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts_uploaded: Vec<String>,
}

/// `POST /v1/report` (the original API): an executor reports on work it
/// ran.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReportBody {
    /// The reporter's own id for the request, kept with the report; when
    /// it is the id of a job the caller may report on, the report is
    /// linked to that job (a `report` event in its chain).
    #[schema(example = "9b2f6a0e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")]
    pub request_id: String,
    /// Per-step reports.
    #[serde(default)]
    pub step_reports: Vec<StepReport>,
    /// `completed`, `failed`, `partial`, ...
    pub overall_status: String,
    /// Anything else, kept with the report.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /v1/report` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportAnswer {
    /// The request id, as given.
    pub request_id: String,
    /// Always true: the report was kept.
    pub received: bool,
    /// What was recorded, in words.
    pub acknowledgment: String,
    /// `await_approval`, `wait`, `review`, or `none` (also for a report
    /// on no job).
    pub next_action: String,
    /// The report's id.
    pub report_id: i64,
    /// The job it was linked to, if any.
    pub job_id: Option<String>,
    /// Its `report` event's seq in the job's chain, if linked.
    pub event_seq: Option<i64>,
}

/// `POST /v1/policy/check` (the original API): a catalog action or a
/// command line to judge; nothing runs.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PolicyCheckBody {
    /// A catalog action name (`git_push`, `run_tests`; judged as a plan
    /// step would be, at least its catalog risk), or a command line
    /// (`git push`; split like a POSIX shell would, never run). One
    /// snake_case word is an action name: an unknown one is a 400 naming
    /// the closest actions.
    #[serde(default)]
    #[schema(example = "git_push")]
    pub action: Option<String>,
    /// A command line, always judged as one.
    #[serde(default)]
    #[schema(example = "git push origin main")]
    pub command: Option<String>,
    /// The action's parameters, e.g. `{"remote": "origin"}`; ones it
    /// does not take are listed in `ignored_params`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// For an action, its parameters in order, as words (`git_push`:
    /// `"origin main"` is remote, branch; `laptop`, `ec2`, `docker` are
    /// the original API's execution targets and are ignored); for a
    /// command line, one more argument.
    #[serde(default)]
    #[schema(example = "origin main")]
    pub target: Option<String>,
    /// `root` (or `cwd`) picks the sandbox root for path checks.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: BTreeMap<String, serde_json::Value>,
}

/// `POST /v1/policy/check` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyAnswer {
    /// Not forbidden.
    pub allowed: bool,
    /// Needs a human approval to run.
    pub requires_approval: bool,
    /// The risk.
    pub risk_level: Risk,
    /// `allow`, `prompt` or `forbid`.
    pub verdict: String,
    /// The deciding rule.
    pub rule: Option<String>,
    /// Why.
    pub reasons: Vec<String>,
    /// The reasons in one line (the original API's field).
    pub reason: String,
    /// The argv that was judged (a pipeline's first stage).
    pub argv: Vec<String>,
    /// A pipeline's further stages, each judged too (`a | b`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipe: Vec<Vec<String>>,
    /// The catalog action judged, when `action` named one.
    pub action: Option<String>,
    /// Parameters (or a target) the action does not take, and why.
    #[serde(default)]
    pub ignored_params: Vec<Ignored>,
}

impl PolicyAnswer {
    /// The answer for decision `d` on `argv` (takes the decision's texts).
    pub fn new(argv: Vec<String>, d: Decision) -> Self {
        PolicyAnswer {
            allowed: d.verdict.allowed(),
            requires_approval: d.verdict.requires_approval(),
            risk_level: d.risk,
            verdict: d.verdict.as_str().to_string(),
            reason: d.explain(),
            rule: d.rule,
            reasons: d.reasons,
            argv,
            pipe: Vec::new(),
            action: None,
            ignored_params: Vec::new(),
        }
    }
}

impl From<Checked> for PolicyAnswer {
    fn from(c: Checked) -> Self {
        PolicyAnswer {
            action: c.action.map(|a| a.name().to_string()),
            ignored_params: c.ignored,
            pipe: c.pipe,
            ..PolicyAnswer::new(c.argv, c.decision)
        }
    }
}

/// `POST /v1/execute`: run a plan the policy allows without approval,
/// now, bypassing the queue. The work is an intent (`user_message`) or the
/// caller's own steps (`execution_spec`, as the original API sent them).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ExecuteBody {
    /// The caller's own id for the request, echoed in the answer.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The intent, planned by the configured planner.
    #[serde(default)]
    #[schema(example = "list the files")]
    pub user_message: Option<String>,
    /// Catalog steps to run as given, instead of `user_message`; each is
    /// judged by the policy like a planned step. `job_id` names nothing
    /// here (SKYNET names the job) and is listed in `ignored_params`.
    #[serde(default)]
    pub execution_spec: Option<ExecutionSpecBody>,
    /// Planner context; `root` (or `cwd`) picks the sandbox root.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: BTreeMap<String, serde_json::Value>,
    /// As in `POST /v1/plan`: a list of texts, or the original object
    /// (`max_risk`, `requires_approval_for`, `time_budget_min` honoured;
    /// a step that would need a human is refused here with 403).
    #[serde(default)]
    #[schema(schema_with = constraints_schema)]
    pub constraints: serde_json::Value,
    /// Whole-run time budget in milliseconds (default 60000, at most
    /// 600000).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// The same budget in seconds, as the original API gave it; not
    /// together with `timeout_ms`.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub timeout: Option<u64>,
}

/// `POST /v1/execute` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecuteAnswer {
    /// The finished job.
    pub job: JobView,
    /// Its output (the last 1000 lines).
    pub logs: Vec<LogLineView>,
    /// The request's `request_id`, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Step parameters that were not used, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_params: Vec<Ignored>,
    /// Constraint keys that were not used, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_constraints: Vec<Ignored>,
}

/// One provider's health.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderHealthView {
    /// The sentinel's status over the recent checks: `healthy`,
    /// `degraded`, `unhealthy` or `unknown` (not checked yet).
    pub status: String,
    /// Why.
    pub message: String,
}

/// One earlier health check, oldest first in `history`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthSample {
    /// When (RFC 3339).
    pub at: String,
    /// When, in seconds since the Unix epoch (the original API's field).
    pub timestamp: f64,
    /// Providers whose check passed then.
    pub healthy_count: usize,
    /// Providers whose check failed then.
    pub unhealthy_count: usize,
}

/// `GET /v1/providers/health` (the original API).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProvidersHealth {
    /// `healthy` (every provider's latest check passed), `degraded`
    /// (some) or `unhealthy` (none).
    pub status: String,
    /// Providers whose latest check passed.
    pub healthy_count: usize,
    /// Providers whose latest check failed (or that were never checked).
    pub unhealthy_count: usize,
    /// All providers.
    pub total_count: usize,
    /// By name.
    pub providers: BTreeMap<String, ProviderHealthView>,
    /// The sentinel's last rounds of checks, oldest first (at most 100).
    pub history: Vec<HealthSample>,
}

/// One component of `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentHealth {
    /// `ok`, `degraded`, `down` or `unknown`.
    pub status: String,
    /// Detail (no secrets).
    pub detail: String,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthAnswer {
    /// `ok` or `degraded`.
    pub status: String,
    /// Server version.
    pub version: String,
    /// By component: `store`, `queue`, `workers`, `providers`.
    pub components: BTreeMap<String, ComponentHealth>,
}

/// One step to place: a catalog action and its parameters.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecStepBody {
    /// Catalog action name (`git_status`, `write_file`, ...).
    pub action: String,
    /// Its parameters, e.g. `{"path": "README.md"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Files the step produces to keep as artifacts: paths or glob
    /// patterns relative to the root (`target/release/app`,
    /// `reports/*.xml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
}

/// The work to place: steps, or (with no steps) a stored job's plan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSpecBody {
    /// A job whose plan to diagnose when `steps` is empty.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The steps.
    #[serde(default)]
    pub steps: Vec<SpecStepBody>,
}

impl From<ExecutionSpecBody> for skynet_core::scheduler::ExecutionSpec {
    fn from(b: ExecutionSpecBody) -> Self {
        skynet_core::scheduler::ExecutionSpec {
            job_id: b.job_id,
            steps: b
                .steps
                .into_iter()
                .map(|s| skynet_core::scheduler::SpecStep {
                    action: s.action,
                    params: s.params,
                    artifacts: s.artifacts,
                })
                .collect(),
        }
    }
}

/// `POST /v1/scheduler/diagnose`: the work as `execution_spec`, or one
/// step given at the top (`{"action": "run_tests", "params": {...}}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseBody {
    /// What to place.
    #[serde(default)]
    pub execution_spec: Option<ExecutionSpecBody>,
    /// One step's catalog action, instead of `execution_spec`.
    #[serde(default)]
    #[schema(example = "run_tests")]
    pub action: Option<String>,
    /// That step's parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// A registered provider to take when no candidate is eligible and
    /// healthy.
    #[serde(default)]
    pub fallback: Option<String>,
}

impl DiagnoseBody {
    /// The work to place: `execution_spec`, or the one step given at the
    /// top; `Err` says what is missing or given twice.
    pub fn spec(&self) -> Result<skynet_core::scheduler::ExecutionSpec, String> {
        match (&self.execution_spec, &self.action) {
            (Some(spec), None) if self.params.is_empty() => Ok(spec.clone().into()),
            (None, Some(action)) => Ok(skynet_core::scheduler::ExecutionSpec {
                job_id: None,
                steps: vec![skynet_core::scheduler::SpecStep {
                    action: action.clone(),
                    params: self.params.clone(),
                    artifacts: Vec::new(),
                }],
            }),
            (None, None) => Err(
                "nothing to place: give execution_spec ({\"steps\": [{\"action\": \"git_status\"}]}) \
                 or one step as action and params"
                    .into(),
            ),
            _ => Err(
                "give either execution_spec or one step as action and params, not both".into(),
            ),
        }
    }
}
