//! The original endpoints, with the field names their clients use:
//! plan, report, policy check, execute, providers' health.

use super::{allowed_root, confine, context_root, context_strings, core_err, details};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::problems::{JobPath, JsonBody, Keyed};
use crate::schema::{
    ExecuteAnswer, ExecuteBody, ExecutionSpecBody, HealthSample, Ignored, PlanAnswer, PlanBody,
    PolicyAnswer, PolicyCheckBody, ProviderHealthView, ProvidersHealth, ReportAnswer, ReportBody,
};
use axum::extract::State;
use skynet_core::engine::{CheckRequest, Gate, HealthCheck, PlanConstraints, Report, RunHere};
use skynet_core::policy::PolicyContext;
use skynet_core::scheduler::{ExecutionSpec, SpecStep};
use skynet_core::store::keys::Scope;
use skynet_core::view::{JobView, LogLineView, PlanView};
use skynet_core::{JobSource, SubmitRequest, Viewer};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Log lines returned by `/v1/execute`.
const EXECUTE_LOG_LINES: u32 = 1000;
/// `/v1/execute` time budget when none is given.
const EXECUTE_TIMEOUT: Duration = Duration::from_secs(60);
/// How much longer than its budget `/v1/execute` waits for the run's end.
const EXECUTE_GRACE: Duration = Duration::from_secs(5);
/// The longest `/v1/execute` budget accepted.
const EXECUTE_MAX_TIMEOUT: Duration = Duration::from_secs(600);

fn planner_request(
    state: &AppState,
    message: String,
    context: &BTreeMap<String, serde_json::Value>,
    constraints: Vec<String>,
) -> ApiResult<SubmitRequest> {
    let mut req = SubmitRequest {
        intent: message,
        source: JobSource::Http,
        context: context_strings(context),
        constraints,
        ..Default::default()
    };
    confine(state, &mut req, context_root(context));
    Ok(req)
}

/// Plan and judge an intent without storing or running anything.
#[utoipa::path(post, path = "/v1/plan", tag = "original", request_body = PlanBody,
    responses(
        (status = 200, body = PlanAnswer),
        Keyed, JsonBody,
        (status = 403, description = "Under-scoped key, or a step is forbidden by policy (with the decision)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn plan(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PlanBody>,
) -> ApiResult<ApiJson<PlanAnswer>> {
    caller.require(Scope::Read)?;
    let constraints = PlanConstraints::from_json(&body.constraints).map_err(core_err(&caller))?;
    let mut req = planner_request(&state, body.user_message, &body.context, Vec::new())?;
    req.limits = constraints.value;
    req.artifacts = body.artifacts;
    let review = state.act(&caller, async |a| a.review(&req).await).await?;
    Ok(ApiJson(PlanAnswer {
        execution_plan: PlanView::new(&review.plan),
        requires_approval: review.requires_approval,
        approval_gates: review.gates,
        artifacts: review.artifacts,
        expected_artifacts: review.expected_artifacts,
        risk_level: review.plan.risk,
        plan_hash: review.plan.hash,
        request_id: body.request_id,
        ignored_constraints: constraints.ignored,
    }))
}

/// Record an executor's report under its own `request_id`; when that is
/// one of the caller's jobs, also as a `report` event in the job's chain.
#[utoipa::path(post, path = "/v1/report", tag = "original", request_body = ReportBody,
    responses(
        (status = 200, body = ReportAnswer),
        Keyed, JsonBody, JobPath,
    ),
    security(("api_key" = [])))]
