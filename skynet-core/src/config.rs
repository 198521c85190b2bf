//! Settings: defaults, then `skynet.toml`, then environment variables;
//! front-ends apply their flags last.
//!
//! | setting | file key | environment |
//! |---|---|---|
//! | home directory | (none) | `SKYNET_HOME` (default `~/.skynet`) |
//! | ledger URL | `database_url` | `SKYNET_DATABASE_URL` (default `sqlite://$SKYNET_HOME/skynet.db`) |
//! | policy rules file | `policy_file` | `SKYNET_POLICY_FILE` |
//! | default provider | `provider` | `SKYNET_PROVIDER` |
//! | scheduler candidates for jobs that name no provider (default: only the default provider) | `providers = ["local", "docker"]` | `SKYNET_PROVIDERS` (comma list: `local,docker,ssh,gateway`) |
//! | scheduler weights (health, load, capability, success, latency; default 30,25,25,15,5) | `[scheduler] weights = { health = 30, load = 25, ... }` | `SKYNET_SCHEDULER_WEIGHTS=30,25,25,15,5` |
//! | auto-approve READ_ONLY | `auto_approve_read_only` | `SKYNET_AUTO_APPROVE_READ_ONLY` |
//! | lease / heartbeat / poll | `[worker] lease`, `heartbeat`, `poll_interval` | `SKYNET_LEASE`, `SKYNET_HEARTBEAT`, `SKYNET_POLL_INTERVAL` |
//! | attempts | `[worker] max_attempts` | `SKYNET_MAX_ATTEMPTS` |
//! | step timeout | `[limits] step_timeout` | `SKYNET_STEP_TIMEOUT` |
//! | output cap | `[limits] max_output_bytes` | `SKYNET_MAX_OUTPUT_BYTES` |
//! | planner (`rules`, `llm`, `auto`) | `planner` | `SKYNET_PLANNER` (default `auto`) |
//! | LLM provider / model / base URL | `[llm] provider`, `model`, `base_url` | `SKYNET_LLM_PROVIDER`, `SKYNET_LLM_MODEL`, `SKYNET_LLM_BASE_URL` |
//! | LLM key (environment only) | (none) | `OPENAI_API_KEY`, `GOOGLE_AI_API_KEY`/`GEMINI_API_KEY`, `ANTHROPIC_API_KEY`, or `SKYNET_LLM_API_KEY` |
//! | LLM limits | `[llm] timeout`, `max_retries`, `max_response_bytes`, `daily_token_budget` | `SKYNET_LLM_TIMEOUT`, `SKYNET_LLM_MAX_RETRIES`, `SKYNET_LLM_MAX_RESPONSE_BYTES`, `SKYNET_LLM_DAILY_TOKENS` |
//! | local sandbox | `[sandbox] mode` (`auto`, `require`, `landlock`, `off`), `writable` | `SKYNET_SANDBOX`, `SKYNET_SANDBOX_WRITABLE` (`:`-separated) |
//! | Docker provider (registered when an image is set) | `[docker] image`, `host`, `network`, `memory`, `cpus`, `pids` | `SKYNET_DOCKER_IMAGE`, `SKYNET_DOCKER_HOST`, `SKYNET_DOCKER_NETWORK`, `SKYNET_DOCKER_MEMORY` (`512m`, `2g`), `SKYNET_DOCKER_CPUS`, `SKYNET_DOCKER_PIDS` |
//! | health checks: round interval, per-check timeout | `[sentinel] interval`, `check_timeout` | `SKYNET_SENTINEL_INTERVAL` (default `30s`), `SKYNET_SENTINEL_CHECK_TIMEOUT` (default `10s`) |
//! | queue age alerts (warning / critical) | `[sentinel] queue_age_warning`, `queue_age_critical` | `SKYNET_SENTINEL_QUEUE_AGE_WARNING` (default `5m`), `SKYNET_SENTINEL_QUEUE_AGE_CRITICAL` (default `30m`) |
//! | alert webhook (JSON POST), its minimum severity, reminders | `[sentinel] webhook`, `min_severity`, `renotify` | `SKYNET_ALERT_WEBHOOK`, `SKYNET_ALERT_MIN_SEVERITY` (`info`, `warning` (default), `critical`), `SKYNET_ALERT_RENOTIFY` (default: never) |
//! | gateway provider (registered when a URL is set; `chathan`, `openclaw` are aliases) | (none) | `OPENCLAW_GATEWAY_URL`, `OPENCLAW_GATEWAY_TOKEN` or `OPENCLAW_GATEWAY_TOKEN_FILE`, `OPENCLAW_GATEWAY_CA` (extra CA for `https://`) |
//! | SSH provider (registered when a host is set) | `[ssh] host`, `port`, `user`, `key`, `known_hosts`, `workdir` | `SKYNET_SSH_HOST`, `SKYNET_SSH_PORT`, `SKYNET_SSH_USER`, `SKYNET_SSH_KEY`, `SKYNET_SSH_KNOWN_HOSTS` (default `~/.ssh/known_hosts`), `SKYNET_SSH_WORKDIR` |
//!
//! Durations are written like `30s`, `500ms`, `10m`.

