//! Settings: defaults, then `skynet.toml`, then environment variables;
//! front-ends apply their flags last.
//!
//! | setting | file key | environment |
//! |---|---|---|
//! | home directory | (none) | `SKYNET_HOME` (default `~/.skynet`) |
//! | ledger URL | `database_url` | `SKYNET_DATABASE_URL` (default `sqlite://$SKYNET_HOME/skynet.db`) |
//! | policy rules file | `policy_file` | `SKYNET_POLICY_FILE` |
//! | default provider | `provider` | `SKYNET_PROVIDER` |
//! | auto-approve READ_ONLY | `auto_approve_read_only` | `SKYNET_AUTO_APPROVE_READ_ONLY` |
//! | lease / heartbeat / poll | `[worker] lease`, `heartbeat`, `poll_interval` | `SKYNET_LEASE`, `SKYNET_HEARTBEAT`, `SKYNET_POLL_INTERVAL` |
//! | attempts | `[worker] max_attempts` | `SKYNET_MAX_ATTEMPTS` |
//! | step timeout | `[limits] step_timeout` | `SKYNET_STEP_TIMEOUT` |
//! | output cap | `[limits] max_output_bytes` | `SKYNET_MAX_OUTPUT_BYTES` |
//!
//! Durations are written like `30s`, `500ms`, `10m`.

use crate::engine::{EngineConfig, Skynet, SkynetBuilder};
use crate::policy::Policy;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Home directory (holds `skynet.db` and `skynet.toml`).
    pub home: PathBuf,
    /// Ledger URL.
    pub database_url: String,
    /// Policy rules file replacing the built-in rules.
    pub policy_file: Option<PathBuf>,
    /// Provider for jobs that name none.
    pub provider: String,
    /// Engine tunables.
    pub engine: EngineConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    policy_file: Option<PathBuf>,
    provider: Option<String>,
    auto_approve_read_only: Option<bool>,
    #[serde(default)]
    worker: WorkerSection,
    #[serde(default)]
    limits: LimitsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerSection {
    lease: Option<String>,
    heartbeat: Option<String>,
    poll_interval: Option<String>,
    max_attempts: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    step_timeout: Option<String>,
    max_output_bytes: Option<u64>,
}

/// Parse a human duration (`30s`, `500ms`, `10m`), naming the setting on error.
pub fn parse_duration(what: &str, text: &str) -> Result<Duration> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        Error::Config(format!(
            "{what}: {text:?} is not a duration ({e}); write e.g. 30s, 500ms, 10m"
        ))
    })?;
    if d.is_zero() {
        return Err(Error::Config(format!("{what} must be longer than zero")));
    }
    Ok(d)
}

impl Settings {
    /// Load settings for `home` (default `SKYNET_HOME`, else `~/.skynet`).
    pub fn load(home: Option<PathBuf>) -> Result<Settings> {
        Self::load_with(home, |k| std::env::var(k).ok())
    }

