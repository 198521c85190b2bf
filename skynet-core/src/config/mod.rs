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
//! | separation of duties for remote callers (HTTP, chat): nobody approves their own principal's job but an admin (default true) | `separation_of_duties` | `SKYNET_SEPARATION_OF_DUTIES` |
//! | lease / heartbeat / poll | `[worker] lease`, `heartbeat`, `poll_interval` | `SKYNET_LEASE`, `SKYNET_HEARTBEAT`, `SKYNET_POLL_INTERVAL` |
//! | attempts | `[worker] max_attempts` | `SKYNET_MAX_ATTEMPTS` |
//! | a worker silent this long is offline (default 10 s) | `[worker] offline_after` | `SKYNET_WORKER_OFFLINE_AFTER` |
//! | worker id (`skynet worker`; default host-pid-random) | (none) | `SKYNET_WORKER_ID` |
//! | timeouts (the levels of [`crate::timeouts`]; each a duration or `off`): the job's whole limit (default none), every step's (default none: the action's or provider's default applies) | `[limits] job_timeout`, `step_timeout` | `SKYNET_JOB_TIMEOUT`, `SKYNET_STEP_TIMEOUT` |
//! | READ_ONLY step cap unless the request sets a step budget; a command's own timeout stays under it (default 2 min) | `[limits] read_only_step_timeout` | `SKYNET_READ_ONLY_STEP_TIMEOUT` |
//! | provider defaults (local 60 s, docker 5 min, ssh 2 min, gateway 5 min) | `[limits.provider_timeout] local = "60s"`, `docker`, `ssh`, `gateway` | `SKYNET_LOCAL_TIMEOUT`, `SKYNET_DOCKER_TIMEOUT`, `SKYNET_SSH_TIMEOUT`, `SKYNET_GATEWAY_TIMEOUT` |
//! | action defaults over the catalog's (`run_tests`, `build_project` 30 min; `package` 15 min; `git_push`, `git_pull`, `git_fetch` 10 min) | `[limits.action_timeout] run_tests = "1h"` | `SKYNET_ACTION_TIMEOUTS` (`run_tests=1h,build_project=off`; replaces the table) |
//! | HTTP servers: open connections (all / per address), header (and idle keep-alive) and body deadlines, failed authentications per address per window | `[http] max_connections`, `max_per_address`, `header_timeout`, `body_timeout`, `failed_auth_limit`, `failed_auth_window` | `SKYNET_HTTP_MAX_CONNECTIONS` (1024), `SKYNET_HTTP_MAX_PER_ADDRESS` (64), `SKYNET_HTTP_HEADER_TIMEOUT` (30s), `SKYNET_HTTP_BODY_TIMEOUT` (30s), `SKYNET_HTTP_FAILED_AUTH_LIMIT` (20), `SKYNET_HTTP_FAILED_AUTH_WINDOW` (60s) |
//! | HTTP: browser origins allowed across origins (CORS; default none, so off); exact `scheme://host[:port]`, or `*` alone | `[http] cors_origins = ["https://app.example.com"]` | `SKYNET_HTTP_CORS_ORIGINS` (comma list) |
//! | extra secret patterns (regular expressions) for output, errors, plans | `[redact] patterns = ["..."]` | `SKYNET_REDACT_PATTERNS` (one per line) |
//! | CPU time per process of a READ_ONLY local step (default 60 s; `off`) | `[limits] read_only_cpu` | `SKYNET_READ_ONLY_CPU` |
//! | how long a plan awaiting approval may be approved (default 24 h) | `[limits] approval_ttl` | `SKYNET_APPROVAL_TTL` |
//! | memories kept per principal (default none; beyond it the least important unpinned go) | `[limits] memory_max` (a number or `"off"`) | `SKYNET_MEMORY_MAX` |
//! | Telegram front-end (`skynet telegram`): token, Bot API URL, users and roles (`viewer`, `approver`, `admin`), group chats, personality, job root | `[telegram] token_file`, `api_url`, `users = [{ id = 123, role = "admin" }]`, `allow_groups`, `personality_file`, `root` | `TELEGRAM_BOT_TOKEN` or `TELEGRAM_BOT_TOKEN_FILE`, `TELEGRAM_API_URL`, `TELEGRAM_ALLOWED_USER_ID` (an admin), `TELEGRAM_USERS` (`123:viewer,456:approver`), `TELEGRAM_ALLOW_GROUPS`, `TELEGRAM_PERSONALITY_FILE`, `TELEGRAM_ROOT`; webhook mode behind `skynet serve`: `[telegram] webhook_url` / `TELEGRAM_WEBHOOK_URL` with `TELEGRAM_WEBHOOK_SECRET` |
//! | artifacts: the local store's directory, the cap per file and per job (a file or job over it is skipped) | `[artifacts] dir`, `max_bytes`, `max_job_bytes` | `SKYNET_ARTIFACT_DIR` (default `$SKYNET_HOME/artifacts`), `SKYNET_ARTIFACT_MAX_BYTES` (default `1g`), `SKYNET_ARTIFACT_MAX_JOB_BYTES` (default `4g`) |
//! | retention (`skynet gc`, run every `interval` by `serve` and `worker`): log lines older than `logs` (default 30 days), the global event log's prefix older than `events` (default 30 days; an anchor row marks the gap), artifact records older than `artifacts_age` or past `artifacts_max_bytes` in all (oldest first), jobs finished longer ago than `jobs` (each leaves a tombstone); each `off` to keep; unreferenced objects and unfinished uploads younger than `grace` are left alone | `[retention] logs`, `events`, `artifacts_age`, `artifacts_max_bytes`, `jobs`, `grace`, `interval` | `SKYNET_RETENTION_LOGS` (default `30d`), `SKYNET_RETENTION_EVENTS` (default `30d`), `SKYNET_RETENTION_ARTIFACTS_AGE` (default `off`), `SKYNET_RETENTION_ARTIFACTS_MAX_BYTES` (default `off`), `SKYNET_RETENTION_JOBS` (default `off`), `SKYNET_GC_GRACE` (default `1h`), `SKYNET_GC_INTERVAL` (default `1h`, or `off`) |
//! | artifacts in an S3-compatible bucket instead (the `s3` feature): bucket, key prefix, endpoint, region, plain http off loopback, multipart part size; credentials from the environment only | `[artifacts] s3_bucket`, `s3_prefix`, `s3_endpoint`, `s3_region`, `s3_allow_http`, `s3_part_size` | `SKYNET_ARTIFACT_S3_BUCKET` (or the original `S3_BUCKET`), `SKYNET_ARTIFACT_S3_PREFIX`, `SKYNET_ARTIFACT_S3_ENDPOINT` (else `AWS_ENDPOINT_URL`), `SKYNET_ARTIFACT_S3_REGION` (else `AWS_REGION`, `AWS_DEFAULT_REGION`, `us-east-1`), `SKYNET_ARTIFACT_S3_ALLOW_HTTP`, `SKYNET_ARTIFACT_S3_PART_SIZE` (default `8m`, at least `5m`); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` |
//! | output cap | `[limits] max_output_bytes` | `SKYNET_MAX_OUTPUT_BYTES` |
//! | planner (`rules`, `llm`, `auto`) | `planner` | `SKYNET_PLANNER` (default `auto`) |
//! | LLM provider / model / base URL | `[llm] provider`, `model`, `base_url` | `SKYNET_LLM_PROVIDER`, `SKYNET_LLM_MODEL`, `SKYNET_LLM_BASE_URL` |
//! | LLM key (environment only; one vendor's key alone selects that vendor; without its key a model is left out of `auto` with a notice) | (none) | `OPENAI_API_KEY`, `GOOGLE_AI_API_KEY`/`GEMINI_API_KEY`, `ANTHROPIC_API_KEY`, or `SKYNET_LLM_API_KEY` |
//! | LLM limits | `[llm] timeout`, `max_retries`, `max_response_bytes`, `daily_token_budget` | `SKYNET_LLM_TIMEOUT`, `SKYNET_LLM_MAX_RETRIES`, `SKYNET_LLM_MAX_RESPONSE_BYTES`, `SKYNET_LLM_DAILY_TOKENS` |
//! | local sandbox | `[sandbox] mode` (`auto`, `require`, `landlock`, `off`), `writable`, `readable` (the read scope beyond the root; default for local use /etc, /proc, /sys, /var/log, /run less secrets, none for `serve`) | `SKYNET_SANDBOX`, `SKYNET_SANDBOX_WRITABLE`, `SKYNET_SANDBOX_READABLE` (`:`-separated) |
//! | network probes (DNS lookup, ping, HTTP status; [`crate::probe`]): ranges, addresses or host names they may reach besides public addresses (default none: loopback, link-local, private ranges closed) | `[network] allow = ["10.0.0.0/8", "status.internal"]` | `SKYNET_NETWORK_ALLOW` (comma list) |
//! | the host sandbox profile: approved ADMIN service control, kill and package steps run on the host, outside the sandbox (default false: refused when planned) | `[sandbox] host_profile` | `SKYNET_SANDBOX_HOST_PROFILE` |
//! | Docker provider (registered when an image is set; `host` is also the daemon the `containers` probe reads) | `[docker] image`, `host`, `network`, `memory`, `cpus`, `pids` | `SKYNET_DOCKER_IMAGE`, `SKYNET_DOCKER_HOST`, `SKYNET_DOCKER_NETWORK`, `SKYNET_DOCKER_MEMORY` (`512m`, `2g`), `SKYNET_DOCKER_CPUS`, `SKYNET_DOCKER_PIDS` |
//! | memory embedder: `hash` (offline hashing, the default), `minilm` (the local all-MiniLM-L6-v2 model, Cargo feature `minilm`; chosen by its model directory alone too), `openai` (any OpenAI-compatible `/embeddings`: OpenAI, Ollama, vLLM) or `gemini` (`embedContent`), both Cargo feature `llm` | `[embedder] kind`, `model_dir` | `SKYNET_EMBEDDER`, `SKYNET_EMBED_MODEL_DIR` (holds `model.safetensors`, `tokenizer.json`, `config.json`) |
//! | hosted embedder (`openai`, `gemini`): model, API base, vector dimension (part of the stored model id: changing it asks for `skynet memory reindex`); time limit, retries and body cap are `[llm]`'s | `[embedder] model`, `base_url`, `dimension` | `SKYNET_EMBED_MODEL` (default `text-embedding-3-small` / `gemini-embedding-001`), `SKYNET_EMBED_BASE_URL` (default `https://api.openai.com/v1` / `https://generativelanguage.googleapis.com/v1beta`), `SKYNET_EMBED_DIMENSION` (default 1536 for `text-embedding-3-small` and `-ada-002`, 3072 for `-3-large`, 768 for Gemini, which is asked for it; required for other OpenAI-compatible models) |
//! | hosted embedder key (environment only; required for Gemini and for OpenAI's own API, optional for other OpenAI-compatible servers) | (none) | `SKYNET_EMBED_API_KEY`, else `OPENAI_API_KEY` / `GOOGLE_AI_API_KEY`, `GEMINI_API_KEY` |
//! | health checks: round interval, per-check timeout | `[sentinel] interval`, `check_timeout` | `SKYNET_SENTINEL_INTERVAL` (default `30s`), `SKYNET_SENTINEL_CHECK_TIMEOUT` (default `10s`) |
//! | queue age alerts (warning / critical) | `[sentinel] queue_age_warning`, `queue_age_critical` | `SKYNET_SENTINEL_QUEUE_AGE_WARNING` (default `5m`), `SKYNET_SENTINEL_QUEUE_AGE_CRITICAL` (default `30m`) |
//! | initiative engine: on/off (default off), round interval, budgets (jobs per hour, per day, waiting for approval at once) | `[initiative] enabled`, `interval`, `per_hour`, `per_day`, `max_waiting` | `SKYNET_INITIATIVE` (`on`/`off`), `SKYNET_INITIATIVE_INTERVAL` (default `5m`), `SKYNET_INITIATIVE_PER_HOUR` (5), `SKYNET_INITIATIVE_PER_DAY` (20), `SKYNET_INITIATIVE_MAX_WAITING` (3) |
//! | webhooks (`skynet webhook`): closed addresses they may reach (default none: loopback, link-local and metadata, private ranges closed), time per request, requests at once (in all, and to one endpoint), attempts before a dead letter, backoff (doubling, equal jitter) and its cap | `[webhooks] allow = ["127.0.0.1", "hooks.internal"]`, `timeout`, `concurrency`, `per_endpoint`, `max_attempts`, `backoff`, `max_backoff` | `SKYNET_WEBHOOK_ALLOW` (comma list), `SKYNET_WEBHOOK_TIMEOUT` (15s), `SKYNET_WEBHOOK_CONCURRENCY` (16), `SKYNET_WEBHOOK_PER_ENDPOINT` (8), `SKYNET_WEBHOOK_MAX_ATTEMPTS` (8), `SKYNET_WEBHOOK_BACKOFF` (5s), `SKYNET_WEBHOOK_MAX_BACKOFF` (1h) |
//! | alert webhook (JSON POST), its minimum severity, reminders | `[sentinel] webhook`, `min_severity`, `renotify` | `SKYNET_ALERT_WEBHOOK`, `SKYNET_ALERT_MIN_SEVERITY` (`info`, `warning` (default), `critical`), `SKYNET_ALERT_RENOTIFY` (default: never) |
//! | gateway provider (registered when a URL is set, or with protocol `original`; `chathan`, `openclaw` are aliases); `protocol`: `skynet` (SKYNET's agent, the default; needs a URL and a token) or `original` (the original gateway protocol; URL default `http://127.0.0.1:8766`, token optional); `trusted`: READ_ONLY work on an `original` gateway runs unasked (default false) | `[gateway] url`, `protocol`, `trusted`, `token_file`, `ca` | `OPENCLAW_GATEWAY_URL`, `OPENCLAW_GATEWAY_PROTOCOL`, `OPENCLAW_GATEWAY_TRUSTED`, `OPENCLAW_GATEWAY_TOKEN` or `OPENCLAW_GATEWAY_TOKEN_FILE`, `OPENCLAW_GATEWAY_CA` (extra CA for `https://`) |
//! | SSH provider (registered when a host is set; the host may be an alias in `~/.ssh/config`, whose `HostName`, `User`, `Port`, `IdentityFile` apply unless set here); without a key, the ssh-agent (`SSH_AUTH_SOCK`) and then the alias's `IdentityFile`s or `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` log in; `config`: another file, or `none`; `confined`: the operator vouches the remote account confines READ_ONLY work, which then runs unasked (default false) | `[ssh] host`, `port`, `user`, `key`, `known_hosts`, `workdir`, `confined`, `config` | `SKYNET_SSH_HOST`, `SKYNET_SSH_PORT`, `SKYNET_SSH_USER`, `SKYNET_SSH_KEY`, `SKYNET_SSH_KNOWN_HOSTS` (default `~/.ssh/known_hosts`), `SKYNET_SSH_WORKDIR`, `SKYNET_SSH_CONFINED`, `SKYNET_SSH_CONFIG` (default `~/.ssh/config`) |
//!
//! Durations are written like `30s`, `500ms`, `10m`.
//!
//! The original system's names are read as aliases, each leaving a notice
//! that names the new one (see `aliases.rs`): `SKYNET_EXECUTION_PROVIDER`,
//! `SKYNET_MONITORED_PROVIDERS`, `SKYNET_DB_PATH` (a file path, read as a
//! `sqlite://` URL), `SKYNET_SSH_USERNAME`, `SKYNET_SSH_KEY_PATH`,
//! `SKYNET_LOG_LEVEL`, `AI_PROVIDER`, `HEARTBEAT_TIMEOUT_SECONDS` and
//! `JOB_TIMEOUT_SECONDS` (whole seconds); `SKYNET_ALLOWED_PATHS` adds read
//! paths only, never write paths; `REDIS_URL` and `CELERY_*` are noticed
//! as ignored.
//!
//! Each section is its own module with its file keys, its variables and
//! its checks: `worker` for the engine's tunables, `llm` for the
//! planner and model, `docker`, `ssh` and `gateway` for the providers
//! (a provider left out of this build by its Cargo feature refuses to be
//! configured, naming the feature), `providers` for the default provider
//! and the scheduler's candidates; the sentinel's section lives with the
//! sentinel ([`crate::sentinel::config`]).

