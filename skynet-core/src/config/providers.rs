//! Which providers jobs go to: the default provider and the scheduler's
//! candidates (`providers` / `SKYNET_PROVIDERS`).

use super::layers::Layers;
use crate::provider::{canonical_name, require_feature};
use crate::{Error, Result};

/// Providers the scheduler knows how to configure, for checking
/// `SKYNET_PROVIDERS`.
const KNOWN_PROVIDERS: [&str; 5] = ["local", "docker", "ssh", "gateway", "mock"];

/// The default provider (`SKYNET_PROVIDER`, `provider`, else `local`);
/// one this build left out is an error naming its feature.
pub(super) fn default_provider(layers: &Layers, file: Option<String>) -> Result<String> {
    let name = layers
        .pick("SKYNET_PROVIDER", file)
        .unwrap_or_else(|| "local".into());
    require_feature(&format!("the default provider is {name}"), &name)?;
    Ok(name)
}

/// The scheduler's candidates from `SKYNET_PROVIDERS` (a comma list) or
/// `providers` in the file: known names, no repeats, built into this
/// binary, and a provider that needs configuring must be configured.
pub(super) fn candidates(
    layers: &Layers,
    file: Option<Vec<String>>,
    [docker, ssh, gateway]: [bool; 3],
) -> Result<Vec<String>> {
    // An empty variable clears the list, like an unset one.
    let from_env = layers
        .var("SKYNET_PROVIDERS")
        .filter(|v| !v.trim().is_empty());
    let (what, names) = match (from_env, file) {
        (Some(v), _) => (
            "SKYNET_PROVIDERS",
            v.split(',')
                .map(|n| n.trim().to_string())
                .collect::<Vec<_>>(),
        ),
        (None, Some(list)) => ("providers in skynet.toml", list),
        (None, None) => return Ok(Vec::new()),
    };
    let mut seen = Vec::new();
    for name in names {
        let name = canonical_name(&name).to_string();
        if name.is_empty() {
            return Err(Error::Config(format!(
                "{what}: an empty provider name; write e.g. local,docker,ssh"
            )));
        }
        if !KNOWN_PROVIDERS.contains(&name.as_str()) {
            return Err(Error::Config(format!(
                "{what}: unknown provider {name:?}; known: {}",
                KNOWN_PROVIDERS.join(", ")
            )));
        }
        require_feature(&format!("{what} lists {name}"), &name)?;
        let unconfigured = match name.as_str() {
            "docker" => !docker,
            "ssh" => !ssh,
            "gateway" => !gateway,
            _ => false,
        };
        if unconfigured && let Some(var) = crate::scheduler::configured_by(&name) {
            return Err(Error::Config(format!(
                "{what} lists {name}, which is not configured: set {var} to configure it"
            )));
        }
        if seen.contains(&name) {
            return Err(Error::Config(format!("{what}: {name} is listed twice")));
        }
        seen.push(name);
    }
    Ok(seen)
}
