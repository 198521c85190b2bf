//! `[network]`: what network probes (DNS lookups, pings, HTTP status
//! checks; see [`crate::probe`]) may reach besides public addresses.

use super::layers::Layers;
use crate::Result;
use crate::probe::{NetworkAllow, ProbeConfig};
use serde::Deserialize;

/// `[network]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NetworkSection {
    /// Ranges, addresses or host names opened to probes
    /// (`["10.0.0.0/8", "status.internal"]`).
    allow: Option<Vec<String>>,
}

impl NetworkSection {
    /// The probes' settings; `docker_host` is the `[docker] host` (or
    /// `SKYNET_DOCKER_HOST`), the daemon containers are read from.
    pub(super) fn resolve(
        self,
        layers: &Layers,
        docker_host: Option<String>,
    ) -> Result<ProbeConfig> {
        let allow = match layers.var("SKYNET_NETWORK_ALLOW") {
            Some(v) => v.split(',').map(str::to_string).collect(),
            None => self.allow.unwrap_or_default(),
        };
        Ok(ProbeConfig {
            allow: NetworkAllow::parse(&allow)?,
            docker_host,
        })
    }
}
