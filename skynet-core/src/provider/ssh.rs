//! The SSH provider: runs each step on a remote host over one reused,
//! key-authenticated connection (the ssh-agent's keys, then key files)
//! whose host key must match a known_hosts file. The remote side always goes through the login shell, so the argv
//! is quoted word by word ([`remote`]); cancel and timeout kill the step's
//! whole remote process group.

mod connection;
mod outputs;
mod remote;

pub use super::host_key::HostKeyProblem;
use super::local::capture::{ChunkLines, OutputSink};
use super::local::{effective_timeout, output, stop_signal};
use super::{Capabilities, ExecContext, ExitKind, Health, Output, Provider, Stream};
use crate::plan::Command;
use crate::{Error, Result};
use async_trait::async_trait;
use connection::{Handle, provider};
use russh::ChannelMsg;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// After the step exits, how long background processes may keep its
/// output open before the group is killed.
const STRAGGLER_GRACE: Duration = Duration::from_millis(200);
/// After the group is killed, how long to keep reading what is left.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);
/// Limit on the side channel that signals a process group.
const SIGNAL_LIMIT: Duration = Duration::from_secs(5);

/// Where and how to log in.
///
/// The remote user's login shell must be a POSIX shell (sh, dash, bash,
/// zsh, ksh): it parses the quoted command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshConfig {
    /// Host name or address (`SKYNET_SSH_HOST`).
    pub host: String,
    /// Port (`SKYNET_SSH_PORT`, default 22).
    pub port: u16,
    /// Remote user (`SKYNET_SSH_USER`).
    pub user: String,
    /// Unencrypted OpenSSH private key files to log in with, tried in
    /// order after the agent's keys: `SKYNET_SSH_KEY` alone when set, else
    /// the host's `IdentityFile`s in `~/.ssh/config`, else those of
    /// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` that exist.
    pub keys: Vec<PathBuf>,
    /// The running ssh-agent's socket (`SSH_AUTH_SOCK`), whose keys are
    /// tried first; not used when `SKYNET_SSH_KEY` names a key.
    pub agent: Option<PathBuf>,
    /// known_hosts file the host key must be in (`SKYNET_SSH_KNOWN_HOSTS`,
    /// default `~/.ssh/known_hosts`).
    pub known_hosts: PathBuf,
    /// Remote directory the job's sandbox root maps to
    /// (`SKYNET_SSH_WORKDIR`, default `.`: the login directory).
    pub remote_root: String,
    /// Limit on connecting and logging in.
    pub connect_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when a step is stopped.
    pub kill_grace: Duration,
    /// Steps run at once (sshd's `MaxSessions` caps this per connection).
    pub max_concurrency: usize,
    /// The operator vouches that the remote account confines what runs
    /// there (a throwaway VM, a restricted user, a container), so READ_ONLY
    /// work on it may run without a human (`SKYNET_SSH_CONFINED`, default
    /// false: SKYNET cannot sandbox a remote host, so it fails closed).
    pub confined: bool,
}

impl SshConfig {
    /// Port 22, login directory, 10 s to connect, `key` the only key (no
    /// agent).
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        key: impl Into<PathBuf>,
        known_hosts: impl Into<PathBuf>,
    ) -> SshConfig {
        SshConfig {
            host: host.into(),
            port: 22,
            user: user.into(),
            keys: vec![key.into()],
            agent: None,
            known_hosts: known_hosts.into(),
            remote_root: ".".into(),
            connect_timeout: Duration::from_secs(10),
            kill_grace: super::local::DEFAULT_KILL_GRACE,
            max_concurrency: 8,
            confined: false,
        }
    }
}

/// Runs steps on one SSH host.
pub struct SshProvider {
    config: SshConfig,
    connection: Mutex<Option<Arc<Handle>>>,
}

