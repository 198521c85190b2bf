//! The initiative engine's settings: `[initiative]` in `skynet.toml`,
//! overridden by the environment (see the table in [`crate::config`]).
//! Off unless `enabled = true` / `SKYNET_INITIATIVE=on`.

use crate::config::{parse_duration, parse_number};
use crate::store::initiative::InitiativeBudget;
use crate::{Error, Result};
use serde::Deserialize;
use std::time::Duration;

/// Tunables of the initiative engine. `Default` gives the documented
/// defaults: off, every 5 minutes, 5 jobs an hour, 20 a day, 3 waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiativeConfig {
    /// Whether `serve` and `worker` run the loop (default false).
    pub enabled: bool,
    /// Time between rounds (default 5 min).
    pub interval: Duration,
    /// The budgets (counted in the ledger).
    pub budget: InitiativeBudget,
}

impl Default for InitiativeConfig {
    fn default() -> Self {
        InitiativeConfig {
            enabled: false,
            interval: Duration::from_secs(300),
            budget: InitiativeBudget::default(),
        }
    }
}

/// `[initiative]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InitiativeSection {
    enabled: Option<bool>,
    interval: Option<String>,
    per_hour: Option<u32>,
    per_day: Option<u32>,
    max_waiting: Option<u32>,
}

impl InitiativeConfig {
    /// Apply the file section and the environment (`pick(env_key,
    /// file_value)` prefers the environment) over the defaults.
    pub(crate) fn load(
        file: InitiativeSection,
        pick: &impl Fn(&str, Option<String>) -> Option<String>,
    ) -> Result<InitiativeConfig> {
        let mut c = InitiativeConfig::default();
        if let Some(v) = pick("SKYNET_INITIATIVE", file.enabled.map(|b| b.to_string())) {
            c.enabled = match v.trim() {
                "on" => true,
                "off" => false,
                other => crate::config::worker::parse_bool("initiative enabled", other)?,
            };
        }
        if let Some(v) = pick("SKYNET_INITIATIVE_INTERVAL", file.interval) {
            c.interval = parse_duration("initiative interval", &v)?;
        }
        let number = |key: &str, file: Option<u32>, what: &str| -> Result<Option<u32>> {
            pick(key, file.map(|n| n.to_string()))
                .map(|v| parse_number(what, &v))
                .transpose()
        };
        if let Some(n) = number(
            "SKYNET_INITIATIVE_PER_HOUR",
            file.per_hour,
            "initiative per_hour",
        )? {
            c.budget.per_hour = n;
        }
        if let Some(n) = number(
            "SKYNET_INITIATIVE_PER_DAY",
            file.per_day,
            "initiative per_day",
        )? {
            c.budget.per_day = n;
        }
        if let Some(n) = number(
            "SKYNET_INITIATIVE_MAX_WAITING",
            file.max_waiting,
            "initiative max_waiting",
        )? {
            c.budget.max_waiting = n;
        }
        if c.interval < Duration::from_secs(1) {
            return Err(Error::Config(format!(
                "initiative interval {:?} is too short: give at least 1s",
                c.interval
            )));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use crate::sentinel::config::tests::load;
    use std::time::Duration;

    #[test]
    fn off_by_default_and_one_setting_turns_it_on() {
        let c = load("", &[]).expect("defaults").initiative;
        assert!(!c.enabled);
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(
            (c.budget.per_hour, c.budget.per_day, c.budget.max_waiting),
            (5, 20, 3)
        );
        assert!(
            load("[initiative]\nenabled = true\n", &[])
                .expect("file")
                .initiative
                .enabled
        );
        assert!(
            load("", &[("SKYNET_INITIATIVE", "on")])
                .expect("env")
                .initiative
                .enabled
        );
        let c = load(
            "[initiative]\nenabled = true\nper_hour = 2\n",
            &[
                ("SKYNET_INITIATIVE", "off"),
                ("SKYNET_INITIATIVE_PER_DAY", "7"),
            ],
        )
        .expect("both")
        .initiative;
        assert!(!c.enabled, "the environment wins");
        assert_eq!((c.budget.per_hour, c.budget.per_day), (2, 7));
        for (k, v) in [
            ("SKYNET_INITIATIVE", "maybe"),
            ("SKYNET_INITIATIVE_INTERVAL", "0s"),
            ("SKYNET_INITIATIVE_PER_HOUR", "-1"),
        ] {
            let e = load("", &[(k, v)]).expect_err(k);
            assert!(e.to_string().contains("initiative"), "{k}: {e}");
        }
    }
}
