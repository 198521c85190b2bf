//! Execution providers: where a step's argv actually runs.

use crate::Result;
use crate::action::Action;
pub use crate::artifact::fetch::{OutputFetcher, OutputRequest};
use crate::job::JobId;
use crate::plan::Command;
use crate::risk::RiskLevel;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Lines SKYNET itself writes (truncation markers, timeouts).
    System,
}

impl Stream {
    /// The stream a caller names (`stdout`, `stderr`, `system`), or
    /// [`crate::Error::InvalidInput`] saying which names there are.
    pub fn parse(text: &str) -> crate::Result<Stream> {
        match text.trim() {
            "stdout" => Ok(Stream::Stdout),
            "stderr" => Ok(Stream::Stderr),
            "system" => Ok(Stream::System),
            other => Err(crate::Error::InvalidInput(format!(
                "{:?} is not a log stream: use stdout, stderr or system",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::System => "system",
        }
    }
}

/// One line of output (without its newline; invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// Where it came from.
    pub stream: Stream,
    /// The text.
    pub text: String,
}

/// How a step's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// Exited by itself with a code.
    Exited,
    /// Killed by a signal it did not ask for.
    Signaled,
    /// Killed because its time ran out.
    TimedOut,
    /// Killed because the step was cancelled.
    Cancelled,
}

/// The result of running one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// How it ended.
    pub exit: ExitKind,
    /// Exit code when it exited by itself.
    pub exit_code: Option<i32>,
    /// Bytes of output produced (before the cap).
    pub output_bytes: u64,
    /// Whether output past the cap was dropped.
    pub truncated: bool,
    /// Wall time.
    pub duration_ms: u64,
    /// For a pipeline that failed: the stage (0-based, see
    /// [`Command::stage_label`]) whose exit failed it, the first in order
    /// (pipefail); `exit` and `exit_code` are that stage's. A stage killed
    /// by SIGPIPE because a later one stopped reading (`yes | head`) is
    /// not a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<usize>,
}

impl Output {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.exit == ExitKind::Exited && self.exit_code == Some(0)
    }
}

/// Everything a provider needs besides the command.
#[derive(Debug, Clone)]
pub struct ExecContext {
    /// The job.
    pub job_id: JobId,
    /// Step index within the plan.
    pub step: usize,
    /// The sandbox root; the command's cwd must lie inside it.
    pub root: PathBuf,
    /// Effective time budget (min of step and remaining job budget).
    pub timeout: Option<Duration>,
    /// Cancelled when the step must stop; the provider kills everything.
    pub cancel: CancellationToken,
    /// Output lines go here, in order.
    pub output: mpsc::Sender<OutputLine>,
    /// Cap on captured output bytes; past it a marker line is sent.
    pub max_output_bytes: u64,
    /// The step's judged risk. Isolating providers give the network only
    /// to steps the policy judged at least WRITE (see
    /// [`ExecContext::network_allowed`]).
    pub risk: RiskLevel,
    /// The catalog action the step resolved from, when the caller has it
    /// (the engine always does). Providers run the command; one that
    /// speaks in actions (the gateway's original protocol) sends this too.
    pub action: Option<Action>,
}

impl ExecContext {
    /// May the step reach the network? Steps judged WRITE or ADMIN
    /// (network transfers are at least WRITE in the policy), and one kind
    /// of READ_ONLY step: a ping probe's exact `ping -c 4 -W 2 ADDRESS`,
    /// whose address SKYNET checked before handing it over
    /// ([`crate::probe`]). Every other READ_ONLY step runs without the
    /// network where the provider can isolate it.
    pub fn network_allowed(&self, command: &Command) -> bool {
        self.risk > RiskLevel::ReadOnly
            || crate::probe::is_checked_ping(self.action.as_ref(), command)
    }
}

/// What a provider can do (used by the scheduler).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Catalog action names it can run (empty = all).
    pub actions: Vec<String>,
    /// Runs commands in an isolated environment.
    pub isolated: bool,
    /// Concurrent steps it accepts.
    pub max_concurrency: usize,
}

/// A provider's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Can it run steps now?
    pub healthy: bool,
    /// Why (or why not).
    pub message: String,
}

