//! `[ssh]`: the SSH provider, registered when a host is set. The host may
//! be an alias in `~/.ssh/config` ([`super::ssh_config`]): its `HostName`,
//! `User`, `Port` and `IdentityFile` apply unless SKYNET's own settings
//! say otherwise. Without `SKYNET_SSH_KEY`, the running ssh-agent
//! (`SSH_AUTH_SOCK`) and the alias's `IdentityFile`s, else the default
//! keys (`~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`), log in.

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
    config: Option<PathBuf>,
}

/// The default keys, tried in this order when no key is configured.
#[cfg(feature = "ssh")]
const DEFAULT_KEYS: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

#[cfg(feature = "ssh")]
impl SshSection {
    /// The provider's configuration; `None` when no host is set.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Option<crate::provider::SshConfig>> {
        use super::ssh_config::{Context, SshConfigFile};
        use crate::Error;
        use std::path::Path;
        let Some(alias) = layers.pick("SKYNET_SSH_HOST", self.host) else {
            return Ok(None);
        };
        let home = layers.var("HOME").map(PathBuf::from);
        let local_user = layers.var("USER").unwrap_or_default();
        // `~/.ssh/config` unless another file (or `none`) is named.
        let file = match layers.pick(
            "SKYNET_SSH_CONFIG",
            self.config.map(|p| p.display().to_string()),
        ) {
            Some(p) if p.trim().eq_ignore_ascii_case("none") => None,
            Some(p) => Some(PathBuf::from(p)),
            None => home.as_ref().map(|h| h.join(".ssh/config")),
        };
        let entry = match (&file, &home) {
            (Some(file), home) => {
                let cx = Context {
                    home: home.as_deref().unwrap_or(Path::new("/")),
                    local_user: &local_user,
                };
                SshConfigFile::read(file, &cx)
                    .map_err(|e| Error::Config(format!("ssh config {e}")))?
                    .lookup(&alias)
            }
            (None, _) => Default::default(),
        };
        // SKYNET's own settings win over ~/.ssh/config.
        let host = entry.host_name.clone().unwrap_or_else(|| alias.clone());
        let user = layers
            .pick("SKYNET_SSH_USER", self.user)
            .or_else(|| entry.user.clone())
            .or_else(|| layers.var("USER"))
            .ok_or_else(|| Error::Config("ssh: set SKYNET_SSH_USER (the remote user)".into()))?;
        let explicit = layers.pick("SKYNET_SSH_KEY", self.key.map(|p| p.display().to_string()));
        let agent = match &explicit {
            Some(_) => None,
            None => layers
                .var("SSH_AUTH_SOCK")
                .filter(|s| !s.trim().is_empty())
                .map(PathBuf::from),
        };
        let keys = match explicit {
            Some(key) => vec![PathBuf::from(key)],
            None => {
                let listed = entry.identity_files(&host, &user);
                if listed.is_empty() {
                    home.iter()
                        .flat_map(|h| DEFAULT_KEYS.iter().map(move |k| h.join(".ssh").join(k)))
                        .filter(|k| k.is_file())
                        .collect()
                } else {
                    listed
                }
            }
        };
        if keys.is_empty() && agent.is_none() {
            return Err(Error::Config(format!(
                "ssh: no key to log in to {alias} with: set SKYNET_SSH_KEY (an unencrypted \
                 OpenSSH private key file), start an ssh-agent holding the key (SSH_AUTH_SOCK), \
                 or create ~/.ssh/id_ed25519"
            )));
        }
        let known_hosts = match layers.pick(
            "SKYNET_SSH_KNOWN_HOSTS",
            self.known_hosts.map(|p| p.display().to_string()),
        ) {
            Some(p) => PathBuf::from(p),
            None => home
                .as_ref()
                .map(|h| h.join(".ssh/known_hosts"))
                .ok_or_else(|| Error::Config("ssh: set SKYNET_SSH_KNOWN_HOSTS".into()))?,
        };
        let mut config = crate::provider::SshConfig::new(host, user, PathBuf::new(), known_hosts);
        config.keys = keys;
        config.agent = agent;
        if let Some(port) = entry.port {
            config.port = port;
        }
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

#[cfg(all(test, feature = "ssh"))]
mod tests {
    use super::super::Settings;
    use crate::Error;
    use crate::provider::SshConfig;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    /// The SSH settings for `vars` with HOME at `home` (a temp dir).
    fn ssh(home: &Path, vars: &[(&str, &str)]) -> crate::Result<Option<SshConfig>> {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("HOME".into(), home.display().to_string());
        map.entry("SKYNET_SSH_KNOWN_HOSTS".into())
            .or_insert_with(|| "/keys/known_hosts".into());
        crate::config::strict(Settings::load_with(Some(home.join("skynet")), move |k| {
            map.get(k).cloned()
        }))
        .map(|s| s.ssh)
    }