mod aliases;
mod artifacts;
mod docker;
mod embedder;
mod gateway;
mod http;
mod layers;
mod llm;
mod network;
mod providers;
mod retention;
mod ssh;
#[cfg(feature = "ssh")]
mod ssh_config;
mod telegram;
mod timeouts;
pub(crate) mod worker;

pub use aliases::env_or_alias;
pub use embedder::{EmbedderChoice, RemoteEmbedding};
pub use http::HttpSettings;
pub use telegram::{DEFAULT_TELEGRAM_API_URL, TelegramRole, TelegramSettings};

use crate::engine::{EngineConfig, Skynet, SkynetBuilder};
use crate::llm::LlmSettings;
use crate::llm::settings::LlmFileSection;
use crate::planner::PlannerChoice;
use crate::policy::Policy;
use crate::provider::LocalProvider;
use crate::provider::local::SandboxMode;
use crate::scheduler::Weights;
use crate::sentinel::SentinelConfig;
use crate::sentinel::config::SentinelSection;
use crate::{Error, Result};
use layers::Layers;
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
    /// The HTTP servers' connection limits and deadlines.
    pub http: HttpSettings,
    /// Extra secret patterns (regular expressions) every output is scanned for.
    pub redact_patterns: Vec<String>,
    /// CPU time each process of a READ_ONLY local step may use (`None`:
    /// no limit).
    pub read_only_cpu: Option<Duration>,
    /// Remote front-ends refuse an approval by the job's own principal
    /// unless it is an admin (default true).
    pub separation_of_duties: bool,
    /// Which planner makes plans.
    pub planner: PlannerChoice,
    /// The language model, if one is configured.
    pub llm: Option<LlmSettings>,
    /// How the `local` provider confines steps (default `auto`).
    pub sandbox: SandboxMode,
    /// Extra directories sandboxed local steps may write.
    pub sandbox_writable: Vec<PathBuf>,
    /// The read scope beyond the root: directories steps may read (the
    /// policy judges every argument against it; secrets stay closed).
    pub sandbox_readable: Vec<PathBuf>,
    /// Whether the read scope was configured (else it is the local
    /// default, [`crate::policy::INSPECT_READ_SCOPE`]).
    pub sandbox_readable_configured: bool,
    /// Approved ADMIN steps that change the host (service control, kill,
    /// packages) run outside the sandbox under the host profile (default
    /// false: such steps are refused when planned).
    pub sandbox_host_profile: bool,
    /// The `docker` provider, when an image is configured.
    #[cfg(feature = "docker")]
    pub docker: Option<crate::provider::DockerConfig>,
    /// The `ssh` provider, when a host is configured.
    #[cfg(feature = "ssh")]
    pub ssh: Option<crate::provider::SshConfig>,
    /// Health checks and alerts.
    pub sentinel: SentinelConfig,
    /// The initiative engine (off by default).
    pub initiative: crate::initiative::InitiativeConfig,
    /// Webhook delivery: what it may reach, timeouts, attempts.
    pub webhooks: crate::events::webhooks::WebhookConfig,
    /// The `gateway` provider, when `OPENCLAW_GATEWAY_URL` is set.
    #[cfg(feature = "gateway")]
    pub gateway: Option<crate::provider::GatewayConfig>,
    /// The Telegram front-end.
    pub telegram: TelegramSettings,
    /// Which embedder makes memories' vectors (default: the offline
    /// hashing one).
    pub embedder: EmbedderChoice,
    /// Where collected artifacts are kept and their caps.
    pub artifacts: crate::artifact::ArtifactSettings,
    /// Extra read paths from the original `SKYNET_ALLOWED_PATHS`: read
    /// scope only (never the write scope), kept for remote callers too.
    pub read_paths_extra: Vec<PathBuf>,
    /// Providers whose settings are broken, and the error: left out of the
    /// engine; a job that asks for one is refused with it.
    pub unusable: std::collections::BTreeMap<String, String>,
    /// One line for each setting that needs a word (an original
    /// environment name read as its new one, a name that no longer
    /// applies, a model left out); front-ends print them once at start.
    pub notices: Vec<String>,
}