impl std::fmt::Debug for SshProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SshProvider {
    /// A provider for this host; connects on first use and keeps the
    /// connection for later steps.
    pub fn new(config: SshConfig) -> SshProvider {
        SshProvider {
            config,
            connection: Mutex::new(None),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &SshConfig {
        &self.config
    }

    /// The live connection, opened if there is none (or it died).
    async fn connection(&self) -> Result<Arc<Handle>> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = slot.as_ref()
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        let conn = Arc::new(connection::open(&self.config).await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// A new session channel; a cached connection that turns out dead is
    /// replaced once.
    async fn channel(&self) -> Result<(Arc<Handle>, russh::Channel<russh::client::Msg>)> {
        let conn = self.connection().await?;
        match conn.channel_open_session().await {
            Ok(ch) => Ok((conn, ch)),
            Err(first) => {
                tracing::debug!(error = %first, "SSH connection unusable; reconnecting");
                {
                    let mut slot = self.connection.lock().await;
                    if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                        *slot = None;
                    }
                }
                let conn = self.connection().await?;
                let ch = conn.channel_open_session().await.map_err(|e| {
                    provider(format!("{}: cannot open a session: {e}", self.target()))
                })?;
                Ok((conn, ch))
            }
        }
    }

    fn target(&self) -> String {
        format!(
            "{}@{}:{}",
            self.config.user, self.config.host, self.config.port
        )
    }
}

#[async_trait]
impl Provider for SshProvider {
    fn name(&self) -> &str {
        "ssh"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            actions: Vec::new(),
            isolated: true,
            max_concurrency: self.config.max_concurrency,
        }
    }

    /// Only when the operator says so ([`SshConfig::confined`]): SKYNET
    /// puts no sandbox around a remote command.
    async fn confines_read_only(&self) -> bool {
        self.config.confined
    }

    fn unconfined_reason(&self) -> String {
        format!(
            "runs steps as {} with no sandbox SKYNET can vouch for, so READ_ONLY steps wait for a \
             human like WRITE steps; set SKYNET_SSH_CONFINED=true ([ssh] confined) if that \
             account confines them",
            self.target()
        )
    }

    async fn health(&self) -> Health {
        let started = Instant::now();
        let probe = async {
            let (_conn, channel) = self.channel().await?;
            channel
                .exec(true, "true")
                .await
                .map_err(|e| provider(format!("{}: {e}", self.target())))?;
            let (mut read, _write) = channel.split();
            let mut status = None;
            while let Some(msg) = read.wait().await {
                if let ChannelMsg::ExitStatus { exit_status } = msg {
                    status = Some(exit_status);
                }
            }
            Ok::<_, Error>(status)
        };
        match tokio::time::timeout(self.config.connect_timeout, probe).await {
            Ok(Ok(Some(0))) => Health {
                healthy: true,
                message: format!(
                    "{} reachable, `true` ran in {} ms",
                    self.target(),
                    started.elapsed().as_millis()
                ),
            },
            Ok(Ok(status)) => Health {
                healthy: false,
                message: format!("{}: `true` ended with {status:?}", self.target()),
            },
            Ok(Err(e)) => Health {
                healthy: false,
                message: e.to_string(),
            },
            Err(_) => Health {
                healthy: false,
                message: format!(
                    "{}: no answer within {:?}",
                    self.target(),
                    self.config.connect_timeout
                ),
            },
        }
    }

    /// Fetched over SFTP from the remote root (see the `outputs` module).
    fn outputs(&self) -> Option<&dyn super::OutputFetcher> {
        Some(self)
    }

    async fn execute(&self, command: &Command, ctx: ExecContext) -> Result<Output> {
        // The remote side parses one command line: stages joined there would
        // be a shell pipeline SKYNET wrote, which it never does.
        super::refuse_pipeline(
            "ssh",
            command,
            "SSH carries one command line for the remote shell, and SKYNET never writes a shell pipeline",
        )?;
        let started = Instant::now();
        if ctx.cancel.is_cancelled() {
            return Ok(output(ExitKind::Cancelled, None, started, (0, false)));
        }
        let dir = remote::remote_dir(&command.cwd, &ctx.root, &self.config.remote_root)?;
        let script = remote::script(command, &dir)?;
        let timeout = effective_timeout(ctx.timeout, command.timeout_ms);
        let stop = stop_signal(timeout.map(|t| started + t), &ctx.cancel);
        tokio::pin!(stop);

        let (conn, channel) = self.channel().await?;
        channel
            .exec(true, script)
            .await
            .map_err(|e| provider(format!("{}: cannot start the step: {e}", self.target())))?;
        let (read, write) = channel.split();
        let stdin = command.stdin.clone().unwrap_or_default();
        // Stdin is written whole, then closed so the step sees its end.
        let feeder = tokio::spawn(async move {
            if !stdin.is_empty() {
                let _ = write.data(stdin.as_bytes()).await;
            }
            let _ = write.eof().await;
            // The channel stays open until the step ends.
            std::future::pending::<()>().await;
        });
        let mut step = RemoteStep {
            read,
            lines: ChunkLines::new(OutputSink::new(ctx.output, ctx.max_output_bytes)),
            pid_line: Some(Vec::new()),
            group: None,
            exit: None,
            closed: false,
        };
        let result = step.run(self, &conn, stop.as_mut()).await;
        feeder.abort();
        let (kind, code) = result?;
        let counts = step.lines.finish(DRAIN_AFTER_KILL).await;
        Ok(output(kind, code, started, counts))
    }
}

/// One step's channel and what it has said so far.
struct RemoteStep {
    read: russh::ChannelReadHalf,
    lines: ChunkLines,
    /// Bytes of the first stdout line (the remote shell's pid) until it
    /// is complete; `None` once parsed.
    pid_line: Option<Vec<u8>>,
    /// The remote process group (= the shell's pid, which `exec`s the step).
    group: Option<u32>,
    exit: Option<(ExitKind, Option<i32>)>,
    closed: bool,
}

impl RemoteStep {
    /// Read until the channel closes or `stop` fires; stop the remote
    /// group when needed.
    async fn run<F>(
        &mut self,
        provider: &SshProvider,
        conn: &Handle,
        mut stop: Pin<&mut F>,
    ) -> Result<(ExitKind, Option<i32>)>
    where
        F: std::future::Future<Output = ExitKind>,
    {
        let mut straggler_deadline: Option<Instant> = None;
        let stopped = loop {
            if self.closed {
                break None;
            }
            if self.exit.is_some() && straggler_deadline.is_none() {
                straggler_deadline = Some(Instant::now() + STRAGGLER_GRACE);
            }
            let straggling = async {
                match straggler_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                kind = stop.as_mut() => break Some(kind),
                () = straggling => {
                    // Exited, but something it started still holds the output.
                    self.signal_group(conn, "KILL").await;
                    self.drain(DRAIN_AFTER_KILL).await;
                    break None;
                }
                msg = self.read.wait() => {
                    if let Some(kind) = self.take(msg, stop.as_mut()).await {
                        break Some(kind);
                    }
                }
            }
        };
        if let Some(kind) = stopped {
            self.stop_group(conn, provider.config.kill_grace).await;
            return Ok((kind, None));
        }
        match self.exit {
            Some(exit) => Ok(exit),
            None if conn.is_closed() => Err(provider_lost(provider)),
            None => Err(provider_error(
                provider,
                "the channel closed without an exit status",
            )),
        }
    }

