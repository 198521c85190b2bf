//! The webhook alert sink: each alert POSTed as JSON.

use super::alert::{Alert, AlertSink};
use crate::{Error, Result};
use async_trait::async_trait;
use std::time::Duration;

/// A webhook URL. It may carry a token (in its path or query), so only its
/// origin is ever shown (`Debug`, `Display`, logs, errors).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

impl WebhookUrl {
    /// Parse an `http://` or `https://` URL.
    pub fn parse(text: &str) -> Result<WebhookUrl> {
        let url = reqwest::Url::parse(text.trim()).map_err(|e| {
            Error::Config(format!(
                "alert webhook: not a URL ({e}); write an http:// or https:// URL, e.g. https://hooks.example.com/T/ABC"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Config(
                "alert webhook: use an http:// or https:// URL with a host".into(),
            ));
        }
        Ok(WebhookUrl(url))
    }

    /// Scheme, host and port only: what may be shown.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// The whole URL, secrets included (for the request only).
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookUrl({}/…)", self.origin())
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/…", self.origin())
    }
}

/// POSTs each alert as JSON (`{"severity", "source", "message", "at"}`)
/// within a timeout; a failure is an error for the sentinel to log.
#[derive(Debug, Clone)]
pub struct WebhookSink {
    url: WebhookUrl,
    client: reqwest::Client,
}

impl WebhookSink {
    /// Default time a delivery may take.
    pub const TIMEOUT: Duration = Duration::from_secs(5);

    /// A sink posting to `url` with [`WebhookSink::TIMEOUT`].
    pub fn new(url: WebhookUrl) -> Self {
        Self::with_timeout(url, Self::TIMEOUT)
    }

    /// A sink posting to `url`, giving up after `timeout`.
    pub fn with_timeout(url: WebhookUrl, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect could carry the body somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        WebhookSink { url, client }
    }
}

#[async_trait]
impl AlertSink for WebhookSink {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn deliver(&self, alert: &Alert) -> Result<()> {
        // reqwest errors name the URL; say only its origin.
        let fail = |what: String| {
            Error::Io(std::io::Error::other(format!(
                "alert webhook {}: {what}",
                self.url
            )))
        };
        let resp = self
            .client
            .post(self.url.expose())
            .json(alert)
            .send()
            .await
            .map_err(|e| {
                fail(if e.is_timeout() {
                    "timed out".into()
                } else if e.is_connect() {
                    "cannot connect".into()
                } else {
                    "request failed".into()
                })
            })?;
        if !resp.status().is_success() {
            return Err(fail(format!("answered {}", resp.status())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_origin_is_shown() {
        let url = WebhookUrl::parse("https://hooks.example.com/services/T00/SECRET?token=abc")
            .expect("parse");
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(shown.contains("https://hooks.example.com"), "{shown}");
            assert!(
                !shown.contains("SECRET") && !shown.contains("abc"),
                "{shown}"
            );
        }
        assert!(WebhookUrl::parse("ftp://x/y").is_err());
        assert!(WebhookUrl::parse("hooks.example.com/x").is_err());
    }
}
