//! Triggers: `read` lists them (the caller's own, everyone's with
//! `read:all`); `admin` adds, pauses, resumes and removes them.

use super::{allowed_root, core_err};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;
use crate::problems::{JsonBody, Keyed, NoTrigger};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use skynet_core::store::keys::Scope;
use skynet_core::triggers::{NewTrigger, Trigger};
use std::collections::BTreeMap;
use std::path::PathBuf;
use utoipa::ToSchema;

/// `POST /v1/triggers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// Event types or prefixes, comma separated (`provider.degraded`,
    /// `job.failed,provider.*`), as `/v1/events?type=` takes them.
    pub on: String,
    /// What to submit when a matching event happens.
    pub intent: String,
    /// Payload fields that must equal these values (`{"provider": "docker"}`).
    #[serde(default, rename = "where")]
    pub conditions: BTreeMap<String, String>,
    /// At most this many firings: `N/hour` (default `3/hour`), `N/minute`, `N/day`.
    #[serde(default)]
    pub max: Option<String>,
    /// A short name (default: the intent).
    #[serde(default)]
    pub name: Option<String>,
    /// The jobs' root, inside the server's root.
    #[serde(default)]
    pub root: Option<String>,
}

/// Add a trigger owned by the caller's principal (`admin`: a trigger reads
/// every event). Its intent is planned and judged once now; every firing
/// is a job judged like any other (WRITE/ADMIN plans wait for approval).
#[utoipa::path(post, path = "/v1/triggers", tag = "triggers", request_body = TriggerBody,
    responses(
        (status = 201, body = Trigger),
        Keyed, JsonBody,
        (status = 400, description = "An unknown event type, an empty intent, a bad payload field, a rate limit of zero, or an intent that does not plan; nothing is stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn add_trigger(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TriggerBody>,
) -> ApiResult<(StatusCode, ApiJson<Trigger>)> {
    caller.require(Scope::Admin)?;
    let rate = body
        .max
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(core_err(&caller))?;
    let new = NewTrigger {
        name: body.name,
        on: body.on,
        conditions: body.conditions,
        intent: body.intent,
        rate,
        root: body.root.map(PathBuf::from),
        base: Some(allowed_root(&state)),
    };
    let t = state
        .act(&caller, async |a| a.add_trigger(new).await)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(t)))
}

/// The caller's triggers (everyone's with `read:all`), oldest first.
#[utoipa::path(get, path = "/v1/triggers", tag = "triggers",
    responses((status = 200, body = Vec<Trigger>), Keyed),
    security(("api_key" = [])))]
pub(crate) async fn list_triggers(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<Vec<Trigger>>> {
    state
        .act_in_scope(&caller, Scope::Read, async |a| a.triggers().await)
        .await
        .map(ApiJson)
}

/// Pause a trigger (`admin`): events fire it no more until resumed.
#[utoipa::path(post, path = "/v1/triggers/{id}/pause", tag = "triggers",
    params(("id" = String, Path, description = "Trigger id")),
    responses(
        (status = 200, body = Trigger),
        Keyed, NoTrigger,
    ),
    security(("api_key" = [])))]
pub(crate) async fn pause_trigger(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Trigger>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| a.pause_trigger(&id).await)
        .await
        .map(ApiJson)
}

/// Resume a trigger (`admin`), for events from now on.
#[utoipa::path(post, path = "/v1/triggers/{id}/resume", tag = "triggers",
    params(("id" = String, Path, description = "Trigger id")),
    responses(
        (status = 200, body = Trigger),
        Keyed, NoTrigger,
    ),
    security(("api_key" = [])))]
pub(crate) async fn resume_trigger(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Trigger>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| a.resume_trigger(&id).await)
        .await
        .map(ApiJson)
}

/// Remove a trigger (`admin`); the jobs it made stay.
#[utoipa::path(delete, path = "/v1/triggers/{id}", tag = "triggers",
    params(("id" = String, Path, description = "Trigger id")),
    responses(
        (status = 204, description = "Removed"),
        Keyed, NoTrigger,
    ),
    security(("api_key" = [])))]
pub(crate) async fn remove_trigger(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| a.remove_trigger(&id).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