    /// Like [`Settings::load`] with an explicit environment (for tests).
    pub fn load_with(
        home: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        let home = match home.or_else(|| env("SKYNET_HOME").map(PathBuf::from)) {
            Some(h) => h,
            None => env("HOME")
                .map(|h| Path::new(&h).join(".skynet"))
                .ok_or_else(|| Error::Config("neither SKYNET_HOME nor HOME is set".into()))?,
        };
        let file_path = home.join("skynet.toml");
        let file: FileSettings = match std::fs::read_to_string(&file_path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", file_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileSettings::default(),
            Err(e) => return Err(Error::Config(format!("{}: {e}", file_path.display()))),
        };
        let pick = |env_key: &str, file_val: Option<String>| env(env_key).or(file_val);
        let mut engine = EngineConfig::default();
        if let Some(v) = pick("SKYNET_LEASE", file.worker.lease) {
            engine.lease = parse_duration("lease", &v)?;
        }
        if let Some(v) = pick("SKYNET_HEARTBEAT", file.worker.heartbeat) {
            engine.heartbeat = parse_duration("heartbeat", &v)?;
        }
        if let Some(v) = pick("SKYNET_POLL_INTERVAL", file.worker.poll_interval) {
            engine.poll_interval = parse_duration("poll_interval", &v)?;
        }
        if let Some(v) = pick(
            "SKYNET_MAX_ATTEMPTS",
            file.worker.max_attempts.map(|n| n.to_string()),
        ) {
            engine.max_attempts = parse_number("max_attempts", &v)?;
        }
        if let Some(v) = pick("SKYNET_STEP_TIMEOUT", file.limits.step_timeout) {
            engine.step_timeout = parse_duration("step_timeout", &v)?;
        }
        if let Some(v) = pick(
            "SKYNET_MAX_OUTPUT_BYTES",
            file.limits.max_output_bytes.map(|n| n.to_string()),
        ) {
            engine.max_output_bytes = parse_number("max_output_bytes", &v)?;
        }
        if let Some(v) = pick(
            "SKYNET_AUTO_APPROVE_READ_ONLY",
            file.auto_approve_read_only.map(|b| b.to_string()),
        ) {
            engine.auto_approve_read_only = match v.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                other => {
                    return Err(Error::Config(format!(
                        "auto_approve_read_only: {other:?} is not true/false"
                    )));
                }
            };
        }
        if engine.heartbeat >= engine.lease {
            return Err(Error::Config(format!(
                "heartbeat ({:?}) must be shorter than the lease ({:?})",
                engine.heartbeat, engine.lease
            )));
        }
        let database_url = pick("SKYNET_DATABASE_URL", file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", home.join("skynet.db").display()));
        Ok(Settings {
            database_url,
            policy_file: env("SKYNET_POLICY_FILE")
                .map(PathBuf::from)
                .or(file.policy_file),
            provider: pick("SKYNET_PROVIDER", file.provider).unwrap_or_else(|| "local".into()),
            engine,
            home,
        })
    }

    /// The policy these settings name (the built-in rules by default).
    pub fn policy(&self) -> Result<Policy> {
        match &self.policy_file {
            Some(p) => Policy::load(p),
            None => Ok(Policy::default()),
        }
    }

    /// Build an engine from these settings (creates the home directory).
    pub async fn build(&self) -> Result<Skynet> {
        self.builder()?.build().await
    }

    /// A builder preset from these settings (creates the home directory),
    /// for front-ends that add their own planner or providers before
    /// building.
    pub fn builder(&self) -> Result<SkynetBuilder> {
        if self.database_url.starts_with("sqlite://") {
            std::fs::create_dir_all(&self.home).map_err(|e| {
                Error::Config(format!(
                    "cannot create SKYNET_HOME {}: {e}",
                    self.home.display()
                ))
            })?;
        }
        Ok(Skynet::builder()
            .database_url(&self.database_url)
            .policy(self.policy()?)
            .default_provider(&self.provider)
            .config(self.engine.clone()))
    }
}

fn parse_number<T: std::str::FromStr>(what: &str, text: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| Error::Config(format!("{what}: {text:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            home.path().join("skynet.toml"),
            "provider = \"mock\"\n[worker]\nlease = \"10s\"\nmax_attempts = 5\n",
        )
        .expect("write");
        let s = Settings::load_with(Some(home.path().into()), env(&[("SKYNET_LEASE", "20s")]))
            .expect("load");
        assert_eq!(s.provider, "mock");
        assert_eq!(s.engine.lease, Duration::from_secs(20));
        assert_eq!(s.engine.max_attempts, 5);
        assert!(s.database_url.ends_with("skynet.db"));
    }

    #[test]
    fn bad_values_are_config_errors() {
        let home = tempfile::tempdir().expect("tempdir");
        let e = Settings::load_with(Some(home.path().into()), env(&[("SKYNET_LEASE", "soon")]));
        assert!(matches!(e, Err(Error::Config(m)) if m.contains("lease")));
        std::fs::write(home.path().join("skynet.toml"), "bogus = 1\n").expect("write");
        assert!(matches!(
            Settings::load_with(Some(home.path().into()), env(&[])),
            Err(Error::Config(_))
        ));
    }
}
