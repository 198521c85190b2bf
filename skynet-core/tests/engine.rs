//! The engine end to end on a real SQLite file: gate, approval binding,
//! step order, retries, dead letters, cancel, timeouts, redaction.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use skynet_core::action::Action;
use skynet_core::plan::{Command, Plan, Step};
use skynet_core::planner::{PlanRequest, Planner, ScriptedPlanner};
use skynet_core::provider::mock::{MockProvider, MockResponse};
use skynet_core::store::{JobFilter, LogQuery, StepStatus};
use skynet_core::{EngineConfig, Error, JobId, JobStatus, RiskLevel, Skynet, WorkerOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod engine_support;

use engine_support::{Env, drain_until_done, fast};

/// Engines over the test's ledger.
trait Engines {
    async fn engine(
        &self,
        planner: impl Planner + 'static,
        mock: MockProvider,
        config: EngineConfig,
    ) -> Skynet;
    async fn slow_list_engine(&self) -> Skynet;
    async fn list_engine(&self, mock: MockProvider) -> Skynet;
    async fn scripted_engine(&self, actions: Vec<Action>, mock: MockProvider) -> Skynet;
}

impl Engines for Env {
    async fn engine(
        &self,
        planner: impl Planner + 'static,
        mock: MockProvider,
        config: EngineConfig,
    ) -> Skynet {
        Skynet::builder()
            .database_url(self.url())
            .planner(Arc::new(planner))
            .provider(Arc::new(mock))
            .default_provider("mock")
            .config(config)
            .secrets(["supersecretvalue".to_string()])
            .build()
            .await
            .unwrap()
    }

    /// An engine whose one step (`ls`) takes a minute on the mock provider.
    async fn slow_list_engine(&self) -> Skynet {
        self.list_engine(ls_taking(Duration::from_secs(60))).await
    }

    /// An engine whose one step lists the root (`ls`) on `mock`.
    async fn list_engine(&self, mock: MockProvider) -> Skynet {
        let list = Action::ListDirectory { path: ".".into() };
        self.scripted_engine(vec![list], mock).await
    }

    /// An engine that plans `actions` for every intent and runs them on
    /// `mock`, with [`fast`] timings.
    async fn scripted_engine(&self, actions: Vec<Action>, mock: MockProvider) -> Skynet {
        self.engine(ScriptedPlanner::new(actions), mock, fast())
            .await
    }
}

/// A mock provider on which `ls` succeeds after `delay`.
fn ls_taking(delay: Duration) -> MockProvider {
    MockProvider::new().with_rule(["ls"], MockResponse::default().with_delay(delay))
}

/// The status of job `id`'s first step.
async fn first_step_status(sk: &Skynet, id: &JobId) -> StepStatus {
    sk.steps(id).await.unwrap()[0].status
}

fn exec(argv: &[&str]) -> Action {
    Action::ExecuteCommand {
        argv: argv.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn read_only_plan_is_auto_approved_run_and_recorded() {
    let env = Env::new();
    let sk = env.list_engine(MockProvider::new()).await;
    let job = sk.submit(env.req("list")).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.approval.as_ref().unwrap().approver, "auto");
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    let logs = sk.logs(&job.id, &LogQuery::default()).await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].text, "mock: ls -la -- .");
    let report = sk.verify_events(&job.id).await.unwrap();
    assert!(report.intact, "{report:?}");
    assert!(
        report.events >= 3,
        "submitted, claimed, succeeded: {report:?}"
    );
}

