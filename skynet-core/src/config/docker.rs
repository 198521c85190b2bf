//! `[docker]`: the Docker provider, registered when an image is set.

use super::layers::Layers;
use crate::Result;
use serde::Deserialize;

/// `[docker]` in `skynet.toml`. Read whether or not this build has the
/// `docker` feature, so a file that configures it is refused by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "docker"), allow(dead_code))]
pub(super) struct DockerSection {
    image: Option<String>,
    host: Option<String>,
    network: Option<String>,
    memory: Option<String>,
    cpus: Option<f64>,
    pids: Option<i64>,
}

impl DockerSection {
    /// `[docker] host`, which the containers probe reads too.
    pub(super) fn host(&self) -> Option<String> {
        self.host.clone()
    }
}

#[cfg(feature = "docker")]
impl DockerSection {
    /// The provider's configuration; `None` when no image is set.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Option<crate::provider::DockerConfig>> {
        use super::parse_number;
        use crate::Error;
        let Some(image) = layers.pick("SKYNET_DOCKER_IMAGE", self.image) else {
            return Ok(None);
        };
        let mut config = crate::provider::DockerConfig::new(image);
        config.host = layers.pick("SKYNET_DOCKER_HOST", self.host);
        if let Some(v) = layers.pick("SKYNET_DOCKER_NETWORK", self.network) {
            config.network = v;
        }
        if let Some(v) = layers.pick("SKYNET_DOCKER_MEMORY", self.memory) {
            config.memory_bytes = parse_bytes("docker memory", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_DOCKER_CPUS", self.cpus) {
            config.cpus = parse_number("docker cpus", &v)?;
            if !(config.cpus.is_finite() && config.cpus > 0.0) {
                return Err(Error::Config(format!(
                    "docker cpus must be a positive number, not {v:?}"
                )));
            }
        }
        if let Some(v) = layers.pick("SKYNET_DOCKER_PIDS", self.pids) {
            config.pids_limit = parse_number("docker pids", &v)?;
        }
        Ok(Some(config))
    }
}

#[cfg(not(feature = "docker"))]
impl DockerSection {
    /// No Docker provider in this build: configuring one is an error.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Option<std::convert::Infallible>> {
        super::not_built(
            layers.pick("SKYNET_DOCKER_IMAGE", self.image),
            "SKYNET_DOCKER_IMAGE ([docker] image)",
            "docker",
        )
    }
}

/// Bytes with an optional binary suffix: `1048576`, `512m`, `2g`, `64k`.
#[cfg(feature = "docker")]
pub(super) fn parse_bytes(what: &str, text: &str) -> Result<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (digits, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    digits
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            crate::Error::Config(format!(
                "{what}: {text:?} is not a size; write e.g. 512m or 2g"
            ))
        })
}