/// `skynet.toml`: every section, whichever providers this build has.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    policy_file: Option<PathBuf>,
    provider: Option<String>,
    providers: Option<Vec<String>>,
    auto_approve_read_only: Option<bool>,
    separation_of_duties: Option<bool>,
    planner: Option<String>,
    #[serde(default)]
    llm: LlmFileSection,
    #[serde(default)]
    worker: worker::WorkerSection,
    #[serde(default)]
    limits: worker::LimitsSection,
    #[serde(default)]
    sandbox: SandboxSection,
    #[serde(default)]
    docker: docker::DockerSection,
    #[serde(default)]
    network: network::NetworkSection,
    #[serde(default)]
    ssh: ssh::SshSection,
    #[serde(default)]
    gateway: gateway::GatewaySection,
    #[serde(default)]
    scheduler: SchedulerSection,
    #[serde(default)]
    sentinel: SentinelSection,
    #[serde(default)]
    initiative: crate::initiative::config::InitiativeSection,
    #[serde(default)]
    webhooks: crate::events::webhooks::config::WebhookSection,
    #[serde(default)]
    http: http::HttpSection,
    #[serde(default)]
    redact: http::RedactSection,
    #[serde(default)]
    telegram: telegram::TelegramSection,
    #[serde(default)]
    artifacts: artifacts::ArtifactsSection,
    #[serde(default)]
    retention: retention::RetentionSection,
    #[serde(default)]
    embedder: embedder::EmbedderSection,
}