/// Every step's start and end are in the ledger exactly once, whether the
/// start was committed before the step ran (WRITE), while it ran (a slow
/// READ_ONLY step) or with its end (a quick READ_ONLY step).
#[tokio::test]
async fn every_step_start_and_end_is_recorded_once() {
    let env = Env::new();
    let mock = MockProvider::new().with_rule(
        ["git", "status"],
        MockResponse::default().with_delay(Duration::from_millis(400)),
    );
    let planner = ScriptedPlanner::new(vec![
        Action::ListDirectory { path: ".".into() },
        Action::GitStatus,
        exec(&["mkdir", "out"]),
    ]);
    let sk = env.engine(planner, mock, fast()).await;
    let job = sk.submit(env.req("list, status, mkdir")).await.unwrap();
    let hash = job.plan.as_ref().unwrap().hash.clone();
    sk.approve(&job.id, &hash, "tester").await.unwrap();
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    let events = sk.events(&job.id).await.unwrap();
    let steps: Vec<(&str, u64)> = events
        .iter()
        .filter(|e| e.kind.starts_with("step_"))
        .map(|e| (e.kind.as_str(), e.data["step"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("step_started", 0),
            ("step_finished", 0),
            ("step_started", 1),
            ("step_finished", 1),
            ("step_started", 2),
            ("step_finished", 2),
        ]
    );
    assert_eq!(events.last().unwrap().data["to"], "succeeded");
    for step in sk.steps(&job.id).await.unwrap() {
        assert_eq!(step.status, StepStatus::Succeeded);
        let (started, finished) = (step.started_at.unwrap(), step.finished_at.unwrap());
        assert!(started <= finished, "step {}", step.index);
    }
    let report = sk.verify_events(&job.id).await.unwrap();
    assert!(report.intact, "{report:?}");
}

#[tokio::test]
async fn approval_is_bound_to_the_plan_hash() {
    let env = Env::new();
    let mock = MockProvider::new();
    let sk = env
        .engine(
            ScriptedPlanner::new(vec![Action::WriteFile {
                path: "a.txt".into(),
                content: "x".into(),
            }]),
            mock,
            fast(),
        )
        .await;
    let job = sk.submit(env.req("write")).await.unwrap();
    assert_eq!(job.status, JobStatus::Planned);
    assert_eq!(job.risk, RiskLevel::Write);
    let hash = job.plan.as_ref().unwrap().hash.clone();
    let err = sk
        .approve(&job.id, "0000000000000000", "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StaleApproval { .. }), "{err}");
    assert_eq!(sk.get(&job.id).await.unwrap().status, JobStatus::Planned);
    let err = sk.approve(&job.id, &hash[..11], "alice").await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("too short") && m.contains("12")),
        "an 11-digit prefix is too short to bind, and is said so, not stale: {err}"
    );
    let err = sk
        .approve(&job.id, "not-a-hash!!", "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("not a plan hash")),
        "{err}"
    );
    assert_eq!(sk.get(&job.id).await.unwrap().status, JobStatus::Planned);
    let job = sk.approve(&job.id, &hash[..12], "alice").await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(
        job.approval.as_ref().unwrap().plan_hash,
        hash,
        "the full hash is recorded"
    );
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Succeeded);
}

