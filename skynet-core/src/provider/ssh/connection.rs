//! Opening an authenticated SSH connection: the host key must match the
//! known_hosts file (there is no accept-all mode), then public-key login:
//! each key the ssh-agent holds, then each configured key file, until the
//! server takes one.

use super::SshConfig;
use crate::provider::host_key::HostKeyProblem;
use crate::{Error, Result};
use russh::client;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The client side of the handshake: checks the host key and remembers
/// why it refused one.
pub(super) struct HostCheck {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    problem: Arc<Mutex<Option<HostKeyProblem>>>,
}

impl client::Handler for HostCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> std::result::Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = presented else {
            self.refuse(HostKeyProblem::Certificate);
            return Ok(false);
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let known_hosts = self.known_hosts.clone();
        match russh::keys::check_known_hosts_path(&self.host, self.port, key, &known_hosts) {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.refuse(HostKeyProblem::Unknown {
                    known_hosts,
                    fingerprint,
                });
                Ok(false)
            }
            Err(russh::keys::Error::KeyChanged { line }) => {
                self.refuse(HostKeyProblem::Changed {
                    known_hosts,
                    line,
                    fingerprint,
                });
                Ok(false)
            }
            Err(e) => {
                self.refuse(HostKeyProblem::Unreadable {
                    known_hosts,
                    reason: e.to_string(),
                });
                Ok(false)
            }
        }
    }
}

impl HostCheck {
    fn refuse(&self, problem: HostKeyProblem) {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = Some(problem);
        }
    }
}

/// An authenticated connection.
pub(super) type Handle = client::Handle<HostCheck>;

/// Connect to the configured host, verify its key, log in with the key.
pub(super) async fn open(config: &SshConfig) -> Result<Handle> {
    let target = format!("{}:{}", config.host, config.port);
    if !config.known_hosts.is_file() {
        return Err(Error::Config(format!(
            "SSH known_hosts file {} does not exist; create it with the host's key (verified out of band) before using the ssh provider",
            config.known_hosts.display()
        )));
    }
    let problem = Arc::new(Mutex::new(None));
    let handler = HostCheck {
        host: config.host.clone(),
        port: config.port,
        known_hosts: config.known_hosts.clone(),
        problem: problem.clone(),
    };
    let russh_config = Arc::new(client::Config {
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    });
    let connecting = client::connect(russh_config, (config.host.as_str(), config.port), handler);
    let mut handle = match tokio::time::timeout(config.connect_timeout, connecting).await {
        Err(_) => {
            return Err(provider(format!(
                "cannot connect to {target}: no answer within {:?}",
                config.connect_timeout
            )));
        }
        Ok(Err(e)) => {
            let refused = problem.lock().ok().and_then(|mut p| p.take());
            return Err(match refused {
                Some(problem) => Error::HostKeyRejected {
                    host: target,
                    problem,
                },
                None => provider(format!("cannot connect to {target}: {e}")),
            });
        }
        Ok(Ok(h)) => h,
    };
    let login = tokio::time::timeout(config.connect_timeout, log_in(&mut handle, config));
    match login.await {
        Err(_) => Err(provider(format!(
            "{target}: no answer to the login within {:?}",
            config.connect_timeout
        ))),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Ok(handle),
    }
}

/// Offer the agent's keys, then the key files, until one is taken.
async fn log_in(handle: &mut Handle, config: &SshConfig) -> Result<()> {
    let target = format!("{}:{}", config.host, config.port);
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| provider(format!("{target}: {e}")))?
        .flatten();
    let hash_for =
        |key: &russh::keys::PublicKey| key.algorithm().is_rsa().then_some(rsa_hash).flatten();
    // What was offered and why it did not log in, for the error.
    let mut tried: Vec<String> = Vec::new();
    // Key files that could not be read: a configuration error when
    // nothing else was even offered.
    let mut unusable: Vec<String> = Vec::new();
    if let Some(socket) = &config.agent {
        match AgentClient::connect_uds(socket).await {
            Err(e) => tried.push(format!("the ssh-agent at {} ({e})", socket.display())),
            Ok(mut agent) => match agent.request_identities().await {
                Err(e) => tried.push(format!("the ssh-agent at {} ({e})", socket.display())),
                Ok(identities) if identities.is_empty() => tried.push(format!(
                    "the ssh-agent at {} (it holds no keys)",
                    socket.display()
                )),
                Ok(identities) => {
                    for identity in identities {
                        let key = identity.public_key().into_owned();
                        let name = format!("agent key {}", key.fingerprint(HashAlg::Sha256));
                        let hash = hash_for(&key);
                        match handle
                            .authenticate_publickey_with(config.user.clone(), key, hash, &mut agent)
                            .await
                        {
                            Ok(auth) if auth.success() => return Ok(()),
                            Ok(_) => tried.push(name),
                            Err(e) => tried.push(format!("{name} ({e})")),
                        }
                    }
                }
            },
        }
    }
    for file in &config.keys {
        let key = match russh::keys::load_secret_key(file, None) {
            Ok(key) => key,
            Err(e) => {
                unusable.push(format!("{} ({e})", file.display()));
                continue;
            }
        };
        let hash = hash_for(key.public_key());
        let auth = handle
            .authenticate_publickey(
                config.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
            .map_err(|e| provider(format!("{target}: login failed: {e}")))?;
        if auth.success() {
            return Ok(());
        }
        tried.push(format!("key {}", file.display()));
    }
    if tried.is_empty() {
        return Err(Error::Config(format!(
            "cannot use SSH key {} (an unencrypted OpenSSH private key is needed)",
            unusable.join(", ")
        )));
    }
    tried.extend(unusable.into_iter().map(|u| format!("unusable key {u}")));
    Err(provider(format!(
        "{target} refused every key offered for user {}: {}; add its public key to that \
         user's authorized_keys",
        config.user,
        tried.join(", ")
    )))
}

pub(super) fn provider(message: String) -> Error {
    Error::Provider {
        provider: "ssh".into(),
        message,
    }
}