pub(crate) async fn report(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ReportBody>,
) -> ApiResult<ApiJson<ReportAnswer>> {
    if !caller.allows(Scope::Gateway) {
        caller.require(Scope::Submit)?;
    }
    let step_reports = serde_json::to_value(&body.step_reports)
        .map_err(|e| ApiError::bad_request(format!("step_reports: {e}")))?;
    let report = Report {
        request_id: body.request_id,
        overall_status: body.overall_status,
        step_reports,
        metadata: body.metadata.unwrap_or_default(),
    };
    let receipt = state
        .act(&caller, async |a| a.record_report(&report).await)
        .await?;
    let acknowledgment = match (&receipt.job, receipt.event_seq) {
        (Some(job), Some(seq)) => {
            format!(
                "recorded as report {} and event {seq} of job {job}",
                receipt.report_id
            )
        }
        _ => format!(
            "recorded as report {} under request id {:?} (no job of yours has that id)",
            receipt.report_id,
            report.request_id.trim()
        ),
    };
    Ok(ApiJson(ReportAnswer {
        request_id: report.request_id,
        received: true,
        acknowledgment,
        next_action: receipt.next_action.as_str().into(),
        report_id: receipt.report_id,
        job_id: receipt.job.map(|j| j.to_string()),
        event_seq: receipt.event_seq,
    }))
}

/// Judge one catalog action (as a plan step is judged: at least its
/// catalog risk) or one command line with the policy engine; nothing runs.
#[utoipa::path(post, path = "/v1/policy/check", tag = "original", request_body = PolicyCheckBody,
    responses(
        (status = 200, body = PolicyAnswer),
        Keyed, JsonBody,
        (status = 400, description = "Nothing to judge, an unknown action (the detail names the closest), or parameters it needs are missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The action cannot resolve here (no test runner for run_tests)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn policy_check(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PolicyCheckBody>,
) -> ApiResult<ApiJson<PolicyAnswer>> {
    caller.require(Scope::Read)?;
    let req = CheckRequest {
        action: body.action,
        command: body.command,
        params: body.params,
        target: body.target,
    };
    // The server's root is canonical and checked already: reuse its
    // context instead of resolving the root again.
    let checked = match (&state.root_context, context_root(&body.context)) {
        (Some(ctx), None) => state.sk.check_request(&req, ctx),
        (_, asked) => {
            skynet_core::engine::confined_root(&allowed_root(&state), asked.map(Path::new))
                .and_then(|root| state.sk.check_request(&req, &PolicyContext::rooted(root)))
        }
    }
    .map_err(core_err(&caller))?;
    Ok(ApiJson(PolicyAnswer::from(checked)))
}

/// Plan and run an intent now, bypassing the queue, if the policy lets it
/// run without approval; otherwise 403 with the plan's gates.
#[utoipa::path(post, path = "/v1/execute", tag = "original", request_body = ExecuteBody,
    responses(
        (status = 200, description = "Ran to an end (see job.status)", body = ExecuteAnswer),
        Keyed, JsonBody,
        (status = 403, description = "Under-scoped key, or the plan needs approval or is forbidden (with the decision)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "Still running after the time budget", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn execute(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ExecuteBody>,
) -> ApiResult<ApiJson<ExecuteAnswer>> {
    caller.require(Scope::Submit)?;
    let constraints = PlanConstraints::from_json(&body.constraints).map_err(core_err(&caller))?;
    let timeout = match (body.timeout_ms, body.timeout) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give timeout_ms or timeout (seconds), not both",
            ));
        }
        (Some(0), None) => return Err(ApiError::bad_request("timeout_ms must be at least 1")),
        (None, Some(0)) => return Err(ApiError::bad_request("timeout must be at least 1 second")),
        (Some(ms), None) => Duration::from_millis(ms).min(EXECUTE_MAX_TIMEOUT),
        (None, Some(secs)) => Duration::from_secs(secs).min(EXECUTE_MAX_TIMEOUT),
        // The constraints' time budget, when that is the only one given.
        (None, None) => constraints
            .value
            .time_budget
            .map_or(EXECUTE_TIMEOUT, |t| t.min(EXECUTE_MAX_TIMEOUT)),
    };
    let (message, steps, ignored_params) =
        execute_work(body.user_message, body.execution_spec).map_err(core_err(&caller))?;
    let mut req = planner_request(&state, message, &body.context, Vec::new())?;
    req.steps = steps;
    req.limits = constraints.value;
    req.timeout = Some(timeout);
    let run = RunHere {
        worker: format!("{}-execute", caller.actor()),
        // The job's own budget (`timeout`) stops its steps; the grace lets
        // its end be recorded before the answer gives up waiting.
        timeout: Some(timeout + EXECUTE_GRACE),
        log_tail: Some(EXECUTE_LOG_LINES),
    };
    let done = state
        .act(&caller, async |a| {
            a.execute(&req, &Gate::AutoOnly, &run).await
        })
        .await?;
    Ok(ApiJson(ExecuteAnswer {
        job: JobView::showing(&done.job, &done.steps, details(&caller)),
        logs: done.logs.into_iter().map(LogLineView::from).collect(),
        request_id: body.request_id,
        ignored_params,
        ignored_constraints: constraints.ignored,
    }))
}

