//! The Docker provider: every step runs in a fresh container created
//! through the Docker Engine API (never the `docker` CLI), with the job's
//! sandbox root bind-mounted as the working directory, resource limits,
//! no network unless the policy allows it, output streamed from the
//! attach stream, and the container removed however the step ends.

mod container;
mod outputs;

use super::local::capture::{ChunkLines, OutputSink};
use super::local::prepare::{canonical_root, resolve_cwd};
use super::local::{effective_timeout, output, stop_signal};
use super::{Capabilities, ExecContext, ExitKind, Health, Output, Provider, Stream};
use crate::plan::Command;
use crate::{Error, Result};
use async_trait::async_trait;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use container::ContainerGuard;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Where the sandbox root appears inside the container.
pub const CONTAINER_WORKDIR: &str = "/work";
/// Label every SKYNET container carries (value: the job id).
pub const JOB_LABEL: &str = "skynet.job";
/// After a stop, how long to keep reading output the container still sends.
const DRAIN_AFTER_STOP: Duration = Duration::from_secs(1);

/// How the Docker provider creates containers.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerConfig {
    /// Image every step runs in (`SKYNET_DOCKER_IMAGE`).
    pub image: String,
    /// Daemon address (`unix:///var/run/docker.sock`, `tcp://...`); `None`
    /// uses `DOCKER_HOST` or the default socket.
    pub host: Option<String>,
    /// Network for steps the policy lets use one (WRITE and above);
    /// `none` keeps every step offline. READ_ONLY steps never get one.
    pub network: String,
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// CPU limit in CPUs (fractions allowed).
    pub cpus: f64,
    /// Maximum number of processes in the container.
    pub pids_limit: i64,
    /// `uid:gid` to run as; `None` runs as this process's uid:gid so files
    /// written to the sandbox root belong to the caller.
    pub user: Option<String>,
    /// Extra labels put on every container (for inventory and cleanup).
    pub labels: BTreeMap<String, String>,
    /// Time between SIGTERM and SIGKILL when a step is stopped.
    pub kill_grace: Duration,
    /// Steps run at once.
    pub max_concurrency: usize,
}

impl DockerConfig {
    /// Defaults for `image`: 1 GiB, 1 CPU, 256 processes, network `bridge`
    /// for WRITE/ADMIN steps.
    pub fn new(image: impl Into<String>) -> DockerConfig {
        DockerConfig {
            image: image.into(),
            host: None,
            network: "bridge".into(),
            memory_bytes: 1 << 30,
            cpus: 1.0,
            pids_limit: 256,
            user: None,
            labels: BTreeMap::new(),
            kill_grace: super::local::DEFAULT_KILL_GRACE,
            max_concurrency: 8,
        }
    }
}

/// Runs each step in its own container on a Docker daemon.
#[derive(Debug)]
pub struct DockerProvider {
    config: DockerConfig,
    client: OnceCell<Docker>,
}

impl DockerProvider {
    /// A provider with this configuration; connects on first use.
    pub fn new(config: DockerConfig) -> DockerProvider {
        DockerProvider {
            config,
            client: OnceCell::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &DockerConfig {
        &self.config
    }

    /// The daemon client, connected and with the API version negotiated
    /// (an older daemon than the client's API is fine).
    async fn client(&self) -> Result<&Docker> {
        self.client
            .get_or_try_init(|| async {
                let docker = match &self.config.host {
                    Some(host) => Docker::connect_with_host(host),
                    None => Docker::connect_with_defaults(),
                }
                .map_err(|e| self.fail("cannot connect to the Docker daemon", &e))?;
                docker
                    .negotiate_version()
                    .await
                    .map_err(|e| self.fail("the Docker daemon does not answer", &e))
            })
            .await
    }

    /// Create the container `name`, guarded by name before it exists: a
    /// step dropped while the daemon creates it (before its answer
    /// arrives) still removes it. `what` starts the error's message.
    async fn create_guarded(
        &self,
        docker: &Docker,
        name: String,
        body: bollard::models::ContainerCreateBody,
        what: &str,
    ) -> Result<ContainerGuard> {
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let guard = ContainerGuard::new(docker.clone(), name);
        docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| self.fail(what, &e))?;
        Ok(guard)
    }

    /// A daemon error; one that the configuration causes (no daemon at the
    /// configured socket, the image missing) is a configuration error, so
    /// the step fails at once instead of being retried.
    fn fail(&self, what: &str, e: &bollard::errors::Error) -> Error {
        let message = format!("{what}: {}", container::describe(e, &self.config.image));
        if container::is_configuration(e) {
            Error::Config(format!("docker: {message}"))
        } else {
            Error::Provider {
                provider: "docker".into(),
                message,
            }
        }
    }
}

#[async_trait]
impl Provider for DockerProvider {
    fn name(&self) -> &str {
        "docker"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            actions: Vec::new(),
            isolated: true,
            max_concurrency: self.config.max_concurrency,
        }
    }

