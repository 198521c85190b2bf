//! Webhooks: events of the global log POSTed to endpoints the operator
//! allowed, signed as the Standard Webhooks spec says.
//!
//! An endpoint ([`Webhook`]) belongs to the principal that made it and has
//! a URL, an event filter (names or prefixes, as `/v1/events?type=`) and a
//! signing secret (`whsec_` + base64 of 32 random bytes, shown once when
//! it is made and never listed again). Delivery is a durable consumer of
//! the global event log (`webhooks`): every event an endpoint's filter
//! takes becomes one [`Delivery`] (the outbox row, keyed by endpoint and
//! event, so a page read twice enqueues nothing twice), sent at least once
//! by a bounded pool of concurrent requests, retried with exponential
//! backoff ([`crate::retry::RetryPolicy`]) and, when its attempts run out,
//! kept as a dead letter that can be redelivered. Every attempt is logged
//! ([`DeliveryAttempt`]).
//!
//! Egress is closed by default ([`egress`]): a URL's host is resolved
//! once per request, every address is checked against the closed ranges
//! of [`crate::probe::address`] unless `SKYNET_WEBHOOK_ALLOW` opens them,
//! the connection is pinned to the checked address, and redirects are
//! never followed. The same check refuses an endpoint when it is made.

pub mod config;
pub mod egress;
pub mod lanes;
pub mod sign;

pub use config::WebhookConfig;
pub use sign::{SigningSecret, sign};

use crate::principal::Principal;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The durable consumer name the delivery loop reads the log under.
pub const CONSUMER: &str = "webhooks";
/// The source of events the delivery loop reports (never delivered by
/// webhooks, so a failing endpoint cannot feed itself).
pub const SOURCE: &str = "webhooks";

/// An endpoint to create.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Event types or prefixes (`job.failed`, `provider.*`); empty: all.
    pub types: Vec<String>,
}

/// A stored endpoint, as every listing shows it: the URL redacted, no
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Its id (UUIDv7).
    pub id: String,
    /// Who owns it.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub principal: Principal,
    /// The URL without credentials and query (`https://host/path?…`).
    pub url: String,
    /// The event filter (names or prefixes); empty: every type.
    pub types: Vec<String>,
    /// Whether events are delivered to it (a `410 Gone` turns it off).
    pub enabled: bool,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
}

/// A just-created endpoint and its signing secret: the one time the
/// secret is shown (`Debug` hides it).
#[derive(Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: verify the `webhook-signature` header with it. It is
    /// not shown again.
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhook")
            .field("webhook", &self.webhook)
            .field("secret", &"whsec_…")
            .finish()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer came back.
    Delivered,
    /// Its attempts ran out (or it was refused for good): a dead letter.
    Dead,
}

impl DeliveryState {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "dead" => DeliveryState::Dead,
            other => {
                return Err(crate::Error::Store(format!(
                    "unknown webhook delivery state {other:?}"
                )));
            }
        })
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// Its id, sent as `webhook-id` on every attempt.
    pub id: String,
    /// The endpoint.
    pub webhook: String,
    /// The event's id in the global log.
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub next_attempt_at: DateTime<Utc>,
    /// The last answer's HTTP status, if one came.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was enqueued.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub finished_at: Option<DateTime<Utc>>,
}

/// One attempt of a delivery (the delivery log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery: String,
    /// The endpoint.
    pub webhook: String,
    /// The event's id in the global log.
    pub event_id: i64,
    /// 1 for the first attempt (numbers keep counting after a redelivery).
    pub attempt: u32,
    /// The answer's HTTP status, if one came.
    pub status: Option<u16>,
    /// Why it failed, if it did (never the URL's secrets).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: DateTime<Utc>,
}

/// What one test request to an endpoint got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestOutcome {
    /// The endpoint.
    pub webhook: String,
    /// Whether it answered 2xx.
    pub delivered: bool,
    /// The answer's HTTP status, if one came.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// The URL as it may be shown: scheme, host, port and path; credentials
/// dropped, a query or fragment replaced by `?…`.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let mut shown = format!("{}{}", u.origin().ascii_serialization(), u.path());
            if u.query().is_some() || u.fragment().is_some() {
                shown.push_str("?…");
            }
            shown
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// Whether an endpoint filtering on `filter` (entries as given; empty:
/// all) takes `event_type`.
pub fn filter_takes(filter: &[String], event_type: crate::events::EventType) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            let f = f.trim();
            match f.strip_suffix('*') {
                Some(prefix) => event_type.as_str().starts_with(prefix),
                None => event_type.as_str() == f,
            }
        })
}

/// Check a filter: every entry names a type or a prefix of some type.
/// Returns the entries trimmed, without repeats.
pub fn check_filter(types: &[String]) -> crate::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for entry in types.iter().flat_map(|t| t.split(',')) {
        let e = entry.trim();
        if e.is_empty() {
            continue;
        }
        crate::events::EventType::parse_filter(e)?;
        if !out.iter().any(|o| o == e) {
            out.push(e.to_string());
        }
    }
    Ok(out)
}

/// The body of an event's delivery, as the spec's payload structure has
/// it: `type`, `timestamp` (the event's) and `data` (the event). The same
/// event always gives the same body, so a body not stored is rebuilt from
/// the log.
pub fn delivery_body(event: &crate::events::SystemEvent) -> crate::Result<String> {
    serde_json::to_string(&serde_json::json!({
        "type": event.event_type.as_str(),
        "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": event,
    }))
    .map_err(|e| crate::Error::store("encoding a webhook body", e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::events::EventType;

    #[test]
    fn shown_urls_keep_no_credentials_or_query() {
        let s = shown_url("https://user:pw@hooks.example.com:8443/in/abc?token=SECRET#x");
        assert_eq!(s, "https://hooks.example.com:8443/in/abc?…");
        assert_eq!(shown_url("http://1.2.3.4/x"), "http://1.2.3.4/x");
    }

    #[test]
    fn filters_take_names_and_prefixes() {
        let f = check_filter(&["job.failed, provider.*".into(), "job.failed".into()]).unwrap();
        assert_eq!(f, ["job.failed", "provider.*"]);
        assert!(filter_takes(&f, EventType::JobFailed));
        assert!(filter_takes(&f, EventType::ProviderRecovered));
        assert!(!filter_takes(&f, EventType::JobSucceeded));
        assert!(filter_takes(&[], EventType::JobSucceeded));
        assert!(check_filter(&["job.exploded".into()]).is_err());
    }
}
