//! The worker loop: claim, run, heartbeat, recover.

use super::committer::CheckpointWriter;
use super::runner::AbortOnDrop;
use super::slots::Slots;
use super::{JobEvent, Skynet};
use crate::Result;
use crate::job::JobStatus;
use crate::store::{WorkerInfo, WorkerRecord};
use std::sync::Arc;
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
    /// After shutdown is asked for, how long running jobs may take to
    /// finish before they are handed back (default 30 s). See
    /// [`Completion::Released`](crate::store::Completion::Released).
    pub grace: Duration,
    /// Record this worker in the registry (default true).
    pub register: bool,
    /// Jobs claimed ahead, beyond those running, so a busy worker claims in
    /// batches; they keep their leases alive while they wait and are handed
    /// back at once on shutdown (default `None`: as many as `concurrency`).
    pub prefetch: Option<usize>,
    /// How often the worker heartbeats in the registry (default 1 s); a
    /// worker silent for ten of these is marked offline.
    pub registry_every: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            id: default_worker_id(),
            concurrency: 1,
            once: false,
            grace: Duration::from_secs(30),
            register: true,
            prefetch: None,
            registry_every: REGISTRY_EVERY,
        }
    }
}

/// This machine's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// A worker id that says where it runs: `host-pid-xxxx`.
pub fn default_worker_id() -> String {
    let tag: u16 = rand::random();
    format!("{}-{}-{tag:04x}", host_name(), std::process::id())
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
    /// Whether the grace period ran out and running jobs were handed back.
    pub released: bool,
}

/// The registry's view of a worker is refreshed this often by default;
/// a worker silent for [`crate::engine::EngineConfig::worker_offline_after`]
/// (and at least two refreshes) is marked offline.
pub const REGISTRY_EVERY: Duration = Duration::from_secs(1);

impl Skynet {
    /// Run a worker until `shutdown` is cancelled (or, with `once`, until
    /// the queue is empty). On shutdown it stops claiming, gives running
    /// jobs [`WorkerOptions::grace`] to finish, then hands the rest back
    /// (stopping their steps). Expired leases are recovered at start and
    /// every half lease. Idle, it wakes on the store's work signal
    /// (PostgreSQL `NOTIFY`), on jobs queued in this process, or at the
    /// poll interval.
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
        let mut signal = self.inner.store.work_signal();
        let release = CancellationToken::new();
        let mut release_at: Option<tokio::time::Instant> = None;
        let reap_every = cfg.lease / 2;
        let mut next_reap = tokio::time::Instant::now();
        // Runs finishing together share a transaction.
        let (writer, committer) = CheckpointWriter::grouped(self.inner.store.clone());
        let prefetch = opts.prefetch.unwrap_or(concurrency);
        let slots = Arc::new(Slots::new(concurrency, prefetch, shutdown.clone()));
        // The registry is kept up to date beside the loop, so its writes
        // never delay a claim.
        let registry_stop = CancellationToken::new();
        let registry = if opts.register {
            self.register(&opts, concurrency).await;
            let (sk, id, slots, stop, every) = (
                self.clone(),
                opts.id.clone(),
                slots.clone(),
                registry_stop.clone(),
                opts.registry_every,
            );
            // Aborted if this future is dropped: a gone worker must fall silent.
            Some(AbortOnDrop(tokio::spawn(async move {
                sk.keep_registry(&id, &slots, every, stop).await
            })))
        } else {
            None
        };
        loop {
            let now = tokio::time::Instant::now();
            if shutdown.is_cancelled() && release_at.is_none() {
                release_at = Some(now + opts.grace);
            }
            if release_at.is_some_and(|at| now >= at) && !release.is_cancelled() {
                if !running.is_empty() {
                    tracing::warn!(
                        worker = %opts.id,
                        jobs = running.len(),
                        "grace period over: handing running jobs back"
                    );
                    report.released = true;
                }
                release.cancel();
            }
            // A store error (busy, restarting) must not take the running
            // jobs down with the loop: note it, and try again next round.
            if now >= next_reap {
                match self.recover().await {
                    Ok(reaped) => report.jobs_recovered += reaped.len(),
                    Err(e) => {
                        tracing::warn!(worker = %opts.id, "recovering expired leases failed: {e}");
                        report.errors += 1;
                    }
                }
                next_reap = tokio::time::Instant::now() + reap_every;
            }
            while let Some(done) = running.try_join_next() {
                tally(&mut report, done);
            }
            // One claim fills every free place (running and claimed ahead).
            let wanted = slots.claimable();
            let mut claimed = 0;
            if !shutdown.is_cancelled() && wanted > 0 {
                match self.inner.store.claim(&opts.id, cfg.lease, wanted).await {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let sk = self.clone();
                            let release = release.clone();
                            let writer = writer.clone();
                            let ticket = slots.ticket();
                            running.spawn(async move {
                                sk.run_claimed(job, &release, &writer, ticket).await
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(worker = %opts.id, "claiming failed: {e}");
                        report.errors += 1;
                    }
                }
            }
            // A full claim: there may be more. A short one emptied the queue.
            if claimed > 0 && claimed == wanted && slots.claimable() > 0 {
                continue;
            }
            if running.is_empty() && (opts.once || shutdown.is_cancelled()) {
                break;
            }
            // Nothing to claim right now: wait for a job to end, a wake-up,
            // the poll interval, the end of the grace period, or shutdown.
            let mut wake_at = now + poll_delay(&cfg, next_reap);
            if let Some(at) = release_at.filter(|_| !release.is_cancelled()) {
                wake_at = wake_at.min(at);
            }
            // Full: a slot freed (before its run's commit) means claim again.
            let full = slots.claimable() == 0 && !shutdown.is_cancelled();
            loop {
                tokio::select! {
                    Some(done) = running.join_next(), if !running.is_empty() => {
                        tally(&mut report, done);
                        break;
                    }
                    _ = slots.until_claimable(), if full => break,
                    event = bus.recv() => match event {
                        // New work (or we missed events): look at the queue.
                        Ok(JobEvent::Status { status: JobStatus::Queued, .. })
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        _ => continue,
                    },
                    changed = wait_signal(&mut signal) => {
                        if changed.is_err() {
                            signal = None;
                        }
                        break;
                    }
                    _ = tokio::time::sleep_until(wake_at) => break,
                    _ = shutdown.cancelled(), if !shutdown.is_cancelled() => break,
                }
            }
        }
        while let Some(done) = running.join_next().await {
            tally(&mut report, done);
        }
        drop(writer);
        if let Err(e) = committer.await {
            tracing::error!(worker = %opts.id, "the checkpoint committer failed: {e}");
        }
        registry_stop.cancel();
        if let Some(mut registry) = registry {
            // Its last heartbeat must not land after the stop is recorded.
            let _ = (&mut registry.0).await;
        }
        if opts.register
            && let Err(e) = self.inner.store.worker_stopped(&opts.id).await
        {
            tracing::warn!(worker = %opts.id, "recording the stop in the registry failed: {e}");
        }
        Ok(report)
    }

