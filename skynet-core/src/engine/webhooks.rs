//! Webhooks in the engine: making, listing, testing and removing
//! endpoints (owned by a principal, filtered in the store's queries), and
//! the delivery loop ([`Skynet::run_webhooks`]): a durable consumer of the
//! global event log that enqueues one delivery per endpoint and event,
//! and a bounded pool of concurrent requests that sends them, retries
//! with backoff and keeps dead letters. The loop never touches a job: a
//! slow receiver holds at most its own requests.

use super::{Acting, Skynet};
use crate::events::webhooks::egress::{self, Clients};
use crate::events::webhooks::{
    self as wh, CreatedWebhook, Delivery, DeliveryAttempt, DeliveryState, NewWebhook,
    SigningSecret, TestOutcome, Webhook, WebhookConfig,
};
use crate::events::{AlertRaised, EventPayload, NewSystemEvent, SystemEvent};
use crate::principal::{Principal, Visibility};
use crate::store::event_log::{EventLogQuery, LogView};
use crate::store::keys::Scope;
use crate::store::webhooks::{
    AfterAttempt, AttemptRecord, ClaimedDelivery, DeliveryQuery, NewDelivery, WebhookTarget,
};
use crate::{Error, Result};
use chrono::Utc;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Bytes of an answer's body read (then dropped), so the connection can
/// be reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Log rows read per page by the delivery loop.
const PAGE: u32 = 500;
/// Pages of the log enqueued per round at most (the rest next round).
const PAGES_PER_ROUND: usize = 20;
/// How often an idle loop without any endpoint looks again.
const IDLE_POLL: Duration = Duration::from_secs(1);

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
struct Sent {
    status: Option<u16>,
    error: Option<String>,
    duration_ms: u64,
    /// Refused by the egress check: final.
    refused: bool,
    /// How long the answer asked to wait (`Retry-After`, seconds).
    retry_after: Option<Duration>,
}

