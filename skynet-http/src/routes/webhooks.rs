//! Webhooks: `read` lists the caller's endpoints and their deliveries
//! (everyone's with `read:all`); `admin` makes, tests and removes them and
//! redelivers a delivery. The signing secret is in the answer to the
//! `POST` that makes an endpoint, and nowhere else.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::problems::{JsonBody, Keyed, NoDelivery, NoWebhook, Query};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use skynet_core::events::webhooks::{
    CreatedWebhook, Delivery, DeliveryState, NewWebhook, TestOutcome, Webhook,
};
use skynet_core::store::keys::Scope;
use utoipa::{IntoParams, ToSchema};

/// `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where to POST events: `http://` or `https://`. Loopback, private,
    /// link-local and metadata addresses are refused unless the operator
    /// allowed them (`SKYNET_WEBHOOK_ALLOW`).
    #[schema(example = "https://hooks.example.com/skynet")]
    pub url: String,
    /// Event types or prefixes (`job.failed`, `provider.*`); none: all.
    #[serde(default)]
    pub types: Vec<String>,
}

/// `GET /v1/webhooks/deliveries` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only this endpoint's deliveries.
    pub webhook: Option<String>,
    /// Only deliveries in this state (`pending`, `delivered`, `dead`).
    pub state: Option<DeliveryState>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Make an endpoint owned by the caller's principal (`admin`). The answer
/// holds the signing secret (`whsec_…`), shown this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookBody,
    responses(
        (status = 201, body = CreatedWebhook),
        Keyed, JsonBody,
        (status = 400, description = "Not an http(s) URL, a host that does not resolve, or an unknown event type; nothing is stored", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No `admin` scope, or the URL's host resolves to an address closed to webhooks; nothing is stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn add_webhook(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<WebhookBody>,
) -> ApiResult<(StatusCode, ApiJson<CreatedWebhook>)> {
    let new = NewWebhook {
        url: body.url,
        types: body.types,
    };
    let created = state
        .act_in_scope(&caller, Scope::Admin, async |a| a.add_webhook(new).await)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

/// The caller's endpoints (everyone's with `read:all`), oldest first:
/// URLs without credentials or query, never a secret.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<Webhook>), Keyed),
    security(("api_key" = [])))]
pub(crate) async fn list_webhooks(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<Vec<Webhook>>> {
    state
        .act_in_scope(&caller, Scope::Read, async |a| a.webhooks().await)
        .await
        .map(ApiJson)
}

/// Remove an endpoint with its deliveries (`admin`).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Removed"),
        Keyed, NoWebhook,
    ),
    security(("api_key" = [])))]
pub(crate) async fn remove_webhook(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| a.remove_webhook(&id).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a signed test message (`webhook.test`) to an endpoint now
/// (`admin`) and say what came back.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, body = TestOutcome),
        Keyed, NoWebhook,
    ),
    security(("api_key" = [])))]
pub(crate) async fn test_webhook(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<TestOutcome>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| a.test_webhook(&id).await)
        .await
        .map(ApiJson)
}

/// Deliveries of the caller's endpoints, newest first (`?state=dead`: the
/// dead letters).
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks",
    params(DeliveriesQuery),
    responses(
        (status = 200, body = Vec<Delivery>),
        Keyed, Query, NoWebhook,
    ),
    security(("api_key" = [])))]
pub(crate) async fn list_deliveries(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<ApiJson<Vec<Delivery>>> {
    state
        .act_in_scope(&caller, Scope::Read, async |a| {
            a.webhook_deliveries(q.webhook.as_deref(), q.state, q.limit.unwrap_or(0))
                .await
        })
        .await
        .map(ApiJson)
}

/// Send a delivered or dead delivery again, with a fresh round of
/// attempts (`admin`).
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id (its `webhook-id`)")),
    responses(
        (status = 200, body = Delivery),
        Keyed, NoDelivery,
        (status = 409, description = "The delivery is still pending", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn redeliver(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Delivery>> {
    state
        .act_in_scope(&caller, Scope::Admin, async |a| {
            a.redeliver_webhook(&id).await
        })
        .await
        .map(ApiJson)
}
