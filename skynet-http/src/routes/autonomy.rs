//! Schedules and the initiative engine: `read` lists schedules (the
//! caller's own, everyone's with `read:all`) and reads the initiative's
//! status; `admin` adds, pauses, resumes and removes schedules and sets or
//! clears the initiative's kill switch.

use super::{allowed_root, core_err};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;
use crate::problems::{JsonBody, Keyed, NoSchedule};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use skynet_core::engine::InitiativeStatus;
use skynet_core::schedules::{MissedTicks, NewSchedule, Schedule};
use skynet_core::store::keys::Scope;
use std::path::PathBuf;
use utoipa::ToSchema;

/// `POST /v1/schedules`: exactly one of `cron` and `every`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// What to do at every tick.
    pub intent: String,
    /// A five-field cron expression (`*/5 * * * *`).
    #[serde(default)]
    pub cron: Option<String>,
    /// An interval instead (`10m`, `1h`; at least 1 s).
    #[serde(default)]
    pub every: Option<String>,
    /// The IANA time zone the cron expression is read in (default `UTC`).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `skip` (default) or `catch_up`: what ticks missed while nothing ran do.
    #[serde(default)]
    pub missed: MissedTicks,
    /// The jobs' root, inside the server's root.
    #[serde(default)]
    pub root: Option<String>,
}

/// Add a schedule owned by the caller's principal (`admin`). Its intent is
/// planned and judged once now; every tick is a job judged like any other.
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", request_body = ScheduleBody,
    responses(
        (status = 201, body = Schedule),
        Keyed, JsonBody,
        (status = 400, description = "A bad cron expression, an unknown time zone, an interval out of range, neither or both of cron and every, or an intent that does not plan; nothing is stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn add_schedule(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<(StatusCode, ApiJson<Schedule>)> {
    caller.require(Scope::Admin)?;
    let every = skynet_core::config::duration_input("every", body.every.as_deref())
        .map_err(core_err(&caller))?;
    let new = NewSchedule {
        intent: body.intent,
        cron: body.cron,
        every,
        time_zone: body.time_zone,
        missed: body.missed,
        root: body.root.map(PathBuf::from),
        base: Some(allowed_root(&state)),
    };
    let s = state
        .act(&caller, async |a| a.add_schedule(new).await)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(s)))
}

/// The caller's schedules (everyone's with `read:all`), oldest first.
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules",
    responses((status = 200, body = Vec<Schedule>), Keyed),
    security(("api_key" = [])))]
pub(crate) async fn list_schedules(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<Vec<Schedule>>> {
    state
        .act_in_scope(&caller, Scope::Read, async |a| a.schedules().await)
        .await
        .map(ApiJson)
}

/// Pause a schedule (`admin`): it fires nothing until resumed.
#[utoipa::path(post, path = "/v1/schedules/{id}/pause", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id")),
    responses(
        (status = 200, body = Schedule),
        Keyed, NoSchedule,
    ),
    security(("api_key" = [])))]
pub(crate) async fn pause_schedule(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Schedule>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| a.pause_schedule(&id).await)
        .await
        .map(ApiJson)
}

/// Resume a schedule (`admin`) from its next tick.
#[utoipa::path(post, path = "/v1/schedules/{id}/resume", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id")),
    responses(
        (status = 200, body = Schedule),
        Keyed, NoSchedule,
    ),
    security(("api_key" = [])))]
pub(crate) async fn resume_schedule(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Schedule>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| {
            a.resume_schedule(&id).await
        })
        .await
        .map(ApiJson)
}

/// Remove a schedule (`admin`); the jobs it made stay.
#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Removed"),
        Keyed, NoSchedule,
    ),
    security(("api_key" = [])))]
pub(crate) async fn remove_schedule(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| {
            a.remove_schedule(&id).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The initiative engine: whether it runs here, its kill switch, its
/// budgets and what they have used.
#[utoipa::path(get, path = "/v1/initiative", tag = "initiative",
    responses((status = 200, body = InitiativeStatus), Keyed),
    security(("api_key" = [])))]
pub(crate) async fn initiative_status(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<InitiativeStatus>> {
    state
        .act_in_scope(&caller, Scope::Read, async |a| a.initiative_status().await)
        .await
        .map(ApiJson)
}

/// Set the initiative's kill switch (`admin`): every process stops
/// proposing within one round.
#[utoipa::path(post, path = "/v1/initiative/pause", tag = "initiative",
    responses((status = 200, body = InitiativeStatus), Keyed),
    security(("api_key" = [])))]
pub(crate) async fn pause_initiative(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<InitiativeStatus>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| {
            a.set_initiative_paused(true).await
        })
        .await
        .map(ApiJson)
}

/// Clear the initiative's kill switch (`admin`).
#[utoipa::path(post, path = "/v1/initiative/resume", tag = "initiative",
    responses((status = 200, body = InitiativeStatus), Keyed),
    security(("api_key" = [])))]
pub(crate) async fn resume_initiative(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<InitiativeStatus>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| {
            a.set_initiative_paused(false).await
        })
        .await
        .map(ApiJson)
}