/// `[scheduler]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulerSection {
    weights: Option<Weights>,
}

/// `[sandbox]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxSection {
    mode: Option<String>,
    writable: Option<Vec<PathBuf>>,
    readable: Option<Vec<PathBuf>>,
    host_profile: Option<bool>,
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

/// A duration given with a request (a flag, a field), not read from the
/// configuration: as [`parse_duration`], but bad text is
/// [`Error::InvalidInput`], the caller's mistake.
pub fn duration_input(what: &str, text: Option<&str>) -> Result<Option<Duration>> {
    text.map(|t| parse_duration(what, t))
        .transpose()
        .map_err(|e| match e {
            Error::Config(m) => Error::InvalidInput(m),
            other => other,
        })
}

/// A duration, or `off` (`None`: no limit).
pub(crate) fn duration_or_off(what: &str, text: &str) -> Result<Option<Duration>> {
    if text.trim() == "off" {
        return Ok(None);
    }
    parse_duration(what, text).map(Some)
}

impl Settings {
    /// Load settings for `home` (default `SKYNET_HOME`, else `~/.skynet`).
    pub fn load(home: Option<PathBuf>) -> Result<Settings> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect();
        Self::load_named(home, |k| std::env::var(k).ok(), &names)
    }

    /// Like [`Settings::load`] with an explicit environment (for tests).
    pub fn load_with(
        home: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        Self::load_named(home, env, &[])
    }

    /// The load itself; `names` are the variables set (only to notice
    /// original names that no longer apply).
    fn load_named(
        home: Option<PathBuf>,
        raw_env: impl Fn(&str) -> Option<String>,
        names: &[String],
    ) -> Result<Settings> {
        let aliased = aliases::Aliased::new(&raw_env);
        let mut notices = aliased.notices(names.iter().map(String::as_str));
        let env = |k: &str| aliased.get(k);
        let layers = Layers::new(&env);
        let home = match home.or_else(|| env("SKYNET_HOME").map(PathBuf::from)) {
            Some(h) => h,
            None => env("HOME")
                .map(|h| Path::new(&h).join(".skynet"))
                .ok_or_else(|| Error::Config("neither SKYNET_HOME nor HOME is set".into()))?,
        };
        let file = read_file(&home.join("skynet.toml"))?;
        let mut engine = worker::engine_config(
            &layers,
            file.worker,
            &file.limits,
            file.auto_approve_read_only,
        )?;
        let docker_host = layers.pick("SKYNET_DOCKER_HOST", file.docker.host());
        engine.probes = file.network.resolve(&layers, docker_host)?;
        let read_only_cpu = worker::read_only_cpu(&layers, &file.limits)?;
        let http = file.http.resolve(&layers)?;
        let redact_patterns = file.redact.resolve(&layers)?;
        let telegram = file.telegram.resolve(&layers)?;
        let embedder = file.embedder.resolve(&layers, &file.llm)?;
        let separation_of_duties = layers
            .pick("SKYNET_SEPARATION_OF_DUTIES", file.separation_of_duties)
            .map(|v| worker::parse_bool("separation_of_duties", &v))
            .transpose()?
            .unwrap_or(true);
        let planner = llm::planner_choice(&layers, file.planner)?;
        let llm = llm::resolve(&layers, &file.llm, planner, &mut notices)?;
        let read_paths_extra = allowed_paths(&layers)?;
        let sandbox_host_profile = layers
            .pick("SKYNET_SANDBOX_HOST_PROFILE", file.sandbox.host_profile)
            .map(|v| worker::parse_bool("sandbox host_profile", &v))
            .transpose()?
            .unwrap_or(false);
        let (sandbox, sandbox_writable, readable) = sandbox(&layers, file.sandbox)?;
        let sandbox_readable_configured = readable.is_some();
        let sandbox_readable = readable.unwrap_or_else(crate::policy::inspect_read_scope);
        // A provider whose section is broken is left out with a notice: the
        // commands that do not use it still work, and jobs for it are
        // refused with its error (`Settings::unusable`).
        let mut unusable = std::collections::BTreeMap::new();
        let docker = isolate("docker", file.docker.resolve(&layers), &mut unusable)?;
        let ssh = isolate("ssh", file.ssh.resolve(&layers), &mut unusable)?;
        let scheduler_weights = match (env("SKYNET_SCHEDULER_WEIGHTS"), file.scheduler.weights) {
            (Some(v), _) => Weights::parse_list("SKYNET_SCHEDULER_WEIGHTS", &v)?,
            (None, Some(w)) => w.validate("[scheduler] weights in skynet.toml")?,
            (None, None) => Weights::default(),
        };
        let sentinel = SentinelConfig::load(file.sentinel, &layers.picker())?;
        let initiative =
            crate::initiative::InitiativeConfig::load(file.initiative, &layers.picker())?;
        let webhooks =
            crate::events::webhooks::WebhookConfig::load(file.webhooks, &layers.picker())?;
        let gateway = isolate("gateway", file.gateway.resolve(&layers), &mut unusable)?;
        let configured = |name: &str, set: bool| set || unusable.contains_key(name);
        let providers: Vec<String> = providers::candidates(
            &layers,
            file.providers,
            [
                configured("docker", docker.is_some()),
                configured("ssh", ssh.is_some()),
                configured("gateway", gateway.is_some()),
            ],
        )?
        .into_iter()
        .filter(|p| !unusable.contains_key(p))
        .collect();
        for (name, why) in &unusable {
            notices.push(format!(
                "the {name} provider is left out: {why}; commands that do not use it still work"
            ));
        }
        let artifacts = file.artifacts.resolve(&layers, &home)?;
        engine.artifacts = artifacts.limits;
        engine.retention = file.retention.resolve(&layers)?;
        let database_url = layers
            .pick("SKYNET_DATABASE_URL", file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", home.join("skynet.db").display()));
        Ok(Settings {
            database_url,
            policy_file: env("SKYNET_POLICY_FILE")
                .map(PathBuf::from)
                .or(file.policy_file),
            provider: providers::default_provider(&layers, file.provider)?,
            providers,
            scheduler_weights,
            engine,
            http,
            redact_patterns,
            read_only_cpu,
            separation_of_duties,
            planner,
            llm,
            home,
            sandbox,
            sandbox_writable,
            sandbox_readable,
            sandbox_readable_configured,
            sandbox_host_profile,
            #[cfg(feature = "docker")]
            docker,
            #[cfg(feature = "ssh")]
            ssh,
            sentinel,
            initiative,
            webhooks,
            #[cfg(feature = "gateway")]
            gateway,
            telegram,
            embedder,
            artifacts,
            read_paths_extra,
            notices,
            unusable,
        })
    }

    /// The policy these settings name (the built-in rules by default).
    pub fn policy(&self) -> Result<Policy> {
        let policy = match &self.policy_file {
            Some(p) => Policy::load(p)?,
            None => Policy::default(),
        };
        Ok(policy.with_read_paths(
            self.sandbox_readable
                .iter()
                .chain(&self.read_paths_extra)
                .cloned(),
        ))
    }

    /// These settings for a server whose callers are remote (`serve`,
    /// chat front-ends): without a configured read scope, steps read their
    /// root only, not the local default's system directories.
    pub fn for_remote_callers(mut self) -> Settings {
        if !self.sandbox_readable_configured {
            self.sandbox_readable.clear();
        }
        self
    }

    /// Build an engine from these settings (creates the home directory).
    pub async fn build(&self) -> Result<Skynet> {
        self.builder()?.build().await
    }

    /// The artifact store these settings name: the S3-compatible one when
    /// a bucket is set, else the local directory.
    pub fn artifact_store(&self) -> Result<crate::artifact::SharedArtifactStore> {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.artifacts.s3 {
            return Ok(Arc::new(crate::artifact::S3ArtifactStore::new(s3.clone())?));
        }
        Ok(Arc::new(crate::artifact::LocalArtifactStore::new(
            self.artifacts.dir.clone(),
        )))
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
        let (planner, llm) = llm::planners(self)?;
        let mut builder = Skynet::builder();
        if let Some(l) = llm {
            builder = builder.llm(l);
        }
        let keys = self
            .llm
            .iter()
            .filter_map(|l| l.api_key.as_ref())
            .chain(self.embedder.secret())
            .map(|k| k.expose().to_string())
            .chain(gateway::secrets(self))
            .chain(self.telegram.token.iter().map(|t| t.expose().to_string()))
            .chain(
                self.telegram
                    .webhook_secret
                    .iter()
                    .map(|t| t.expose().to_string()),
            );
        let local = LocalProvider::new()
            .with_sandbox(self.sandbox)
            .with_writable(self.sandbox_writable.clone())
            .with_read_only_cpu(self.read_only_cpu)
            .with_host_profile(self.sandbox_host_profile);
        let builder = builder
            .planner(planner)
            .secrets(keys)
            .redact_patterns(self.redact_patterns.clone())
            .database_url(&self.database_url)
            .policy(self.policy()?)
            .provider(Arc::new(local))
            .artifact_store(self.artifact_store()?);
        #[cfg(feature = "docker")]
        let builder = match &self.docker {
            Some(c) => builder.provider(Arc::new(crate::provider::DockerProvider::new(c.clone()))),
            None => builder,
        };
        #[cfg(feature = "ssh")]
        let builder = match &self.ssh {
            Some(c) => builder.provider(Arc::new(crate::provider::SshProvider::new(c.clone()))),
            None => builder,
        };
        let builder = gateway::register(self, builder)?;
        let builder = self
            .unusable
            .iter()
            .fold(builder, |b, (name, why)| b.unusable_provider(name, why));
        Ok(builder
            .default_provider(&self.provider)
            .candidates(self.providers.clone())
            .scheduler_weights(self.scheduler_weights)
            .config(self.engine.clone())
            .sentinel(self.sentinel.clone())
            .initiative(self.initiative.clone())
            .webhooks(self.webhooks.clone())
            .embedder(self.embedder.build()?))
    }
}