/// What `/v1/execute` runs: the intent, or the caller's steps (with the
/// parameters they do not take, named as in the request).
fn execute_work(
    message: Option<String>,
    spec: Option<ExecutionSpecBody>,
) -> skynet_core::Result<(String, Vec<SpecStep>, Vec<Ignored>)> {
    let spec = match (message, spec) {
        (Some(message), None) => return Ok((message, Vec::new(), Vec::new())),
        (None, Some(spec)) => spec,
        (Some(_), Some(_)) => {
            return Err(skynet_core::Error::InvalidInput(
                "give user_message or execution_spec, not both".into(),
            ));
        }
        (None, None) => {
            return Err(skynet_core::Error::InvalidInput(
                "nothing to run: give user_message (\"list the files\") or execution_spec \
                 ({\"steps\": [{\"action\": \"git_status\"}]})"
                    .into(),
            ));
        }
    };
    let mut ignored = Vec::new();
    if spec.job_id.is_some() {
        ignored.push(Ignored {
            field: "execution_spec.job_id".into(),
            reason: "SKYNET names the job itself: the answer's job.id".into(),
        });
    }
    let spec = ExecutionSpec::from(spec);
    if spec.steps.is_empty() {
        return Err(skynet_core::Error::InvalidInput(
            "execution_spec has no steps: list them, e.g. {\"steps\": [{\"action\": \"git_status\"}]}"
                .into(),
        ));
    }
    ignored.extend(spec.actions()?.ignored.into_iter().map(|i| Ignored {
        field: format!("execution_spec.{}", i.field),
        reason: i.reason,
    }));
    Ok((String::new(), spec.steps, ignored))
}

/// Every provider's health now, and the last checks.
#[utoipa::path(get, path = "/v1/providers/health", tag = "original",
    responses(
        (status = 200, body = ProvidersHealth),
        Keyed,
    ),
    security(("api_key" = [])))]
pub(crate) async fn providers_health(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<ProvidersHealth>> {
    caller.require(Scope::Read)?;
    let reports = state.sk.provider_health(HealthCheck::Latest).await;
    let mut providers = BTreeMap::new();
    let mut healthy = 0;
    for r in reports {
        let passed = r.healthy == Some(true);
        healthy += usize::from(passed);
        let message = r.message_for(Viewer::of(caller.grant()));
        providers.insert(
            r.name,
            ProviderHealthView {
                status: r.status.as_str().into(),
                message,
            },
        );
    }
    let total = providers.len();
    let history = state
        .sk
        .sentinel()
        .rounds()
        .into_iter()
        .map(|r| HealthSample {
            at: r.at.to_rfc3339(),
            timestamp: r.at.timestamp_micros() as f64 / 1e6,
            healthy_count: r.healthy_count,
            unhealthy_count: r.unhealthy_count,
        })
        .collect();
    Ok(ApiJson(ProvidersHealth {
        status: match healthy {
            h if h == total => "healthy",
            0 => "unhealthy",
            _ => "degraded",
        }
        .into(),
        healthy_count: healthy,
        unhealthy_count: total - healthy,
        total_count: total,
        providers,
        history,
    }))
}
