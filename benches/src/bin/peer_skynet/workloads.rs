//! The workloads, each through the public engine API.

use crate::measure::{cpu_seconds, result, say, unix_now};
use crate::{Command, Engine};
use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use skynet_core::planner::ScriptedPlanner;
use skynet_core::{Action, JobEvent, JobId, JobStatus, Skynet, SubmitRequest, WorkerOptions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Submits in flight while preloading (set-up, not measured).
const PRELOAD_IN_FLIGHT: usize = 32;
/// How long an embedded latency run waits for its last jobs to finish.
const SETTLE: Duration = Duration::from_secs(60);

/// Run one command to its `RESULT` line.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Enqueue {
            engine,
            jobs,
            batch,
        } => enqueue(&engine, jobs, batch).await,
        Command::Preload { engine, jobs } => preload(&engine, jobs).await,
        Command::Worker {
            engine,
            concurrency,
            prefetch,
            once,
            report_starts,
        } => worker(&engine, concurrency, prefetch, once, report_starts).await,
        Command::Paced { engine, pace } => paced(&engine, pace.rate, pace.secs).await,
        Command::LatencyEmbedded {
            engine,
            pace,
            concurrency,
        } => latency_embedded(&engine, pace.rate, pace.secs, concurrency).await,
        Command::SpawnCeiling { jobs, concurrency } => spawn_ceiling(jobs, concurrency).await,
    }
}

/// An engine on `--url` whose every plan is one `true` step, so each job
/// is READ_ONLY and queued (auto-approved) by `submit` itself.
async fn engine(opts: &Engine) -> anyhow::Result<(Skynet, SubmitRequest)> {
    let sk = Skynet::builder()
        .database_url(opts.url.clone())
        .planner(Arc::new(ScriptedPlanner::new(vec![
            Action::ExecuteCommand {
                argv: vec!["true".into()],
            },
        ])))
        .default_provider(opts.provider.clone())
        .build()
        .await
        .context("building the engine")?;
    let root: PathBuf = opts.root.canonicalize().context("the --root directory")?;
    Ok((sk, SubmitRequest::new("peer benchmark job").root(root)))
}

async fn submit(sk: &Skynet, req: &SubmitRequest) -> anyhow::Result<JobId> {
    let job = sk.submit(req.clone()).await?;
    anyhow::ensure!(
        job.status == JobStatus::Queued,
        "job {} is {}, not queued: the bench plan must be READ_ONLY",
        job.id,
        job.status
    );
    Ok(job.id)
}

/// W1: `jobs` submits, `batch` at a time (each submit is its own
/// transaction; the store has no multi-job insert).
async fn enqueue(opts: &Engine, jobs: usize, batch: usize) -> anyhow::Result<()> {
    let (sk, req) = engine(opts).await?;
    let batch = batch.max(1);
    say("MARK begin");
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut left = jobs;
    while left > 0 {
        let n = left.min(batch);
        futures::future::try_join_all((0..n).map(|_| submit(&sk, &req))).await?;
        left -= n;
    }
    finished(jobs, started, cpu0);
    Ok(())
}

async fn preload(opts: &Engine, jobs: usize) -> anyhow::Result<()> {
    let (sk, req) = engine(opts).await?;
    let started = Instant::now();
    futures::stream::iter(0..jobs)
        .map(|_| submit(&sk, &req))
        .buffer_unordered(PRELOAD_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    result(json!({ "jobs": jobs, "secs": started.elapsed().as_secs_f64() }));
    Ok(())
}

/// What a worker process saw on its event bus.
#[derive(Debug, Default)]
struct Seen {
    /// Wall time of the first job entering `running`.
    first_start: Option<f64>,
    /// Wall time of the last job reaching a terminal status.
    last_end: Option<f64>,
    /// Jobs that reached a terminal status.
    finished: usize,
    /// Step starts by job (for latency).
    starts: HashMap<JobId, f64>,
    /// Events missed because the bus overflowed.
    lagged: u64,
}

impl Seen {
    fn note(&mut self, event: JobEvent, report_starts: bool) {
        let now = unix_now();
        match event {
            JobEvent::Status {
                status: JobStatus::Running,
                ..
            } => {
                self.first_start.get_or_insert(now);
            }
            JobEvent::Status { status, .. } if status.is_terminal() => {
                self.last_end = Some(now);
                self.finished += 1;
            }
            JobEvent::StepStarted { job, step: 0, .. } => {
                if report_starts {
                    say(&format!("START {job} {now:.6}"));
                }
                self.starts.insert(job, now);
            }
            _ => {}
        }
    }
}

/// Record bus events until `stop`, then take what is left in the channel.
fn watch(
    mut bus: broadcast::Receiver<JobEvent>,
    stop: CancellationToken,
    report_starts: bool,
) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        loop {
            tokio::select! {
                event = bus.recv() => match event {
                    Ok(e) => seen.note(e, report_starts),
                    Err(broadcast::error::RecvError::Lagged(n)) => seen.lagged += n,
                    Err(broadcast::error::RecvError::Closed) => return seen,
                },
                _ = stop.cancelled() => break,
            }
        }
        loop {
            match bus.try_recv() {
                Ok(e) => seen.note(e, report_starts),
                Err(broadcast::error::TryRecvError::Lagged(n)) => seen.lagged += n,
                Err(_) => return seen,
            }
        }
    })
}

