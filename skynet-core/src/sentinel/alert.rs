//! Alerts: what they are, where they go, and the dedup that raises each
//! condition once until it clears.

use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// How urgent an alert is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something got better (a recovery).
    Info,
    /// Something needs a look (degraded provider, old queue).
    Warning,
    /// Something is broken (unreachable database, no workers for queued jobs).
    Critical,
}

impl Severity {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parse `info`, `warning` or `critical`.
    pub fn parse(text: &str) -> Result<Severity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "warning" | "warn" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            other => Err(Error::Config(format!(
                "alert severity {other:?} is not one of info, warning, critical"
            ))),
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change worth telling someone about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// How urgent.
    pub severity: Severity,
    /// What it is about: `provider:NAME`, `database`, `queue`, `workers`.
    pub source: String,
    /// What happened, for a person.
    pub message: String,
    /// When it was raised.
    pub at: DateTime<Utc>,
}

/// Somewhere alerts go (a log, a webhook, a chat). Delivery failures are
/// logged by the sentinel, never fatal.
#[async_trait]
pub trait AlertSink: Send + Sync {
    /// A short name for logs (`log`, `webhook`, `telegram`).
    fn name(&self) -> &str;
    /// Deliver one alert.
    async fn deliver(&self, alert: &Alert) -> Result<()>;
}

/// Writes alerts to the `tracing` log (critical as errors, warnings as
/// warnings, info as info).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSink;

#[async_trait]
impl AlertSink for LogSink {
    fn name(&self) -> &str {
        "log"
    }

    async fn deliver(&self, alert: &Alert) -> Result<()> {
        let (source, message) = (&alert.source, &alert.message);
        match alert.severity {
            Severity::Critical => tracing::error!(%source, "alert: {message}"),
            Severity::Warning => tracing::warn!(%source, "alert: {message}"),
            Severity::Info => tracing::info!(%source, "alert: {message}"),
        }
        Ok(())
    }
}

/// A condition that holds now.
#[derive(Debug, Clone)]
struct Active {
    severity: Severity,
    notified_at: DateTime<Utc>,
}

/// The conditions that currently hold, so each raises one alert until it
/// clears (or changes severity), plus a reminder every `renotify`.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    active: HashMap<String, Active>,
    renotify: Option<Duration>,
}

impl Conditions {
    pub(crate) fn new(renotify: Option<Duration>) -> Self {
        Conditions {
            active: HashMap::new(),
            renotify,
        }
    }

    /// `source` is in a bad state of `severity`: the alert to send, if
    /// this is news (new, changed severity, or due for a reminder).
    pub(crate) fn raise(
        &mut self,
        source: &str,
        severity: Severity,
        message: String,
        now: DateTime<Utc>,
    ) -> Option<Alert> {
        if let Some(a) = self.active.get_mut(source)
            && a.severity == severity
        {
            let due = self
                .renotify
                .is_some_and(|every| (now - a.notified_at).to_std().unwrap_or_default() >= every);
            if !due {
                return None;
            }
            a.notified_at = now;
            return Some(alert(severity, source, format!("still: {message}"), now));
        }
        self.active.insert(
            source.to_string(),
            Active {
                severity,
                notified_at: now,
            },
        );
        Some(alert(severity, source, message, now))
    }

    /// `source` is fine now: an `Info` alert if it was not before.
    pub(crate) fn clear(
        &mut self,
        source: &str,
        message: String,
        now: DateTime<Utc>,
    ) -> Option<Alert> {
        self.active
            .remove(source)
            .map(|_| alert(Severity::Info, source, message, now))
    }

    /// The conditions that hold now, by source.
    pub(crate) fn active(&self) -> Vec<(String, Severity)> {
        let mut v: Vec<_> = self
            .active
            .iter()
            .map(|(s, a)| (s.clone(), a.severity))
            .collect();
        v.sort();
        v
    }
}

fn alert(severity: Severity, source: &str, message: String, at: DateTime<Utc>) -> Alert {
    Alert {
        severity,
        source: source.to_string(),
        message,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_raises_once_until_it_clears_or_changes() {
        let mut c = Conditions::new(None);
        let now = Utc::now();
        assert!(
            c.clear("queue", "fine".into(), now).is_none(),
            "nothing to clear"
        );
        let a = c.raise("queue", Severity::Warning, "old".into(), now);
        assert_eq!(a.map(|a| a.severity), Some(Severity::Warning));
        assert!(
            c.raise("queue", Severity::Warning, "old".into(), now)
                .is_none()
        );
        let a = c.raise("queue", Severity::Critical, "older".into(), now);
        assert_eq!(a.map(|a| a.severity), Some(Severity::Critical));
        assert_eq!(c.active(), vec![("queue".to_string(), Severity::Critical)]);
        let a = c.clear("queue", "fine".into(), now).expect("recovery");
        assert_eq!((a.severity, a.message.as_str()), (Severity::Info, "fine"));
        assert!(c.active().is_empty());
    }

    #[test]
    fn renotify_reminds_after_the_interval() {
        let mut c = Conditions::new(Some(Duration::from_secs(60)));
        let t0 = Utc::now();
        assert!(
            c.raise("db", Severity::Critical, "down".into(), t0)
                .is_some()
        );
        let soon = t0 + chrono::Duration::seconds(30);
        assert!(
            c.raise("db", Severity::Critical, "down".into(), soon)
                .is_none()
        );
        let later = t0 + chrono::Duration::seconds(61);
        let a = c.raise("db", Severity::Critical, "down".into(), later);
        assert_eq!(a.map(|a| a.message), Some("still: down".to_string()));
    }

    #[test]
    fn severities_parse_and_order() {
        assert_eq!(Severity::parse(" Warning ").ok(), Some(Severity::Warning));
        assert!(matches!(Severity::parse("loud"), Err(Error::Config(_))));
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }
}
