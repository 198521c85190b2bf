//! `[webhooks]` in `skynet.toml`, overridden by the environment (see the
//! table in [`crate::config`]).

use crate::config::{parse_duration, parse_number};
use crate::probe::NetworkAllow;
use crate::retry::RetryPolicy;
use crate::{Error, Result};
use serde::Deserialize;
use std::time::Duration;

/// How webhooks are delivered. `Default` gives the documented defaults:
/// nothing closed opened, 15 s per request, 16 requests at once (8 to
/// any one endpoint), 8 attempts with backoff from 5 s doubling up to 1 h.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Closed addresses (loopback, private, link-local...) opened to
    /// webhooks: ranges, addresses or exact host names.
    pub allow: NetworkAllow,
    /// The time one request may take, connection included.
    pub timeout: Duration,
    /// Requests in flight at once, over every endpoint.
    pub concurrency: usize,
    /// Requests in flight at once to any one endpoint (at most
    /// `concurrency` take effect), so a slow endpoint holds only its
    /// share of the pool and the others are still delivered to.
    pub per_endpoint: usize,
    /// Attempts per delivery before it becomes a dead letter.
    pub max_attempts: u32,
    /// The backoff between attempts (its `max_retries` is unused:
    /// `max_attempts` counts).
    pub backoff: RetryPolicy,
    /// How often the loop looks for new events and due retries when idle.
    pub poll: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow: NetworkAllow::default(),
            timeout: Duration::from_secs(15),
            concurrency: 16,
            per_endpoint: 8,
            max_attempts: 8,
            backoff: RetryPolicy {
                max_retries: 7,
                base: Duration::from_secs(5),
                max_delay: Duration::from_secs(3600),
            },
            poll: Duration::from_millis(500),
        }
    }
}

/// `[webhooks]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSection {
    allow: Option<Vec<String>>,
    timeout: Option<String>,
    concurrency: Option<usize>,
    per_endpoint: Option<usize>,
    max_attempts: Option<u32>,
    backoff: Option<String>,
    max_backoff: Option<String>,
}

impl WebhookConfig {
    /// Apply the file section and the environment (`pick(env_key,
    /// file_value)` prefers the environment) over the defaults.
    pub(crate) fn load(
        file: WebhookSection,
        pick: &impl Fn(&str, Option<String>) -> Option<String>,
    ) -> Result<WebhookConfig> {
        let mut c = WebhookConfig::default();
        if let Some(v) = pick("SKYNET_WEBHOOK_ALLOW", file.allow.map(|a| a.join(","))) {
            let entries: Vec<&str> = v.split(',').collect();
            c.allow = NetworkAllow::parse(&entries)?;
        }
        if let Some(v) = pick("SKYNET_WEBHOOK_TIMEOUT", file.timeout) {
            c.timeout = parse_duration("webhooks timeout", &v)?;
        }
        if let Some(v) = pick(
            "SKYNET_WEBHOOK_CONCURRENCY",
            file.concurrency.map(|n| n.to_string()),
        ) {
            c.concurrency = parse_number("webhooks concurrency", &v)?;
        }
        if let Some(v) = pick(
            "SKYNET_WEBHOOK_PER_ENDPOINT",
            file.per_endpoint.map(|n| n.to_string()),
        ) {
            c.per_endpoint = parse_number("webhooks per_endpoint", &v)?;
        }
        if let Some(v) = pick(
            "SKYNET_WEBHOOK_MAX_ATTEMPTS",
            file.max_attempts.map(|n| n.to_string()),
        ) {
            c.max_attempts = parse_number("webhooks max_attempts", &v)?;
        }
        if let Some(v) = pick("SKYNET_WEBHOOK_BACKOFF", file.backoff) {
            c.backoff.base = parse_duration("webhooks backoff", &v)?;
        }
        if let Some(v) = pick("SKYNET_WEBHOOK_MAX_BACKOFF", file.max_backoff) {
            c.backoff.max_delay = parse_duration("webhooks max_backoff", &v)?;
        }
        c.check()?;
        Ok(c)
    }

    /// Refuse settings that cannot work.
    pub fn check(&self) -> Result<()> {
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(300) {
            return Err(Error::Config(format!(
                "webhooks timeout {:?} must be above 0 and at most 5m",
                self.timeout
            )));
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(Error::Config(format!(
                "webhooks concurrency {} must be 1 to 1024",
                self.concurrency
            )));
        }
        if !(1..=1024).contains(&self.per_endpoint) {
            return Err(Error::Config(format!(
                "webhooks per_endpoint {} must be 1 to 1024 (requests in flight to one \
                 endpoint; at most `concurrency` take effect)",
                self.per_endpoint
            )));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(Error::Config(format!(
                "webhooks max_attempts {} must be 1 to 100",
                self.max_attempts
            )));
        }
        if self.backoff.base > self.backoff.max_delay {
            return Err(Error::Config(
                "webhooks backoff must not exceed max_backoff".into(),
            ));
        }
        Ok(())
    }

    /// Requests in flight to one endpoint in effect: `per_endpoint`, at
    /// most `concurrency`.
    pub fn endpoint_cap(&self) -> usize {
        self.per_endpoint.min(self.concurrency).max(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::sentinel::config::tests::load;
    use std::time::Duration;

    #[test]
    fn defaults_file_and_environment() {
        let c = load("", &[]).unwrap().webhooks;
        assert_eq!(c.max_attempts, 8);
        assert!(c.allow.ranges.is_empty());
        let c = load(
            "[webhooks]\nallow = [\"10.0.0.0/8\"]\ntimeout = \"2s\"\n",
            &[("SKYNET_WEBHOOK_ALLOW", "127.0.0.1,hooks.internal")],
        )
        .unwrap()
        .webhooks;
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.allow.ranges.len(), 1);
        assert_eq!(c.allow.hosts, ["hooks.internal"]);
        assert!(load("", &[("SKYNET_WEBHOOK_ALLOW", "not a host")]).is_err());
        assert!(load("", &[("SKYNET_WEBHOOK_CONCURRENCY", "0")]).is_err());
        assert_eq!((c.per_endpoint, c.endpoint_cap()), (8, 8));
        let c = load(
            "[webhooks]\nconcurrency = 4\nper_endpoint = 6\n",
            &[("SKYNET_WEBHOOK_PER_ENDPOINT", "2")],
        )
        .unwrap()
        .webhooks;
        assert_eq!((c.per_endpoint, c.endpoint_cap()), (2, 2));
        let c = load("[webhooks]\nconcurrency = 4\n", &[]).unwrap().webhooks;
        assert_eq!(c.endpoint_cap(), 4, "never above the pool");
        for bad in ["0", "1025", "four"] {
            let e = load("", &[("SKYNET_WEBHOOK_PER_ENDPOINT", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("per_endpoint"), "{bad}: {e}");
        }
    }
}