use crate::engine::{EngineConfig, Skynet, SkynetBuilder};
use crate::llm::LlmSettings;
use crate::llm::settings::LlmFileSection;
use crate::planner::{AutoPlanner, LlmPlanner, Planner, PlannerChoice, RulePlanner};
use crate::policy::Policy;
use crate::provider::local::SandboxMode;
use crate::provider::{
    DockerConfig, DockerProvider, GatewayConfig, GatewayProvider, LocalProvider, SshConfig,
    SshProvider,
};
use crate::scheduler::Weights;
use crate::sentinel::SentinelConfig;
use crate::sentinel::config::SentinelSection;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// Provider for jobs that name none, when no candidates are listed.
    pub provider: String,
    /// Candidates the scheduler places jobs that name no provider on
    /// (empty = only [`Settings::provider`]).
    pub providers: Vec<String>,
    /// How the scheduler weighs its scores.
    pub scheduler_weights: Weights,
    /// Engine tunables.
    pub engine: EngineConfig,
    /// Which planner makes plans.
    pub planner: PlannerChoice,
    /// The language model, if one is configured.
    pub llm: Option<LlmSettings>,
    /// How the `local` provider confines steps (default `auto`).
    pub sandbox: SandboxMode,
    /// Extra directories sandboxed local steps may write.
    pub sandbox_writable: Vec<PathBuf>,
    /// The `docker` provider, when an image is configured.
    pub docker: Option<DockerConfig>,
    /// The `ssh` provider, when a host is configured.
    pub ssh: Option<SshConfig>,
    /// Health checks and alerts.
    pub sentinel: SentinelConfig,
    /// The `gateway` provider, when `OPENCLAW_GATEWAY_URL` is set.
    pub gateway: Option<GatewayConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    policy_file: Option<PathBuf>,
    provider: Option<String>,
    providers: Option<Vec<String>>,
    auto_approve_read_only: Option<bool>,
    planner: Option<String>,
    #[serde(default)]
    llm: LlmFileSection,
    #[serde(default)]
    worker: WorkerSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    sandbox: SandboxSection,
    #[serde(default)]
    docker: DockerSection,
    #[serde(default)]
    ssh: SshSection,
    #[serde(default)]
    scheduler: SchedulerSection,
    #[serde(default)]
    sentinel: SentinelSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulerSection {
    weights: Option<Weights>,
}