/// `skynet.toml` in the home directory; a missing file is an empty one.
fn read_file(path: &Path) -> Result<FileSettings> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileSettings::default()),
        Err(e) => Err(Error::config_file(path.display().to_string(), e)),
    }
}

/// The local sandbox: its mode (default `auto`) and extra writable
/// directories (`SKYNET_SANDBOX_WRITABLE` is `:`-separated).
fn sandbox(
    layers: &Layers,
    file: SandboxSection,
) -> Result<(SandboxMode, Vec<PathBuf>, Option<Vec<PathBuf>>)> {
    let mode = match layers.pick("SKYNET_SANDBOX", file.mode) {
        Some(v) => SandboxMode::parse(&v).ok_or_else(|| {
            Error::Config(format!(
                "sandbox: {v:?} is not one of auto, require, landlock, off"
            ))
        })?,
        None => SandboxMode::Auto,
    };
    let writable = match layers.var("SKYNET_SANDBOX_WRITABLE") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => file.writable.unwrap_or_default(),
    };
    let readable: Vec<PathBuf> = match layers.var("SKYNET_SANDBOX_READABLE") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => match file.readable {
            Some(list) => list,
            // Not configured: what operators inspect, for local use
            // (remote callers get none: `Settings::for_remote_callers`).
            None => return Ok((mode, writable, None)),
        },
    };
    // The policy compares resolved paths: each entry must exist.
    let readable = readable
        .into_iter()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| {
            p.canonicalize().map_err(|e| {
                Error::Config(format!(
                    "sandbox readable path {} is not usable ({e}); name an existing directory",
                    p.display()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((mode, writable, Some(readable)))
}

/// For tests of one provider's section: a load whose provider was left
/// out comes back as that provider's configuration error.
#[cfg(all(test, any(feature = "ssh", feature = "gateway")))]
pub(crate) fn strict(loaded: Result<Settings>) -> Result<Settings> {
    let s = loaded?;
    match s.unusable.values().next() {
        Some(why) => Err(Error::Config(why.clone())),
        None => Ok(s),
    }
}

/// A provider section's result: a broken one is recorded in `unusable`
/// (by its message) instead of failing the whole load.
fn isolate<T>(
    name: &str,
    resolved: Result<Option<T>>,
    unusable: &mut std::collections::BTreeMap<String, String>,
) -> Result<Option<T>> {
    match resolved {
        Ok(v) => Ok(v),
        Err(Error::Config(why)) => {
            unusable.insert(name.to_string(), why);
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// The original `SKYNET_ALLOWED_PATHS` (comma- or `:`-separated): extra
/// read paths, each an existing directory.
fn allowed_paths(layers: &Layers) -> Result<Vec<PathBuf>> {
    let Some(list) = layers.var("SKYNET_ALLOWED_PATHS") else {
        return Ok(Vec::new());
    };
    list.split([',', ':'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            Path::new(p).canonicalize().map_err(|e| {
                Error::Config(format!(
                    "SKYNET_ALLOWED_PATHS entry {p} is not usable ({e}); name an existing directory"
                ))
            })
        })
        .collect()
}

/// In a build without `feature`: an error naming it when `setting` (what
/// `what` names) is set, so nothing configured is silently ignored.
#[cfg(not(all(feature = "docker", feature = "ssh", feature = "gateway")))]
fn not_built(
    setting: Option<String>,
    what: &str,
    feature: &str,
) -> Result<Option<std::convert::Infallible>> {
    match setting {
        Some(_) => Err(crate::provider::feature_missing(
            &format!("{what} is set"),
            feature,
        )),
        None => Ok(None),
    }
}

/// A number, naming the setting on error.
pub(crate) fn parse_number<T: std::str::FromStr>(what: &str, text: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| Error::Config(format!("{what}: {text:?} is not a number")))
}

#[cfg(test)]
mod tests;
