//! The original endpoints, with the field names their clients use:
//! plan, report, policy check, execute, providers' health.

use super::{context_root, context_strings, core_err, job_view, sandbox_root};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::schema::{
    ApprovalGate, ExecuteAnswer, ExecuteBody, HealthSample, PlanAnswer, PlanBody, PolicyAnswer,
    PolicyCheckBody, ProviderHealthView, ProvidersHealth, ReportAnswer, ReportBody,
};
use axum::extract::State;
use axum::http::StatusCode;
use skynet_core::plan::Plan;
use skynet_core::policy::PolicyContext;
use skynet_core::store::LogQuery;
use skynet_core::store::keys::Scope;
use skynet_core::view::PlanView;
use skynet_core::{Action, JobId, JobSource, JobStatus, RiskLevel, SubmitRequest, Verdict};
use std::collections::BTreeMap;
use std::time::Duration;

/// Log lines returned by `/v1/execute`.
const EXECUTE_LOG_LINES: u32 = 1000;
/// `/v1/execute` time budget when none is given.
const EXECUTE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest `/v1/execute` budget accepted.
const EXECUTE_MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// Why each step that needs a human needs one.
fn approval_gates(plan: &Plan) -> Vec<ApprovalGate> {
    plan.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.risk > RiskLevel::ReadOnly
                || s.decision
                    .as_ref()
                    .is_some_and(|d| d.verdict != Verdict::Allow)
        })
        .map(|(i, s)| ApprovalGate {
            step: i,
            description: s.description.clone(),
            risk: s.risk.into(),
            reason: s
                .decision
                .as_ref()
                .map(|d| d.explain())
                .unwrap_or_else(|| format!("{} steps need approval", s.risk)),
        })
        .collect()
}

