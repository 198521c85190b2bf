//! Webhooks in the engine: making, listing, testing and removing
//! endpoints (owned by a principal, filtered in the store's queries), and
//! one signed request ([`Skynet::send`], pinned to a checked address),
//! which the delivery loop (`webhook_delivery`) and `test_webhook` use.

use super::{Acting, Skynet};
use crate::events::webhooks::egress::{self, Clients};
use crate::events::webhooks::{
    self as wh, CreatedWebhook, Delivery, DeliveryAttempt, DeliveryState, NewWebhook,
    SigningSecret, TestOutcome, Webhook, WebhookConfig,
};
use crate::principal::{Principal, Visibility};
use crate::store::keys::Scope;
use crate::store::webhooks::{DeliveryQuery, WebhookTarget};
use crate::{Error, Result};
use chrono::Utc;
use std::time::{Duration, Instant};

/// Bytes of an answer's body read (then dropped), so the connection can
/// be reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The engine's webhook state: settings and pinned clients.
#[derive(Debug)]
pub(crate) struct Webhooks {
    pub(crate) config: WebhookConfig,
    clients: Clients,
}

impl Webhooks {
    pub(crate) fn new(config: WebhookConfig) -> Self {
        Webhooks {
            clients: Clients::new(config.timeout),
            config,
        }
    }
}

/// What one request got.
#[derive(Debug, Clone, Default)]
pub(super) struct Sent {
    pub(super) status: Option<u16>,
    pub(super) error: Option<String>,
    pub(super) duration_ms: u64,
    /// Refused by the egress check: final.
    pub(super) refused: bool,
    /// How long the answer asked to wait (`Retry-After`, seconds).
    pub(super) retry_after: Option<Duration>,
}

impl Sent {
    pub(super) fn delivered(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl Skynet {
    /// Make an endpoint owned by `principal`. The URL is checked (form,
    /// and every address its host resolves to against the allow-list) and
    /// the filter too; bad input stores nothing. The answer holds the
    /// signing secret, which is never shown again.
    pub async fn add_webhook(
        &self,
        principal: &Principal,
        new: NewWebhook,
    ) -> Result<CreatedWebhook> {
        let url = egress::check_url(&new.url)?;
        let types = wh::check_filter(&new.types)?;
        egress::resolve(&self.inner.webhooks.config.allow, &url).await?;
        let target = WebhookTarget {
            id: uuid::Uuid::now_v7().to_string(),
            principal: principal.clone(),
            url: url.to_string(),
            types,
            secret: SigningSecret::generate(),
            enabled: true,
            created_at: crate::store::chain::truncate_to_micros(Utc::now()),
        };
        self.inner.store.insert_webhook(&target).await?;
        tracing::info!(webhook = %target.id, url = %wh::shown_url(&target.url),
            principal = %principal, "webhook added");
        Ok(CreatedWebhook {
            webhook: target.view(),
            secret: target.secret.expose().to_string(),
        })
    }

    /// The endpoints `visibility` admits, oldest first (never a secret).
    pub async fn webhooks(&self, visibility: &Visibility) -> Result<Vec<Webhook>> {
        self.inner.store.webhooks(visibility.only()).await
    }

    /// Remove an endpoint, its deliveries and their log.
    pub async fn remove_webhook(&self, id: &str, visibility: &Visibility) -> Result<()> {
        self.inner.store.remove_webhook(id, visibility.only()).await
    }

    /// Send one signed test message (`{"type": "webhook.test", ...}`) to
    /// an endpoint now, through the same checks as every delivery, and
    /// say what came back. Nothing is stored.
    pub async fn test_webhook(&self, id: &str, visibility: &Visibility) -> Result<TestOutcome> {
        let target = self
            .inner
            .store
            .webhook_target(id, visibility.only())
            .await?;
        let body = serde_json::json!({
            "type": "webhook.test",
            "timestamp": Utc::now().to_rfc3339(),
            "data": { "webhook": target.id },
        })
        .to_string();
        let msg = format!("msg_test_{}", uuid::Uuid::now_v7().simple());
        let sent = self.send(&target, &msg, &body).await;
        Ok(TestOutcome {
            webhook: target.id,
            delivered: sent.delivered(),
            status: sent.status,
            error: sent.error,
            duration_ms: sent.duration_ms,
        })
    }

    /// Deliveries of the endpoints `visibility` admits, newest first:
    /// one endpoint's with `webhook`, dead letters with
    /// `Some(DeliveryState::Dead)`.
    pub async fn webhook_deliveries(
        &self,
        webhook: Option<&str>,
        state: Option<DeliveryState>,
        visibility: &Visibility,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        if let Some(id) = webhook {
            self.inner
                .store
                .webhook_target(id, visibility.only())
                .await?;
        }
        self.inner
            .store
            .webhook_deliveries(&DeliveryQuery {
                webhook: webhook.map(str::to_string),
                state,
                owner: visibility.only().cloned(),
                limit,
            })
            .await
    }

    /// Every attempt of one delivery, oldest first.
    pub async fn webhook_attempts(
        &self,
        delivery: &str,
        visibility: &Visibility,
    ) -> Result<Vec<DeliveryAttempt>> {
        self.inner
            .store
            .webhook_attempts(delivery, visibility.only())
            .await
    }

    /// Send a dead (or delivered) delivery again, with the full number of
    /// attempts.
    pub async fn redeliver_webhook(
        &self,
        delivery: &str,
        visibility: &Visibility,
    ) -> Result<Delivery> {
        self.inner
            .store
            .redeliver_webhook(delivery, visibility.only(), Utc::now())
            .await
    }

    /// One signed POST of `body` to `target`, pinned to a checked address.
    pub(super) async fn send(&self, target: &WebhookTarget, msg_id: &str, body: &str) -> Sent {
        let started = Instant::now();
        let mut sent = self.try_send(target, msg_id, body).await;
        sent.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        sent
    }

    async fn try_send(&self, target: &WebhookTarget, msg_id: &str, body: &str) -> Sent {
        let fail = |error: String, refused: bool| Sent {
            error: Some(error),
            refused,
            ..Default::default()
        };
        let config = &self.inner.webhooks.config;
        let url = match egress::check_url(&target.url) {
            Ok(u) => u,
            Err(e) => return fail(e.to_string(), true),
        };
        // Resolved and checked again now: DNS may have changed since.
        let pinned = match egress::resolve(&config.allow, &url).await {
            Ok(t) => t,
            Err(e) => return fail(e.to_string(), egress::is_refusal(&e)),
        };
        let client = match self.inner.webhooks.clients.pinned(&pinned) {
            Ok(c) => c,
            Err(e) => return fail(e.to_string(), false),
        };
        let timestamp = Utc::now().timestamp();
        let signature = match wh::sign(&target.secret, msg_id, timestamp, body.as_bytes()) {
            Ok(s) => s,
            Err(e) => return fail(e.to_string(), true),
        };
        let answer = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_string())
            .send()
            .await;
        let mut answer = match answer {
            Ok(a) => a,
            Err(e) => return fail(request_error(e, pinned.addr), false),
        };
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read a little of the body so the connection can be reused.
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match answer.chunk().await {
                Ok(Some(c)) => read += c.len(),
                _ => break,
            }
        }
        let error = (!status.is_success()).then(|| {
            if status.is_redirection() {
                format!("answered {status}: redirects are not followed; give the final URL")
            } else {
                format!("answered {status}")
            }
        });
        Sent {
            status: Some(status.as_u16()),
            error,
            retry_after,
            ..Default::default()
        }
    }
}

