//! The local process provider: runs a step's argv as a child process in
//! its own process group, with a cleared environment, captured and capped
//! output, a timeout and cancellation that kill the whole group.

// Parts of its chunk splitter serve only the Docker and SSH providers.
#[cfg_attr(not(feature = "docker"), allow(dead_code))]
pub(crate) mod capture;
mod git_guard;
mod group;
#[cfg(feature = "sandbox")]
mod landlock;
#[cfg(not(feature = "sandbox"))]
#[path = "local/no_sandbox.rs"]
mod landlock;
mod pipeline;
pub(crate) mod prepare;
// Only the Landlock path drops privileges in this process.
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
mod privileges;
mod sandbox;
mod seccomp;
mod secrets;
mod session;

use super::{Capabilities, ExecContext, ExitKind, Health, Output, Provider, Stream};
use crate::plan::Command;
use crate::{Error, Result};
use async_trait::async_trait;
use capture::OutputSink;
use group::ProcessGroup;
pub use group::live_members;
pub use prepare::DEFAULT_PATH;
use prepare::{CannotRun, Launch, Sandbox};
pub use sandbox::{HOST_PROFILE_SETTING, SandboxMode};
use session::Session;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Held while a step is spawned: the seccomp descriptors a bubblewrap
/// child inherits must not leak into another step started at that moment.
static SPAWNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Environment variables copied from the parent by default; everything
/// else is cleared so secrets in the orchestrator's environment do not
/// leak into steps.
pub const DEFAULT_ENV_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
];

/// Default time between SIGTERM and SIGKILL when a step is stopped.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(2);
/// CPU time each process of a READ_ONLY step may use by default.
pub const DEFAULT_READ_ONLY_CPU: Duration = Duration::from_secs(60);

/// Runs argv (never a shell string) as a local process group.
///
/// - The cwd must lie inside [`ExecContext::root`] (checked after
///   resolving symlinks).
/// - The environment is cleared, then the allowlist is copied from this
///   process ([`DEFAULT_ENV_ALLOWLIST`]), then the command's own `env`.
///   Without any `PATH`, [`DEFAULT_PATH`] is used.
/// - On timeout or cancel the whole group gets SIGTERM, then SIGKILL after
///   the kill grace; background processes left behind by a step that
///   finished are killed too.
/// - A missing or non-executable program is a failed step (exit 127/126
///   with a message on stderr), not a provider error.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    env_allowlist: Vec<String>,
    kill_grace: Duration,
    sandbox: SandboxMode,
    writable: Vec<PathBuf>,
    read_only_cpu: Option<Duration>,
    host_profile: bool,
    /// A profile every step gets whatever its action (tests only).
    forced_profile: Option<crate::action::SandboxProfile>,
    launches: Arc<Launches>,
}

/// What a local provider (and its clones) has started so far.
#[derive(Debug, Default)]
struct Launches {
    processes: AtomicU64,
    sandboxes: AtomicU64,
}

/// Counts of what a [`LocalProvider`] started: for tests and benchmarks
/// that show what a step costs (a pipeline under bubblewrap is one sandbox
/// start, not one per stage).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaunchCounts {
    /// Processes this process spawned itself (bubblewrap counts as one,
    /// whatever it starts inside).
    pub processes: u64,
    /// Sandboxes set up: bubblewrap instances started, and threads
    /// restricted by Landlock to spawn from.
    pub sandboxes: u64,
}

impl Default for LocalProvider {
    fn default() -> Self {
        LocalProvider::new()
    }
}

impl LocalProvider {
    /// A local provider with the default environment allowlist.
    pub fn new() -> Self {
        LocalProvider {
            env_allowlist: DEFAULT_ENV_ALLOWLIST
                .iter()
                .map(|s| s.to_string())
                .collect(),
            kill_grace: DEFAULT_KILL_GRACE,
            sandbox: SandboxMode::Off,
            writable: Vec::new(),
            read_only_cpu: Some(DEFAULT_READ_ONLY_CPU),
            host_profile: false,
            forced_profile: None,
            launches: Arc::default(),
        }
    }

    /// Let approved ADMIN steps that change the host itself (service
    /// control, kill, package install: [`crate::action::SandboxProfile::Host`])
    /// run outside the sandbox (default off: they are refused, naming
    /// [`HOST_PROFILE_SETTING`]). They keep argv only, the environment
    /// allowlist, the cwd check, the timeout and the process-group kill;
    /// nothing confines what they read, write or signal.
    pub fn with_host_profile(mut self, enabled: bool) -> Self {
        self.host_profile = enabled;
        self
    }

