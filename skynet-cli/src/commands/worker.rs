//! `skynet worker`.

use crate::exit::Exit;
use skynet_core::engine::worker::default_worker_id;
use skynet_core::{Result, Skynet, WorkerOptions};
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// Run queued jobs until SIGTERM/Ctrl-C (or, with `--once`, an empty queue).
pub async fn run(
    sk: &Skynet,
    once: bool,
    concurrency: usize,
    id: Option<String>,
    out: &mut dyn Write,
) -> Result<Exit> {
    let opts = WorkerOptions {
        id: id.unwrap_or_else(default_worker_id),
        concurrency,
        once,
    };
    let shutdown = CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        stopper.cancel();
    });
    tracing::info!(worker = %opts.id, "worker started");
    let report = sk.worker(opts, shutdown).await?;
    writeln!(
        out,
        "worker finished: {} jobs run, {} recovered, {} errors",
        report.jobs_finished, report.jobs_recovered, report.errors
    )?;
    Ok(Exit::Ok)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
