//! Operations: health (no key), Prometheus metrics, the OpenAPI document.

use super::core_err;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::problems::Keyed;
use crate::schema::{ComponentHealth, GcQuery, HealthAnswer};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use skynet_core::engine::HealthCheck;
use skynet_core::retention::{GcOptions, GcReport};
use skynet_core::sentinel::HealthStatus;
use skynet_core::store::keys::Scope;

/// Is the server usable? Needs no key and shows no secrets: the store is
/// asked live; queue, workers and providers come from the sentinel's
/// latest round (a system round runs here when none is fresh).
#[utoipa::path(get, path = "/v1/health", tag = "operations",
    responses((status = 200, body = HealthAnswer)))]
pub(crate) async fn health(State(state): State<AppState>) -> ApiJson<HealthAnswer> {
    let summary = state.sk.health(HealthCheck::Latest).await;
    let components = summary
        .public_components()
        .into_iter()
        .map(|(name, c)| {
            let component = ComponentHealth {
                status: word(c.status).into(),
                detail: c.detail,
            };
            (name, component)
        })
        .collect();
    ApiJson(HealthAnswer {
        status: if summary.is_healthy() {
            "ok"
        } else {
            "degraded"
        }
        .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        components,
    })
}

/// Run gc now (`admin`): remove what retention no longer keeps, or with
/// `dry_run` list it. A run that finds another process running gc does
/// nothing and says so in `skipped`.
#[utoipa::path(post, path = "/v1/gc", tag = "operations",
    params(GcQuery),
    responses(
        (status = 200, body = GcReport),
        Keyed,
        (status = 400, description = "`dry_run` is not `true` or `false`; nothing is removed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn gc(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<GcQuery>,
) -> ApiResult<ApiJson<GcReport>> {
    caller.require(Scope::Admin)?;
    let report = state
        .sk
        .gc(GcOptions { dry_run: q.dry_run })
        .await
        .map_err(core_err(&caller))?;
    Ok(ApiJson(report))
}

/// A sentinel status in this endpoint's words.
fn word(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "ok",
        HealthStatus::Degraded => "degraded",
        HealthStatus::Unhealthy => "down",
        HealthStatus::Unknown => "unknown",
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        Keyed,
    ),
    security(("api_key" = [])))]
pub(crate) async fn metrics(caller: Caller, State(state): State<AppState>) -> ApiResult<Response> {
    caller.require(Scope::Read)?;
    let text = state
        .metrics
        .render(&state.sk)
        .await
        .map_err(core_err(&caller))?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses(
        (status = 200, description = "OpenAPI document", content_type = "application/json", body = Object),
        Keyed,
    ),
    security(("api_key" = [])))]
pub(crate) async fn openapi(caller: Caller) -> ApiResult<Response> {
    caller.require(Scope::Read)?;
    let mut resp = crate::openapi_json().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
