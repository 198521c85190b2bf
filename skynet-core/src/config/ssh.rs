//! `[ssh]`: the SSH provider, registered when a host is set.

use super::layers::Layers;
use crate::Result;
use serde::Deserialize;
use std::path::PathBuf;

/// `[ssh]` in `skynet.toml`. Read whether or not this build has the `ssh`
/// feature, so a file that configures it is refused by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "ssh"), allow(dead_code))]
pub(super) struct SshSection {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    workdir: Option<String>,
    confined: Option<bool>,
}

#[cfg(feature = "ssh")]
impl SshSection {
    /// The provider's configuration; `None` when no host is set.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Option<crate::provider::SshConfig>> {
        use crate::Error;
        use std::path::Path;
        let Some(host) = layers.pick("SKYNET_SSH_HOST", self.host) else {
            return Ok(None);
        };
        let user = layers
            .pick("SKYNET_SSH_USER", self.user)
            .or_else(|| layers.var("USER"))
            .ok_or_else(|| Error::Config("ssh: set SKYNET_SSH_USER (the remote user)".into()))?;
        let key = layers
            .pick("SKYNET_SSH_KEY", self.key.map(|p| p.display().to_string()))
            .ok_or_else(|| {
                Error::Config(
                    "ssh: set SKYNET_SSH_KEY (an unencrypted OpenSSH private key file)".into(),
                )
            })?;
        let known_hosts = match layers.pick(
            "SKYNET_SSH_KNOWN_HOSTS",
            self.known_hosts.map(|p| p.display().to_string()),
        ) {
            Some(p) => PathBuf::from(p),
            None => layers
                .var("HOME")
                .map(|h| Path::new(&h).join(".ssh/known_hosts"))
                .ok_or_else(|| Error::Config("ssh: set SKYNET_SSH_KNOWN_HOSTS".into()))?,
        };
        let mut config = crate::provider::SshConfig::new(host, user, key, known_hosts);
        if let Some(v) = layers.pick("SKYNET_SSH_PORT", self.port) {
            config.port = super::parse_number("ssh port", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_SSH_WORKDIR", self.workdir) {
            config.remote_root = v;
        }
        if let Some(v) = layers.pick("SKYNET_SSH_CONFINED", self.confined) {
            config.confined = super::worker::parse_bool("ssh confined", &v)?;
        }
        Ok(Some(config))
    }
}

#[cfg(not(feature = "ssh"))]
impl SshSection {
    /// No SSH provider in this build: configuring one is an error.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Option<std::convert::Infallible>> {
        super::not_built(
            layers.pick("SKYNET_SSH_HOST", self.host),
            "SKYNET_SSH_HOST ([ssh] host)",
            "ssh",
        )
    }
}