    async fn health(&self) -> Health {
        let docker = match self.client().await {
            Ok(d) => d,
            Err(e) => {
                return Health {
                    healthy: false,
                    message: e.to_string(),
                };
            }
        };
        if let Err(e) = docker.ping().await {
            return Health {
                healthy: false,
                message: self
                    .fail("the Docker daemon does not answer", &e)
                    .to_string(),
            };
        }
        match docker.inspect_image(&self.config.image).await {
            Ok(_) => Health {
                healthy: true,
                message: format!(
                    "Docker daemon reachable (API {}), image {} present",
                    docker.client_version(),
                    self.config.image
                ),
            },
            Err(e) => Health {
                healthy: false,
                message: self.fail("the daemon is reachable but", &e).to_string(),
            },
        }
    }

    /// Copied out of a container that sees the job's root as the step
    /// did (see the `outputs` module).
    fn outputs(&self) -> Option<&dyn super::OutputFetcher> {
        Some(self)
    }

    async fn execute(&self, command: &Command, ctx: ExecContext) -> Result<Output> {
        // A container runs one argv; connecting stages inside it would take
        // a shell (or a helper) from the image.
        super::refuse_pipeline(
            "docker",
            command,
            "each step runs one argv in a fresh container, and connecting stages there would need a shell from the image",
        )?;
        let started = Instant::now();
        if ctx.cancel.is_cancelled() {
            return Ok(output(ExitKind::Cancelled, None, started, (0, false)));
        }
        if command.argv.is_empty() {
            return Err(Error::InvalidInput(
                "the command has no program: argv is empty".into(),
            ));
        }
        let root = canonical_root(&ctx.root)?;
        let cwd = resolve_cwd(&command.cwd, &root)?;
        let workdir = container_path(&cwd, &root)?;
        let timeout = effective_timeout(ctx.timeout, command.timeout_ms);
        let stop = stop_signal(timeout.map(|t| started + t), &ctx.cancel);
        tokio::pin!(stop);

        let docker = self.client().await?;
        let body = container::body(
            &self.config,
            command,
            &root,
            workdir,
            ctx.network_allowed(command),
            ctx.job_id.to_string(),
        )?;
        let name = format!(
            "skynet-{}-{}-{:08x}",
            ctx.job_id,
            ctx.step,
            rand::random::<u32>()
        );
        let guard = self
            .create_guarded(docker, name, body, "cannot create the step's container")
            .await?;
        let lines = ChunkLines::new(OutputSink::new(ctx.output, ctx.max_output_bytes));
        let result = self
            .run(docker, guard.id(), command, lines, stop.as_mut())
            .await;
        guard.remove().await;
        let (end, exit_code, counts) = result?;
        Ok(output(end, exit_code, started, counts))
    }
}

type RunEnd = (ExitKind, Option<i32>, (u64, bool));

