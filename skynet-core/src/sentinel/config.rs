//! The sentinel's settings: `[sentinel]` in `skynet.toml`, overridden by
//! the environment (see the table in [`crate::config`]).

use super::alert::Severity;
use super::webhook::WebhookUrl;
use crate::config::parse_duration;
use crate::{Error, Result};
use serde::Deserialize;
use std::time::Duration;

/// Tunables of the [`super::Sentinel`]. `Default` gives the documented
/// defaults.
#[derive(Debug, Clone)]
pub struct SentinelConfig {
    /// Time between rounds of checks (default 30 s).
    pub interval: Duration,
    /// Longest a single provider health check or store query may take
    /// before it counts as failed (default 10 s).
    pub check_timeout: Duration,
    /// A due job queued longer than this is a warning (default 5 min).
    pub queue_age_warning: Duration,
    /// ... and longer than this is critical (default 30 min).
    pub queue_age_critical: Duration,
    /// Repeat an alert whose condition still holds this often (default:
    /// never; each condition raises once until it clears).
    pub renotify: Option<Duration>,
    /// POST alerts here (`SKYNET_ALERT_WEBHOOK`).
    pub webhook: Option<WebhookUrl>,
    /// Alerts below this severity are not sent to the webhook (default
    /// `warning`; the log gets every alert).
    pub min_severity: Severity,
}

impl Default for SentinelConfig {
    fn default() -> Self {
        SentinelConfig {
            interval: Duration::from_secs(30),
            check_timeout: Duration::from_secs(10),
            queue_age_warning: Duration::from_secs(5 * 60),
            queue_age_critical: Duration::from_secs(30 * 60),
            renotify: None,
            webhook: None,
            min_severity: Severity::Warning,
        }
    }
}

/// `[sentinel]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SentinelSection {
    interval: Option<String>,
    check_timeout: Option<String>,
    queue_age_warning: Option<String>,
    queue_age_critical: Option<String>,
    renotify: Option<String>,
    webhook: Option<String>,
    min_severity: Option<String>,
}

impl SentinelConfig {
    /// Apply the file section and the environment (`pick(env_key,
    /// file_value)` prefers the environment) over the defaults.
    pub(crate) fn load(
        file: SentinelSection,
        pick: &impl Fn(&str, Option<String>) -> Option<String>,
    ) -> Result<SentinelConfig> {
        let mut c = SentinelConfig::default();
        let duration = |key: &str, file: Option<String>, what: &str| {
            pick(key, file)
                .map(|v| parse_duration(what, &v))
                .transpose()
        };
        if let Some(d) = duration(
            "SKYNET_SENTINEL_INTERVAL",
            file.interval,
            "sentinel interval",
        )? {
            c.interval = d;
        }
        if let Some(d) = duration(
            "SKYNET_SENTINEL_CHECK_TIMEOUT",
            file.check_timeout,
            "sentinel check_timeout",
        )? {
            c.check_timeout = d;
        }
        if let Some(d) = duration(
            "SKYNET_SENTINEL_QUEUE_AGE_WARNING",
            file.queue_age_warning,
            "sentinel queue_age_warning",
        )? {
            c.queue_age_warning = d;
        }
        if let Some(d) = duration(
            "SKYNET_SENTINEL_QUEUE_AGE_CRITICAL",
            file.queue_age_critical,
            "sentinel queue_age_critical",
        )? {
            c.queue_age_critical = d;
        }
        if c.queue_age_critical < c.queue_age_warning {
            return Err(Error::Config(format!(
                "sentinel queue_age_critical ({:?}) must not be shorter than queue_age_warning ({:?})",
                c.queue_age_critical, c.queue_age_warning
            )));
        }
        c.renotify = duration("SKYNET_ALERT_RENOTIFY", file.renotify, "alert renotify")?;
        c.webhook = pick("SKYNET_ALERT_WEBHOOK", file.webhook)
            .filter(|u| !u.trim().is_empty())
            .map(|u| WebhookUrl::parse(&u))
            .transpose()?;
        if let Some(s) = pick("SKYNET_ALERT_MIN_SEVERITY", file.min_severity) {
            c.min_severity = Severity::parse(&s)?;
        }
        Ok(c)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::config::Settings;
    use crate::sentinel::Severity;
    use std::time::Duration;

    /// Settings from `file` (as `skynet.toml`) and the environment `env`.
    pub(crate) fn load(file: &str, env: &[(&str, &str)]) -> crate::Result<Settings> {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join("skynet.toml"), file).expect("write");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with(Some(home.path().into()), move |k| {
            env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_file_and_environment() {
        let s = load("", &[]).expect("defaults").sentinel;
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.queue_age_warning, Duration::from_secs(300));
        assert_eq!(s.min_severity, Severity::Warning);
        assert!(s.webhook.is_none() && s.renotify.is_none());
        let s = load(
            "[sentinel]\ninterval = \"10s\"\nmin_severity = \"info\"\nwebhook = \"https://h.example/a/SECRET\"\n",
            &[("SKYNET_SENTINEL_INTERVAL", "5s"), ("SKYNET_ALERT_RENOTIFY", "1h")],
        )
        .expect("load")
        .sentinel;
        assert_eq!(s.interval, Duration::from_secs(5), "env wins");
        assert_eq!(s.min_severity, Severity::Info);
        assert_eq!(s.renotify, Some(Duration::from_secs(3600)));
        let shown = format!("{s:?}");
        assert!(
            shown.contains("https://h.example") && !shown.contains("SECRET"),
            "{shown}"
        );
        let e = load(
            "",
            &[
                ("SKYNET_SENTINEL_QUEUE_AGE_WARNING", "1h"),
                ("SKYNET_SENTINEL_QUEUE_AGE_CRITICAL", "10m"),
            ],
        );
        assert!(matches!(e, Err(crate::Error::Config(m)) if m.contains("queue_age_critical")));
        assert!(load("[sentinel]\nbogus = 1\n", &[]).is_err());
    }
}