/// A plan awaiting approval carries `expires_at` (now + `approval_ttl`);
/// once it has passed, approving is refused with `ApprovalExpired` and the
/// job stays planned; denying still works. Auto-approved jobs carry none.
/// A 1 ns time limit has lapsed by the time anyone approves (instants are
/// stored to the microsecond), so nothing sleeps.
#[tokio::test]
async fn an_expired_approval_request_is_refused() {
    let env = Env::new();
    let write = || {
        ScriptedPlanner::new(vec![Action::WriteFile {
            path: "a.txt".into(),
            content: "x".into(),
        }])
    };
    let ttl = Duration::from_secs(600);
    let config = EngineConfig {
        approval_ttl: ttl,
        ..fast()
    };
    let sk = env.engine(write(), MockProvider::new(), config).await;
    let before = chrono::Utc::now();
    let job = sk.submit(env.req("write")).await.unwrap();
    let expires = job.expires_at.expect("a planned job expires");
    let ttl = chrono::Duration::from_std(ttl).unwrap();
    let micro = chrono::Duration::microseconds(1);
    assert!(expires >= before + ttl - micro, "{expires} vs {before}");
    assert!(expires <= chrono::Utc::now() + ttl);

    let env = Env::new();
    let config = EngineConfig {
        approval_ttl: Duration::from_nanos(1),
        ..fast()
    };
    let sk = env.engine(write(), MockProvider::new(), config).await;
    let job = sk.submit(env.req("write")).await.unwrap();
    let hash = job.plan.as_ref().unwrap().hash.clone();
    let err = sk.approve(&job.id, &hash, "alice").await.unwrap_err();
    assert!(matches!(err, Error::ApprovalExpired { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(sk.get(&job.id).await.unwrap().status, JobStatus::Planned);
    let denied = sk.deny(&job.id, None, "alice").await.unwrap();
    assert_eq!(denied.status, JobStatus::Denied);

    let env = Env::new();
    let sk = env.list_engine(MockProvider::new()).await;
    let auto = sk.submit(env.req("list")).await.unwrap();
    assert_eq!(auto.status, JobStatus::Queued);
    assert_eq!(auto.expires_at, None);
}

/// A planner that labels a deletion READ_ONLY: the policy must not believe it.
struct LyingPlanner;

#[async_trait]
impl Planner for LyingPlanner {
    fn name(&self) -> &str {
        "liar"
    }
    async fn plan(&self, req: &PlanRequest) -> skynet_core::Result<Plan> {
        let step = Step {
            description: "harmless, honest".into(),
            action: exec(&["rm", "-r", "build"]),
            command: Command::piped(
                vec![vec!["rm".into(), "-r".into(), "build".into()]],
                req.root.clone(),
            ),
            risk: RiskLevel::ReadOnly,
            decision: None,
            estimate_ms: None,
            network: None,
            artifacts: Vec::new(),
        };
        Ok(Plan::new("nothing to see", vec![step], "liar"))
    }
}

#[tokio::test]
async fn the_planners_risk_label_never_lowers_the_policy() {
    let env = Env::new();
    let sk = env.engine(LyingPlanner, MockProvider::new(), fast()).await;
    let job = sk.submit(env.req("tidy up")).await.unwrap();
    assert_eq!(job.risk, RiskLevel::Admin);
    assert_eq!(job.status, JobStatus::Planned, "not auto-approved");
}

#[tokio::test]
async fn forbidden_plans_are_refused_and_store_nothing() {
    let env = Env::new();
    let mock = MockProvider::new();
    let sk = env
        .engine(
            ScriptedPlanner::new(vec![exec(&["rm", "-rf", "/"])]),
            mock,
            fast(),
        )
        .await;
    let err = sk.submit(env.req("wipe")).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");
    assert!(sk.list(&JobFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_first_failing_step_fails_the_job_and_nothing_after_it_runs() {
    let env = Env::new();
    let mock = MockProvider::new().with_rule(["git", "status"], MockResponse::exit(1));
    let sk = env
        .engine(
            ScriptedPlanner::new(vec![
                Action::GitStatus,
                Action::ListDirectory { path: ".".into() },
            ]),
            mock,
            fast(),
        )
        .await;
    let job = sk.submit(env.req("status then list")).await.unwrap();
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.error.as_deref().unwrap().contains("exited with code 1"));
    let steps = sk.steps(&job.id).await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Failed);
    assert_eq!(steps[1].status, StepStatus::Skipped);
    assert!(
        sk.logs(
            &job.id,
            &LogQuery {
                step: Some(1),
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_empty()
    );
}

#[tokio::test]
async fn provider_failures_on_read_only_steps_retry_with_backoff() {
    let env = Env::new();
    let mock =
        MockProvider::new().with_rule_times(["ls"], MockResponse::provider_error("daemon away"), 1);
    let sk = env.list_engine(mock).await;
    let job = sk.submit(env.req("list")).await.unwrap();
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.attempts, 2);
}

#[tokio::test]
async fn exhausted_attempts_end_as_a_dead_letter() {
    let env = Env::new();
    let mock = MockProvider::new().with_rule(["ls"], MockResponse::provider_error("daemon away"));
    let config = EngineConfig {
        max_attempts: 2,
        ..fast()
    };
    let sk = env
        .engine(
            ScriptedPlanner::new(vec![Action::ListDirectory { path: ".".into() }]),
            mock,
            config,
        )
        .await;
    let job = sk.submit(env.req("list")).await.unwrap();
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempts, 2);
    assert!(
        job.error.as_deref().unwrap().contains("attempts exhausted"),
        "{:?}",
        job.error
    );
}

#[tokio::test]
async fn cancel_stops_a_running_job_in_this_process() {
    let env = Env::new();
    let sk = env.slow_list_engine().await;
    let job = sk.submit(env.req("list")).await.unwrap();
    let worker = {
        let sk = sk.clone();
        tokio::spawn(async move {
            sk.worker(
                WorkerOptions {
                    once: true,
                    ..Default::default()
                },
                CancellationToken::new(),
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while sk.steps(&job.id).await.unwrap()[0].status != StepStatus::Running {
        assert!(Instant::now() < deadline, "step never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    sk.cancel(&job.id, "test").await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.errors, 0);
    let job = sk.get(&job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(first_step_status(&sk, &job.id).await, StepStatus::Cancelled);
}

#[tokio::test]
async fn the_job_time_budget_bounds_its_steps() {
    let env = Env::new();
    let sk = env.slow_list_engine().await;
    let mut req = env.req("list");
    req.timeout = Some(Duration::from_millis(300));
    let job = sk.submit(req).await.unwrap();
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::TimedOut);
    assert_eq!(first_step_status(&sk, &job.id).await, StepStatus::TimedOut);
}

#[tokio::test]
async fn secrets_are_redacted_from_logs() {
    let env = Env::new();
    let mock = MockProvider::new().with_rule(
        ["ls"],
        MockResponse::stdout(vec!["token=supersecretvalue ok"]),
    );
    let sk = env.list_engine(mock).await;
    let job = sk.submit(env.req("list")).await.unwrap();
    let job = drain_until_done(&sk, &job.id).await;
    let logs = sk.logs(&job.id, &LogQuery::default()).await.unwrap();
    assert_eq!(logs[0].text, "token=[REDACTED] ok");
}

#[tokio::test]
async fn idempotency_keys_return_the_first_job() {
    let env = Env::new();
    let sk = env
        .scripted_engine(vec![Action::GitStatus], MockProvider::new())
        .await;
    let mut req = env.req("status");
    req.idempotency_key = Some("deploy-42".into());
    let a = sk.submit(req.clone()).await.unwrap();
    let b = sk.submit(req).await.unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(sk.list(&JobFilter::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn plan_is_a_dry_run() {
    let env = Env::new();
    let sk = env
        .scripted_engine(vec![Action::GitStatus], MockProvider::new())
        .await;
    let plan = sk.plan(&env.req("status")).await.unwrap();
    assert_eq!(plan.risk, RiskLevel::ReadOnly);
    assert!(
        plan.steps[0].decision.is_some(),
        "every step carries its decision"
    );
    assert!(sk.list(&JobFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn steps_are_judged_again_when_they_run() {
    let env = Env::new();
    let notes = env.dir.path().join("notes");
    std::fs::write(&notes, "ok").unwrap();
    let mock = Arc::new(MockProvider::new());
    let sk = Skynet::builder()
        .database_url(env.url())
        .planner(Arc::new(ScriptedPlanner::new(vec![Action::ReadFile {
            path: "notes".into(),
        }])))
        .provider(mock.clone())
        .default_provider("mock")
        .config(fast())
        .build()
        .await
        .unwrap();
    let job = sk.submit(env.req("read notes")).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued, "READ_ONLY when approved");
    // Between approval and execution the file becomes a way out of the root.
    std::fs::remove_file(&notes).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &notes).unwrap();
    let job = drain_until_done(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.error.as_deref().unwrap().contains("forbidden now"),
        "{:?}",
        job.error
    );
    assert!(mock.calls().is_empty(), "nothing ran");
}

/// Wait until the job is running (claimed by a worker).
async fn until_running(sk: &Skynet, id: &JobId) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sk.get(id).await.unwrap().status != JobStatus::Running {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ... and its step has started.
    while sk.steps(id).await.unwrap()[0].status != StepStatus::Running {
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Run a worker, ask it to stop once `id` runs, and return its report.
async fn stop_worker_while_running(
    sk: &Skynet,
    id: &JobId,
    grace: Duration,
) -> skynet_core::WorkerReport {
    let shutdown = CancellationToken::new();
    let worker = {
        let (sk, shutdown) = (sk.clone(), shutdown.clone());
        tokio::spawn(async move {
            let opts = WorkerOptions {
                grace,
                ..Default::default()
            };
            sk.worker(opts, shutdown).await
        })
    };
    until_running(sk, id).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stops after its grace period")
        .unwrap()
        .unwrap()
}

/// SIGTERM semantics: a READ_ONLY step still running when the grace period
/// ends is stopped and the job handed back, queued again with this attempt
/// not counted, the step to run again.
#[tokio::test]
async fn shutdown_hands_back_a_read_only_job_after_the_grace_period() {
    let env = Env::new();
    let sk = env.slow_list_engine().await;
    let job = sk.submit(env.req("list")).await.unwrap();
    let report = stop_worker_while_running(&sk, &job.id, Duration::from_millis(200)).await;
    assert!(report.released, "{report:?}");
    let job = sk.get(&job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued, "{:?}", job.error);
    assert_eq!(job.attempts, 0, "a hand-back is not an attempt");
    assert!(job.lease.is_none());
    assert_eq!(first_step_status(&sk, &job.id).await, StepStatus::Pending);
    let events = sk.events(&job.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.data["to"], "queued");
    assert_eq!(last.data["released"], true);
}

/// A WRITE step interrupted by the end of the grace period may have
/// changed things: the job goes to review, never silently re-run.
#[tokio::test]
async fn shutdown_sends_an_interrupted_write_step_to_review() {
    let env = Env::new();
    let mock = MockProvider::new().with_rule(
        ["mkdir"],
        MockResponse::default().with_delay(Duration::from_secs(60)),
    );
    let planner = ScriptedPlanner::new(vec![exec(&["mkdir", "out"])]);
    let sk = env.engine(planner, mock, fast()).await;
    let job = sk.submit(env.req("make a dir")).await.unwrap();
    assert_eq!(job.status, JobStatus::Planned);
    let hash = job.plan.as_ref().unwrap().hash.clone();
    sk.approve(&job.id, &hash, "tester").await.unwrap();
    let report = stop_worker_while_running(&sk, &job.id, Duration::from_millis(200)).await;
    assert!(report.released);
    let job = sk.get(&job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::NeedsReview);
    let error = job.error.unwrap();
    assert!(
        error.contains("worker shut down") && error.contains("review"),
        "{error}"
    );
    assert_eq!(first_step_status(&sk, &job.id).await, StepStatus::Cancelled);
}

/// A job claimed ahead of a free slot keeps its lease while it waits (here
/// three times longer than the lease): it runs once, on its first attempt,
/// and nothing is recovered.
#[tokio::test]
async fn a_job_claimed_ahead_keeps_its_lease_while_it_waits() {
    let env = Env::new();
    let mock = ls_taking(Duration::from_millis(1200));
    let planner = ScriptedPlanner::new(vec![Action::ListDirectory { path: ".".into() }]);
    let config = EngineConfig {
        lease: Duration::from_millis(400),
        heartbeat: Duration::from_millis(100),
        ..fast()
    };
    let sk = env.engine(planner, mock, config).await;
    let first = sk.submit(env.req("list")).await.unwrap();
    let second = sk.submit(env.req("list")).await.unwrap();
    let opts = WorkerOptions {
        once: true,
        concurrency: 1,
        prefetch: Some(1),
        ..Default::default()
    };
    let report = sk.worker(opts, CancellationToken::new()).await.unwrap();
    assert_eq!(report.jobs_finished, 2, "{report:?}");
    assert_eq!(report.jobs_recovered, 0, "{report:?}");
    for id in [&first.id, &second.id] {
        let job = sk.get(id).await.unwrap();
        assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
        assert_eq!(job.attempts, 1);
    }
}

/// On shutdown a job claimed ahead, still waiting for a slot, is handed
/// back at once without running: queued again, the attempt not counted.
#[tokio::test]
async fn shutdown_hands_back_a_job_claimed_ahead_without_running_it() {
    let env = Env::new();
    let sk = env.slow_list_engine().await;
    let first = sk.submit(env.req("list")).await.unwrap();
    let second = sk.submit(env.req("list")).await.unwrap();
    let shutdown = CancellationToken::new();
    let worker = {
        let (sk, shutdown) = (sk.clone(), shutdown.clone());
        tokio::spawn(async move {
            let opts = WorkerOptions {
                concurrency: 1,
                prefetch: Some(1),
                grace: Duration::from_millis(200),
                ..Default::default()
            };
            sk.worker(opts, shutdown).await
        })
    };
    until_running(&sk, &first.id).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sk.get(&second.id).await.unwrap().status != JobStatus::Running {
        assert!(
            Instant::now() < deadline,
            "the second job was not claimed ahead"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let job = sk.get(&second.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued, "{:?}", job.error);
    assert_eq!(job.attempts, 0, "a hand-back is not an attempt");
    let events = sk.events(&second.id).await.unwrap();
    assert!(
        events.iter().all(|e| !e.kind.starts_with("step_")),
        "it never ran"
    );
    assert_eq!(events.last().unwrap().data["released"], true);
    assert_eq!(sk.get(&first.id).await.unwrap().status, JobStatus::Queued);
}

/// A job that finishes within the grace period just finishes.
#[tokio::test]
async fn shutdown_lets_running_jobs_finish_within_the_grace_period() {
    let env = Env::new();
    let mock = ls_taking(Duration::from_millis(500));
    let sk = env.list_engine(mock).await;
    let job = sk.submit(env.req("list")).await.unwrap();
    let report = stop_worker_while_running(&sk, &job.id, Duration::from_secs(60)).await;
    assert!(!report.released);
    assert_eq!(report.jobs_finished, 1);
    assert_eq!(sk.get(&job.id).await.unwrap().status, JobStatus::Succeeded);
    // The worker registered, and deregistered on the way out.
    let workers = sk.workers().await.unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].state, skynet_core::store::WorkerState::Offline);
}

/// A worker whose future is dropped (its task aborted) stops heartbeating
/// in the registry, so the registry can mark it offline; a running worker
/// keeps heartbeating beside its loop.
#[tokio::test]
async fn a_dropped_worker_falls_silent_in_the_registry() {
    let env = Env::new();
    let sk = env.list_engine(MockProvider::new()).await;
    let every = Duration::from_millis(50);
    let opts = WorkerOptions {
        id: "dropped".into(),
        registry_every: every,
        ..WorkerOptions::default()
    };
    let worker = {
        let sk = sk.clone();
        tokio::spawn(async move { sk.worker(opts, CancellationToken::new()).await })
    };
    let heartbeat = || async {
        let workers = sk.workers().await.unwrap();
        workers
            .iter()
            .find(|w| w.info.id == "dropped")
            .map(|w| w.heartbeat_at)
    };
    // Registered, then heartbeating (every 50 ms here).
    let mut first = None;
    for _ in 0..100 {
        first = heartbeat().await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = first.expect("the worker registered");
    // Poll for the next beat rather than sleep through a fixed wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut alive = first;
    while alive <= first && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        alive = heartbeat().await.expect("still listed");
    }
    assert!(alive > first, "a running worker heartbeats");
    worker.abort();
    let _ = worker.await;
    tokio::time::sleep(every * 2).await;
    let last = heartbeat().await.expect("still listed");
    // Ten beats' time: a live worker would have beaten ten times.
    tokio::time::sleep(every * 10).await;
    assert_eq!(heartbeat().await, Some(last), "no heartbeat after the drop");
}