impl DockerProvider {
    /// Attach, start, stream output until the container exits or `stop`
    /// fires, and report how it ended.
    async fn run<F>(
        &self,
        docker: &Docker,
        id: &str,
        command: &Command,
        mut lines: ChunkLines,
        mut stop: std::pin::Pin<&mut F>,
    ) -> Result<RunEnd>
    where
        F: std::future::Future<Output = ExitKind>,
    {
        let stdin = command.stdin.clone().unwrap_or_default();
        let attach = AttachContainerOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .stdin(!stdin.is_empty())
            // Attached before the start, the stream sees every line; asking
            // for the log replay too can deliver a line twice.
            .stream(true)
            .logs(false)
            .build();
        let attached = docker
            .attach_container(id, Some(attach))
            .await
            .map_err(|e| self.fail("cannot attach to the step's container", &e))?;
        let mut stream = attached.output;
        let mut input = attached.input;
        if let Err(e) = docker.start_container(id, None).await {
            return match container::cannot_run(&e) {
                Some((code, reason)) => {
                    let program = command.argv.first().map_or("", String::as_str);
                    let text = format!("skynet: cannot run `{program}`: {reason}");
                    let kind = lines.note(Stream::Stderr, text, stop.as_mut()).await;
                    let counts = lines.finish(DRAIN_AFTER_STOP).await;
                    Ok(match kind {
                        Some(kind) => (kind, None, counts),
                        None => (ExitKind::Exited, Some(code), counts),
                    })
                }
                None => Err(self.fail("cannot start the step's container", &e)),
            };
        }
        // Stdin is written whole, then closed so the step sees its end.
        let feeder = tokio::spawn(async move {
            if !stdin.is_empty() {
                let _ = input.write_all(stdin.as_bytes()).await;
                let _ = input.shutdown().await;
            }
            // Keep the write half open until the output ends.
            std::future::pending::<()>().await;
        });
        let stopped = loop {
            tokio::select! {
                kind = stop.as_mut() => break Some(kind),
                item = stream.next() => match item {
                    Some(Ok(chunk)) => {
                        let which = stream_of(&chunk);
                        if let Some(kind) = lines.push(which, &chunk.into_bytes(), stop.as_mut()).await {
                            break Some(kind);
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(container = id, error = %e, "attach stream failed; waiting for the exit");
                        break None;
                    }
                    None => break None,
                },
            }
        };
        let end = match stopped {
            Some(kind) => {
                self.stop(docker, id).await;
                drain(&mut stream, &mut lines).await;
                (kind, None)
            }
            // The output ended; the exit status follows (a broken attach
            // stream may leave it running, so the stop still applies).
            None => tokio::select! {
                kind = stop.as_mut() => {
                    self.stop(docker, id).await;
                    (kind, None)
                }
                code = self.exit_code(docker, id) => (ExitKind::Exited, Some(code?)),
            },
        };
        feeder.abort();
        if end.1 == Some(137) && container::oom_killed(docker, id).await {
            let text = format!(
                "skynet: the container ran out of memory (limit {} bytes)",
                self.config.memory_bytes
            );
            let never = std::future::pending::<()>();
            tokio::pin!(never);
            lines.note(Stream::System, text, never).await;
        }
        let counts = lines.finish(DRAIN_AFTER_STOP).await;
        Ok((end.0, end.1, counts))
    }

    /// SIGTERM, then SIGKILL after the grace (the daemon does both).
    async fn stop(&self, docker: &Docker, id: &str) {
        let grace = self.config.kill_grace;
        let result = if grace.is_zero() {
            let options = KillContainerOptionsBuilder::default()
                .signal("SIGKILL")
                .build();
            docker.kill_container(id, Some(options)).await
        } else {
            let secs = i32::try_from(grace.as_secs().max(1)).unwrap_or(i32::MAX);
            let options = StopContainerOptionsBuilder::default().t(secs).build();
            docker.stop_container(id, Some(options)).await
        };
        if let Err(e) = result {
            // Removal with force still kills it.
            tracing::debug!(container = id, error = %e, "stopping the container failed");
        }
    }

    async fn exit_code(&self, docker: &Docker, id: &str) -> Result<i32> {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let code = match docker.wait_container(id, Some(options)).next().await {
            Some(Ok(done)) => done.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(self.fail("cannot read the step's exit status", &e)),
            None => {
                return Err(Error::Provider {
                    provider: "docker".into(),
                    message: "the daemon ended the wait without an exit status".into(),
                });
            }
        };
        Ok(i32::try_from(code).unwrap_or(i32::MAX))
    }
}

/// Output the container still sends after a stop, for a bounded time.
async fn drain<S>(stream: &mut S, lines: &mut ChunkLines)
where
    S: futures::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    let limit = tokio::time::sleep(DRAIN_AFTER_STOP);
    tokio::pin!(limit);
    loop {
        tokio::select! {
            () = limit.as_mut() => return,
            item = stream.next() => match item {
                Some(Ok(chunk)) => {
                    let which = stream_of(&chunk);
                    if lines.push(which, &chunk.into_bytes(), limit.as_mut()).await.is_some() {
                        return;
                    }
                }
                _ => return,
            },
        }
    }
}

fn stream_of(chunk: &LogOutput) -> Stream {
    match chunk {
        LogOutput::StdErr { .. } => Stream::Stderr,
        _ => Stream::Stdout,
    }
}

/// Where `cwd` (inside the canonical `root`) appears in the container.
fn container_path(cwd: &Path, root: &Path) -> Result<String> {
    let rel = cwd.strip_prefix(root).map_err(|_| {
        Error::InvalidInput(format!(
            "working directory {} escapes the sandbox root {}",
            cwd.display(),
            root.display()
        ))
    })?;
    let inside = if rel.as_os_str().is_empty() {
        Path::new(CONTAINER_WORKDIR).to_path_buf()
    } else {
        Path::new(CONTAINER_WORKDIR).join(rel)
    };
    inside.to_str().map(str::to_owned).ok_or_else(|| {
        Error::InvalidInput(format!(
            "working directory {} is not valid UTF-8; Docker needs a UTF-8 path",
            cwd.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_maps_under_the_container_workdir() {
        let root = Path::new("/srv/jobs/a");
        assert_eq!(
            container_path(Path::new("/srv/jobs/a"), root).expect("root"),
            "/work"
        );
        assert_eq!(
            container_path(Path::new("/srv/jobs/a/src/x"), root).expect("sub"),
            "/work/src/x"
        );
        assert!(container_path(Path::new("/srv/jobs/b"), root).is_err());
    }
}
