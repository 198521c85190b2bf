//! The container a step runs in: how it is described to the daemon, how
//! daemon errors read, and the guard that removes it however the step ends.

use super::{CONTAINER_WORKDIR, DockerConfig, JOB_LABEL};
use crate::plan::Command;
use crate::provider::local::prepare::GIT_HARDENING;
use crate::{Error, Result};
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use std::collections::HashMap;
use std::path::Path;

/// The create request for one step: argv exactly as given (the image's
/// entrypoint is replaced, no shell), the canonical sandbox `root` mounted
/// at [`CONTAINER_WORKDIR`], read-only image filesystem with a private
/// `/tmp`, no capabilities, no privilege gain, the configured limits, and
/// a network only when `network` is true.
pub(super) fn body(
    config: &DockerConfig,
    command: &Command,
    root: &Path,
    workdir: String,
    network: bool,
    job: String,
) -> Result<ContainerCreateBody> {
    let Some((program, args)) = command.argv.split_first() else {
        return Err(Error::InvalidInput(
            "the command has no program: argv is empty".into(),
        ));
    };
    if !(config.cpus.is_finite() && config.cpus > 0.0) {
        return Err(Error::Config(format!(
            "docker cpus must be a positive number, not {}",
            config.cpus
        )));
    }
    let source = root.to_str().ok_or_else(|| {
        Error::InvalidInput(format!(
            "sandbox root {} is not valid UTF-8; Docker needs a UTF-8 path",
            root.display()
        ))
    })?;
    let mut env: Vec<String> = GIT_HARDENING
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.extend(command.env.iter().map(|(k, v)| format!("{k}={v}")));
    let mut labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
    labels.insert(JOB_LABEL.into(), job);
    labels.insert("skynet.provider".into(), "docker".into());
    let user = config.user.clone().unwrap_or_else(|| {
        format!(
            "{}:{}",
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw()
        )
    });
    let stdin = command.stdin.as_deref().is_some_and(|s| !s.is_empty());
    let network_mode = if network {
        config.network.clone()
    } else {
        "none".into()
    };
    let host_config = HostConfig {
        mounts: Some(vec![Mount {
            target: Some(CONTAINER_WORKDIR.into()),
            source: Some(source.into()),
            typ: Some(MountType::BIND),
            read_only: Some(false),
            ..Default::default()
        }]),
        network_mode: Some(network_mode),
        memory: Some(config.memory_bytes),
        // Same as memory: no swap on top of the limit.
        memory_swap: Some(config.memory_bytes),
        nano_cpus: Some((config.cpus * 1e9) as i64),
        pids_limit: Some(config.pids_limit),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            "rw,nosuid,nodev,size=64m".to_string(),
        )])),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        // A real PID 1 forwards the stop signal and reaps orphans.
        init: Some(true),
        auto_remove: Some(false),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(config.image.clone()),
        entrypoint: Some(vec![program.clone()]),
        cmd: Some(args.to_vec()),
        working_dir: Some(workdir),
        env: Some(env),
        user: Some(user),
        labels: Some(labels),
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(stdin),
        stdin_once: Some(stdin),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// The create request for the container a step's outputs are copied out
/// of: the configured image, never started (its program does not exist),
/// the canonical sandbox `root` mounted read-only at [`CONTAINER_WORKDIR`]
/// as the step saw it, no network, no capabilities.
pub(super) fn collector_body(
    config: &DockerConfig,
    root: &Path,
    job: String,
) -> Result<ContainerCreateBody> {
    let source = root.to_str().ok_or_else(|| {
        Error::InvalidInput(format!(
            "sandbox root {} is not valid UTF-8; Docker needs a UTF-8 path",
            root.display()
        ))
    })?;
    let mut labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
    labels.insert(JOB_LABEL.into(), job);
    labels.insert("skynet.provider".into(), "docker".into());
    labels.insert("skynet.role".into(), "outputs".into());
    Ok(ContainerCreateBody {
        image: Some(config.image.clone()),
        entrypoint: Some(vec!["/skynet-outputs-never-started".into()]),
        cmd: Some(Vec::new()),
        working_dir: Some(CONTAINER_WORKDIR.into()),
        labels: Some(labels),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(vec![Mount {
                target: Some(CONTAINER_WORKDIR.into()),
                source: Some(source.into()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            }]),
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            auto_remove: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// A daemon error in words a person can act on.
pub(super) fn describe(e: &DockerError, image: &str) -> String {
    match e {
        DockerError::DockerResponseServerError {
            status_code: 404,
            message,
        } if message.contains("image") => format!(
            "image {image} is not on the daemon ({message}); build, import or pull it, or set SKYNET_DOCKER_IMAGE"
        ),
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => format!("the daemon answered {status_code}: {message}"),
        DockerError::IOError { .. }
        | DockerError::HyperResponseError { .. }
        | DockerError::HyperLegacyError { .. }
        | DockerError::SocketNotFoundError(_)
        | DockerError::RequestTimeoutError => {
            format!("{e} (is dockerd running, and can this user reach its socket?)")
        }
        other => other.to_string(),
    }
}

/// Whether the configuration causes `e`: the image is not on the daemon,
/// or no daemon listens where the settings point.
pub(super) fn is_configuration(e: &DockerError) -> bool {
    match e {
        DockerError::DockerResponseServerError {
            status_code: 404,
            message,
        } => message.contains("image"),
        DockerError::SocketNotFoundError(_) => true,
        DockerError::IOError { err } => matches!(
            err.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
        ),
        _ => false,
    }
}

/// A start refused because the program cannot run: the step fails like a
/// shell would (127 missing, 126 not executable), as on the local provider.
pub(super) fn cannot_run(e: &DockerError) -> Option<(i32, &'static str)> {
    let DockerError::DockerResponseServerError { message, .. } = e else {
        return None;
    };
    let message = message.to_ascii_lowercase();
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        Some((127, "No such file or directory"))
    } else if message.contains("permission denied") {
        Some((126, "Permission denied"))
    } else {
        None
    }
}

/// Did the kernel kill the container for exceeding its memory limit?
pub(super) async fn oom_killed(docker: &Docker, id: &str) -> bool {
    match docker.inspect_container(id, None).await {
        Ok(info) => info.state.and_then(|s| s.oom_killed).unwrap_or_default(),
        Err(_) => false,
    }
}

/// Removes its container when told to, or, if the step's future is
/// dropped first (the runner gave up on it), from a spawned task.
pub(super) struct ContainerGuard {
    docker: Docker,
    id: String,
    removed: bool,
}

impl ContainerGuard {
    /// Guard the container `id` (its id or its name).
    pub(super) fn new(docker: Docker, id: String) -> ContainerGuard {
        ContainerGuard {
            docker,
            id,
            removed: false,
        }
    }

    /// The container's id.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Remove the container (killing it if it still runs).
    pub(super) async fn remove(mut self) {
        self.removed = true;
        remove(&self.docker, &self.id).await;
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let docker = self.docker.clone();
            let id = std::mem::take(&mut self.id);
            runtime.spawn(async move { remove(&docker, &id).await });
        } else {
            tracing::warn!(container = %self.id, "container left behind: no runtime to remove it");
        }
    }
}

async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => {}
        // Already gone.
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => tracing::warn!(container = id, error = %e, "cannot remove the step's container"),
    }
}
