//! The routes, and the few helpers their handlers share.

mod events;
mod jobs;
mod ops;
mod original;
mod scheduler;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Router;
use axum::routing::{get, post};
use skynet_core::store::{StepRecord, StepStatus};
use skynet_core::view::JobView;
use skynet_core::{Error, Job, Skynet};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) use events::{__path_global_events, __path_job_events};
pub(crate) use jobs::{
    __path_approve, __path_cancel, __path_deny, __path_get_job, __path_list_jobs, __path_logs,
    __path_submit,
};
pub(crate) use ops::{__path_health, __path_metrics, __path_openapi};
pub(crate) use original::{
    __path_execute, __path_plan, __path_policy_check, __path_providers_health, __path_report,
};
pub(crate) use scheduler::__path_diagnose;

/// Every route of the v1 API.
pub(crate) fn all() -> Router<AppState> {
    Router::new()
        .route("/v1/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/jobs", post(jobs::submit).get(jobs::list_jobs))
        .route("/v1/jobs/{id}", get(jobs::get_job))
        .route("/v1/jobs/{id}/approve", post(jobs::approve))
        .route("/v1/jobs/{id}/deny", post(jobs::deny))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/jobs/{id}/logs", get(jobs::logs))
        .route("/v1/jobs/{id}/events", get(events::job_events))
        .route("/v1/events", get(events::global_events))
        .route("/v1/plan", post(original::plan))
        .route("/v1/report", post(original::report))
        .route("/v1/policy/check", post(original::policy_check))
        .route("/v1/execute", post(original::execute))
        .route("/v1/providers/health", get(original::providers_health))
        .route("/v1/scheduler/diagnose", post(scheduler::diagnose))
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; GET /openapi.json lists them",
            )
        })
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route; GET /openapi.json lists them",
            )
        })
}

/// Map a core error for this caller (provider details only for admins).
pub(crate) fn core_err(caller: &Caller) -> impl Fn(Error) -> ApiError + '_ {
    |e| ApiError::from_core(e, caller.is_admin())
}

/// The sandbox root for a request: `asked` (relative to the server's root,
/// or absolute) must exist and lie inside the server's root.
pub(crate) fn sandbox_root(state: &AppState, asked: Option<&str>) -> Result<PathBuf, ApiError> {
    let base = match &state.canonical_root {
        Some(root) => root.as_ref().clone(),
        None => state.config.root.canonicalize().map_err(Error::Io)?,
    };
    let Some(asked) = asked.filter(|a| !a.trim().is_empty()) else {
        return Ok(base);
    };
    let shown = asked.to_string();
    let root = base.join(asked).canonicalize().map_err(|_| {
        ApiError::bad_request(format!(
            "sandbox root {shown:?} does not exist; give a directory inside the server's root"
        ))
    })?;
    if !root.starts_with(&base) || !root.is_dir() {
        return Err(ApiError::bad_request(format!(
            "sandbox root {shown:?} is not a directory inside the server's root"
        )));
    }
    Ok(root)
}

/// `root` or `cwd` from an original-API `context` object.
pub(crate) fn context_root(context: &BTreeMap<String, serde_json::Value>) -> Option<&str> {
    ["root", "cwd"]
        .into_iter()
        .find_map(|k| context.get(k).and_then(|v| v.as_str()))
}

/// The planner's string context from an original-API `context` object.
pub(crate) fn context_strings(
    context: &BTreeMap<String, serde_json::Value>,
) -> BTreeMap<String, String> {
    context
        .iter()
        .filter(|(k, _)| k.as_str() != "root" && k.as_str() != "cwd")
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// A job with its step states, as this caller may see it.
pub(crate) async fn job_view(sk: &Skynet, job: &Job, caller: &Caller) -> Result<JobView, ApiError> {
    let steps = sk.steps(&job.id).await.map_err(core_err(caller))?;
    Ok(redacted(JobView::new(job, &steps), caller))
}

/// A job the caller's request just inserted, as this caller may see it:
/// every step is still pending, as the insert wrote them, so its
/// checkpoints need no read.
pub(crate) fn new_job_view(job: &Job, caller: &Caller) -> JobView {
    let pending: Vec<StepRecord> = job
        .plan
        .iter()
        .flat_map(|p| p.steps.iter())
        .enumerate()
        .map(|(i, step)| StepRecord {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            status: StepStatus::Pending,
            risk: step.risk,
            exit_code: None,
            started_at: None,
            finished_at: None,
            output_bytes: 0,
            truncated: false,
            error: None,
        })
        .collect();
    redacted(JobView::new(job, &pending), caller)
}

/// Provider failure details are for admins only.
pub(crate) fn redacted(mut view: JobView, caller: &Caller) -> JobView {
    if caller.is_admin() {
        return view;
    }
    let hide = |text: &mut Option<String>| {
        if let Some(t) = text
            && let Some(rest) = t.strip_prefix("provider ")
        {
            let name = rest.split(':').next().unwrap_or("");
            *t = format!("provider {name}: failed; the details need an admin key");
        }
    };
    hide(&mut view.error);
    if let Some(plan) = &mut view.plan {
        for step in &mut plan.steps {
            if let Some(state) = &mut step.state {
                hide(&mut state.error);
            }
        }
    }
    view
}