    /// Register in the worker registry; a failure is logged, not fatal
    /// (the queue works without the registry).
    async fn register(&self, opts: &WorkerOptions, capacity: usize) {
        let info = WorkerInfo {
            id: opts.id.clone(),
            host: host_name(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            providers: self.provider_names(),
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
        };
        if let Err(e) = self.inner.store.register_worker(&info).await {
            tracing::warn!(worker = %opts.id, "registering the worker failed: {e}");
        }
    }

    /// Heartbeat in the registry every `every` until `stop`.
    async fn keep_registry(
        &self,
        id: &str,
        slots: &Slots,
        every: Duration,
        stop: CancellationToken,
    ) {
        loop {
            self.registry_tick(id, slots.busy(), every).await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Heartbeat in the registry and mark silent workers offline.
    async fn registry_tick(&self, id: &str, running: usize, every: Duration) {
        let store = &self.inner.store;
        let running = u32::try_from(running).unwrap_or(u32::MAX);
        if let Err(e) = store.worker_heartbeat(id, running).await {
            tracing::warn!(worker = %id, "registry heartbeat failed: {e}");
        }
        let stale = self.inner.config.worker_offline_after.max(every * 2);
        let before = chrono::Utc::now() - chrono::Duration::from_std(stale).unwrap_or_default();
        if let Err(e) = store.mark_stale_workers(before).await {
            tracing::warn!(worker = %id, "marking silent workers offline failed: {e}");
        }
    }

    /// How many workers are online now (busy or idle), marking silent
    /// ones offline first: queued work waits when this is zero.
    pub async fn workers_online(&self) -> Result<usize> {
        Ok(self
            .workers()
            .await?
            .iter()
            .filter(|w| w.state != crate::store::WorkerState::Offline)
            .count())
    }

    /// The registry: every worker that ever registered, marking those
    /// silent for too long offline first.
    pub async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        let stale = self.inner.config.worker_offline_after;
        let before = chrono::Utc::now() - chrono::Duration::from_std(stale).unwrap_or_default();
        self.inner.store.mark_stale_workers(before).await?;
        self.inner.store.workers().await
    }
}

/// Wait for the next tick of the store's work signal; pending forever
/// without one.
async fn wait_signal(
    signal: &mut Option<tokio::sync::watch::Receiver<u64>>,
) -> std::result::Result<(), tokio::sync::watch::error::RecvError> {
    match signal {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
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