/// Paths the plan writes, creates or deletes.
fn artifacts(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::WriteFile { path, .. }
            | Action::CreateDirectory { path }
            | Action::DeletePath { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// A plan the server auto-approves: READ_ONLY, every step allowed.
fn runs_without_approval(plan: &Plan) -> bool {
    plan.risk == RiskLevel::ReadOnly
        && plan.steps.iter().all(|s| {
            s.decision
                .as_ref()
                .is_none_or(|d| d.verdict == Verdict::Allow)
        })
}

fn planner_request(
    state: &AppState,
    message: String,
    context: &BTreeMap<String, serde_json::Value>,
    constraints: Vec<String>,
) -> ApiResult<SubmitRequest> {
    Ok(SubmitRequest {
        intent: message,
        root: Some(sandbox_root(state, context_root(context))?),
        source: JobSource::Http,
        context: context_strings(context),
        constraints,
        ..Default::default()
    })
}

/// Plan and judge an intent without storing or running anything.
#[utoipa::path(post, path = "/v1/plan", tag = "original", request_body = PlanBody,
    responses(
        (status = 200, body = PlanAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Under-scoped key, or a step is forbidden by policy (with the decision)", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn plan(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PlanBody>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    caller.require(Scope::Read)?;
    let req = planner_request(&state, body.user_message, &body.context, body.constraints)?;
    let plan = state.sk.plan(&req).await.map_err(core_err(&caller))?;
    let gates = approval_gates(&plan);
    Ok(ApiJson(serde_json::json!({
        "execution_plan": PlanView::new(&plan),
        "requires_approval": !runs_without_approval(&plan),
        "approval_gates": gates,
        "artifacts": artifacts(&plan),
        "risk_level": plan.risk,
        "plan_hash": plan.hash,
    })))
}

/// Record an executor's report on a job (as a `report` event).
#[utoipa::path(post, path = "/v1/report", tag = "original", request_body = ReportBody,
    responses(
        (status = 200, body = ReportAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn report(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ReportBody>,
) -> ApiResult<ApiJson<ReportAnswer>> {
    caller.require(Scope::Submit)?;
    let id = JobId::parse(&body.request_id).map_err(ApiError::from)?;
    let data = serde_json::json!({
        "reporter": &*caller.actor,
        "overall_status": body.overall_status,
        "step_reports": body.step_reports,
    });
    let event = state
        .sk
        .store()
        .append_event(&id, "report", data)
        .await
        .map_err(core_err(&caller))?;
    let job = state.sk.get(&id).await.map_err(core_err(&caller))?;
    let next_action = match job.status {
        JobStatus::Planned | JobStatus::Created => "await_approval",
        JobStatus::Queued | JobStatus::Running => "wait",
        JobStatus::NeedsReview => "review",
        _ => "none",
    };
    Ok(ApiJson(ReportAnswer {
        acknowledgment: format!("recorded as event {}", event.seq),
        next_action: next_action.into(),
        event_seq: event.seq,
    }))
}

/// Judge one command with the policy engine; nothing runs.
#[utoipa::path(post, path = "/v1/policy/check", tag = "original", request_body = PolicyCheckBody,
    responses(
        (status = 200, body = PolicyAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn policy_check(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PolicyCheckBody>,
) -> ApiResult<ApiJson<PolicyAnswer>> {
    caller.require(Scope::Read)?;
    let mut argv = shell_words::split(&body.action).map_err(|e| {
        ApiError::bad_request(format!(
            "action {:?} does not split into words: {e}",
            body.action
        ))
    })?;
    argv.extend(body.target);
    if argv.is_empty() || argv[0].is_empty() {
        return Err(ApiError::bad_request(
            "action is empty: give a command line such as `git push`",
        ));
    }
    // The root is canonical and checked already: judge with the policy
    // directly instead of resolving the root again.
    let decision = match (&state.root_context, context_root(&body.context)) {
        (Some(ctx), None) => state.sk.policy().check(&argv, ctx),
        (_, asked) => {
            let root = sandbox_root(&state, asked)?;
            state.sk.policy().check(&argv, &PolicyContext::rooted(root))
        }
    };
    Ok(ApiJson(PolicyAnswer::new(argv, decision)))
}

/// Plan and run an intent now, bypassing the queue, if the policy lets it
/// run without approval; otherwise 403 with the plan's gates.
#[utoipa::path(post, path = "/v1/execute", tag = "original", request_body = ExecuteBody,
    responses(
        (status = 200, description = "Ran to an end (see job.status)", body = ExecuteAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Under-scoped key, or the plan needs approval or is forbidden (with the decision)", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "Still running after the time budget", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn execute(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ExecuteBody>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    caller.require(Scope::Submit)?;
    let timeout = match body.timeout_ms {
        Some(0) => return Err(ApiError::bad_request("timeout_ms must be at least 1")),
        Some(ms) => Duration::from_millis(ms).min(EXECUTE_MAX_TIMEOUT),
        None => EXECUTE_TIMEOUT,
    };
    let mut req = planner_request(&state, body.user_message, &body.context, body.constraints)?;
    req.timeout = Some(timeout);
    let refuse = |plan: &Plan| {
        let gate = plan
            .steps
            .iter()
            .find_map(|s| s.decision.clone().filter(|d| d.verdict != Verdict::Allow));
        let err = ApiError::new(
            StatusCode::FORBIDDEN,
            "approval_required",
            format!(
                "plan {} is {}: it needs a human approval, so it cannot run directly; submit it to POST /v1/jobs",
                &plan.hash[..12.min(plan.hash.len())],
                plan.risk
            ),
        );
        match gate {
            Some(d) => err.with_decision(d),
            None => err,
        }
    };
    let plan = state.sk.plan(&req).await.map_err(core_err(&caller))?;
    if !runs_without_approval(&plan) || !state.sk.config().auto_approve_read_only {
        return Err(refuse(&plan));
    }
    let job = state.sk.submit(req).await.map_err(core_err(&caller))?;
    if job.status != JobStatus::Queued {
        // The planner answered differently this time: never run it.
        let _ = state.sk.cancel(&job.id, &caller.actor).await;
        return Err(match &job.plan {
            Some(p) => refuse(p),
            None => refuse(&plan),
        });
    }
    // Claim it here so it runs now; if a worker of this process got it
    // first, wait for that run instead.
    let mut job = state
        .sk
        .run_job(&job.id, &format!("{}-execute", caller.actor))
        .await
        .map_err(core_err(&caller))?;
    if !job.status.is_terminal() {
        job = state
            .sk
            .wait(&job.id, Some(timeout))
            .await
            .map_err(core_err(&caller))?;
    }
    let logs = state
        .sk
        .logs(
            &job.id,
            &LogQuery {
                tail: Some(EXECUTE_LOG_LINES),
                ..Default::default()
            },
        )
        .await
        .map_err(core_err(&caller))?;
    Ok(ApiJson(serde_json::json!({
        "job": job_view(&state.sk, &job, &caller).await?,
        "logs": logs,
    })))
}

/// Every provider's health now, and the last checks.
#[utoipa::path(get, path = "/v1/providers/health", tag = "original",
    responses(
        (status = 200, body = ProvidersHealth),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn providers_health(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<ProvidersHealth>> {
    caller.require(Scope::Read)?;
    let sentinel = state.sk.sentinel();
    // The sentinel's background round is used while fresh (two intervals,
    // so a round in progress is not duplicated); without one (an embedded
    // router, a first request) this request runs a round.
    let fresh = sentinel.rounds().last().is_some_and(|r| {
        (chrono::Utc::now() - r.at)
            .to_std()
            .is_ok_and(|age| age < sentinel.config().interval * 2)
    });
    let reports = if fresh {
        sentinel.provider_reports()
    } else {
        sentinel.check_providers().await
    };
    let mut providers = BTreeMap::new();
    let mut healthy = 0;
    for r in reports {
        let passed = r.healthy == Some(true);
        healthy += usize::from(passed);
        let message = if passed || caller.is_admin() {
            r.message
        } else {
            format!("{}; the details need an admin key", r.status)
        };
        providers.insert(
            r.name,
            ProviderHealthView {
                status: r.status.as_str().into(),
                message,
            },
        );
    }
    let total = providers.len();
    let history = sentinel
        .rounds()
        .into_iter()
        .map(|r| HealthSample {
            at: r.at.to_rfc3339(),
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
