//! After a run: resolve a job in `needs_review`, submit a finished job
//! again.

use super::{allowed_root, job_id, new_job_view};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::problems::{JobPath, JsonBody, Keyed};
use crate::schema::JobView;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use skynet_core::store::keys::Scope;
use skynet_core::{JobSource, RetryRequest, ReviewRequest, ReviewResolution};
use utoipa::ToSchema;

/// `POST /v1/jobs/{id}/review`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// `requeue` (run it again from the interrupted step: needs
    /// `plan_hash`), `fail`, or `mark_succeeded`.
    pub resolution: ReviewResolution,
    /// Why, kept with who in the job's events.
    #[serde(default)]
    #[schema(example = "checked the host: the migration did not start")]
    pub reason: Option<String>,
    /// The plan hash the reviewer saw (full, or ≥ 12 hex digits): a
    /// requeue is a fresh approval bound to it; other resolutions check it
    /// when given.
    #[serde(default)]
    pub plan_hash: Option<String>,
}

/// Resolve a job whose worker was lost during a WRITE/ADMIN step.
#[utoipa::path(post, path = "/v1/jobs/{id}/review", tag = "jobs", request_body = ReviewBody,
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Resolved: queued again, failed or succeeded", body = JobView),
        Keyed, JsonBody, JobPath,
        (status = 403, description = "A key without `approve`, or a requeue of the caller's own job with separation of duties on", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not in needs_review, or the plan hash is stale or wrong", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn review(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> ApiResult<ApiJson<JobView>> {
    let req = ReviewRequest {
        resolution: body.resolution,
        reason: body.reason,
        plan_hash: body.plan_hash,
    };
    state
        .act_on_job(&caller, Scope::Approve, &id, async |a, id| {
            a.resolve_review(id, &req).await
        })
        .await
}

/// Submit a finished job's plan again as a new job (`retry_of` names the
/// original), judged again by the policy in force: READ_ONLY work is
/// queued at once, anything riskier waits for approval.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 202, description = "The new job (queued or awaiting approval)", body = JobView),
        Keyed, JobPath,
        (status = 403, description = "A key without `submit`, or the plan is forbidden by the policy now", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not finished (or waits for a review)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn retry(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, ApiJson<JobView>)> {
    caller.require(Scope::Submit)?;
    let req = RetryRequest {
        source: JobSource::Http,
        base: Some(allowed_root(&state)),
        ..RetryRequest::default()
    };
    let id = job_id(&id)?;
    let job = state
        .act(&caller, async |a| a.retry(&id, &req).await)
        .await?;
    Ok((StatusCode::ACCEPTED, ApiJson(new_job_view(&job, &caller))))
}
