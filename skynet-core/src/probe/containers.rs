//! The containers probe: list, logs and inspect through the Docker Engine
//! API from SKYNET's process (bollard), rendered as text lines. No step
//! ever gets the Docker socket, and no `docker` program runs.

use super::ProbeConfig;
use super::run::Report;
use crate::Result;
use crate::action::ContainerView;

#[cfg(not(feature = "docker"))]
pub(super) async fn run(
    _config: &ProbeConfig,
    _what: ContainerView,
    _name: Option<&str>,
) -> Result<Report> {
    Err(crate::provider::feature_missing(
        "containers are read through the Docker Engine API",
        "docker",
    ))
}

#[cfg(feature = "docker")]
pub(super) async fn run(
    config: &ProbeConfig,
    what: ContainerView,
    name: Option<&str>,
) -> Result<Report> {
    use bollard::query_parameters::{ListContainersOptionsBuilder, LogsOptionsBuilder};
    use futures::StreamExt;
    let docker = connect(config).await?;
    let mut report = Report::default();
    let name = name.unwrap_or_default();
    match what {
        ContainerView::List => {
            let options = ListContainersOptionsBuilder::default().all(false).build();
            let list = docker
                .list_containers(Some(options))
                .await
                .map_err(|e| unreachable_daemon(config, &e))?;
            report.out(format!(
                "{:<12}  {:<24}  {:<28}  {}",
                "ID", "NAME", "IMAGE", "STATUS"
            ));
            for c in list {
                let id: String = c.id.unwrap_or_default().chars().take(12).collect();
                let names = c
                    .names
                    .unwrap_or_default()
                    .iter()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                report.out(format!(
                    "{id:<12}  {names:<24}  {:<28}  {}",
                    c.image.unwrap_or_default(),
                    c.status.unwrap_or_default()
                ));
            }
        }
        ContainerView::Logs => {
            let options = LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .tail(&super::CONTAINER_LOG_LINES.to_string())
                .build();
            let mut logs = docker.logs(name, Some(options));
            while let Some(item) = logs.next().await {
                match item {
                    Ok(bollard::container::LogOutput::StdErr { message }) => report.lines.push((
                        crate::provider::Stream::Stderr,
                        String::from_utf8_lossy(&message).into_owned(),
                    )),
                    Ok(other) => {
                        report.out(String::from_utf8_lossy(&other.into_bytes()).into_owned())
                    }
                    Err(e) => {
                        report.err(not_found(name, &e));
                        break;
                    }
                }
            }
        }
        ContainerView::Inspect => match docker.inspect_container(name, None).await {
            Ok(mut info) => {
                // Environment values are often secrets: show the names only.
                if let Some(env) = info.config.as_mut().and_then(|c| c.env.as_mut()) {
                    for var in env.iter_mut() {
                        if let Some((key, _)) = var.split_once('=') {
                            *var = format!("{key}=<hidden>");
                        }
                    }
                }
                let text = serde_json::to_string_pretty(&info).unwrap_or_default();
                report.out(text);
            }
            Err(e) => report.err(not_found(name, &e)),
        },
    }
    Ok(report)
}

#[cfg(feature = "docker")]
async fn connect(config: &ProbeConfig) -> Result<bollard::Docker> {
    let docker = match &config.docker_host {
        Some(host) => bollard::Docker::connect_with_host(host),
        None => bollard::Docker::connect_with_defaults(),
    }
    .map_err(|e| unreachable_daemon(config, &e))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| unreachable_daemon(config, &e))
}

/// No daemon: the same every try, so a configuration error (not retried).
#[cfg(feature = "docker")]
fn unreachable_daemon(config: &ProbeConfig, e: &bollard::errors::Error) -> crate::Error {
    let at = config
        .docker_host
        .clone()
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_else(|| "the default socket".into());
    crate::Error::Config(format!(
        "cannot list containers: the Docker daemon at {at} does not answer ({e}); start dockerd or point [docker] host / SKYNET_DOCKER_HOST at it"
    ))
}

#[cfg(feature = "docker")]
fn not_found(name: &str, e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => format!("no container named {name}; `list docker containers` shows them"),
        other => format!("container {name}: {other}"),
    }
}
