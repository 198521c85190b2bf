//! Schedule firing lateness: how long after its tick a schedule's job is
//! committed and announced, with the real loop (`Skynet::run_schedules`
//! on the system clock) running as `serve` and `worker` run it.
//!
//! `cargo run --release -p skynet-benches --bin schedule-lateness [-- SCHEDULES SECONDS [DATABASE_URL]]`
//! (default: 20 schedules firing every second for 30 s, on a fresh SQLite
//! file). Lateness = when this process saw the job's status announced
//! (after its transaction committed) minus the tick it fired for.

use skynet_core::action::Action;
use skynet_core::clock::SystemClock;
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::mock::MockProvider;
use skynet_core::schedules::NewSchedule;
use skynet_core::{JobEvent, JobOrigin, Principal, Skynet, SubmitRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let schedules: usize = args.first().map_or(20, |a| a.parse().expect("SCHEDULES"));
    let seconds: u64 = args.get(1).map_or(30, |a| a.parse().expect("SECONDS"));
    let dir = tempfile::tempdir().expect("temp dir");
    let url = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let sk = Skynet::builder()
        .database_url(&url)
        .planner(Arc::new(ScriptedPlanner::new(vec![
            Action::ListDirectory { path: ".".into() },
        ])))
        .provider(Arc::new(MockProvider::new()))
        .default_provider("mock")
        .build()
        .await
        .expect("engine");
    // Plan once so the first tick does not pay for warm-up.
    sk.plan(&SubmitRequest::new("list the files").root(dir.path()))
        .await
        .expect("plan");
    for _ in 0..schedules {
        sk.add_schedule(
            &Principal::local(),
            NewSchedule {
                intent: "list the files".into(),
                every: Some(Duration::from_secs(1)),
                root: Some(dir.path().into()),
                ..Default::default()
            },
        )
        .await
        .expect("add");
    }
    let mut bus = sk.subscribe();
    let stop = CancellationToken::new();
    let looping = {
        let (sk, stop) = (sk.clone(), stop.clone());
        tokio::spawn(async move {
            sk.run_schedules(Arc::new(SystemClock), Duration::from_secs(1), stop)
                .await
        })
    };
    let mut lateness_ms: Vec<f64> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            e = bus.recv() => e,
        };
        let seen = chrono::Utc::now();
        let Ok(JobEvent::Status { job, .. }) = event else {
            continue;
        };
        let job = sk.get(&job).await.expect("job");
        if let Some(JobOrigin::Schedule { tick, .. }) = job.origin {
            lateness_ms.push((seen - tick).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    stop.cancel();
    let _ = looping.await;
    let fired: u64 = sk
        .schedules(&skynet_core::Visibility::All)
        .await
        .expect("schedules")
        .iter()
        .map(|s| s.fired)
        .sum();
    eprintln!(
        "ticks fired: {fired}; announcements seen: {}",
        lateness_ms.len()
    );
    lateness_ms.sort_by(f64::total_cmp);
    let at = |q: f64| lateness_ms[((lateness_ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{} firings of {schedules} one-second schedules over {seconds}s on {}: \
         lateness p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lateness_ms.len(),
        sk.store().backend(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
