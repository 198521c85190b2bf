//! The routes, and the few helpers their handlers share.

pub(crate) mod artifacts;
pub(crate) mod autonomy;
mod docs;
mod events;
mod jobs;
pub(crate) mod memory;
mod ops;
mod original;
pub(crate) mod review;
mod scheduler;
pub(crate) mod triggers;
pub(crate) mod webhooks;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use axum::Router;
use axum::routing::{get, post};
use skynet_core::engine::Acting;
use skynet_core::store::keys::Scope;
use skynet_core::store::{StepRecord, StepStatus};
use skynet_core::view::{Details, JobView};
use skynet_core::{Error, Job, JobId, Skynet, SubmitRequest, Viewer};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) use artifacts::{__path_get_artifact, __path_list_artifacts};
pub(crate) use autonomy::{
    __path_add_schedule, __path_initiative_status, __path_list_schedules, __path_pause_initiative,
    __path_pause_schedule, __path_remove_schedule, __path_resume_initiative,
    __path_resume_schedule,
};
pub(crate) use docs::__path_page;
pub(crate) use events::{__path_global_events, __path_job_events};
pub(crate) use jobs::{
    __path_approve, __path_cancel, __path_deny, __path_get_job, __path_list_jobs, __path_logs,
    __path_submit,
};
pub(crate) use memory::{
    __path_forget, __path_forget_matching, __path_get_memory, __path_pin, __path_search,
    __path_similar, __path_stats, __path_store,
};
pub(crate) use ops::{__path_gc, __path_health, __path_metrics, __path_openapi};
pub(crate) use original::{
    __path_execute, __path_plan, __path_policy_check, __path_providers_health, __path_report,
};
pub(crate) use review::{__path_retry, __path_review};
pub(crate) use scheduler::__path_diagnose;
pub(crate) use triggers::{
    __path_add_trigger, __path_list_triggers, __path_pause_trigger, __path_remove_trigger,
    __path_resume_trigger,
};
pub(crate) use webhooks::{
    __path_add_webhook, __path_list_deliveries, __path_list_webhooks, __path_redeliver,
    __path_remove_webhook, __path_test_webhook,
};

