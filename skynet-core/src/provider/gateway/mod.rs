//! The gateway provider: runs each step on a remote gateway over
//! HTTP(S), in one of two protocols ([`GatewayProtocol`]):
//!
//! - SKYNET's own agent protocol ([`protocol`]), spoken by `skynet agent`,
//!   which runs steps with its own sandboxed
//!   [`LocalProvider`](super::LocalProvider) inside its root and judges
//!   every step with its own policy. This side streams the step's log
//!   lines back with long-polls, forwards cancel and timeout, and turns a
//!   lost link or a restarted agent into a clear provider error (the
//!   step's outcome is then unknown) instead of a hang.
//! - The original gateway protocol ([`original`], bodies in
//!   [`original::wire`]): catalog actions with their parameters and the
//!   argv SKYNET judged, status polled. Its gateway runs actions SKYNET's
//!   policy never saw, so READ_ONLY work on it waits for a human unless
//!   the operator marks it trusted ([`GatewayConfig::trusted`]).
//!
//! Registered as `gateway`; `chathan` and `openclaw` name it too
//! (see [`super::canonical_name`]).

pub mod agent;
mod client;
pub mod original;
mod outputs;
pub mod protocol;

use super::local::{effective_timeout, output};
use super::{Capabilities, ExecContext, ExitKind, Health, Output, OutputLine, Provider, Stream};
use crate::llm::ApiKey;
use crate::plan::Command;
use crate::{Error, Result};
use async_trait::async_trait;
use client::{AgentClient, CallError};
use protocol::{ExecuteRequest, RemoteStep, StatusAnswer};
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Where the original gateway listens unless a URL is set.
pub const ORIGINAL_DEFAULT_URL: &str = "http://127.0.0.1:8766";

/// Which protocol the gateway speaks (`OPENCLAW_GATEWAY_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatewayProtocol {
    /// SKYNET's own agent protocol (`skynet agent`), the default.
    #[default]
    Skynet,
    /// The original gateway protocol: actions, not argv.
    Original,
}

impl GatewayProtocol {
    /// `skynet` or `original`.
    pub fn parse(text: &str) -> Option<GatewayProtocol> {
        match text.trim().to_ascii_lowercase().as_str() {
            "skynet" => Some(GatewayProtocol::Skynet),
            "original" => Some(GatewayProtocol::Original),
            _ => None,
        }
    }

    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayProtocol::Skynet => "skynet",
            GatewayProtocol::Original => "original",
        }
    }
}

/// Where the gateway is and how patiently to talk to it.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URL of the gateway (`OPENCLAW_GATEWAY_URL`), `http://` or
    /// `https://`.
    pub url: String,
    /// Bearer token (`OPENCLAW_GATEWAY_TOKEN` or the file named by
    /// `OPENCLAW_GATEWAY_TOKEN_FILE`). Never shown by `Debug`. Required by
    /// SKYNET's agent; the original protocol sends it only when set.
    pub token: ApiKey,
    /// The protocol it speaks.
    pub protocol: GatewayProtocol,
    /// The operator trusts this gateway to run READ_ONLY work as judged
    /// (`OPENCLAW_GATEWAY_TRUSTED`, default false). Only the original
    /// protocol needs it: SKYNET's agent judges every step itself.
    pub trusted: bool,
    /// Between status calls in the original protocol (which has no
    /// long-poll); default 250 ms.
    pub poll_interval: Duration,
    /// Extra CA certificate (PEM) to trust for an `https://` agent
    /// (`OPENCLAW_GATEWAY_CA`).
    pub ca_file: Option<PathBuf>,
    /// Limit on connecting and on each call beyond its long-poll wait.
    pub request_timeout: Duration,
    /// How long one status call waits at the agent for news.
    pub poll_wait: Duration,
    /// How long calls may keep failing before the agent is declared
    /// unreachable and the step fails (default 3 × request timeout).
    pub unreachable_grace: Duration,
    /// Steps run at once.
    pub max_concurrency: usize,
}

impl GatewayConfig {
    /// Defaults: 5 s request timeout, 2 s long-polls, 15 s grace.
    pub fn new(url: impl Into<String>, token: ApiKey) -> GatewayConfig {
        let request_timeout = Duration::from_secs(5);
        GatewayConfig {
            url: url.into(),
            token,
            protocol: GatewayProtocol::Skynet,
            trusted: false,
            poll_interval: Duration::from_millis(250),
            ca_file: None,
            request_timeout,
            poll_wait: Duration::from_secs(2),
            unreachable_grace: request_timeout * 3,
            max_concurrency: 8,
        }
    }
}

