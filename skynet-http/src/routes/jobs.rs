//! Job resources: submit, list, show, approve, deny, cancel, logs.

use super::{confine, core_err, job_id, job_view, new_job_view};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::problems::{JobPath, JsonBody, Keyed, Query};
use crate::schema::{
    ApproveBody, DenyBody, JobPage, JobView, ListQuery, LogLineView, LogsQuery, LogsView,
    SubmitBody,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use skynet_core::store::keys::Scope;
use skynet_core::store::{JobCursor, JobFilter, LogQuery};
use skynet_core::{JobId, JobSource, JobStatus, SubmitRequest};
use std::time::Duration;

/// The `Idempotency-Key` header as text; core judges the key itself.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.to_str().map_err(|_| {
        ApiError::bad_request("the Idempotency-Key header must be visible ASCII characters")
    })?;
    Ok(Some(key.trim().to_string()))
}

fn millis(what: &str, ms: Option<u64>) -> ApiResult<Option<Duration>> {
    match ms {
        Some(0) => Err(ApiError::bad_request(format!(
            "{what} must be at least 1 ms"
        ))),
        other => Ok(other.map(Duration::from_millis)),
    }
}

/// Plan, judge and record a job (READ_ONLY plans are queued at once).
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = SubmitBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated key returns the job the first request made")),
    responses(
        (status = 202, description = "Recorded (queued or awaiting approval)", body = JobView),
        Keyed, JsonBody,
        (status = 403, description = "Under-scoped key, or the plan is forbidden by policy", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The planner could not plan it", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn submit(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> ApiResult<(StatusCode, ApiJson<JobView>)> {
    caller.require(Scope::Submit)?;
    let key = idempotency_key(&headers)?;
    let mut req = SubmitRequest {
        intent: body.intent,
        provider: body.provider,
        priority: body.priority,
        source: JobSource::Http,
        idempotency_key: key.clone(),
        timeout: millis("timeout_ms", body.timeout_ms)?,
        step_timeout: millis("step_timeout_ms", body.step_timeout_ms)?,
        dry_run: body.dry_run,
        artifacts: body.artifacts,
        ..Default::default()
    };
    confine(&state, &mut req, body.root.as_deref());
    let job = state.act(&caller, async |a| a.submit(&req).await).await?;
    // Without a key the job is the one this request inserted; with one it
    // may be an earlier request's, whose steps may have run since.
    let view = match key {
        None => new_job_view(&job, &caller),
        Some(_) => job_view(&state.sk, &job, &caller).await?,
    };
    Ok((StatusCode::ACCEPTED, ApiJson(view)))
}

fn encode_cursor(c: &JobCursor) -> String {
    format!("{}.{}", c.created_at.timestamp_micros(), c.id)
}

fn decode_cursor(s: &str) -> ApiResult<JobCursor> {
    let bad = || ApiError::bad_request("the cursor is malformed; pass a next_cursor as given");
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    let at = at.parse::<i64>().map_err(|_| bad())?;
    Ok(JobCursor {
        created_at: chrono::DateTime::from_timestamp_micros(at).ok_or_else(bad)?,
        id: JobId::parse(id).map_err(|_| bad())?,
    })
}

/// Jobs, newest first, one page at a time.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses(
        (status = 200, body = JobPage),
        Keyed, Query,
    ),
    security(("api_key" = [])))]
pub(crate) async fn list_jobs(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<JobPage>> {
    caller.require(Scope::Read)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let statuses = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse::<JobStatus>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(core_err(&caller))?,
        None => vec![],
    };
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let jobs = state
        .acting(&caller)
        .list(&JobFilter {
            statuses,
            limit: Some(limit),
            before,
            ..Default::default()
        })
        .await
        .map_err(core_err(&caller))?;
    let next = (jobs.len() == limit as usize)
        .then(|| jobs.last().map(|j| encode_cursor(&JobCursor::after(j))))
        .flatten();
    let jobs = jobs
        .iter()
        .map(|j| JobView::showing(j, &[], super::details(&caller)))
        .collect();
    Ok(ApiJson(JobPage {
        jobs,
        next_cursor: next,
    }))
}

/// One job with its plan, step states and approval.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = JobView),
        Keyed, JobPath,
    ),
    security(("api_key" = [])))]
pub(crate) async fn get_job(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<JobView>> {
    state
        .act_on_job(&caller, Scope::Read, &id, async |a, id| a.get(id).await)
        .await
}

/// Approve the plan the approver reviewed; it is queued for a worker.
#[utoipa::path(post, path = "/v1/jobs/{id}/approve", tag = "jobs", request_body = ApproveBody,
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Approved and queued", body = JobView),
        Keyed, JsonBody, JobPath,
        (status = 409, description = "Stale or wrong plan hash, or the job is not awaiting approval", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn approve(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ApproveBody>,
) -> ApiResult<ApiJson<JobView>> {
    state
        .act_on_job(&caller, Scope::Approve, &id, async |a, id| {
            a.approve(id, &body.plan_hash).await
        })
        .await
}

/// Deny a plan that awaits approval.
#[utoipa::path(post, path = "/v1/jobs/{id}/deny", tag = "jobs", request_body(content = DenyBody, description = "Optional reason"),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = JobView),
        Keyed, JsonBody, JobPath,
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn deny(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<DenyBody>,
) -> ApiResult<ApiJson<JobView>> {
    state
        .act_on_job(&caller, Scope::Approve, &id, async |a, id| {
            a.deny(id, body.reason).await
        })
        .await
}

/// Cancel a job that has not finished (a running step is killed).
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = JobView),
        Keyed, JobPath,
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn cancel(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<JobView>> {
    state
        .act_on_job(&caller, Scope::Approve, &id, async |a, id| {
            a.cancel(id).await
        })
        .await
}

/// A job's output lines (tail, search, one step, a stream, a time range, or
/// after a seq).
#[utoipa::path(get, path = "/v1/jobs/{id}/logs", tag = "jobs",
    params(("id" = String, Path, description = "Job id"), LogsQuery),
    responses(
        (status = 200, body = LogsView),
        Keyed, JobPath,
    ),
    security(("api_key" = [])))]
pub(crate) async fn logs(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<ApiJson<LogsView>> {
    caller.require(Scope::Read)?;
    let now = chrono::Utc::now();
    let instant = |what: &str, text: Option<String>| {
        text.filter(|t| !t.is_empty())
            .map(|t| skynet_core::clock::parse_instant(what, &t, now))
            .transpose()
            .map_err(core_err(&caller))
    };
    let query = LogQuery {
        step: q.step,
        search: q.search.filter(|s| !s.is_empty()),
        after_seq: q.after_seq,
        tail: q.tail,
        since: instant("since", q.since)?,
        until: instant("until", q.until)?,
        stream: q
            .stream
            .filter(|s| !s.is_empty())
            .map(|s| skynet_core::provider::Stream::parse(&s))
            .transpose()
            .map_err(core_err(&caller))?,
    };
    let id = job_id(&id)?;
    let lines = state
        .act(&caller, async |a| a.logs(&id, &query).await)
        .await?;
    Ok(ApiJson(LogsView {
        lines: lines.into_iter().map(LogLineView::from).collect(),
    }))
}