/// Every route of the v1 API.
pub(crate) fn all() -> Router<AppState> {
    Router::new()
        .route("/v1/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/v1/gc", post(ops::gc))
        .route("/openapi.json", get(ops::openapi))
        .route("/docs", get(docs::bare))
        .route("/docs/", get(docs::page))
        .route("/docs/{*rest}", get(docs::file))
        .route("/v1/jobs", post(jobs::submit).get(jobs::list_jobs))
        .route("/v1/jobs/{id}", get(jobs::get_job))
        .route("/v1/jobs/{id}/approve", post(jobs::approve))
        .route("/v1/jobs/{id}/deny", post(jobs::deny))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/jobs/{id}/review", post(review::review))
        .route("/v1/jobs/{id}/retry", post(review::retry))
        .route("/v1/jobs/{id}/logs", get(jobs::logs))
        .route("/v1/jobs/{id}/artifacts", get(artifacts::list_artifacts))
        .route(
            "/v1/jobs/{id}/artifacts/{*name}",
            get(artifacts::get_artifact),
        )
        .route("/v1/jobs/{id}/events", get(events::job_events))
        .route("/v1/events", get(events::global_events))
        .route("/v1/plan", post(original::plan))
        .route("/v1/report", post(original::report))
        .route("/v1/policy/check", post(original::policy_check))
        .route("/v1/execute", post(original::execute))
        .route("/v1/providers/health", get(original::providers_health))
        .route("/v1/scheduler/diagnose", post(scheduler::diagnose))
        .route("/v1/memory/store", post(memory::store))
        .route("/v1/memory/search", post(memory::search))
        .route("/v1/memory/similar", post(memory::similar))
        .route("/v1/memory/stats", get(memory::stats))
        .route("/v1/memory/forget", post(memory::forget_matching))
        .route("/v1/memory/{id}/pin", axum::routing::put(memory::pin))
        .route(
            "/v1/memory/{id}",
            get(memory::get_memory).delete(memory::forget),
        )
        .route(
            "/v1/schedules",
            get(autonomy::list_schedules).post(autonomy::add_schedule),
        )
        .route(
            "/v1/schedules/{id}",
            axum::routing::delete(autonomy::remove_schedule),
        )
        .route("/v1/schedules/{id}/pause", post(autonomy::pause_schedule))
        .route("/v1/schedules/{id}/resume", post(autonomy::resume_schedule))
        .route(
            "/v1/triggers",
            get(triggers::list_triggers).post(triggers::add_trigger),
        )
        .route(
            "/v1/triggers/{id}",
            axum::routing::delete(triggers::remove_trigger),
        )
        .route("/v1/triggers/{id}/pause", post(triggers::pause_trigger))
        .route("/v1/triggers/{id}/resume", post(triggers::resume_trigger))
        .route(
            "/v1/webhooks",
            get(webhooks::list_webhooks).post(webhooks::add_webhook),
        )
        .route("/v1/webhooks/deliveries", get(webhooks::list_deliveries))
        .route(
            "/v1/webhooks/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route(
            "/v1/webhooks/{id}",
            axum::routing::delete(webhooks::remove_webhook),
        )
        .route("/v1/webhooks/{id}/test", post(webhooks::test_webhook))
        .route("/v1/initiative", get(autonomy::initiative_status))
        .route("/v1/initiative/pause", post(autonomy::pause_initiative))
        .route("/v1/initiative/resume", post(autonomy::resume_initiative))
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

impl AppState {
    /// Run one use-case with the engine acting as `caller`; its errors
    /// become the problems this caller may see. The handler checks the
    /// caller's scope first.
    pub(crate) async fn act<T>(
        &self,
        caller: &Caller,
        use_case: impl AsyncFnOnce(Acting<'_>) -> skynet_core::Result<T>,
    ) -> ApiResult<T> {
        use_case(self.acting(caller))
            .await
            .map_err(core_err(caller))
    }

    /// [`act`](Self::act) for a caller who must hold `scope`: the check
    /// comes first, so an under-scoped caller changes nothing.
    pub(crate) async fn act_in_scope<T>(
        &self,
        caller: &Caller,
        scope: Scope,
        use_case: impl AsyncFnOnce(Acting<'_>) -> skynet_core::Result<T>,
    ) -> ApiResult<T> {
        caller.require(scope)?;
        self.act(caller, use_case).await
    }

    /// Run a use-case on the job `id` names, for a caller who must hold
    /// `scope`, and answer with the job it leaves as this caller may see
    /// it. The scope is checked before the id is read.
    pub(crate) async fn act_on_job(
        &self,
        caller: &Caller,
        scope: Scope,
        id: &str,
        use_case: impl AsyncFnOnce(Acting<'_>, &JobId) -> skynet_core::Result<Job>,
    ) -> ApiResult<ApiJson<JobView>> {
        caller.require(scope)?;
        let id = job_id(id)?;
        let job = self.act(caller, async |a| use_case(a, &id).await).await?;
        Ok(ApiJson(job_view(&self.sk, &job, caller).await?))
    }
}

/// A job id from a request's path; a malformed one names no job (404).
pub(crate) fn job_id(id: &str) -> ApiResult<JobId> {
    JobId::parse(id).map_err(ApiError::from)
}

/// Map a core error for this caller (provider details only for admins).
pub(crate) fn core_err(caller: &Caller) -> impl Fn(Error) -> ApiError + '_ {
    |e| ApiError::from_core(e, Viewer::of(caller.grant()))
}

/// A request's sandbox root, confined by core to the server's root:
/// `asked` is taken relative to it and must lie inside it.
pub(crate) fn confine(state: &AppState, req: &mut SubmitRequest, asked: Option<&str>) {
    req.base = Some(allowed_root(state));
    req.root = asked.map(PathBuf::from);
}

/// The directory every job's sandbox root must lie in.
pub(crate) fn allowed_root(state: &AppState) -> PathBuf {
    match &state.canonical_root {
        Some(root) => root.as_ref().clone(),
        None => state.config.root.clone(),
    }
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

/// How much of a provider's failure this caller may see.
pub(crate) fn details(caller: &Caller) -> Details {
    if caller.is_admin() {
        Details::Full
    } else {
        Details::NoProviderDetails
    }
}

/// A job with its step states, as this caller may see it.
pub(crate) async fn job_view(sk: &Skynet, job: &Job, caller: &Caller) -> Result<JobView, ApiError> {
    let steps = sk.steps(&job.id).await.map_err(core_err(caller))?;
    Ok(JobView::showing(job, &steps, details(caller)))
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
    JobView::showing(job, &pending, details(caller))
}
