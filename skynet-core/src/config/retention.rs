//! `[retention]`: what gc removes and how often `serve` and `worker` run
//! it ([`crate::retention`]).

use super::artifacts::parse_size;
use super::layers::Layers;
use super::{duration_or_off, parse_duration};
use crate::retention::RetentionSettings;
use crate::{Error, Result};
use serde::Deserialize;

/// `[retention]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionSection {
    logs: Option<String>,
    events: Option<String>,
    artifacts_age: Option<String>,
    artifacts_max_bytes: Option<String>,
    jobs: Option<String>,
    grace: Option<String>,
    interval: Option<String>,
}

impl RetentionSection {
    /// The settings: `SKYNET_RETENTION_LOGS` (default `30d`),
    /// `SKYNET_RETENTION_EVENTS` (the global event log, default `30d`),
    /// `SKYNET_RETENTION_ARTIFACTS_AGE`, `SKYNET_RETENTION_ARTIFACTS_MAX_BYTES`,
    /// `SKYNET_RETENTION_JOBS` (each `off` by default), `SKYNET_GC_GRACE`
    /// (default `1h`; `0s` allowed), `SKYNET_GC_INTERVAL` (default `1h`, or
    /// `off`).
    pub(super) fn resolve(self, layers: &Layers<'_>) -> Result<RetentionSettings> {
        let mut s = RetentionSettings::default();
        let age = |key: &str, file: Option<String>, into: &mut Option<std::time::Duration>| {
            if let Some(v) = layers.pick(key, file) {
                *into = duration_or_off(key, &v)?;
            }
            Ok::<(), Error>(())
        };
        age("SKYNET_RETENTION_LOGS", self.logs, &mut s.logs)?;
        age("SKYNET_RETENTION_EVENTS", self.events, &mut s.events)?;
        age(
            "SKYNET_RETENTION_ARTIFACTS_AGE",
            self.artifacts_age,
            &mut s.artifacts_age,
        )?;
        age("SKYNET_RETENTION_JOBS", self.jobs, &mut s.jobs)?;
        age("SKYNET_GC_INTERVAL", self.interval, &mut s.interval)?;
        if let Some(v) = layers.pick(
            "SKYNET_RETENTION_ARTIFACTS_MAX_BYTES",
            self.artifacts_max_bytes,
        ) {
            s.artifacts_max_bytes = match v.trim() {
                "off" => None,
                text => Some(parse_size("SKYNET_RETENTION_ARTIFACTS_MAX_BYTES", text)?),
            };
        }
        if let Some(v) = layers.pick("SKYNET_GC_GRACE", self.grace) {
            s.grace = match v.trim() {
                "0" | "0s" => std::time::Duration::ZERO,
                text => parse_duration("SKYNET_GC_GRACE", text)?,
            };
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<RetentionSettings> {
        let env = |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        };
        RetentionSection::default().resolve(&Layers::new(&env))
    }

    #[test]
    fn defaults_keep_logs_thirty_days_and_everything_else() {
        let s = load(&[]).expect("defaults");
        assert_eq!(s, RetentionSettings::default());
        assert_eq!(s.logs, Some(std::time::Duration::from_secs(30 * 86400)));
        assert_eq!(s.events, Some(std::time::Duration::from_secs(30 * 86400)));
        assert_eq!(
            (s.jobs, s.artifacts_age, s.artifacts_max_bytes),
            (None, None, None)
        );
    }

    #[test]
    fn variables_set_each_limit_and_off_turns_one_off() {
        let s = load(&[
            ("SKYNET_RETENTION_LOGS", "off"),
            ("SKYNET_RETENTION_EVENTS", "90d"),
            ("SKYNET_RETENTION_JOBS", "7d"),
            ("SKYNET_RETENTION_ARTIFACTS_AGE", "12h"),
            ("SKYNET_RETENTION_ARTIFACTS_MAX_BYTES", "2g"),
            ("SKYNET_GC_GRACE", "0s"),
            ("SKYNET_GC_INTERVAL", "off"),
        ])
        .expect("set");
        assert_eq!(s.logs, None);
        assert_eq!(s.events, Some(std::time::Duration::from_secs(90 * 86400)));
        assert_eq!(s.jobs, Some(std::time::Duration::from_secs(7 * 86400)));
        assert_eq!(
            s.artifacts_age,
            Some(std::time::Duration::from_secs(12 * 3600))
        );
        assert_eq!(s.artifacts_max_bytes, Some(2 << 30));
        assert_eq!(s.grace, std::time::Duration::ZERO);
        assert_eq!(s.interval, None);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let e = load(&[("SKYNET_RETENTION_JOBS", "soon")]).expect_err("bad");
        assert!(e.to_string().contains("SKYNET_RETENTION_JOBS"), "{e}");
    }
}