/// Somewhere to run a command.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Registered name (`local`, `mock`, `docker`, ...).
    fn name(&self) -> &str;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// Is it usable now?
    async fn health(&self) -> Health;
    /// Does it confine READ_ONLY steps, so that they may run without a
    /// human's approval? The engine auto-approves READ_ONLY plans only on
    /// providers that say yes. Default: whether it is
    /// [`Capabilities::isolated`] (a container, another machine).
    async fn confines_read_only(&self) -> bool {
        self.capabilities().isolated
    }
    /// Why READ_ONLY steps placed here wait for a human when
    /// [`Provider::confines_read_only`] says no: shown on the plan after
    /// "provider `NAME` ", so it reads as a sentence and says what to do.
    fn unconfined_reason(&self) -> String {
        "cannot confine READ_ONLY steps here (no working sandbox), so they wait for a human \
         like WRITE steps"
            .into()
    }
    /// Why this provider will not run a step of `action` running `command`
    /// judged `risk` as it is configured (a sandbox profile it needs is
    /// turned off), asked when a plan is placed so nobody approves a step
    /// that cannot run. `None` (the default): it runs what its
    /// capabilities say.
    fn refuses(&self, _action: &Action, _command: &Command, _risk: RiskLevel) -> Option<String> {
        None
    }

    /// Does it run pipelines ([`Command::pipe`]: programs connected by
    /// pipes) itself, without a shell? Default: no. The scheduler places
    /// a plan with a pipeline only on providers that do; one handed a
    /// pipeline anyway refuses it with [`refuse_pipeline`]'s error.
    fn runs_pipelines(&self) -> bool {
        false
    }
    /// How this provider hands over a step's declared outputs after it
    /// ran (read from the root on this machine, copied out of a
    /// container, fetched over SFTP or from an agent), or `None` when it
    /// cannot (the default). Whatever a fetcher returns is checked again
    /// on this side ([`crate::artifact::fetch::confine`]) before it is
    /// stored.
    fn outputs(&self) -> Option<&dyn OutputFetcher> {
        None
    }
    /// Run `command`, streaming output to `ctx.output`, honouring
    /// `ctx.timeout` and `ctx.cancel`. A command that runs and fails is
    /// `Ok(Output)` with its exit; `Err` means the provider itself failed.
    async fn execute(&self, command: &Command, ctx: ExecContext) -> Result<Output>;
}

/// `Ok` for a single program; for a pipeline, the error of a provider
/// (`provider`) that does not run pipelines, saying `why`. Nothing runs.
pub fn refuse_pipeline(provider: &str, command: &Command, why: &str) -> Result<()> {
    if !command.is_pipeline() {
        return Ok(());
    }
    Err(crate::Error::PipelineUnsupported {
        provider: provider.to_string(),
        why: why.to_string(),
    })
}

/// The registered name a provider name stands for: `chathan` and
/// `openclaw` (the gateway's former names) mean `gateway`; any other name
/// is itself. Every place that accepts a provider name goes through this.
pub fn canonical_name(name: &str) -> &str {
    match name {
        "chathan" | "openclaw" => "gateway",
        other => other,
    }
}

#[cfg(feature = "docker")]
pub mod docker;
#[cfg(feature = "gateway")]
pub mod gateway;
mod host_key;
pub mod local;
pub mod mock;
#[cfg(any(feature = "ssh", feature = "gateway"))]
mod remote_cwd;
#[cfg(feature = "ssh")]
pub mod ssh;
#[cfg(feature = "docker")]
pub use docker::{DockerConfig, DockerProvider};
#[cfg(feature = "gateway")]
pub use gateway::{GatewayConfig, GatewayProtocol, GatewayProvider};
pub use local::LocalProvider;
pub use mock::MockProvider;
#[cfg(feature = "ssh")]
pub use ssh::{SshConfig, SshProvider};

/// The SSH provider's error types; this build has no `ssh` feature, so
/// no SSH provider.
#[cfg(not(feature = "ssh"))]
pub mod ssh {
    pub use super::host_key::HostKeyProblem;
}

/// The providers this build of skynet-core can run, by Cargo feature.
pub const FEATURE_PROVIDERS: [(&str, bool); 3] = [
    ("docker", cfg!(feature = "docker")),
    ("ssh", cfg!(feature = "ssh")),
    ("gateway", cfg!(feature = "gateway")),
];

/// The error for configuration that needs a provider (or planner) this
/// build left out: `what` says what asked for it (`SKYNET_DOCKER_IMAGE
/// is set`), `feature` is the Cargo feature that brings it back.
pub fn feature_missing(what: &str, feature: &str) -> crate::Error {
    crate::Error::Config(format!(
        "{what}, but this build of skynet-core has no `{feature}` feature; rebuild with --features {feature}"
    ))
}

/// `Err(feature_missing(..))` when the provider `name` needs a Cargo
/// feature this build lacks; `Ok` for every other name.
pub fn require_feature(what: &str, name: &str) -> crate::Result<()> {
    match FEATURE_PROVIDERS
        .iter()
        .find(|(feature, _)| *feature == canonical_name(name))
    {
        Some((feature, false)) => Err(feature_missing(what, feature)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_gateway_answers_to_its_former_names() {
        for name in ["gateway", "chathan", "openclaw"] {
            assert_eq!(super::canonical_name(name), "gateway");
        }
        assert_eq!(super::canonical_name("local"), "local");
        assert_eq!(super::canonical_name("Chathan"), "Chathan");
    }
}