/// Providers the scheduler knows how to configure, for checking
/// `SKYNET_PROVIDERS`.
const KNOWN_PROVIDERS: [&str; 5] = ["local", "docker", "ssh", "gateway", "mock"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxSection {
    mode: Option<String>,
    writable: Option<Vec<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DockerSection {
    image: Option<String>,
    host: Option<String>,
    network: Option<String>,
    memory: Option<String>,
    cpus: Option<f64>,
    pids: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SshSection {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    workdir: Option<String>,
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
        let planner = match pick("SKYNET_PLANNER", file.planner.clone()) {
            Some(p) => PlannerChoice::parse(&p)?,
            None => PlannerChoice::default(),
        };
        let llm = LlmSettings::load(&file.llm, &env)?;
        let sandbox = match pick("SKYNET_SANDBOX", file.sandbox.mode) {
            Some(v) => SandboxMode::parse(&v).ok_or_else(|| {
                Error::Config(format!(
                    "sandbox: {v:?} is not one of auto, require, landlock, off"
                ))
            })?,
            None => SandboxMode::Auto,
        };
        let sandbox_writable = match env("SKYNET_SANDBOX_WRITABLE") {
            Some(v) => std::env::split_paths(&v).collect(),
            None => file.sandbox.writable.unwrap_or_default(),
        };
        let docker = docker_config(&pick, file.docker)?;
        let ssh = ssh_config(&pick, &env, file.ssh)?;
        let scheduler_weights = match (env("SKYNET_SCHEDULER_WEIGHTS"), file.scheduler.weights) {
            (Some(v), _) => Weights::parse_list("SKYNET_SCHEDULER_WEIGHTS", &v)?,
            (None, Some(w)) => w.validate("[scheduler] weights in skynet.toml")?,
            (None, None) => Weights::default(),
        };
        let sentinel = SentinelConfig::load(file.sentinel, &pick)?;
        let gateway = gateway_config(&env)?;
        let providers = candidates(
            &env,
            file.providers,
            [docker.is_some(), ssh.is_some(), gateway.is_some()],
        )?;
        let database_url = pick("SKYNET_DATABASE_URL", file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", home.join("skynet.db").display()));
        Ok(Settings {
            database_url,
            policy_file: env("SKYNET_POLICY_FILE")
                .map(PathBuf::from)
                .or(file.policy_file),
            provider: pick("SKYNET_PROVIDER", file.provider).unwrap_or_else(|| "local".into()),
            providers,
            scheduler_weights,
            engine,
            planner,
            llm,
            home,
            sandbox,
            sandbox_writable,
            docker,
            ssh,
            sentinel,
            gateway,
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
        let llm = match &self.llm {
            Some(s) => Some(Arc::new(LlmPlanner::from_settings(
                s,
                Some(self.home.join("llm-usage.json")),
            )?)),
            None => None,
        };
        let planner: Arc<dyn Planner> = match (self.planner, &llm) {
            (PlannerChoice::Llm, Some(l)) => l.clone(),
            (PlannerChoice::Llm, None) => {
                return Err(Error::Config(
                    "the llm planner needs a model: set SKYNET_LLM_PROVIDER (openai, gemini, anthropic, ollama) and the provider's key variable, or [llm] in skynet.toml".into(),
                ));
            }
            (PlannerChoice::Auto, Some(l)) => Arc::new(AutoPlanner::new(l.clone())),
            (PlannerChoice::Rules, _) | (PlannerChoice::Auto, None) => Arc::new(RulePlanner::new()),
        };
        let mut builder = Skynet::builder();
        if let Some(l) = llm {
            builder = builder.llm(l);
        }
        let keys = self
            .llm
            .iter()
            .filter_map(|l| l.api_key.as_ref())
            .map(|k| k.expose().to_string())
            .chain(self.gateway.iter().map(|g| g.token.expose().to_string()));
        let local = LocalProvider::new()
            .with_sandbox(self.sandbox)
            .with_writable(self.sandbox_writable.clone());
        let mut builder = builder
            .planner(planner)
            .secrets(keys)
            .database_url(&self.database_url)
            .policy(self.policy()?)
            .provider(Arc::new(local));
        if let Some(docker) = &self.docker {
            builder = builder.provider(Arc::new(DockerProvider::new(docker.clone())));
        }
        if let Some(ssh) = &self.ssh {
            builder = builder.provider(Arc::new(SshProvider::new(ssh.clone())));
        }
        if let Some(gateway) = &self.gateway {
            builder = builder.provider(Arc::new(GatewayProvider::new(gateway.clone())?));
        }
        Ok(builder
            .default_provider(&self.provider)
            .candidates(self.providers.clone())
            .scheduler_weights(self.scheduler_weights)
            .config(self.engine.clone())
            .sentinel(self.sentinel.clone()))
    }
}

/// The scheduler's candidates from `SKYNET_PROVIDERS` (a comma list) or
/// `providers` in the file: known names, no repeats, and a provider that
/// needs configuring must be configured.
fn candidates(
    env: &impl Fn(&str) -> Option<String>,
    file: Option<Vec<String>>,
    [docker, ssh, gateway]: [bool; 3],
) -> Result<Vec<String>> {
    // An empty variable clears the list, like an unset one.
    let from_env = env("SKYNET_PROVIDERS").filter(|v| !v.trim().is_empty());
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
        let name = crate::provider::canonical_name(&name).to_string();
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

fn gateway_config(env: &impl Fn(&str) -> Option<String>) -> Result<Option<GatewayConfig>> {
    let Some(url) = env("OPENCLAW_GATEWAY_URL").filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let token = match (
        env("OPENCLAW_GATEWAY_TOKEN"),
        env("OPENCLAW_GATEWAY_TOKEN_FILE"),
    ) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(file)) => crate::provider::gateway::read_token_file(Path::new(&file))?,
        (None, None) => {
            return Err(Error::Config(
                "gateway: set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_TOKEN_FILE (the agent's \
                 token) along with OPENCLAW_GATEWAY_URL"
                    .into(),
            ));
        }
    };
    if token.is_empty() {
        return Err(Error::Config(
            "gateway: the token is empty; put the agent's token in OPENCLAW_GATEWAY_TOKEN".into(),
        ));
    }
    let mut config = GatewayConfig::new(url.trim(), crate::llm::ApiKey::new(token));
    config.ca_file = env("OPENCLAW_GATEWAY_CA").map(PathBuf::from);
    Ok(Some(config))
}

fn docker_config(
    pick: &impl Fn(&str, Option<String>) -> Option<String>,
    file: DockerSection,
) -> Result<Option<DockerConfig>> {
    let Some(image) = pick("SKYNET_DOCKER_IMAGE", file.image) else {
        return Ok(None);
    };
    let mut config = DockerConfig::new(image);
    config.host = pick("SKYNET_DOCKER_HOST", file.host);
    if let Some(v) = pick("SKYNET_DOCKER_NETWORK", file.network) {
        config.network = v;
    }
    if let Some(v) = pick("SKYNET_DOCKER_MEMORY", file.memory) {
        config.memory_bytes = parse_bytes("docker memory", &v)?;
    }
    if let Some(v) = pick("SKYNET_DOCKER_CPUS", file.cpus.map(|c| c.to_string())) {
        config.cpus = parse_number("docker cpus", &v)?;
        if !(config.cpus.is_finite() && config.cpus > 0.0) {
            return Err(Error::Config(format!(
                "docker cpus must be a positive number, not {v:?}"
            )));
        }
    }
    if let Some(v) = pick("SKYNET_DOCKER_PIDS", file.pids.map(|n| n.to_string())) {
        config.pids_limit = parse_number("docker pids", &v)?;
    }
    Ok(Some(config))
}

fn ssh_config(
    pick: &impl Fn(&str, Option<String>) -> Option<String>,
    env: &impl Fn(&str) -> Option<String>,
    file: SshSection,
) -> Result<Option<SshConfig>> {
    let Some(host) = pick("SKYNET_SSH_HOST", file.host) else {
        return Ok(None);
    };
    let user = pick("SKYNET_SSH_USER", file.user)
        .or_else(|| env("USER"))
        .ok_or_else(|| Error::Config("ssh: set SKYNET_SSH_USER (the remote user)".into()))?;
    let key =
        pick("SKYNET_SSH_KEY", file.key.map(|p| p.display().to_string())).ok_or_else(|| {
            Error::Config(
                "ssh: set SKYNET_SSH_KEY (an unencrypted OpenSSH private key file)".into(),
            )
        })?;
    let known_hosts = match pick(
        "SKYNET_SSH_KNOWN_HOSTS",
        file.known_hosts.map(|p| p.display().to_string()),
    ) {
        Some(p) => PathBuf::from(p),
        None => env("HOME")
            .map(|h| Path::new(&h).join(".ssh/known_hosts"))
            .ok_or_else(|| Error::Config("ssh: set SKYNET_SSH_KNOWN_HOSTS".into()))?,
    };
    let mut config = SshConfig::new(host, user, key, known_hosts);
    if let Some(v) = pick("SKYNET_SSH_PORT", file.port.map(|p| p.to_string())) {
        config.port = parse_number("ssh port", &v)?;
    }
    if let Some(v) = pick("SKYNET_SSH_WORKDIR", file.workdir) {
        config.remote_root = v;
    }
    Ok(Some(config))
}

/// Bytes with an optional binary suffix: `1048576`, `512m`, `2g`, `64k`.
fn parse_bytes(what: &str, text: &str) -> Result<i64> {
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
            Error::Config(format!(
                "{what}: {text:?} is not a size; write e.g. 512m or 2g"
            ))
        })
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

    #[test]
    fn llm_settings_from_file_and_environment() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            home.path().join("skynet.toml"),
            "planner = \"llm\"\n[llm]\nprovider = \"gemini\"\nmodel = \"gemini-2.5-flash\"\ntimeout = \"5s\"\ndaily_token_budget = 1000\n",
        )
        .expect("write");
        let s = Settings::load_with(
            Some(home.path().into()),
            env(&[("GEMINI_API_KEY", "AIza-test-key-123456")]),
        )
        .expect("load");
        assert_eq!(s.planner, PlannerChoice::Llm);
        let llm = s.llm.as_ref().expect("llm configured");
        assert_eq!(llm.model, "gemini-2.5-flash");
        assert_eq!(llm.http.timeout, Duration::from_secs(5));
        assert_eq!(llm.daily_token_budget, Some(1000));
        assert_eq!(
            llm.api_key.as_ref().map(|k| k.expose()),
            Some("AIza-test-key-123456")
        );
        assert!(
            !format!("{s:?}").contains("AIza-test-key-123456"),
            "Debug hides the key"
        );

        // GOOGLE_AI_API_KEY wins over GEMINI_API_KEY; env wins over the file.
        let s = Settings::load_with(
            Some(home.path().into()),
            env(&[
                ("GEMINI_API_KEY", "second-choice"),
                ("GOOGLE_AI_API_KEY", "first-choice"),
                ("SKYNET_LLM_MODEL", "gemini-2.0-flash"),
                ("SKYNET_PLANNER", "auto"),
            ]),
        )
        .expect("load");
        let llm = s.llm.as_ref().expect("llm");
        assert_eq!(
            llm.api_key.as_ref().map(|k| k.expose()),
            Some("first-choice")
        );
        assert_eq!(llm.model, "gemini-2.0-flash");
        assert_eq!(s.planner, PlannerChoice::Auto);
    }

    #[test]
    fn llm_misconfiguration_says_what_to_set() {
        let home = tempfile::tempdir().expect("tempdir");
        let load =
            |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
        let e = load(&[("SKYNET_LLM_PROVIDER", "anthropic")]).expect_err("no key");
        assert!(
            matches!(&e, Error::Config(m) if m.contains("ANTHROPIC_API_KEY")),
            "{e}"
        );
        let e = load(&[("SKYNET_LLM_PROVIDER", "skynet-9000")]).expect_err("unknown");
        assert!(
            matches!(&e, Error::Config(m) if m.contains("openai, ollama, gemini or anthropic"))
        );
        let e = load(&[("SKYNET_PLANNER", "magic")]).expect_err("planner");
        assert!(matches!(&e, Error::Config(m) if m.contains("rules, llm or auto")));
        let e = load(&[
            ("SKYNET_LLM_PROVIDER", "ollama"),
            ("SKYNET_LLM_BASE_URL", "localhost:11434"),
        ])
        .expect_err("scheme");
        assert!(matches!(&e, Error::Config(m) if m.contains("http://")));
        let s = load(&[("SKYNET_LLM_PROVIDER", "ollama")]).expect("ollama needs no key");
        assert_eq!(
            s.llm.as_ref().map(|l| l.base_url.as_str()),
            Some("http://localhost:11434/v1")
        );
        let s = load(&[
            ("SKYNET_LLM_PROVIDER", "openai"),
            ("SKYNET_LLM_BASE_URL", "http://127.0.0.1:8000/v1"),
        ])
        .expect("a local OpenAI-compatible server (vLLM, llama.cpp) needs no key");
        assert!(s.llm.as_ref().is_some_and(|l| l.api_key.is_none()));
        assert!(
            load(&[("SKYNET_LLM_PROVIDER", "openai")]).is_err(),
            "api.openai.com does"
        );
        assert!(load(&[]).expect("default").llm.is_none());
    }

    #[tokio::test]
    async fn the_llm_planner_without_a_model_is_a_config_error() {
        let home = tempfile::tempdir().expect("tempdir");
        let s = Settings::load_with(Some(home.path().into()), env(&[("SKYNET_PLANNER", "llm")]))
            .expect("load");
        let e = s.build().await.expect_err("no model");
        assert!(
            matches!(&e, Error::Config(m) if m.contains("SKYNET_LLM_PROVIDER")),
            "{e}"
        );
    }

    #[test]
    fn docker_and_ssh_are_configured_by_environment() {
        let home = tempfile::tempdir().expect("tempdir");
        let s = Settings::load_with(Some(home.path().into()), env(&[])).expect("load");
        assert!(s.docker.is_none() && s.ssh.is_none());
        assert_eq!(s.sandbox, SandboxMode::Auto);
        let s = Settings::load_with(
            Some(home.path().into()),
            env(&[
                ("SKYNET_DOCKER_IMAGE", "busybox:1"),
                ("SKYNET_DOCKER_MEMORY", "512m"),
                ("SKYNET_DOCKER_CPUS", "0.5"),
                ("SKYNET_SSH_HOST", "build1"),
                ("SKYNET_SSH_USER", "ci"),
                ("SKYNET_SSH_KEY", "/keys/id"),
                ("SKYNET_SSH_PORT", "2222"),
                ("HOME", "/home/me"),
                ("SKYNET_SANDBOX", "require"),
            ]),
        )
        .expect("load");
        let docker = s.docker.expect("docker");
        assert_eq!(
            (docker.image.as_str(), docker.memory_bytes, docker.cpus),
            ("busybox:1", 512 << 20, 0.5)
        );
        let ssh = s.ssh.expect("ssh");
        assert_eq!(
            (ssh.host.as_str(), ssh.port, ssh.user.as_str()),
            ("build1", 2222, "ci")
        );
        assert_eq!(ssh.known_hosts, PathBuf::from("/home/me/.ssh/known_hosts"));
        assert_eq!(s.sandbox, SandboxMode::Require);
        for (k, v) in [
            ("SKYNET_DOCKER_MEMORY", "lots"),
            ("SKYNET_SANDBOX", "maybe"),
        ] {
            let e = Settings::load_with(
                Some(home.path().into()),
                env(&[("SKYNET_DOCKER_IMAGE", "x"), (k, v)]),
            );
            assert!(matches!(e, Err(Error::Config(_))), "{k}={v}");
        }
        let e = Settings::load_with(
            Some(home.path().into()),
            env(&[("SKYNET_SSH_HOST", "h"), ("SKYNET_SSH_USER", "u")]),
        );
        assert!(matches!(e, Err(Error::Config(m)) if m.contains("SKYNET_SSH_KEY")));
    }

    #[test]
    fn scheduler_candidates_and_weights_from_file_and_environment() {
        let home = tempfile::tempdir().expect("tempdir");
        let load =
            |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
        let s = load(&[]).expect("defaults");
        assert!(s.providers.is_empty());
        assert!(
            load(&[("SKYNET_PROVIDERS", " ")])
                .expect("blank")
                .providers
                .is_empty()
        );
        assert_eq!(s.scheduler_weights, Weights::default());
        let s = load(&[
            ("SKYNET_PROVIDERS", "mock, local"),
            ("SKYNET_SCHEDULER_WEIGHTS", "1,1,1,1,0"),
        ])
        .expect("load");
        assert_eq!(s.providers, ["mock", "local"]);
        assert_eq!(s.scheduler_weights.as_array(), [1.0, 1.0, 1.0, 1.0, 0.0]);
        for (pairs, says) in [
            (
                &[("SKYNET_PROVIDERS", "local,kubernetes")][..],
                "unknown provider \"kubernetes\"",
            ),
            (
                &[("SKYNET_PROVIDERS", "local,docker")][..],
                "SKYNET_DOCKER_IMAGE",
            ),
            (&[("SKYNET_PROVIDERS", "ssh")][..], "SKYNET_SSH_HOST"),
            (
                &[("SKYNET_PROVIDERS", "local,chathan")][..],
                "OPENCLAW_GATEWAY_URL",
            ),
            (
                &[
                    ("SKYNET_PROVIDERS", "openclaw,gateway"),
                    ("OPENCLAW_GATEWAY_URL", "http://10.0.0.1:7070"),
                    ("OPENCLAW_GATEWAY_TOKEN", "t"),
                ][..],
                "gateway is listed twice",
            ),
            (
                &[("SKYNET_PROVIDERS", "local,,mock")][..],
                "empty provider name",
            ),
            (&[("SKYNET_PROVIDERS", "local,local")][..], "listed twice"),
            (
                &[("SKYNET_SCHEDULER_WEIGHTS", "30,25,x,15,5")][..],
                "SKYNET_SCHEDULER_WEIGHTS",
            ),
        ] {
            let e = load(pairs).expect_err(says);
            assert!(
                matches!(&e, Error::Config(m) if m.contains(says)),
                "{says}: {e}"
            );
        }
        std::fs::write(
            home.path().join("skynet.toml"),
            "providers = [\"local\", \"mock\"]\n[scheduler]\nweights = { health = 50, latency = 0 }\n",
        )
        .expect("write");
        let s = load(&[]).expect("file");
        assert_eq!(s.providers, ["local", "mock"]);
        assert_eq!(
            s.scheduler_weights.as_array(),
            [50.0, 25.0, 25.0, 15.0, 0.0]
        );
        std::fs::write(
            home.path().join("skynet.toml"),
            "[scheduler]\nweights = { health = -1 }\n",
        )
        .expect("write");
        let e = load(&[]).expect_err("negative");
        assert!(
            matches!(&e, Error::Config(m) if m.contains("[scheduler] weights")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_gateway_is_registered_by_url_and_its_aliases_resolve() {
        let home = tempfile::tempdir().expect("tempdir");
        let missing = Settings::load_with(
            Some(home.path().into()),
            env(&[("OPENCLAW_GATEWAY_URL", "http://10.0.0.2:7000")]),
        );
        assert!(matches!(missing, Err(Error::Config(m)) if m.contains("OPENCLAW_GATEWAY_TOKEN")));
        let s = Settings::load_with(
            Some(home.path().into()),
            env(&[
                ("OPENCLAW_GATEWAY_URL", "http://10.0.0.2:7000"),
                ("OPENCLAW_GATEWAY_TOKEN", " gw-token-123 \n"),
                ("SKYNET_PROVIDER", "openclaw"),
            ]),
        )
        .expect("settings");
        let gw = s.gateway.clone().expect("gateway");
        assert_eq!(gw.token.expose(), "gw-token-123");
        assert!(!format!("{s:?}").contains("gw-token-123"));
        let engine = s.build().await.expect("engine");
        assert!(engine.provider_names().contains(&"gateway".to_string()));
    }

    #[tokio::test]
    async fn configured_providers_are_registered_by_name() {
        let home = tempfile::tempdir().expect("tempdir");
        let s = Settings::load_with(
            Some(home.path().into()),
            env(&[
                ("SKYNET_DOCKER_IMAGE", "busybox:1"),
                ("SKYNET_SSH_HOST", "build1"),
                ("SKYNET_SSH_USER", "ci"),
                ("SKYNET_SSH_KEY", "/keys/id"),
                ("SKYNET_SSH_KNOWN_HOSTS", "/keys/known_hosts"),
                ("SKYNET_PROVIDER", "docker"),
                ("SKYNET_DATABASE_URL", "sqlite::memory:"),
            ]),
        )
        .expect("load");
        let engine = s.build().await.expect("build");
        assert_eq!(engine.provider_names(), ["docker", "local", "mock", "ssh"]);
    }
}
