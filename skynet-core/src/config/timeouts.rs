//! The timeout levels in `[limits]` (see [`crate::timeouts`]): the job's
//! limit, every step's, the READ_ONLY cap, per provider and per action.
//! Every level but the READ_ONLY cap may be `off`.

use super::layers::Layers;
use super::worker::LimitsSection;
use super::{duration_or_off, parse_duration};
use crate::timeouts::TimeoutConfig;
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[limits.provider_timeout]`: each provider's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderTimeouts {
    pub(super) local: Option<String>,
    pub(super) docker: Option<String>,
    pub(super) ssh: Option<String>,
    pub(super) gateway: Option<String>,
}

/// The timeout levels: defaults, then the file, then the environment.
pub(super) fn timeout_config(layers: &Layers, keys: &LimitsSection) -> Result<TimeoutConfig> {
    let mut config = TimeoutConfig::default();
    if let Some(v) = layers.pick("SKYNET_JOB_TIMEOUT", keys.job_timeout.clone()) {
        config.job = duration_or_off("job_timeout", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_STEP_TIMEOUT", keys.step_timeout.clone()) {
        config.step = duration_or_off("step_timeout", &v)?;
    }
    if let Some(v) = layers.pick(
        "SKYNET_READ_ONLY_STEP_TIMEOUT",
        keys.read_only_step_timeout.clone(),
    ) {
        config.read_only_step = parse_duration("read_only_step_timeout", &v)?;
    }
    let p = &keys.provider_timeout;
    for (name, variable, file) in [
        ("local", "SKYNET_LOCAL_TIMEOUT", &p.local),
        ("docker", "SKYNET_DOCKER_TIMEOUT", &p.docker),
        ("ssh", "SKYNET_SSH_TIMEOUT", &p.ssh),
        ("gateway", "SKYNET_GATEWAY_TIMEOUT", &p.gateway),
    ] {
        if let Some(v) = layers.pick(variable, file.clone()) {
            match duration_or_off(&format!("provider_timeout.{name}"), &v)? {
                Some(d) => config.providers.insert(name.to_string(), d),
                None => config.providers.remove(name),
            };
        }
    }
    // The variable replaces the whole table, as a list would.
    let actions = match layers.var("SKYNET_ACTION_TIMEOUTS") {
        Some(list) => parse_action_list(&list)?,
        None => keys.action_timeout.clone(),
    };
    for (name, v) in actions {
        if !crate::action::CATALOG.iter().any(|e| e.name == name) {
            return Err(Error::Config(format!(
                "action_timeout: {name:?} is not a catalog action; name one from the \
                 catalog (e.g. run_tests, build_project)"
            )));
        }
        let limit = duration_or_off(&format!("action_timeout.{name}"), &v)?;
        config.actions.insert(name, limit);
    }
    Ok(config)
}

/// `run_tests=30m,build_project=off`.
fn parse_action_list(list: &str) -> Result<BTreeMap<String, String>> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((name, v)) => Ok((name.trim().to_string(), v.trim().to_string())),
            None => Err(Error::Config(format!(
                "SKYNET_ACTION_TIMEOUTS: {item:?} is not action=duration; write e.g. \
                 run_tests=30m,build_project=off"
            ))),
        })
        .collect()
}