/// Cancel `token` on SIGTERM or SIGINT.
fn cancel_on_signal(token: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        token.cancel();
    });
    Ok(())
}

/// The `skynet worker` loop in this process (W2, W3, W4).
async fn worker(
    opts: &Engine,
    concurrency: usize,
    prefetch: Option<usize>,
    once: bool,
    report_starts: bool,
) -> anyhow::Result<()> {
    let (sk, _) = engine(opts).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone())?;
    let stop = CancellationToken::new();
    let watcher = watch(sk.subscribe(), stop.clone(), report_starts);
    let cpu_ready = cpu_seconds();
    say("READY");
    let options = WorkerOptions {
        concurrency,
        once,
        prefetch,
        ..WorkerOptions::default()
    };
    let report = sk.worker(options, shutdown).await?;
    let cpu_end = cpu_seconds();
    stop.cancel();
    let seen = watcher.await?;
    result(json!({
        "finished": report.jobs_finished,
        "errors": report.errors,
        "seen_finished": seen.finished,
        "first_start": seen.first_start,
        "last_end": seen.last_end,
        "cpu_ready": cpu_ready,
        "cpu_end": cpu_end,
        "lagged": seen.lagged,
    }));
    Ok(())
}

/// Submit `rate` jobs a second on a fixed schedule for `secs` seconds;
/// `on_submit` gets each job and the wall time its submit began.
async fn offer(
    sk: &Skynet,
    req: &SubmitRequest,
    rate: u32,
    secs: u32,
    mut on_submit: impl FnMut(JobId, f64),
) -> anyhow::Result<usize> {
    let total = (rate as usize) * (secs as usize);
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(start + period * i as u32).await;
        let at = unix_now();
        let id = submit(sk, req).await?;
        on_submit(id, at);
    }
    Ok(total)
}

/// W3 client (workers run in other processes).
async fn paced(opts: &Engine, rate: u32, secs: u32) -> anyhow::Result<()> {
    let (sk, req) = engine(opts).await?;
    say("MARK begin");
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let jobs = offer(&sk, &req, rate, secs, |id, at| {
        say(&format!("ENQ {id} {at:.6}"))
    })
    .await?;
    finished(jobs, started, cpu0);
    Ok(())
}

/// W3 embedded: client and worker share one process and one engine, as an
/// application embedding SKYNET on SQLite would.
async fn latency_embedded(
    opts: &Engine,
    rate: u32,
    secs: u32,
    concurrency: usize,
) -> anyhow::Result<()> {
    let (sk, req) = engine(opts).await?;
    let stop = CancellationToken::new();
    let watcher = watch(sk.subscribe(), stop.clone(), false);
    let shutdown = CancellationToken::new();
    let options = WorkerOptions {
        concurrency,
        ..WorkerOptions::default()
    };
    let worker = {
        let sk = sk.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { sk.worker(options, shutdown).await })
    };
    say("MARK begin");
    let cpu0 = cpu_seconds();
    let mut enqueued = HashMap::new();
    let total = offer(&sk, &req, rate, secs, |id, at| {
        enqueued.insert(id, at);
    })
    .await?;
    // Wait (polling the ledger) until every offered job has finished.
    let deadline = Instant::now() + SETTLE;
    loop {
        let pending = sk
            .list(&skynet_core::store::JobFilter {
                statuses: vec![JobStatus::Queued, JobStatus::Running],
                limit: Some(1),
                ..Default::default()
            })
            .await?;
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let report = worker.await??;
    let cpu = cpu_seconds() - cpu0;
    say("MARK end");
    stop.cancel();
    let seen = watcher.await?;
    let latencies_ms: Vec<f64> = enqueued
        .iter()
        .filter_map(|(id, at)| seen.starts.get(id).map(|s| (s - at) * 1000.0))
        .collect();
    result(json!({
        "jobs": total,
        "finished": report.jobs_finished,
        "lat_ms": latencies_ms,
        "cpu": cpu,
        "lagged": seen.lagged,
    }));
    Ok(())
}

/// W4 ceiling: the fastest this process can start `/bin/true` and collect
/// its exit and (empty) output through pipes, as a step runner must.
async fn spawn_ceiling(jobs: usize, concurrency: usize) -> anyhow::Result<()> {
    say("MARK begin");
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    futures::stream::iter(0..jobs)
        .map(|_| async {
            let out = tokio::process::Command::new("/bin/true")
                .stdin(std::process::Stdio::null())
                .output()
                .await?;
            anyhow::ensure!(out.status.success(), "/bin/true failed: {}", out.status);
            Ok(())
        })
        .buffer_unordered(concurrency.max(1))
        .try_for_each(|_| async { Ok(()) })
        .await?;
    finished(jobs, started, cpu0);
    Ok(())
}

/// Mark the end of a measured run and report its jobs, wall time (since
/// `started`) and CPU (since `cpu0`).
fn finished(jobs: impl Into<serde_json::Value>, started: Instant, cpu0: f64) {
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    say("MARK end");
    result(json!({ "jobs": jobs.into(), "secs": secs, "cpu": cpu }));
}