    /// Run every step under `profile`, whatever its action and command:
    /// for tests that attack a profile with commands no action resolves
    /// to (a step gets Inspect or Host only with its action's own command,
    /// [`crate::action::SandboxProfile::for_step`]).
    #[doc(hidden)]
    pub fn force_profile(mut self, profile: crate::action::SandboxProfile) -> Self {
        self.forced_profile = Some(profile);
        self
    }

    /// The profile a step runs under here.
    fn profile(
        &self,
        action: Option<&crate::action::Action>,
        command: &Command,
        risk: crate::RiskLevel,
    ) -> crate::action::SandboxProfile {
        self.forced_profile.unwrap_or_else(|| {
            action.map_or(Default::default(), |a| {
                crate::action::SandboxProfile::for_step(a, command, risk)
            })
        })
    }

    /// Confine steps with bubblewrap (see [`SandboxMode`]): a read-only
    /// system, the sandbox root writable, a private `/tmp`, and no network
    /// for READ_ONLY steps.
    pub fn with_sandbox(mut self, mode: SandboxMode) -> Self {
        self.sandbox = mode;
        self
    }

    /// Directories besides the sandbox root that sandboxed steps may write
    /// (a shared build cache, say).
    pub fn with_writable(mut self, dirs: Vec<PathBuf>) -> Self {
        self.writable = dirs;
        self
    }

    /// The sandbox mode.
    pub fn sandbox(&self) -> SandboxMode {
        self.sandbox
    }

    /// Replace the names of the variables copied from this process.
    pub fn with_env_allowlist(mut self, names: Vec<String>) -> Self {
        self.env_allowlist = names;
        self
    }

    /// CPU time each process of a READ_ONLY step may use (default
    /// [`DEFAULT_READ_ONLY_CPU`]; `None`: no limit), so an auto-approved step
    /// cannot hold a core until its timeout. Set with `prlimit` (util-linux)
    /// where it is installed; where it is not, the step's timeout alone
    /// bounds it.
    pub fn with_read_only_cpu(mut self, limit: Option<Duration>) -> Self {
        self.read_only_cpu = limit;
        self
    }

    /// Time a stopped step gets between SIGTERM and SIGKILL (zero: SIGKILL
    /// at once).
    pub fn with_kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// The variables copied from this process.
    pub fn env_allowlist(&self) -> &[String] {
        &self.env_allowlist
    }

    /// What this provider (and its clones) has started so far.
    #[doc(hidden)]
    pub fn launches(&self) -> LaunchCounts {
        LaunchCounts {
            processes: self.launches.processes.load(Ordering::Relaxed),
            sandboxes: self.launches.sandboxes.load(Ordering::Relaxed),
        }
    }

    fn counted_processes(&self, n: usize) {
        self.launches
            .processes
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    fn counted_sandbox(&self) {
        self.launches.sandboxes.fetch_add(1, Ordering::Relaxed);
    }
}

/// Outputs are read from the job's root on this machine, confined to it
/// ([`crate::artifact::collect::find`]).
#[async_trait]
impl super::OutputFetcher for LocalProvider {
    async fn fetch_outputs(
        &self,
        request: &super::OutputRequest,
    ) -> Result<crate::artifact::collect::Found> {
        let root = request.root.clone();
        let patterns = request.patterns.clone();
        let (cap, max_files) = (request.max_file_bytes, request.max_files);
        tokio::task::spawn_blocking(move || {
            crate::artifact::collect::find(&root, &patterns, cap, max_files)
        })
        .await
        .map_err(|e| Error::Provider {
            provider: "local".into(),
            message: format!("the search for the step's outputs failed: {e}"),
        })
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            actions: Vec::new(),
            isolated: false,
            max_concurrency: max_concurrency(),
        }
    }

    /// Stages connected by pipes SKYNET creates (see the `pipeline`
    /// module): under bubblewrap, one sandbox for the whole pipeline.
    fn runs_pipelines(&self) -> bool {
        true
    }

    /// Steps write their root on this machine: outputs are found there.
    fn outputs(&self) -> Option<&dyn super::OutputFetcher> {
        Some(self)
    }

    async fn health(&self) -> Health {
        #[cfg(not(feature = "sandbox"))]
        if let Err(e) = landlock::refuse_unless_off(self.sandbox) {
            return Health {
                healthy: false,
                message: e.to_string(),
            };
        }
        let (healthy, sandbox) = match sandbox::confinement(self.sandbox).await {
            Ok(sandbox::Confinement::Bubblewrap(_)) => (true, "sandboxed with bubblewrap".into()),
            Ok(sandbox::Confinement::Landlock) => (true, "sandboxed with Landlock".into()),
            Ok(sandbox::Confinement::PathsOnly) => match self.sandbox {
                SandboxMode::Off => (true, "path confinement only (sandbox off)".to_string()),
                _ => (
                    true,
                    "path confinement only: neither bubblewrap nor Landlock works here".to_string(),
                ),
            },
            Err(why) => (false, why),
        };
        Health {
            healthy,
            message: format!(
                "runs local processes, up to {} at a time; {sandbox}",
                max_concurrency()
            ),
        }
    }

