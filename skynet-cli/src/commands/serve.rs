//! `skynet serve`: the HTTP control plane plus in-process workers.

use super::worker::stop_signal;
use crate::exit::Exit;
use skynet_core::config::Settings;
use skynet_core::engine::worker::default_worker_id;
use skynet_core::{Error, Result, WorkerOptions};
use skynet_http::{Auth, HttpConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `serve`'s flags.
pub struct ServeOptions {
    pub bind: SocketAddr,
    pub workers: usize,
    pub root: Option<PathBuf>,
    pub rate_limit: u32,
    pub rate_burst: u32,
    pub insecure_no_auth: bool,
}

/// Serve until SIGTERM/Ctrl-C: stop accepting, finish in-flight requests,
/// end event streams, and let the in-process workers finish their jobs.
pub async fn run(settings: &Settings, opts: ServeOptions, out: &mut dyn Write) -> Result<Exit> {
    let insecure = if opts.insecure_no_auth {
        if !opts.bind.ip().is_loopback() {
            return Err(Error::InvalidInput(format!(
                "--insecure-no-auth serves without API keys, so it binds loopback only; {} is not \
                 a loopback address (use 127.0.0.1)",
                opts.bind.ip()
            )));
        }
        eprintln!(
            "WARNING: --insecure-no-auth: NO API KEYS. Anyone who can reach {} can submit, \
             approve and run jobs as admin. Use this for local development only.",
            opts.bind
        );
        tracing::warn!(bind = %opts.bind, "serving WITHOUT authentication (--insecure-no-auth)");
        true
    } else {
        false
    };
    // Callers are remote: they read their root only unless the operator
    // configured a read scope.
    let sk = settings.clone().for_remote_callers().build().await?;
    let auth = if insecure {
        Auth::InsecureNoAuth
    } else {
        // The keys live in the ledger: the engine's store (and pool) serves them.
        Auth::Keys(sk.store().clone())
    };
    let root = match opts.root {
        Some(r) => r,
        None => std::env::current_dir()?,
    };
    let mut config = HttpConfig::new(auth, skynet_core::policy::resolve_root(Some(root))?);
    config.rate_per_second = opts.rate_limit;
    config.rate_burst = opts.rate_burst;
    config.separation_of_duties = settings.separation_of_duties;
    config.failed_auth_limit = settings.http.failed_auth_limit;
    config.failed_auth_window = settings.http.failed_auth_window;
    config.cors_origins = settings.http.cors_origins.clone();
    let shutdown = config.shutdown.clone();
    let app = skynet_http::router(sk.clone(), config);
    let app = match super::telegram::webhook(settings, &sk, shutdown.clone()).await? {
        Some(hook) => app.merge(hook),
        None => app,
    };
    // Before the readiness line: a stop right after it is a graceful one.
    let stop_signal = stop_signal();
    let listener = super::listen(opts.bind, "--bind").await?;
    let local = listener.local_addr()?;
    writeln!(
        out,
        "skynet serving on http://{local} ({} workers)",
        opts.workers
    )?;
    out.flush()?;
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        stop_signal.await;
        tracing::info!("stop signal: finishing in-flight requests and running jobs");
        stopper.cancel();
    });
    let workers = (opts.workers > 0).then(|| {
        let sk = sk.clone();
        let stop = shutdown.clone();
        let opts = WorkerOptions {
            id: default_worker_id(),
            concurrency: opts.workers,
            ..Default::default()
        };
        tokio::spawn(async move { sk.worker(opts, stop).await })
    });
    let sentinel = sk.sentinel().spawn(shutdown.child_token());
    let autonomy = sk.spawn_autonomy(shutdown.child_token());
    let stop = shutdown.clone();
    let (limits, timeouts) = crate::commands::http_limits(&settings.http);
    skynet_http::serve_with(listener, app, limits, timeouts, async move {
        stop.cancelled().await
    })
    .await?;
    if let Some(w) = workers {
        match w.await {
            Ok(Ok(report)) => writeln!(
                out,
                "workers finished: {} jobs run, {} recovered, {} errors",
                report.jobs_finished, report.jobs_recovered, report.errors
            )?,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(Error::Store(format!("worker task failed: {e}"))),
        }
    }
    shutdown.cancel();
    let _ = sentinel.await;
    let _ = autonomy.await;
    writeln!(out, "skynet stopped")?;
    Ok(Exit::Ok)
}
