//! Operations: health (no key), Prometheus metrics, the OpenAPI document.

use super::core_err;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;
use crate::schema::{ComponentHealth, HealthAnswer};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use skynet_core::sentinel::HealthStatus;
use skynet_core::store::keys::Scope;
use std::collections::BTreeMap;

/// Is the server usable? Needs no key and shows no secrets: the store is
/// asked live; queue, workers and providers come from the sentinel's
/// latest round (a system round runs here when none is fresh).
#[utoipa::path(get, path = "/v1/health", tag = "operations",
    responses((status = 200, body = HealthAnswer)))]
pub(crate) async fn health(State(state): State<AppState>) -> ApiJson<HealthAnswer> {
    let mut components = BTreeMap::new();
    let store = match state.sk.store().count_jobs_by_status().await {
        Ok(_) => ComponentHealth {
            status: "ok".into(),
            detail: state.sk.store().backend().into(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "health: the store is not answering");
            ComponentHealth {
                status: "down".into(),
                detail: format!("{} is not answering", state.sk.store().backend()),
            }
        }
    };
    let store_ok = store.status == "ok";
    components.insert("store".to_string(), store);
    let sentinel = state.sk.sentinel();
    let fresh = sentinel.system_report().filter(|r| {
        (chrono::Utc::now() - r.at)
            .to_std()
            .is_ok_and(|age| age < sentinel.config().interval * 2)
    });
    let system = match fresh {
        Some(r) => Some(r),
        None if store_ok => Some(sentinel.check_system().await),
        None => None,
    };
    if let Some(system) = system {
        // Their messages hold counts and ages only (the database message,
        // which may quote a driver error, is not shown).
        for (name, c) in [("queue", system.queue), ("workers", system.workers)] {
            components.insert(
                name.to_string(),
                ComponentHealth {
                    status: word(c.status).into(),
                    detail: c.message,
                },
            );
        }
    }
    let reports = sentinel.provider_reports();
    let worst = reports
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(HealthStatus::Healthy);
    components.insert(
        "providers".to_string(),
        ComponentHealth {
            // Not checked yet is not a fault of the server.
            status: match worst {
                HealthStatus::Unknown => "ok",
                s => word(s),
            }
            .into(),
            detail: reports
                .iter()
                .map(|r| format!("{} {}", r.name, r.status))
                .collect::<Vec<_>>()
                .join(", "),
        },
    );
    let ok = components.values().all(|c| c.status == "ok");
    ApiJson(HealthAnswer {
        status: if ok { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        components,
    })
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
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