impl Sent {
    fn delivered(&self) -> bool {
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
    async fn send(&self, target: &WebhookTarget, msg_id: &str, body: &str) -> Sent {
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

    /// Enqueue the deliveries of new events of the global log for the
    /// enabled endpoints (up to [`PAGES_PER_ROUND`] pages). Events the
    /// delivery loop reported itself are never delivered, so a failing
    /// endpoint cannot feed itself.
    async fn enqueue_from_log(&self, targets: &[WebhookTarget]) -> Result<u64> {
        let store = &self.inner.store;
        let mut enqueued = 0;
        for _ in 0..PAGES_PER_ROUND {
            let stored = store.consumer_position(wh::CONSUMER).await?;
            let after = stored.unwrap_or(crate::events::EventPosition::START);
            let page = store
                .read_event_log(&EventLogQuery {
                    after,
                    limit: PAGE,
                    types: Vec::new(),
                    job: None,
                    view: LogView::all(),
                })
                .await?;
            if stored.is_some() {
                crate::events::consumer::note_gap(store, wh::CONSUMER, after, &page).await?;
            }
            let mut rows = Vec::new();
            for event in page.events.iter().filter(|e| e.source != wh::SOURCE) {
                let takers: Vec<&WebhookTarget> = targets
                    .iter()
                    .filter(|t| {
                        event.at >= t.created_at && wh::filter_takes(&t.types, event.event_type)
                    })
                    .collect();
                if takers.is_empty() {
                    continue;
                }
                let body = delivery_body(event)?;
                let position = event.position()?;
                let at = crate::store::chain::truncate_to_micros(Utc::now());
                for t in takers {
                    rows.push(NewDelivery {
                        id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
                        webhook: t.id.clone(),
                        event_xid: position.xid,
                        event_id: position.id,
                        event_type: event.event_type.as_str().to_string(),
                        body: body.clone(),
                        at,
                    });
                }
            }
            enqueued += store.enqueue_webhook_deliveries(&rows).await?;
            if page.next > after {
                store.advance_consumer(wh::CONSUMER, page.next).await?;
            }
            if page.events.len() < PAGE as usize {
                // A short page: the log is read to its end for now.
                break;
            }
        }
        Ok(enqueued)
    }

    /// Run the delivery loop until `shutdown`: read new events into
    /// deliveries, keep up to `concurrency` requests in flight, record
    /// each attempt with what follows (delivered, retry after backoff,
    /// dead letter). `serve` and `worker` run it; any number of processes
    /// may share a ledger (claims are leased, enqueuing is idempotent).
    pub async fn run_webhooks(&self, shutdown: CancellationToken) {
        let config = self.inner.webhooks.config.clone();
        let lease = config.timeout * 2 + Duration::from_secs(5);
        let mut in_flight: JoinSet<(ClaimedDelivery, Sent)> = JoinSet::new();
        let mut targets: HashMap<String, WebhookTarget> = HashMap::new();
        let mut done: Vec<(ClaimedDelivery, Sent)> = Vec::new();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            match self.inner.store.enabled_webhooks().await {
                Ok(list) => {
                    if !list.is_empty()
                        && let Err(e) = self.enqueue_from_log(&list).await
                    {
                        tracing::warn!(error = %e, "webhooks: reading the event log failed; retrying");
                    }
                    targets = list.into_iter().map(|t| (t.id.clone(), t)).collect();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: loading endpoints failed; retrying")
                }
            }
            let free = config.concurrency.saturating_sub(in_flight.len());
            if free > 0 && !targets.is_empty() {
                let now = Utc::now();
                match self
                    .inner
                    .store
                    .claim_webhook_deliveries(
                        now,
                        crate::store::codec::plus(now, lease),
                        u32::try_from(free).unwrap_or(u32::MAX),
                    )
                    .await
                {
                    Ok(claimed) => {
                        for d in claimed {
                            let Some(target) = targets.get(&d.webhook).cloned() else {
                                continue;
                            };
                            let sk = self.clone();
                            in_flight.spawn(async move {
                                let sent = sk.send(&target, &d.id, &d.body).await;
                                (d, sent)
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhooks: claiming deliveries failed"),
                }
            }
            let poll = if targets.is_empty() {
                IDLE_POLL
            } else {
                config.poll
            };
            // Wait for a request to end (or the poll interval), then take
            // every other one that ended too and record them together.
            tokio::select! {
                () = shutdown.cancelled() => {}
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(one) = joined {
                        done.push(one);
                    }
                    while let Some(Ok(one)) = in_flight.try_join_next() {
                        done.push(one);
                    }
                }
                () = tokio::time::sleep(poll) => {}
            }
            if !done.is_empty() {
                self.record_attempts(std::mem::take(&mut done), &targets, &config)
                    .await;
            }
        }
        // Requests in flight are dropped: their leases lapse and another
        // round (here after a restart, or another process) sends them again.
        in_flight.abort_all();
    }

    /// Record finished attempts: delivered, retried after backoff, or dead
    /// letters (each announced as an `alert.raised` event).
    async fn record_attempts(
        &self,
        done: Vec<(ClaimedDelivery, Sent)>,
        targets: &HashMap<String, WebhookTarget>,
        config: &WebhookConfig,
    ) {
        let now = crate::store::chain::truncate_to_micros(Utc::now());
        let mut records = Vec::with_capacity(done.len());
        let mut dead = Vec::new();
        let mut gone = Vec::new();
        for (d, sent) in done {
            let attempt = d.attempts + 1;
            let in_round = attempt.saturating_sub(d.round_base);
            let then = if sent.delivered() {
                AfterAttempt::Delivered
            } else if sent.status == Some(410) {
                // 410 Gone: the receiver wants no more (the spec says to
                // stop sending): the endpoint is turned off.
                gone.push(d.webhook.clone());
                AfterAttempt::Dead
            } else if sent.refused || in_round >= config.max_attempts {
                AfterAttempt::Dead
            } else {
                let wait = config
                    .backoff
                    .delay(in_round - 1, sent.retry_after)
                    .unwrap_or(config.backoff.max_delay);
                AfterAttempt::RetryAt(crate::store::codec::plus(now, wait))
            };
            if then == AfterAttempt::Dead {
                dead.push((d.clone(), sent.clone(), attempt));
            }
            records.push(AttemptRecord {
                attempt: DeliveryAttempt {
                    delivery: d.id,
                    webhook: d.webhook,
                    event_id: d.event_id,
                    attempt,
                    status: sent.status,
                    error: sent.error,
                    duration_ms: sent.duration_ms,
                    at: now,
                },
                then,
            });
        }
        if let Err(e) = self.inner.store.record_webhook_attempts(&records).await {
            // The leases lapse and the deliveries are sent again.
            tracing::warn!(error = %e, "webhooks: recording attempts failed");
            return;
        }
        for id in gone {
            if let Err(e) = self.inner.store.set_webhook_enabled(&id, false).await {
                tracing::warn!(webhook = %id, error = %e, "webhooks: turning off an endpoint failed");
            }
        }
        for (d, sent, attempts) in dead {
            let url = targets
                .get(&d.webhook)
                .map(|t| wh::shown_url(&t.url))
                .unwrap_or_default();
            let why = sent.error.unwrap_or_else(|| "failed".into());
            let message = format!(
                "webhook delivery {} to {url} is a dead letter after {attempts} attempt(s): {why}; \
                 send it again with `skynet webhook redeliver {}`",
                d.id, d.id
            );
            tracing::warn!(webhook = %d.webhook, delivery = %d.id, "{message}");
            let event = NewSystemEvent::now(
                wh::SOURCE,
                EventPayload::AlertRaised(AlertRaised {
                    severity: "warning".into(),
                    subject: format!("webhook:{}", d.webhook),
                    message,
                }),
            );
            self.note_event(&event).await;
        }
    }
}

/// The body of an event's delivery, as the spec's payload structure has
/// it: `type`, `timestamp` (the event's) and `data` (the event).
fn delivery_body(event: &SystemEvent) -> Result<String> {
    serde_json::to_string(&serde_json::json!({
        "type": event.event_type.as_str(),
        "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": event,
    }))
    .map_err(|e| Error::store("encoding a webhook body", e))
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
