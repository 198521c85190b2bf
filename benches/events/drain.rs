//! The 10,000-job drain with the event engine on, beside the same build
//! with it off, alternating in one process (issue 19's performance goal:
//! median ON/OFF throughput ≥ 0.9×).
//!
//! Both variants queue JOBS no-op jobs (mock provider, real SQLite file,
//! untimed) and time one worker (16 at once) draining them, as
//! `benches/benches/queue_drain.rs` does. The ledger writes the global
//! event log in both (it is part of every job's transaction). ON adds what
//! `skynet serve` runs beside it: the autonomy loops
//! (`Skynet::spawn_autonomy`: schedules, triggers, default handlers, the
//! webhook delivery loop, gc), one durable consumer (`run_handler`)
//! of `job.succeeded`, and one webhook subscribed to the job-finished
//! events, delivering to an axum receiver on 127.0.0.1. They start before
//! the jobs are queued and have read the log to its end before the clock
//! starts; after the drain the bench also reports how long the consumer
//! and the webhook took to catch up (not part of the ratio).
//!
//! `cargo run --release -p skynet-benches --bin drain-events [-- ROUNDS [JOBS [PART]]]`
//! (default 3 rounds of 10,000 jobs; each round runs OFF then ON, the
//! next ON then OFF). PART, to see what each part costs, runs for ON
//! only: `hooks` the webhook delivery loop and the consumer (not the
//! other autonomy loops), `webhook` the delivery loop alone, `consumer`
//! the consumer alone. `DRAIN_RECEIVER=process` runs the receiver in a
//! process of its own (`webhook-receiver`, built beside this program).
//! Diagnostics: `DRAIN_SQL_PROFILE=1` (time per statement),
//! `DRAIN_THREADS=1` (CPU per thread pool and the WAL's size after each
//! drain), `DRAIN_WEBHOOK_LANE=N` (requests in flight to the receiver).

use async_trait::async_trait;
use skynet_benches::receiver::Receiver;
use skynet_benches::sql_profile;
use skynet_core::events::webhooks::{NewWebhook, WebhookConfig};
use skynet_core::events::{EventHandler, EventPosition, EventType, SystemEvent, run_handler};
use skynet_core::planner::ScriptedPlanner;
use skynet_core::probe::NetworkAllow;
use skynet_core::store::event_log::{EventLogQuery, LogView};
use skynet_core::{Action, EngineConfig, Principal, Skynet, SubmitRequest, WorkerOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The durable consumer: counts the jobs that succeeded.
struct Finished {
    seen: Arc<AtomicUsize>,
}

#[async_trait]
impl EventHandler for Finished {
    fn name(&self) -> &str {
        "bench-finished"
    }
    fn types(&self) -> Vec<EventType> {
        vec![EventType::JobSucceeded]
    }
    async fn handle(&self, _event: &SystemEvent) -> skynet_core::Result<()> {
        self.seen.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What ON runs beside the worker.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The autonomy loops (with webhook delivery) and the consumer.
    All,
    /// The webhook delivery loop and the consumer.
    Hooks,
    /// The webhook delivery loop.
    Webhook,
    /// The consumer.
    Consumer,
}

impl Part {
    fn webhook(self) -> bool {
        self != Part::Consumer
    }
    fn consumer(self) -> bool {
        self != Part::Webhook
    }
}

/// One variant's run.
struct Run {
    drain: Duration,
    /// CPU time the process used during the drain (user + system).
    cpu: Duration,
    /// ON only: from the drain's end until the consumer and the webhook
    /// had every job-finished event.
    catch_up: Option<Duration>,
    /// ON only: webhook deliveries received and events consumed by the
    /// drain's end (how much of the work the ratio's time holds).
    during: (usize, usize),
}

/// The name and CPU ticks (user + system, 100/s) of a /proc `stat` line
/// (a process's or a thread's).
fn stat_ticks(stat: &str) -> Option<(&str, u64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map_or("", |(_, n)| n);
    // The fields after the name's closing parenthesis; utime and stime
    // are the 14th and 15th of the whole line.
    let ticks = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Some((name, ticks))
}

/// This process's CPU time so far (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    Duration::from_millis(stat_ticks(&stat).map_or(0, |(_, t)| t) * 10)
}

/// CPU time per thread name (user + system, clock ticks), summed over
/// this process's threads, from /proc (`DRAIN_THREADS=1`).
fn thread_ticks() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let Some((name, ticks)) = stat_ticks(&stat) else {
            continue;
        };
        // Names of one pool differ only by a number: one row per pool.
        let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        *out.entry(name.to_string()).or_default() += ticks;
    }
    out
}