    fn home_with(config: &str, keys: &[&str]) -> tempfile::TempDir {
        let home = tempfile::tempdir().expect("home");
        std::fs::create_dir(home.path().join(".ssh")).expect("mkdir");
        std::fs::write(home.path().join(".ssh/config"), config).expect("config");
        for k in keys {
            std::fs::write(home.path().join(".ssh").join(k), "key").expect("key");
        }
        home
    }

    #[test]
    fn an_alias_takes_its_host_user_port_and_key_from_ssh_config() {
        let home = home_with(
            "Host build\n  HostName 10.9.8.7\n  User ci\n  Port 2222\n  IdentityFile ~/.ssh/build_key\n",
            &[],
        );
        let c = ssh(home.path(), &[("SKYNET_SSH_HOST", "build"), ("USER", "me")])
            .expect("load")
            .expect("ssh");
        assert_eq!(
            (c.host.as_str(), c.user.as_str(), c.port),
            ("10.9.8.7", "ci", 2222)
        );
        assert_eq!(c.keys, [home.path().join(".ssh/build_key")]);
        assert_eq!(c.agent, None);

        // SKYNET's own settings win; a named key leaves the agent out.
        let c = ssh(
            home.path(),
            &[
                ("SKYNET_SSH_HOST", "build"),
                ("SKYNET_SSH_USER", "deploy"),
                ("SKYNET_SSH_PORT", "22"),
                ("SKYNET_SSH_KEY", "/keys/deploy"),
                ("SSH_AUTH_SOCK", "/run/agent.sock"),
            ],
        )
        .expect("load")
        .expect("ssh");
        assert_eq!(
            (c.host.as_str(), c.user.as_str(), c.port),
            ("10.9.8.7", "deploy", 22)
        );
        assert_eq!(
            (c.keys.as_slice(), c.agent),
            (&[PathBuf::from("/keys/deploy")][..], None)
        );

        // Another file, or none at all.
        let other = home.path().join("other_config");
        std::fs::write(&other, "Host build\n  Port 2200\n").expect("write");
        let load = |file: &str| {
            ssh(
                home.path(),
                &[
                    ("SKYNET_SSH_HOST", "build"),
                    ("SKYNET_SSH_KEY", "/k"),
                    ("USER", "me"),
                    ("SKYNET_SSH_CONFIG", file),
                ],
            )
            .expect("load")
            .expect("ssh")
        };
        let c = load(other.to_str().expect("utf-8"));
        assert_eq!((c.host.as_str(), c.port), ("build", 2200));
        let c = load("none");
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str()),
            ("build", 22, "me")
        );
    }

    #[test]
    fn without_a_key_the_agent_and_the_default_keys_are_used_in_order() {
        let home = home_with("", &["id_rsa", "id_ecdsa"]);
        let c = ssh(
            home.path(),
            &[
                ("SKYNET_SSH_HOST", "h"),
                ("USER", "me"),
                ("SSH_AUTH_SOCK", "/run/agent.sock"),
            ],
        )
        .expect("load")
        .expect("ssh");
        let dot = home.path().join(".ssh");
        assert_eq!(c.keys, [dot.join("id_ecdsa"), dot.join("id_rsa")]);
        assert_eq!(c.agent, Some(PathBuf::from("/run/agent.sock")));

        let bare = home_with("", &[]);
        let e = ssh(bare.path(), &[("SKYNET_SSH_HOST", "h"), ("USER", "me")]);
        assert!(
            matches!(&e, Err(Error::Config(m)) if m.contains("SKYNET_SSH_KEY") && m.contains("ssh-agent")),
            "{e:?}"
        );
    }

    #[test]
    fn a_broken_ssh_config_is_a_config_error_naming_its_line() {
        let home = home_with("Host build\n  Port twenty\n", &[]);
        let e = ssh(
            home.path(),
            &[
                ("SKYNET_SSH_HOST", "build"),
                ("SKYNET_SSH_KEY", "/k"),
                ("USER", "me"),
            ],
        );
        assert!(
            matches!(&e, Err(Error::Config(m)) if m.contains(".ssh/config: line 2: Port")),
            "{e:?}"
        );
    }
}