    /// Yes under bubblewrap or Landlock; no when the sandbox was asked for
    /// (`auto`, `require`, `landlock`) but none works here. With the sandbox
    /// turned off explicitly the operator has chosen path confinement for
    /// everything, READ_ONLY steps included.
    async fn confines_read_only(&self) -> bool {
        match self.sandbox {
            SandboxMode::Off => true,
            mode => matches!(
                sandbox::confinement(mode).await,
                Ok(sandbox::Confinement::Bubblewrap(_) | sandbox::Confinement::Landlock)
            ),
        }
    }

    fn refuses(
        &self,
        action: &crate::action::Action,
        command: &Command,
        risk: crate::RiskLevel,
    ) -> Option<String> {
        let profile = self.profile(Some(action), command, risk);
        sandbox::refusal(self.sandbox, self.host_profile, profile, action.name())
    }

    async fn execute(&self, command: &Command, ctx: ExecContext) -> Result<Output> {
        let started = Instant::now();
        if ctx.cancel.is_cancelled() {
            return Ok(output(ExitKind::Cancelled, None, started, (0, false)));
        }
        let timeout = effective_timeout(ctx.timeout, command.timeout_ms);
        let stop = stop_signal(timeout.map(|t| started + t), &ctx.cancel);
        tokio::pin!(stop);
        let network = ctx.network_allowed(command);
        let sink = OutputSink::new(ctx.output, ctx.max_output_bytes);

        #[cfg(not(feature = "sandbox"))]
        landlock::refuse_unless_off(self.sandbox)?;
        let program = command.argv.first().map_or("", String::as_str);
        let profile = self.profile(ctx.action.as_ref(), command, ctx.risk);
        let action = ctx.action.as_ref().map_or("", |a| a.name());
        if let Some(message) = sandbox::refusal(self.sandbox, self.host_profile, profile, action) {
            return Err(Error::Provider {
                provider: "local".into(),
                message,
            });
        }
        let confinement = sandbox::profile_confinement(self.sandbox, profile)
            .await
            .map_err(|message| Error::Provider {
                provider: "local".into(),
                message,
            })?;
        let sandbox = Sandbox {
            confinement: &confinement,
            network,
            write: ctx.risk > crate::RiskLevel::ReadOnly,
            writable: &self.writable,
            cpu_seconds: (ctx.risk == crate::RiskLevel::ReadOnly)
                .then_some(self.read_only_cpu)
                .flatten()
                .map(|d| d.as_secs().max(1)),
            profile,
        };
        if command.is_pipeline() {
            return pipeline::run(
                self,
                command,
                &ctx.root,
                &confinement,
                &sandbox,
                sink,
                stop,
                started,
            )
            .await;
        }
        let child = match prepare::launch(command, &ctx.root, &self.env_allowlist, &sandbox)? {
            Launch::Ready(prepared) => {
                match spawn(prepared, &confinement, &ctx.root, &sandbox).await? {
                    Ok(child) => child,
                    Err(e) => match prepare::spawn_failure(&e) {
                        Some(cannot) => {
                            return Ok(
                                report_cannot_run(sink, program, cannot, stop, started).await
                            );
                        }
                        None => {
                            return Err(Error::Provider {
                                provider: "local".into(),
                                message: format!("cannot start `{program}`: {e}"),
                            });
                        }
                    },
                }
            }
            Launch::CannotRun(cannot) => {
                return Ok(report_cannot_run(sink, program, cannot, stop, started).await);
            }
        };
        self.counted_processes(1);
        if matches!(
            confinement,
            sandbox::Confinement::Bubblewrap(_) | sandbox::Confinement::Landlock
        ) {
            self.counted_sandbox();
        }
        let group = ProcessGroup::of(child.id())?;
        let stdin = command.stdin.as_deref().unwrap_or_default().as_bytes();
        let mut session = Session::new(child, group, stdin, sink);
        let end = session.run(stop, self.kill_grace).await?;
        let counts = session.finish().await;
        Ok(output(end.kind, end.exit_code, started, counts))
    }
}