    /// Handle one channel message. Returns `Some` if `interrupt` fired
    /// while output waited for room.
    async fn take<F: std::future::Future>(
        &mut self,
        msg: Option<ChannelMsg>,
        interrupt: Pin<&mut F>,
    ) -> Option<F::Output> {
        match msg {
            Some(ChannelMsg::Data { data }) => {
                let rest = self.strip_pid(&data);
                if !rest.is_empty() {
                    return self.lines.push(Stream::Stdout, rest, interrupt).await;
                }
            }
            Some(ChannelMsg::ExtendedData { data, .. }) => {
                return self.lines.push(Stream::Stderr, &data, interrupt).await;
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                let code = i32::try_from(exit_status).unwrap_or(i32::MAX);
                self.exit = Some((ExitKind::Exited, Some(code)));
            }
            Some(ChannelMsg::ExitSignal { .. }) => self.exit = Some((ExitKind::Signaled, None)),
            Some(ChannelMsg::Close) | None => self.closed = true,
            Some(_) => {}
        }
        None
    }

    /// Consume the pid line at the start of stdout; returns the rest.
    fn strip_pid<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let Some(line) = self.pid_line.as_mut() else {
            return data;
        };
        match data.iter().position(|b| *b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&data[..i]);
                self.group = std::str::from_utf8(line)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .filter(|pid| *pid > 1);
                self.pid_line = None;
                &data[i + 1..]
            }
            None => {
                line.extend_from_slice(data);
                &[]
            }
        }
    }

    /// SIGTERM the group, SIGKILL it if the step has not ended after the
    /// grace, then read what is left.
    async fn stop_group(&mut self, conn: &Handle, grace: Duration) {
        if self.group.is_none() {
            // Stopped before the shell said who it is: wait briefly for it.
            self.drain_until(DRAIN_AFTER_KILL, |s| s.group.is_some())
                .await;
        }
        if self.group.is_none() {
            tracing::warn!(
                "remote step stopped before its pid was known; closing the channel only"
            );
            return;
        }
        self.signal_group(conn, "TERM").await;
        self.drain(grace).await;
        if !self.closed {
            self.signal_group(conn, "KILL").await;
            self.drain(DRAIN_AFTER_KILL).await;
        }
    }

    /// Send `signal` to the remote group through a second channel on the
    /// same connection.
    async fn signal_group(&self, conn: &Handle, signal: &str) {
        let Some(group) = self.group else { return };
        let kill = async {
            let channel = conn.channel_open_session().await?;
            // Only a number and a fixed signal name go into this line.
            channel
                .exec(true, format!("kill -{signal} -- -{group} 2>/dev/null"))
                .await?;
            let (mut read, _write) = channel.split();
            while read.wait().await.is_some() {}
            Ok::<_, russh::Error>(())
        };
        match tokio::time::timeout(SIGNAL_LIMIT, kill).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(group, signal, error = %e, "cannot signal the remote group")
            }
            Err(_) => tracing::warn!(group, signal, "signalling the remote group timed out"),
        }
    }

    async fn drain(&mut self, limit: Duration) {
        self.drain_until(limit, |s| s.closed).await;
    }

    /// Keep reading for up to `limit` or until `done`.
    async fn drain_until(&mut self, limit: Duration, done: impl Fn(&RemoteStep) -> bool) {
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        while !done(self) && !self.closed {
            tokio::select! {
                () = deadline.as_mut() => return,
                msg = self.read.wait() => {
                    if self.take(msg, deadline.as_mut()).await.is_some() {
                        return;
                    }
                }
            }
        }
    }
}

fn provider_lost(p: &SshProvider) -> Error {
    provider(format!(
        "{}: the connection was lost while the step ran; its outcome is unknown",
        p.target()
    ))
}

fn provider_error(p: &SshProvider, what: &str) -> Error {
    provider(format!("{}: {what}", p.target()))
}
