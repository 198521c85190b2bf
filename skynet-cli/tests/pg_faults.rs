//! Fault tests of the distributed engine: real `skynet worker` processes
//! against a real PostgreSQL server (`SKYNET_TEST_POSTGRES_URL`), each test
//! on its own fresh database. They are killed with SIGKILL, frozen with
//! SIGSTOP, cut off by a database restart, made to contend for 10,000
//! jobs, and have running jobs cancelled from another process. Each test
//! prints its figures. Without the variable, each test says it skipped.
//!
//! The tests run one at a time (one of them restarts the server).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use rand::{Rng, SeedableRng};
use skynet_core::store::{JobFilter, StepStatus};
use skynet_core::{Job, JobId, JobStatus, RiskLevel, Skynet, SubmitRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Print a figure, and append it to `target/tmp/fault-figures.txt`, which
/// `scripts/test` shows at the end (cargo hides a passing test's output).
macro_rules! report {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        println!("{line}");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-figures.txt");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
    }};
}

/// One fault test at a time: they share the server, and one restarts it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Lease and heartbeat the workers run with: short, so recovery is quick.
const LEASE: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_millis(250);

/// A fresh database plus a sandbox root and a SKYNET_HOME.
struct Pg {
    url: String,
    root: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Pg {
    /// A fresh database on the server `SKYNET_TEST_POSTGRES_URL` names;
    /// `None` (after saying so) without it.
    async fn fresh() -> Option<Pg> {
        Pg::fresh_on("SKYNET_TEST_POSTGRES_URL").await
    }

    /// A fresh database on the server the variable `server_var` names.
    async fn fresh_on(server_var: &str) -> Option<Pg> {
        let server = common::service_var("pg_faults", server_var)?;
        let url = skynet_core::store::postgres::create_scratch_database(&server, "skynet_t")
            .await
            .unwrap();
        Some(Pg {
            url,
            root: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        })
    }

    /// The engine as a control plane in this process (submit, approve,
    /// cancel, inspect), with the workers' lease settings.
    async fn engine(&self) -> Skynet {
        Skynet::builder()
            .database_url(&self.url)
            .config(skynet_core::EngineConfig {
                lease: LEASE,
                heartbeat: HEARTBEAT,
                max_attempts: 20,
                ..Default::default()
            })
            .build()
            .await
            .unwrap()
    }

    /// A `skynet worker` process; its stderr goes to `<home>/<id>.log`.
    fn worker(&self, id: &str, concurrency: usize) -> Child {
        self.worker_with_grace(id, concurrency, "5s")
    }

    fn worker_with_grace(&self, id: &str, concurrency: usize, grace: &str) -> Child {
        let log = std::fs::File::create(self.log_path(id)).unwrap();
        std::process::Command::new(assert_cmd::cargo::cargo_bin("skynet"))
            .args(["worker", "--id", id, "--concurrency"])
            .arg(concurrency.to_string())
            .args(["--grace", grace])
            .env("SKYNET_DATABASE_URL", &self.url)
            .env("SKYNET_HOME", self.home.path())
            .env("SKYNET_LEASE", format!("{}ms", LEASE.as_millis()))
            .env("SKYNET_HEARTBEAT", format!("{}ms", HEARTBEAT.as_millis()))
            .env("SKYNET_POLL_INTERVAL", "200ms")
            .env("SKYNET_MAX_ATTEMPTS", "20")
            .env("SKYNET_LOG", "warn")
            .env_remove("SKYNET_POLICY_FILE")
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.home.path().join(format!("{id}.log"))
    }

    fn req(&self, intent: &str) -> SubmitRequest {
        SubmitRequest::new(intent).root(self.root.path())
    }
}

/// Submit `intent` and approve it if it waits for approval.
async fn submit_approved(sk: &Skynet, req: SubmitRequest) -> Job {
    let job = sk.submit(req).await.unwrap();
    if job.status == JobStatus::Planned {
        let hash = job.plan.as_ref().unwrap().hash.clone();
        return sk.approve(&job.id, &hash, "fault-test").await.unwrap();
    }
    job
}

/// Every job of the database (the tests make fewer than the page limit
/// unless they page).
async fn all_jobs(sk: &Skynet) -> Vec<Job> {
    sk.list(&JobFilter {
        limit: Some(1000),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Wait until every job is terminal or in review; panics after `limit`.
async fn until_settled(sk: &Skynet, limit: Duration) -> Vec<Job> {
    let deadline = Instant::now() + limit;
    loop {
        let jobs = all_jobs(sk).await;
        if jobs.iter().all(|j| j.status.is_terminal()) {
            return jobs;
        }
        let open: Vec<_> = jobs
            .iter()
            .filter(|j| !j.status.is_terminal())
            .map(|j| (j.id.to_string(), j.status))
            .collect();
        assert!(Instant::now() < deadline, "jobs did not settle: {open:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The workers named in a job's claim events, in order.
async fn claim_workers(sk: &Skynet, id: &JobId) -> Vec<String> {
    sk.events(id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "status" && e.data["to"] == "running")
        .map(|e| e.data["worker"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Terminal status events written by a worker other than the job's last
/// claimant (a stale completion the store accepted), plus chain breaks.
async fn stale_completions(sk: &Skynet, job: &Job) -> usize {
    let report = sk.verify_events(&job.id).await.unwrap();
    assert!(report.intact, "{:?}", report.problem);
    let events = sk.events(&job.id).await.unwrap();
    let mut holder = None;
    let mut stale = 0;
    for e in events.iter().filter(|e| e.kind == "status") {
        let worker = e.data["worker"].as_str().map(str::to_string);
        if e.data["to"] == "running" {
            holder = worker;
        } else if e.data["from"] == "running"
            && e.data["actor"] != "reaper"
            && worker.is_some()
            && worker != holder
        {
            stale += 1;
        }
    }
    stale
}

/// The worker whose status event took the job out of `running` last.
async fn finisher(sk: &Skynet, job: &Job) -> Option<String> {
    let events = sk.events(&job.id).await.unwrap();
    events
        .iter()
        .rev()
        .find(|e| e.kind == "status" && e.data["from"] == "running")
        .and_then(|e| e.data["worker"].as_str().map(str::to_string))
}

/// SIGKILL a worker at random points of a drain, 20 times over, with a new
/// worker started after each kill. Every job ends; READ_ONLY jobs cost
/// exactly one extra attempt per kill that interrupted them; a WRITE step
/// in flight at a kill sends its job to review and never runs twice; no
/// stale completion is accepted. Prints the recovery time per kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_dash_nine_during_a_drain_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = Pg::fresh().await else { return };
    let sk = pg.engine().await;
    let seed: u64 = rand::random();
    report!("kill -9 trials: seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // READ_ONLY jobs, and WRITE jobs whose middle step makes a directory
    // (a second run of it would fail: the directory exists) and then takes
    // a while, so kills land in WRITE steps as often as in READ_ONLY ones.
    let mut kinds = BTreeMap::new();
    for i in 0..90 {
        let (intent, risk) = if i % 3 == 2 {
            (
                format!(
                    "run `sleep 0.2`, then run `sh -c 'mkdir d{i} && sleep 0.3'`, then run `sleep 0.2`"
                ),
                RiskLevel::Write,
            )
        } else {
            (
                "run `sleep 0.3`, then run `sleep 0.2`".to_string(),
                RiskLevel::ReadOnly,
            )
        };
        let job = submit_approved(&sk, pg.req(&intent)).await;
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.risk, risk);
        kinds.insert(job.id.to_string(), (risk, i));
    }
    // Per job, the workers killed while it ran under their lease.
    let mut interrupted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut write_in_flight = BTreeSet::new();
    let mut recoveries = Vec::new();
    let watch = pg_pool(&pg.url).await;
    let mut worker = pg.worker("w0", 4);
    for trial in 1..=20 {
        let pause = Duration::from_millis(rng.gen_range(200..1200));
        tokio::time::sleep(pause).await;
        let victim = format!("w{}", trial - 1);
        worker.kill().unwrap();
        worker.wait().unwrap();
        let killed_at = Instant::now();
        // A COMMIT the victim sent just before dying still lands: read
        // what it held only once its server backends have gone quiet.
        settle_backends(&watch).await;
        // What the dead worker held: those jobs must come back.
        let held: Vec<Job> = all_jobs(&sk)
            .await
            .into_iter()
            .filter(|j| {
                j.status == JobStatus::Running
                    && j.lease.as_ref().is_some_and(|l| l.worker == victim)
            })
            .collect();
        for job in &held {
            interrupted
                .entry(job.id.to_string())
                .or_default()
                .push(victim.clone());
            let steps = sk.steps(&job.id).await.unwrap();
            if steps
                .iter()
                .any(|s| s.status == StepStatus::Running && s.risk >= RiskLevel::Write)
            {
                write_in_flight.insert(job.id.to_string());
            }
        }
        worker = pg.worker(&format!("w{trial}"), 4);
        // Recovery: until none of them is still running under the dead lease.
        let deadline = Instant::now() + LEASE * 10;
        loop {
            let mut pending = 0;
            for job in &held {
                let now = sk.get(&job.id).await.unwrap();
                if now.status == JobStatus::Running
                    && now.lease.as_ref().is_some_and(|l| l.worker == victim)
                {
                    pending += 1;
                }
            }
            if pending == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "leases of {victim} never recovered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !held.is_empty() {
            recoveries.push(killed_at.elapsed());
        }
    }
    let jobs = until_settled(&sk, Duration::from_secs(120)).await;
    worker.kill().unwrap();
    worker.wait().unwrap();

    let mut lost = 0;
    let mut stale = 0;
    let mut max_extra = 0;
    for job in &jobs {
        let (risk, i) = kinds[job.id.as_str()];
        // A kill that landed after the worker sent the commit finishing
        // the job did not interrupt it: PostgreSQL completes a COMMIT it
        // has received even when the client dies, so the job can still
        // look running under the dead lease when read right after the
        // kill. Such a job is finished by the victim itself.
        let finisher = finisher(&sk, job).await;
        let kills = interrupted.get(job.id.as_str()).map_or(0, |victims| {
            victims
                .iter()
                .filter(|v| Some(*v) != finisher.as_ref())
                .count() as u32
        });
        stale += stale_completions(&sk, job).await;
        let claims = claim_workers(&sk, &job.id).await.len() as u32;
        if write_in_flight.contains(job.id.as_str()) {
            assert_eq!(job.status, JobStatus::NeedsReview, "{:?}", job.error);
            continue;
        }
        if job.status != JobStatus::Succeeded {
            lost += 1;
            eprintln!("job {} ended {}: {:?}", job.id, job.status, job.error);
            continue;
        }
        assert_eq!(job.attempts, claims);
        // One claim, plus exactly one per kill that interrupted it.
        let extra = job.attempts - 1;
        assert_eq!(extra, kills, "job {} ({risk})", job.id);
        if kills > 0 {
            max_extra = max_extra.max(extra.div_ceil(kills));
        }
        if risk == RiskLevel::Write {
            assert!(pg.root.path().join(format!("d{i}")).is_dir());
        }
    }
    let review = jobs
        .iter()
        .filter(|j| j.status == JobStatus::NeedsReview)
        .count();
    recoveries.sort();
    let median = recoveries
        .get(recoveries.len() / 2)
        .copied()
        .unwrap_or_default();
    let worst = recoveries.last().copied().unwrap_or_default();
    report!(
        "kill -9 x20: {} jobs, lost {lost}, stale completions accepted {stale}, \
         interrupted {} (max extra attempts per kill {max_extra}), WRITE steps in flight {} \
         -> needs_review {review}; recovery median {median:?}, worst {worst:?} \
         (lease {LEASE:?})",
        jobs.len(),
        interrupted.len(),
        write_in_flight.len(),
    );
    assert_eq!(lost, 0);
    assert_eq!(stale, 0);
    assert_eq!(review, write_in_flight.len());
    assert!(max_extra <= 1);
    assert!(
        !recoveries.is_empty(),
        "no kill hit a running job: the test proved nothing"
    );
}

/// A worker frozen (SIGSTOP) past its lease loses the job to another
/// worker; resumed, its late results are refused and the job ran to
/// completion exactly once, elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigstopped_worker_cannot_complete_late() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = Pg::fresh().await else { return };
    let sk = pg.engine().await;
    let mut frozen = pg.worker("frozen", 1);
    let job = submit_approved(&sk, pg.req("run `sleep 1.5`")).await;
    until_step_running(&sk, &job.id).await;
    let pid = nix::unistd::Pid::from_raw(frozen.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let stopped_at = Instant::now();
    let mut rescuer = pg.worker("rescuer", 1);
    let done = until_settled(&sk, Duration::from_secs(30)).await;
    let taken_over = stopped_at.elapsed();
    assert_eq!(done[0].status, JobStatus::Succeeded, "{:?}", done[0].error);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    // The frozen worker wakes, finds its step ended and tries to record it.
    let log = pg.log_path("frozen");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("result discarded")
    {
        assert!(
            Instant::now() < deadline,
            "the frozen worker never reported its refusal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = sk.get(&job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(claim_workers(&sk, &job.id).await, ["frozen", "rescuer"]);
    let events = sk.events(&job.id).await.unwrap();
    let successes = events
        .iter()
        .filter(|e| e.kind == "status" && e.data["to"] == "succeeded")
        .count();
    let finished_ok = events
        .iter()
        .filter(|e| e.kind == "step_finished" && e.data["status"] == "succeeded")
        .count();
    assert_eq!((successes, finished_ok), (1, 1));
    assert_eq!(stale_completions(&sk, &job).await, 0);
    report!(
        "SIGSTOP: taken over and finished {taken_over:?} after the freeze (lease {LEASE:?}); \
         late completion refused"
    );
    for child in [&mut frozen, &mut rescuer] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// PostgreSQL restarted (immediate mode) while two workers drain: they
/// reconnect by themselves and every job succeeds. It runs on a cluster of
/// its own (`SKYNET_TEST_PG_CLUSTER` = "VERSION NAME", reached at
/// `SKYNET_TEST_PG_RESTART_URL`), so the restart cuts off nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_restart_under_load_loses_nothing() {
    let _serial = SERIAL.lock().await;
    // "VERSION NAME" of the cluster to restart.
    let Some(cluster) = common::service_var(
        "database_restart_under_load_loses_nothing",
        "SKYNET_TEST_PG_CLUSTER",
    ) else {
        return;
    };
    let Some(pg) = Pg::fresh_on("SKYNET_TEST_PG_RESTART_URL").await else {
        return;
    };
    let sk = pg.engine().await;
    for _ in 0..200 {
        submit_approved(&sk, pg.req("run `sleep 0.05`")).await;
    }
    let mut workers = [pg.worker("a", 4), pg.worker("b", 4)];
    // Let the drain get going, then pull the database out from under it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while all_jobs(&sk)
        .await
        .iter()
        .filter(|j| j.status == JobStatus::Succeeded)
        .count()
        < 20
    {
        assert!(Instant::now() < deadline, "the drain never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut args: Vec<&str> = vec!["--skip-systemctl-redirect"];
    args.extend(cluster.split_whitespace());
    args.extend(["restart", "-m", "immediate"]);
    let restarted = std::process::Command::new("pg_ctlcluster")
        .args(&args)
        .status()
        .unwrap();
    assert!(restarted.success(), "pg_ctlcluster {args:?} failed");
    let restarted_at = Instant::now();
    // This process's pool reconnects too; the first calls may fail.
    let jobs = loop {
        match sk
            .list(&JobFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .await
        {
            Ok(jobs) if jobs.iter().all(|j| j.status.is_terminal()) => break jobs,
            _ => {
                assert!(
                    restarted_at.elapsed() < Duration::from_secs(120),
                    "the drain did not finish after the restart"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let succeeded = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Succeeded)
        .count();
    let retried = jobs.iter().filter(|j| j.attempts > 1).count();
    report!(
        "database restart: {} jobs, {succeeded} succeeded, lost {}, {retried} re-run after \
         the restart, drained {:?} after it",
        jobs.len(),
        jobs.len() - succeeded,
        restarted_at.elapsed()
    );
    assert_eq!(jobs.len(), 200);
    assert_eq!(succeeded, 200);
    for w in &mut workers {
        assert!(
            w.try_wait().unwrap().is_none(),
            "a worker died with the database"
        );
        w.kill().unwrap();
        w.wait().unwrap();
    }
}

/// 8 workers in 2 processes drain 10,000 jobs: every job is claimed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_jobs_eight_workers_no_double_claims() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = Pg::fresh().await else { return };
    let sk = pg.engine().await;
    const JOBS: usize = 10_000;
    // Insert through the store, pre-approved, in parallel (the drain is
    // what is under test, not the planner).
    let template = submit_approved(&sk, pg.req("run `true`")).await;
    let store = skynet_core::store::connect(&pg.url).await.unwrap();
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let (store, template) = (store.clone(), template.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..(JOBS - 1) / 8 + usize::from(chunk < (JOBS - 1) % 8) {
                let job = Job {
                    id: JobId::new(),
                    provider: "mock".into(),
                    ..template.clone()
                };
                store.insert_job(&job).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let started = Instant::now();
    let mut workers = [pg.worker("p1", 4), pg.worker("p2", 4)];
    let deadline = Instant::now() + Duration::from_secs(300);
    let counts = loop {
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status")
                .fetch_all(&pg_pool(&pg.url).await)
                .await
                .unwrap();
        if counts
            .iter()
            .all(|(s, _)| s == "succeeded" || s == "failed")
        {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "the drain did not finish: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let took = started.elapsed();
    for w in &mut workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    let pool = pg_pool(&pg.url).await;
    let (claims, jobs_claimed, max_attempts): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT job_id), \
         (SELECT max(attempts) FROM jobs) FROM events \
         WHERE kind = 'status' AND data::jsonb ->> 'to' = 'running'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let by_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT lease_worker_of.w, count(*) FROM (SELECT data::jsonb ->> 'worker' AS w \
         FROM events WHERE kind = 'status' AND data::jsonb ->> 'to' = 'running') \
         AS lease_worker_of GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    report!(
        "contention: {JOBS} jobs, 8 workers in 2 processes, drained in {took:?}; \
         claims {claims} for {jobs_claimed} jobs (double claims {}), by worker {by_worker:?}",
        claims - jobs_claimed
    );
    assert_eq!(counts, vec![("succeeded".to_string(), JOBS as i64)]);
    assert_eq!(jobs_claimed, JOBS as i64);
    assert_eq!(claims, jobs_claimed, "double claims");
    assert_eq!(max_attempts, 1);
    assert_eq!(by_worker.len(), 2, "both processes claimed work");
}

/// Wait (up to 5 s) until no other backend of this database is running a
/// statement or holding a transaction open.
async fn settle_backends(pool: &sqlx::PgPool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (busy,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if busy == 0 || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn pg_pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

/// Cancelling, from this process, a job running in a worker process: the
/// step's whole process group is dead within one heartbeat + 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_reaches_a_job_running_on_another_worker() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = Pg::fresh().await else { return };
    let sk = pg.engine().await;
    let mut worker = pg.worker("remote", 1);
    // A READ_ONLY step with a grandchild: the whole group must die.
    let job = submit_approved(&sk, pg.req("run `timeout 60 sleep 31.4159`")).await;
    until_step_running(&sk, &job.id).await;
    let pids = wait_for_processes("31.4159", 2).await;
    let asked = Instant::now();
    let cancelled = sk.cancel(&job.id, "fault-test").await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let deadline = asked + HEARTBEAT + Duration::from_secs(1);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "the step's processes {pids:?} outlived the cancel by {:?}",
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gone = asked.elapsed();
    report!(
        "cross-process cancel: process group dead {gone:?} after the cancel \
         (heartbeat {HEARTBEAT:?}, bound {:?})",
        HEARTBEAT + Duration::from_secs(1)
    );
    assert_eq!(sk.get(&job.id).await.unwrap().status, JobStatus::Cancelled);
    worker.kill().unwrap();
    worker.wait().unwrap();
}

/// SIGTERM: the worker stops claiming, hands back the job still running
/// when its grace period ends (stopping the step's processes), records
/// itself offline and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_hands_running_work_back_and_exits_cleanly() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = Pg::fresh().await else { return };
    let sk = pg.engine().await;
    let mut worker = pg.worker_with_grace("term", 1, "1s");
    let job = submit_approved(&sk, pg.req("run `sleep 27.1828`")).await;
    until_step_running(&sk, &job.id).await;
    let pids = wait_for_processes("27.1828", 1).await;
    let pid = nix::unistd::Pid::from_raw(worker.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "the worker did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exited = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "the step outlived the worker"
    );
    let job = sk.get(&job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued, "{:?}", job.error);
    assert_eq!(job.attempts, 0, "a hand-back is not an attempt");
    let workers = sk.workers().await.unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].state, skynet_core::store::WorkerState::Offline);
    report!("SIGTERM: worker exited 0 {exited:?} after the signal (grace 1s); job handed back");
}

async fn until_step_running(sk: &Skynet, id: &JobId) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let steps = sk.steps(id).await.unwrap();
        if steps
            .first()
            .is_some_and(|s| s.status == StepStatus::Running)
        {
            return;
        }
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pids of live processes whose command line contains `marker`, once
/// there are at least `n`.
async fn wait_for_processes(marker: &str, n: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = processes_with(marker);
        if pids.len() >= n {
            return pids;
        }
        assert!(Instant::now() < deadline, "only {pids:?} run {marker:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn processes_with(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| alive(*pid))
        .filter(|pid| {
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

/// Alive and not a zombie (nothing may reap them here).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}