/// The descriptors a [`bubblewrap_invocation`] names; keep them until
/// bubblewrap has started, then drop them.
#[derive(Debug)]
pub struct SandboxDescriptors(#[allow(dead_code)] Vec<seccomp::SeccompFd>);

/// The bubblewrap program and options (up to, not including, `--`) a step
/// in `root` gets, with the seccomp descriptors they name; `None` when
/// bubblewrap does not work here. For benchmarks and diagnostics: it shows
/// exactly what the provider runs.
#[doc(hidden)]
pub async fn bubblewrap_invocation(
    root: &std::path::Path,
    write: bool,
) -> Option<(PathBuf, Vec<std::ffi::OsString>, SandboxDescriptors)> {
    let bwrap = sandbox::bubblewrap().await.ok()?;
    let root = root.canonicalize().ok()?;
    let fds = sandbox::seccomp_fds(write).ok()?;
    let step = sandbox::Step {
        root: &root,
        cwd: &root,
        network: write,
        write,
        writable: &[],
        profile: Default::default(),
    };
    let args = sandbox::arguments(&step, &fds);
    Some((bwrap, args, SandboxDescriptors(fds)))
}

/// Start the prepared process; under Landlock from a restricted thread.
async fn spawn(
    prepared: prepare::Prepared,
    confinement: &sandbox::Confinement,
    root: &std::path::Path,
    sandbox: &Sandbox<'_>,
) -> Result<std::io::Result<tokio::process::Child>> {
    let prepare::Prepared { mut cmd, seccomp } = prepared;
    if *confinement != sandbox::Confinement::Landlock {
        let _spawning = SPAWNING.lock().await;
        let child = cmd.spawn();
        // bubblewrap holds its copies now; ours must not reach later steps.
        drop(seccomp);
        return Ok(child);
    }
    let limits = landlock::Limits {
        root: prepare::canonical_root(root)?,
        writable: sandbox.writable.to_vec(),
        network: sandbox.network,
        write: sandbox.write,
        profile: sandbox.profile,
    };
    // Under the lock too: a bubblewrap step's descriptors, open at this
    // moment, would otherwise reach this child.
    let _spawning = SPAWNING.lock().await;
    landlock::spawn(cmd, limits)
        .await
        .map_err(|message| Error::Provider {
            provider: "local".into(),
            message: format!("cannot apply the Landlock sandbox: {message}"),
        })
}

/// A program that cannot be started fails the step the way a shell
/// would: a message on stderr and exit 127 (missing) or 126 (not
/// executable).
async fn report_cannot_run<F: Future<Output = ExitKind>>(
    mut sink: OutputSink,
    program: &str,
    cannot: CannotRun,
    stop: Pin<&mut F>,
    started: Instant,
) -> Output {
    let line = format!("skynet: cannot run `{program}`: {}", cannot.reason);
    let interrupted = sink.forward_text(Stream::Stderr, line, stop).await;
    let counts = sink.finish().await;
    match interrupted {
        Some(kind) => output(kind, None, started, counts),
        None => output(ExitKind::Exited, Some(cannot.exit_code), started, counts),
    }
}

/// An [`Output`] for a step that started at `started`.
pub(crate) fn output(
    exit: ExitKind,
    exit_code: Option<i32>,
    started: Instant,
    (output_bytes, truncated): (u64, bool),
) -> Output {
    Output {
        exit,
        exit_code,
        output_bytes,
        truncated,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        failed_stage: None,
    }
}

/// The tighter of the context's budget and the command's own timeout.
pub(crate) fn effective_timeout(
    ctx: Option<Duration>,
    command_ms: Option<u64>,
) -> Option<Duration> {
    let command = command_ms.map(Duration::from_millis);
    match (ctx, command) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Resolves with the reason the step must stop: its deadline passed or it
/// was cancelled.
pub(crate) async fn stop_signal(deadline: Option<Instant>, cancel: &CancellationToken) -> ExitKind {
    match deadline {
        Some(deadline) => tokio::select! {
            biased;
            () = cancel.cancelled() => ExitKind::Cancelled,
            () = tokio::time::sleep_until(deadline) => ExitKind::TimedOut,
        },
        None => {
            cancel.cancelled().await;
            ExitKind::Cancelled
        }
    }
}

fn max_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_is_the_tighter_budget() {
        let s = Duration::from_secs;
        assert_eq!(effective_timeout(None, None), None);
        assert_eq!(effective_timeout(Some(s(5)), None), Some(s(5)));
        assert_eq!(effective_timeout(None, Some(3000)), Some(s(3)));
        assert_eq!(effective_timeout(Some(s(5)), Some(3000)), Some(s(3)));
        assert_eq!(effective_timeout(Some(s(1)), Some(3000)), Some(s(1)));
    }

    #[test]
    fn default_allowlist_has_path_but_no_secrets() {
        let p = LocalProvider::new();
        assert!(p.env_allowlist().iter().any(|n| n == "PATH"));
        assert!(
            !p.env_allowlist()
                .iter()
                .any(|n| n.contains("TOKEN") || n.contains("KEY"))
        );
        let custom = LocalProvider::new().with_env_allowlist(vec!["HOME".into()]);
        assert_eq!(custom.env_allowlist(), ["HOME".to_string()]);
    }
}