/// Runs steps on one remote execution agent.
#[derive(Debug)]
pub struct GatewayProvider {
    config: GatewayConfig,
    client: AgentClient,
    /// Capabilities the agent last reported.
    capabilities: Mutex<Option<Capabilities>>,
    /// The agent's ids of recent steps, to fetch their outputs by.
    recent: outputs::RecentRuns,
}

impl GatewayProvider {
    /// A provider for the agent at `config.url`. Fails on a URL that is
    /// not `http(s)://` or an unreadable CA file.
    pub fn new(config: GatewayConfig) -> Result<GatewayProvider> {
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "gateway URL {:?} must start with http:// or https://",
                config.url
            )));
        }
        if config.protocol == GatewayProtocol::Skynet && config.token.expose().trim().is_empty() {
            return Err(Error::Config(
                "gateway token is empty: set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_TOKEN_FILE"
                    .into(),
            ));
        }
        let client = AgentClient::new(&config)?;
        Ok(GatewayProvider {
            config,
            client,
            capabilities: Mutex::new(None),
            recent: outputs::RecentRuns::default(),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// What the far side is called in messages.
    fn far_side(&self) -> &'static str {
        match self.config.protocol {
            GatewayProtocol::Skynet => "agent",
            GatewayProtocol::Original => "gateway",
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Provider {
            provider: "gateway".into(),
            message: format!("{} at {}: {message}", self.far_side(), self.client.url()),
        }
    }

    /// The far side answered `/execute` with an error.
    fn refused(&self, status: StatusCode, detail: String) -> Error {
        match status {
            StatusCode::BAD_REQUEST => Error::InvalidInput(format!(
                "the {} at {} refused the step: {detail}",
                self.far_side(),
                self.client.url()
            )),
            StatusCode::UNAUTHORIZED => self.error(format!(
                "refused the token ({detail}); check OPENCLAW_GATEWAY_TOKEN"
            )),
            _ => self.error(format!("refused the step ({status}): {detail}")),
        }
    }

    fn unreachable(&self, remote_id: &str, why: &str) -> Error {
        self.error(format!(
            "unreachable for {:?} ({why}); step {remote_id} may still be running there: its \
             outcome is unknown",
            self.config.unreachable_grace
        ))
    }
}

/// Read a gateway token from `path`: surrounding whitespace is trimmed;
/// an empty file, or one other users may read, is refused.
pub fn read_token_file(path: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::Config(format!("token file {}: {e}", path.display())))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(Error::Config(format!(
            "token file {} is readable by every user; run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("token file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::Config(format!(
            "token file {} is empty; write the shared token into it",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// The unique id of one attempt of one step at the agent.
fn remote_job_id(ctx: &ExecContext) -> String {
    format!(
        "{}.{}.{:08x}",
        ctx.job_id.as_str(),
        ctx.step,
        rand::random::<u32>()
    )
}

/// `cwd` relative to `root`, as the agent expects it.
fn relative_cwd(cwd: &Path, root: &Path) -> Result<String> {
    super::remote_cwd::relative_cwd(cwd, root, "on a gateway agent")
}

#[async_trait]
impl Provider for GatewayProvider {
    fn name(&self) -> &str {
        "gateway"
    }

    fn capabilities(&self) -> Capabilities {
        let cached = self
            .capabilities
            .lock()
            .ok()
            .and_then(|c| c.as_ref().cloned());
        let mut caps = cached.unwrap_or(Capabilities {
            actions: Vec::new(),
            isolated: true,
            max_concurrency: self.config.max_concurrency,
        });
        caps.max_concurrency = caps.max_concurrency.min(self.config.max_concurrency);
        caps
    }

    /// SKYNET's agent judges every step itself; an original gateway runs
    /// actions SKYNET's policy never saw, so only when trusted.
    async fn confines_read_only(&self) -> bool {
        match self.config.protocol {
            GatewayProtocol::Skynet => self.capabilities().isolated,
            GatewayProtocol::Original => self.config.trusted,
        }
    }

    fn unconfined_reason(&self) -> String {
        match self.config.protocol {
            GatewayProtocol::Skynet => {
                "talks to an agent that reports it cannot isolate steps, so \
                                         READ_ONLY steps wait for a human like WRITE steps"
                    .into()
            }
            GatewayProtocol::Original => format!(
                "speaks the original gateway protocol: the gateway at {} decides what each action \
                 runs, which SKYNET's policy never saw, so READ_ONLY steps wait for a human like \
                 WRITE steps; set OPENCLAW_GATEWAY_TRUSTED=true ([gateway] trusted) if you trust \
                 that gateway to run them as judged",
                self.client.url()
            ),
        }
    }

    async fn health(&self) -> Health {
        if self.config.protocol == GatewayProtocol::Original {
            return self.health_original().await;
        }
        let started = Instant::now();
        match self.client.health().await {
            Ok(h) => {
                if let Ok(mut c) = self.capabilities.lock() {
                    *c = Some(h.capabilities.clone());
                }
                Health {
                    healthy: h.connected && h.status == "ok",
                    message: format!(
                        "agent at {} {} (v{}, protocol {}), answered in {} ms; {}",
                        self.client.url(),
                        h.status,
                        h.version,
                        h.protocol,
                        started.elapsed().as_millis(),
                        h.sandbox
                    ),
                }
            }
            Err(CallError::Unreachable(why)) => Health {
                healthy: false,
                message: format!("agent at {} unreachable: {why}", self.client.url()),
            },
            Err(CallError::Refused { status, detail }) => Health {
                healthy: false,
                message: format!(
                    "agent at {} refused the health check ({status}): {detail}",
                    self.client.url()
                ),
            },
        }
    }

    /// SKYNET's agent hands them over through its `outputs` calls (see
    /// the `outputs` module); the original protocol has no such calls.
    fn outputs(&self) -> Option<&dyn super::OutputFetcher> {
        (self.config.protocol == GatewayProtocol::Skynet).then_some(self as _)
    }

    async fn execute(&self, command: &Command, ctx: ExecContext) -> Result<Output> {
        // Both protocols carry one argv (or one action) per step.
        super::refuse_pipeline(
            "gateway",
            command,
            "the agent protocols carry one argv per step",
        )?;
        if self.config.protocol == GatewayProtocol::Original {
            return self.execute_original(command, ctx).await;
        }
        let started = Instant::now();
        if ctx.cancel.is_cancelled() {
            return Ok(output(ExitKind::Cancelled, None, started, (0, false)));
        }
        let timeout = effective_timeout(ctx.timeout, command.timeout_ms);
        let remote_id = remote_job_id(&ctx);
        let request = ExecuteRequest {
            job_id: remote_id.clone(),
            steps: vec![RemoteStep {
                argv: command.argv.clone(),
                cwd: relative_cwd(&command.cwd, &ctx.root)?,
                env: command.env.clone(),
                stdin: command.stdin.clone(),
                timeout_ms: timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                risk: ctx.risk,
            }],
            max_output_bytes: Some(ctx.max_output_bytes),
        };
        // Retrying is safe: the agent answers a repeated request with the
        // job it already started.
        loop {
            let failed = match self.client.execute(&request).await {
                Ok(_) => break,
                Err(CallError::Unreachable(why)) => why,
                Err(CallError::Refused { status, detail }) => {
                    return Err(self.refused(status, detail));
                }
            };
            if started.elapsed() >= self.config.unreachable_grace {
                return Err(self.error(format!(
                    "unreachable for {:?} ({failed}); step {remote_id} did not start, or its \
                     outcome is unknown",
                    self.config.unreachable_grace
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY_PAUSE) => {}
                () = ctx.cancel.cancelled() => {
                    return match self.client.cancel(&remote_id).await {
                        Err(CallError::Unreachable(why)) => Err(self.unreachable(&remote_id, &why)),
                        // Stopped there, or never started.
                        _ => Ok(output(ExitKind::Cancelled, None, started, (0, false))),
                    };
                }
            }
        }
        let mut follow = Follow {
            provider: self,
            remote_id: &remote_id,
            offset: 0,
            last_answer: Instant::now(),
            cancel_sent: false,
            timed_out: false,
        };
        // The agent enforces the timeout; this backstop only covers an
        // agent that stops answering with news.
        let backstop = timeout.map(|t| started + t + self.config.request_timeout * 2);
        let end = follow.run(&ctx, backstop).await?;
        self.recent.remember(&ctx.job_id, ctx.step, &remote_id);
        let exit = match end.exit.unwrap_or(ExitKind::Signaled) {
            ExitKind::Cancelled if follow.timed_out => ExitKind::TimedOut,
            exit => exit,
        };
        Ok(output(
            exit,
            end.exit_code,
            started,
            (end.output_bytes, end.truncated),
        ))
    }
}

/// Following one remote step until it ends.
struct Follow<'a> {
    provider: &'a GatewayProvider,
    remote_id: &'a str,
    offset: u64,
    last_answer: Instant,
    cancel_sent: bool,
    /// The local backstop fired: a cancelled end is a timeout.
    timed_out: bool,
}

impl Follow<'_> {
    async fn run(&mut self, ctx: &ExecContext, backstop: Option<Instant>) -> Result<StatusAnswer> {
        let config = &self.provider.config;
        let client = &self.provider.client;
        loop {
            if !self.cancel_sent && backstop.is_some_and(|b| Instant::now() >= b) {
                self.timed_out = true;
                self.send_cancel().await;
            }
            let poll = client.status(self.remote_id, self.offset, config.poll_wait);
            let answer = tokio::select! {
                biased;
                () = ctx.cancel.cancelled(), if !self.cancel_sent => {
                    self.send_cancel().await;
                    continue;
                }
                a = poll => a,
            };
            match answer {
                Ok(a) => {
                    self.last_answer = Instant::now();
                    self.forward(ctx, &a).await;
                    if a.status.is_terminal() {
                        if let Some(e) = &a.error {
                            return Err(self
                                .provider
                                .error(format!("could not run step {}: {e}", self.remote_id)));
                        }
                        return Ok(a);
                    }
                }
                Err(CallError::Refused { status, detail }) if status == StatusCode::NOT_FOUND => {
                    return Err(self.provider.error(format!(
                        "no longer knows step {} ({detail}); the agent restarted or dropped \
                         it, so the step's outcome is unknown",
                        self.remote_id
                    )));
                }
                Err(CallError::Refused { status, detail })
                    if status == StatusCode::UNAUTHORIZED =>
                {
                    return Err(self.provider.error(format!(
                        "refused the token ({detail}); step {} may still run there",
                        self.remote_id
                    )));
                }
                Err(CallError::Refused { detail, .. }) | Err(CallError::Unreachable(detail)) => {
                    if self.last_answer.elapsed() >= config.unreachable_grace {
                        return Err(self.provider.unreachable(self.remote_id, &detail));
                    }
                    tracing::debug!(step = self.remote_id, error = %detail, "gateway status call failed; retrying");
                    // A failing call can fail at once (refused, unreachable
                    // network): pace the retries.
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_PAUSE) => {}
                        () = ctx.cancel.cancelled(), if !self.cancel_sent => self.send_cancel().await,
                    }
                }
            }
        }
    }

    /// Ask the agent to stop the step (best effort: the status loop
    /// learns how it ended, or reports the agent unreachable).
    async fn send_cancel(&mut self) {
        self.cancel_sent = true;
        if let Err(e) = self.provider.client.cancel(self.remote_id).await {
            tracing::warn!(step = self.remote_id, error = ?e, "gateway cancel call failed");
        }
    }

    /// Send the answer's lines to the step's output, noting lines the
    /// agent dropped from its bounded buffer.
    async fn forward(&mut self, ctx: &ExecContext, a: &StatusAnswer) {
        let first = a.next_offset.saturating_sub(a.logs.len() as u64);
        if first > self.offset {
            let _ = ctx
                .output
                .send(OutputLine {
                    stream: Stream::System,
                    text: format!("[{} log lines dropped by the agent]", first - self.offset),
                })
                .await;
        }
        for line in &a.logs {
            let _ = ctx
                .output
                .send(OutputLine {
                    stream: line.stream,
                    text: line.text.clone(),
                })
                .await;
        }
        self.offset = a.next_offset;
    }
}

/// Pause between failing calls.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_is_sent_relative_to_the_root() {
        let root = Path::new("/jobs/a");
        assert_eq!(relative_cwd(Path::new("/jobs/a"), root).expect("root"), "");
        assert_eq!(
            relative_cwd(Path::new("/jobs/a/x/./y"), root).expect("sub"),
            "x/y"
        );
        assert!(relative_cwd(Path::new("/jobs/b"), root).is_err());
        assert!(relative_cwd(Path::new("/jobs/a/../b"), root).is_err());
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let p = GatewayProvider::new(GatewayConfig::new(
            "http://127.0.0.1:9",
            ApiKey::new("supersecret-token"),
        ))
        .expect("provider");
        assert!(!format!("{p:?}").contains("supersecret"));
        assert!(GatewayProvider::new(GatewayConfig::new("ftp://x", ApiKey::new("t"))).is_err());
        assert!(GatewayProvider::new(GatewayConfig::new("http://x", ApiKey::new(" "))).is_err());
    }
}