/// A failed request in words: what failed and why, never the URL (which
/// may carry a token).
fn request_error(e: reqwest::Error, addr: std::net::SocketAddr) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut text = format!("{what} ({addr})");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Acting<'_> {
    /// Make an endpoint owned by the caller (`admin`). An admin's
    /// endpoint receives every event, as an admin reads every event.
    pub async fn add_webhook(&self, new: NewWebhook) -> Result<CreatedWebhook> {
        self.require_webhooks(Scope::Admin)?;
        self.sk.add_webhook(&self.grant().principal, new).await
    }

    /// The caller's endpoints (everyone's with `read:all` or `admin`).
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.sk.webhooks(&self.visibility()).await
    }

    /// Remove one of the caller's endpoints (`admin`).
    pub async fn remove_webhook(&self, id: &str) -> Result<()> {
        self.require_webhooks(Scope::Admin)?;
        self.sk.remove_webhook(id, &self.visibility()).await
    }

    /// Send a test message to one of the caller's endpoints (`admin`).
    pub async fn test_webhook(&self, id: &str) -> Result<TestOutcome> {
        self.require_webhooks(Scope::Admin)?;
        self.sk.test_webhook(id, &self.visibility()).await
    }

    /// Deliveries of the caller's endpoints.
    pub async fn webhook_deliveries(
        &self,
        webhook: Option<&str>,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.sk
            .webhook_deliveries(webhook, state, &self.visibility(), limit)
            .await
    }

    /// Send a delivery of one of the caller's endpoints again (`admin`).
    pub async fn redeliver_webhook(&self, delivery: &str) -> Result<Delivery> {
        self.require_webhooks(Scope::Admin)?;
        self.sk
            .redeliver_webhook(delivery, &self.visibility())
            .await
    }

    fn require_webhooks(&self, scope: Scope) -> Result<()> {
        if self.grant().allows(scope) {
            Ok(())
        } else {
            Err(Error::NotPermitted(format!(
                "changing webhooks needs the {} scope",
                scope.as_str()
            )))
        }
    }
}
