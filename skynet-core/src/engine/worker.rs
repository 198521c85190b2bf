//! The worker loop: claim, run, heartbeat, recover.

use super::{JobEvent, Skynet};
use crate::Result;
use crate::job::JobStatus;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's id (default: `host-pid-random`).
    pub id: String,
    /// Jobs run at once (default 1).
    pub concurrency: usize,
    /// Stop when the queue is empty instead of waiting for more.
    pub once: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            id: default_worker_id(),
            concurrency: 1,
            once: false,
        }
    }
}

/// A worker id that says where it runs: `host-pid-xxxx`.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let tag: u16 = rand::random();
    format!("{host}-{}-{tag:04x}", std::process::id())
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs it ran to an end (any terminal status).
    pub jobs_finished: usize,
    /// Jobs recovered from dead workers by its reaper.
    pub jobs_recovered: usize,
    /// Runs that ended in an error of the engine itself (logged).
    pub errors: usize,
}

impl Skynet {
    /// Run a worker until `shutdown` is cancelled (or, with `once`, until
    /// the queue is empty). On shutdown it stops claiming and lets running
    /// jobs finish. Expired leases are recovered at start and every half
    /// lease.
    pub async fn worker(
        &self,
        opts: WorkerOptions,
        shutdown: CancellationToken,
    ) -> Result<WorkerReport> {
        let cfg = self.inner.config.clone();
        let concurrency = opts.concurrency.max(1);
        let mut report = WorkerReport::default();
        let mut running: JoinSet<Result<crate::Job>> = JoinSet::new();
        let mut bus = self.subscribe();
        let reap_every = cfg.lease / 2;
        let mut next_reap = tokio::time::Instant::now();
        loop {
            // A store error (busy, restarting) must not take the running
            // jobs down with the loop: note it, and try again next round.
            if tokio::time::Instant::now() >= next_reap {
                match self.recover().await {
                    Ok(reaped) => report.jobs_recovered += reaped.len(),
                    Err(e) => {
                        tracing::warn!(worker = %opts.id, "recovering expired leases failed: {e}");
                        report.errors += 1;
                    }
                }
                next_reap = tokio::time::Instant::now() + reap_every;
            }
            let mut claimed = 0;
            if !shutdown.is_cancelled() && running.len() < concurrency {
                let free = concurrency - running.len();
                match self.inner.store.claim(&opts.id, cfg.lease, free).await {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let sk = self.clone();
                            running.spawn(async move { sk.run_claimed(job).await });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(worker = %opts.id, "claiming failed: {e}");
                        report.errors += 1;
                    }
                }
            }
            if claimed > 0 {
                continue;
            }
            if running.is_empty() && (opts.once || shutdown.is_cancelled()) {
                break;
            }
            // Nothing to claim right now: wait for a job to end, a wake-up
            // from this process, the poll interval, or shutdown.
            let wake_at = tokio::time::Instant::now() + poll_delay(&cfg, next_reap);
            loop {
                tokio::select! {
                    Some(done) = running.join_next(), if !running.is_empty() => {
                        tally(&mut report, done);
                        break;
                    }
                    event = bus.recv() => match event {
                        // New work (or we missed events): look at the queue.
                        Ok(JobEvent::Status { status: JobStatus::Queued, .. })
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        _ => continue,
                    },
                    _ = tokio::time::sleep_until(wake_at) => break,
                    _ = shutdown.cancelled(), if !shutdown.is_cancelled() => break,
                }
            }
        }
        while let Some(done) = running.join_next().await {
            tally(&mut report, done);
        }
        Ok(report)
    }
}

fn poll_delay(cfg: &super::EngineConfig, next_reap: tokio::time::Instant) -> Duration {
    cfg.poll_interval
        .min(next_reap.saturating_duration_since(tokio::time::Instant::now()))
        .max(Duration::from_millis(1))
}

fn tally(
    report: &mut WorkerReport,
    done: std::result::Result<Result<crate::Job>, tokio::task::JoinError>,
) {
    match done {
        Ok(Ok(_)) => report.jobs_finished += 1,
        Ok(Err(e)) => {
            tracing::error!("job run failed: {e}");
            report.errors += 1;
        }
        Err(e) => {
            tracing::error!("job task panicked: {e}");
            report.errors += 1;
        }
    }
}
