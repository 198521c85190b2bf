//! `skynet worker` and `skynet workers`.

use crate::exit::Exit;
use crate::render::printable;
use skynet_core::{Result, Skynet, WorkerOptions};
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// Run queued jobs until SIGTERM/Ctrl-C (or, with `--once`, an empty
/// queue). On the signal it stops claiming, lets running jobs finish for
/// the grace period, hands the rest back and exits 0.
pub async fn run(sk: &Skynet, opts: WorkerOptions, out: &mut dyn Write) -> Result<Exit> {
    let shutdown = CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        stopper.cancel();
    });
    tracing::info!(worker = %opts.id, concurrency = opts.concurrency, "worker started");
    // A `--once` drain is too short-lived to watch anything.
    let sentinel = (!opts.once).then(|| sk.sentinel().spawn(shutdown.child_token()));
    // Schedules and the initiative run beside every long-lived worker;
    // their ledger rows keep each tick and each budget exact across them.
    let autonomy = (!opts.once).then(|| sk.spawn_autonomy(shutdown.child_token()));
    let report = sk.worker(opts, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(s) = sentinel {
        let _ = s.await;
    }
    if let Some(a) = autonomy {
        let _ = a.await;
    }
    let report = report?;
    writeln!(
        out,
        "worker finished: {} jobs run, {} recovered, {} errors{}",
        report.jobs_finished,
        report.jobs_recovered,
        report.errors,
        if report.released {
            "; running jobs were handed back"
        } else {
            ""
        }
    )?;
    Ok(Exit::Ok)
}

/// Print the worker registry.
pub async fn list(sk: &Skynet, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let workers = sk.workers().await?;
    if json {
        super::print_json(out, &workers)?;
        return Ok(Exit::Ok);
    }
    if workers.is_empty() {
        writeln!(out, "No workers have registered.")?;
        return Ok(Exit::Ok);
    }
    writeln!(
        out,
        "{:<32} {:<8} {:>7} {:<16} {:>7} {:<20}",
        "WORKER", "STATE", "RUNNING", "HOST", "PID", "LAST SEEN"
    )?;
    for w in &workers {
        writeln!(
            out,
            "{:<32} {:<8} {:>3}/{:<3} {:<16} {:>7} {:<20}",
            printable(&w.info.id),
            w.state.as_str(),
            w.running,
            w.info.capacity,
            printable(&w.info.host),
            w.info.pid,
            w.heartbeat_at.format("%Y-%m-%d %H:%M:%S")
        )?;
    }
    Ok(Exit::Ok)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn wait_for_stop_signal() {
    stop_signal().await;
}

/// Resolves on SIGTERM or Ctrl-C; the handlers are installed at once, not
/// when first polled, so a signal sent right after a readiness message is
/// not lost to the default action (dying without a graceful stop).
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