/// Per-thread CPU spent between two `thread_ticks` readings (threads that
/// ended in between are not counted).
fn thread_report(
    label: &str,
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) {
    let mut rows: Vec<(u64, &String)> = after
        .iter()
        .map(|(n, t)| (t.saturating_sub(*before.get(n).unwrap_or(&0)), n))
        .filter(|(t, _)| *t > 0)
        .collect();
    rows.sort_by(|a, b| b.cmp(a));
    let shown: Vec<String> = rows
        .iter()
        .map(|(t, n)| format!("{n} {:.2} s", *t as f64 / 100.0))
        .collect();
    println!("{label} CPU by thread: {}", shown.join(", "));
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Whether consumer `name` has read the whole log.
async fn caught_up(sk: &Skynet, name: &str) -> bool {
    let store = sk.store();
    let after = store
        .consumer_position(name)
        .await
        .expect("position")
        .unwrap_or(EventPosition::START);
    let page = store
        .read_event_log(&EventLogQuery {
            after,
            limit: 1,
            view: LogView::all(),
            ..Default::default()
        })
        .await
        .expect("log");
    page.next == after
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(on: bool, part: Part, jobs: usize, receiver: &Receiver) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .planner(Arc::new(ScriptedPlanner::new(vec![
            Action::ExecuteCommand {
                argv: vec!["true".into()],
            },
        ])))
        .default_provider("mock")
        .config(EngineConfig::default())
        .webhooks(WebhookConfig {
            allow: NetworkAllow::parse(&["127.0.0.1"]).expect("allow"),
            // DRAIN_WEBHOOK_LANE=N: N requests in flight to the receiver
            // (the default's 8 otherwise), to see what parallel requests
            // cost the drain.
            per_endpoint: std::env::var("DRAIN_WEBHOOK_LANE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(WebhookConfig::default().per_endpoint),
            ..WebhookConfig::default()
        })
        .build()
        .await
        .expect("engine");
    let stop = CancellationToken::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let mut loops = Vec::new();
    receiver.reset().await;
    if on && part.webhook() {
        sk.add_webhook(
            &Principal::local(),
            NewWebhook {
                url: format!("http://{}/hook", receiver.addr),
                types: [
                    "job.succeeded",
                    "job.failed",
                    "job.timed_out",
                    "job.cancelled",
                ]
                .map(String::from)
                .to_vec(),
            },
        )
        .await
        .expect("webhook");
        if part == Part::All {
            loops.push(sk.spawn_autonomy(stop.clone()));
        } else {
            let (sk, stop) = (sk.clone(), stop.clone());
            loops.push(tokio::spawn(async move { sk.run_webhooks(stop).await }));
        }
    }
    if on && part.consumer() {
        loops.push(tokio::spawn(run_handler(
            sk.store().clone(),
            Arc::new(Finished { seen: seen.clone() }),
            Duration::from_millis(200),
            stop.clone(),
        )));
    }
    for _ in 0..jobs {
        sk.submit(SubmitRequest::new("noop").root(dir.path()))
            .await
            .expect("submit");
    }
    if on {
        wait_for("the loops to read the queued jobs' events", async || {
            (!part.webhook() || caught_up(&sk, "webhooks").await)
                && (!part.consumer() || caught_up(&sk, "bench-finished").await)
        })
        .await;
    }
    sql_profile::reset();
    let threads = std::env::var_os("DRAIN_THREADS").is_some();
    let threads_before = if threads {
        thread_ticks()
    } else {
        Default::default()
    };
    let started = Instant::now();
    let cpu_before = cpu_time();
    let report = sk
        .worker(
            WorkerOptions {
                concurrency: 16,
                once: true,
                ..Default::default()
            },
            CancellationToken::new(),
        )
        .await
        .expect("worker");
    let drain = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    if threads {
        thread_report(
            if on { "ON" } else { "OFF" },
            &threads_before,
            &thread_ticks(),
        );
        let wal = std::fs::metadata(dir.path().join("bench.db-wal")).map_or(0, |m| m.len());
        println!(
            "  WAL at the drain's end: {:.1} MiB",
            wal as f64 / 1048576.0
        );
    }
    let during = if on {
        (receiver.received().await, seen.load(Ordering::SeqCst))
    } else {
        (0, 0)
    };
    sql_profile::report(if on {
        "ON, during the drain"
    } else {
        "OFF, during the drain"
    });
    assert_eq!(report.jobs_finished, jobs);
    let catch_up = if on {
        let ended = Instant::now();
        wait_for(
            "every job-finished event delivered and consumed",
            async || {
                (!part.webhook() || receiver.received().await >= jobs)
                    && (!part.consumer() || seen.load(Ordering::SeqCst) >= jobs)
            },
        )
        .await;
        Some(ended.elapsed())
    } else {
        None
    };
    stop.cancel();
    for l in loops {
        l.await.expect("loop");
    }
    Run {
        drain,
        cpu,
        catch_up,
        during,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().map_or(3, |a| a.parse().expect("ROUNDS"));
    let jobs: usize = args.get(1).map_or(10_000, |a| a.parse().expect("JOBS"));
    let part = match args.get(2).map(String::as_str) {
        None | Some("all") => Part::All,
        Some("hooks") => Part::Hooks,
        Some("webhook") => Part::Webhook,
        Some("consumer") => Part::Consumer,
        Some(other) => panic!("PART {other:?}: all, hooks, webhook or consumer"),
    };

    // The time SQLite spent per statement, printed after each drain, to
    // see which statements ON adds. The logging itself slows the drain: the
    // ratios of such a run are not the measurement.
    if std::env::var_os("DRAIN_SQL_PROFILE").is_some() {
        sql_profile::install();
    }
    // DRAIN_RECEIVER=process: the endpoint in a process of its own.
    let apart = std::env::var("DRAIN_RECEIVER").is_ok_and(|v| v == "process");
    let receiver = if apart {
        Receiver::own_process()
    } else {
        Receiver::in_process().await
    };
    println!(
        "ON = {}; receiver {}; load average at start: {}",
        match part {
            Part::All => "autonomy loops + webhook + consumer",
            Part::Hooks => "webhook loop + consumer",
            Part::Webhook => "webhook loop",
            Part::Consumer => "consumer",
        },
        if apart {
            "in its own process"
        } else {
            "in this process"
        },
        load_average()
    );
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let mut off = Duration::ZERO;
        let mut on = Duration::ZERO;
        let mut catch_up = Duration::ZERO;
        let mut during = (0, 0);
        let (mut cpu_off, mut cpu_on) = (Duration::ZERO, Duration::ZERO);
        for variant in order {
            let r = run(variant, part, jobs, &receiver).await;
            if variant {
                (on, cpu_on) = (r.drain, r.cpu);
                catch_up = r.catch_up.unwrap_or_default();
                during = r.during;
            } else {
                (off, cpu_off) = (r.drain, r.cpu);
            }
        }
        let per_s = |d: Duration| jobs as f64 / d.as_secs_f64();
        let ratio = per_s(on) / per_s(off);
        ratios.push(ratio);
        println!(
            "round {}: OFF {:.2} s ({:.0} jobs/s, CPU {:.2} s), ON {:.2} s ({:.0} jobs/s, \
             CPU {:.2} s), ON/OFF {:.3}; by the drain's end {} delivered, {} consumed; \
             caught up {:.2} s after it; load {}",
            round + 1,
            off.as_secs_f64(),
            per_s(off),
            cpu_off.as_secs_f64(),
            on.as_secs_f64(),
            per_s(on),
            cpu_on.as_secs_f64(),
            ratio,
            during.0,
            during.1,
            catch_up.as_secs_f64(),
            load_average()
        );
    }
    println!(
        "median ON/OFF over {rounds} rounds: {:.3}; load average at end: {}",
        median(ratios),
        load_average()
    );
}
