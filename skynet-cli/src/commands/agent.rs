//! `skynet agent`: a remote execution agent for the `gateway` provider.

use super::worker::wait_for_stop_signal;
use crate::exit::Exit;
use skynet_core::config::Settings;
use skynet_core::provider::LocalProvider;
use skynet_core::provider::gateway::agent::{AgentJobs, AgentLimits};
use skynet_core::provider::gateway::read_token_file;
use skynet_core::{Error, Result};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `agent`'s flags.
pub struct AgentOptions {
    pub listen: SocketAddr,
    pub token_file: PathBuf,
    pub root: Option<PathBuf>,
    /// Certificate chain and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Serve the gateway protocol until SIGTERM/Ctrl-C. Steps run with the
/// local provider under the configured sandbox mode, inside the root.
pub async fn run(settings: &Settings, opts: AgentOptions, out: &mut dyn Write) -> Result<Exit> {
    // A bad --token-file is the caller's input here, not configuration.
    let token = read_token_file(&opts.token_file).map_err(|e| match e {
        Error::Config(message) => Error::InvalidInput(message),
        other => other,
    })?;
    let root = match opts.root {
        Some(r) => r,
        None => std::env::current_dir()?,
    };
    let local = LocalProvider::new()
        .with_sandbox(settings.sandbox)
        .with_writable(settings.sandbox_writable.clone())
        .with_read_only_cpu(settings.read_only_cpu);
    // The agent judges every step with its own rules and read scope.
    let policy = settings.policy()?;
    let jobs = AgentJobs::with_policy(&root, local, AgentLimits::default(), policy)?;
    let app = skynet_http::agent::router(jobs.clone(), &token);
    let listener = super::listen(opts.listen, "--listen").await?;
    let local_addr = listener.local_addr()?;
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    writeln!(
        out,
        "skynet agent listening on {scheme}://{local_addr} (root {})",
        jobs.root().display()
    )?;
    out.flush()?;
    let stop = async {
        wait_for_stop_signal().await;
        tracing::info!("stop signal: the agent stops; running steps are killed");
    };
    match opts.tls {
        Some((cert, key)) => {
            let tls = skynet_http::agent::tls_listener(listener, &cert, &key)?;
            skynet_http::agent::serve_tls(tls, app, stop).await?;
        }
        None => {
            let (limits, timeouts) = crate::commands::http_limits(&settings.http);
            skynet_http::serve_with(listener, app, limits, timeouts, stop).await?;
        }
    }
    Ok(Exit::Ok)
}
