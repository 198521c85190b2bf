//! The timeout hierarchy with real local processes (`sleep`): a step that
//! asks for more than its provider's default gets it, the provider's
//! default cuts a step that asked for nothing, the job's limit cuts a
//! multi-step job, the READ_ONLY cap bounds READ_ONLY steps without a
//! limit of their own, and the level that cut a step is recorded where
//! every front-end reads it (the job's failure, the step's state, the
//! JSON view, the events).
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use skynet_core::action::Action;
use skynet_core::plan::{Command, Plan, Step};
use skynet_core::planner::{PlanRequest, Planner};
use skynet_core::provider::LocalProvider;
use skynet_core::store::StepStatus;
use skynet_core::timeouts::TimeoutConfig;
use skynet_core::view::JobView;
use skynet_core::{
    EngineConfig, Execution, Gate, JobStatus, RiskLevel, RunHere, Skynet, SubmitRequest,
    TimeoutLevel,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Plans the same steps whatever the intent, each run in the request's root.
struct Fixed(Vec<FixedStep>);

/// `(argv, the command's own timeout in ms, one extra environment variable)`.
type FixedStep = (
    Vec<&'static str>,
    Option<u64>,
    Option<(&'static str, &'static str)>,
);

#[async_trait]
impl Planner for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    async fn plan(&self, request: &PlanRequest) -> skynet_core::Result<Plan> {
        let steps = self
            .0
            .iter()
            .map(|(argv, timeout_ms, env)| {
                let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
                Step {
                    description: format!("run {}", argv.join(" ")),
                    action: Action::ExecuteCommand { argv: argv.clone() },
                    command: Command {
                        argv,
                        cwd: request.root.clone(),
                        env: env
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect::<BTreeMap<_, _>>(),
                        timeout_ms: *timeout_ms,
                        stdin: None,
                        pipe: Vec::new(),
                    },
                    risk: RiskLevel::ReadOnly,
                    decision: None,
                    estimate_ms: None,
                    network: None,
                    artifacts: Vec::new(),
                }
            })
            .collect();
        Ok(Plan::new("fixed steps", steps, "fixed"))
    }
}

fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(n)
}

/// An engine on a real SQLite file whose only provider is an unsandboxed
/// `local`, with these timeout settings.
async fn engine(dir: &tempfile::TempDir, planner: Fixed, timeouts: TimeoutConfig) -> Skynet {
    Skynet::builder()
        .database_url(format!("sqlite://{}", dir.path().join("t.db").display()))
        .planner(Arc::new(planner))
        .provider(Arc::new(LocalProvider::new()))
        .default_provider("local")
        .config(EngineConfig {
            timeouts,
            ..EngineConfig::default()
        })
        .build()
        .await
        .unwrap()
}

/// Timeouts with a short local default (the original 60 s, scaled down).
fn local_default(d: Duration) -> TimeoutConfig {
    let mut t = TimeoutConfig::default();
    t.providers.insert("local".into(), d);
    t
}

/// Approve and run `req` here, to its end.
async fn run(sk: &Skynet, req: SubmitRequest) -> Execution {
    let here = RunHere {
        worker: "timeouts-test".into(),
        timeout: Some(Duration::from_secs(60)),
        log_tail: None,
    };
    sk.execute(&req, &Gate::Approve("tester".into()), &here)
        .await
        .unwrap()
}

fn req(dir: &tempfile::TempDir) -> SubmitRequest {
    SubmitRequest::new("sleep a little").root(dir.path())
}

/// The level the job's failure, its step's state, the JSON view and the
/// events name for the step at `index`.
async fn recorded_levels(sk: &Skynet, done: &Execution, index: usize) -> Vec<String> {
    let failure = done.job.failure().expect("a failure");
    let view = serde_json::to_value(JobView::new(&done.job, &done.steps)).unwrap();
    let events = sk.events(&done.job.id).await.unwrap();
    let step_event = events
        .iter()
        .find(|e| e.kind == "step_finished" && e.data["step"] == index)
        .expect("the step's end is an event");
    let status_event = events
        .iter()
        .rfind(|e| e.kind == "status" && e.data["to"] == "timed_out")
        .expect("the job's end is an event");
    vec![
        failure
            .timeout
            .expect("the failure records the limit")
            .level
            .to_string(),
        view["failure"]["timeout"]["level"]
            .as_str()
            .unwrap_or("-")
            .to_string(),
        view["plan"]["steps"][index]["state"]["timeout"]["level"]
            .as_str()
            .unwrap_or("-")
            .to_string(),
        step_event.data["timeout"]["level"]
            .as_str()
            .unwrap_or("-")
            .to_string(),
        status_event.data["timeout"]["level"]
            .as_str()
            .unwrap_or("-")
            .to_string(),
    ]
}

#[tokio::test]
async fn a_step_asking_for_more_than_the_provider_default_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    // The command asks for 3 s; the local default is 1 s.
    let planner = Fixed(vec![(vec!["sleep", "2"], Some(3_000), None)]);
    let sk = engine(&dir, planner, local_default(secs(1.0))).await;
    let done = run(&sk, req(&dir)).await;
    assert_eq!(
        done.job.status,
        JobStatus::Succeeded,
        "{:?}",
        done.job.error
    );

    // The request's step budget outranks the provider's default too.
    let dir = tempfile::tempdir().unwrap();
    let planner = Fixed(vec![(vec!["sleep", "2"], None, None)]);
    let sk = engine(&dir, planner, local_default(secs(1.0))).await;
    let mut asked = req(&dir);
    asked.step_timeout = Some(secs(3.0));
    let done = run(&sk, asked).await;
    assert_eq!(
        done.job.status,
        JobStatus::Succeeded,
        "{:?}",
        done.job.error
    );
    let stored = done.job.plan.as_ref().unwrap();
    assert_eq!(stored.step_timeout_ms, Some(3_000), "kept with the plan");
    assert_eq!(
        stored.steps[0].command.timeout_ms, None,
        "not the command's"
    );
}

#[tokio::test]
async fn the_provider_default_cuts_a_step_that_set_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let planner = Fixed(vec![(vec!["sleep", "30"], None, None)]);
    let sk = engine(&dir, planner, local_default(secs(1.0))).await;
    let started = Instant::now();
    let done = run(&sk, req(&dir)).await;
    assert!(started.elapsed() < secs(15.0), "killed at its limit");
    assert_eq!(done.job.status, JobStatus::TimedOut);
    assert_eq!(done.steps[0].status, StepStatus::TimedOut);
    let failure = done.job.failure().unwrap();
    assert_eq!(failure.timeout.unwrap().limit_ms, 1_000);
    assert!(
        failure
            .message
            .ends_with("timed out after 1s (provider local default)"),
        "{}",
        failure.message
    );
    assert_eq!(recorded_levels(&sk, &done, 0).await, ["provider"; 5]);
}

#[tokio::test]
async fn the_job_limit_cuts_a_multi_step_job_and_names_the_global_level() {
    let dir = tempfile::tempdir().unwrap();
    let planner = Fixed(vec![
        (vec!["sleep", "1.2"], None, None),
        (vec!["sleep", "30"], None, None),
        (vec!["true"], None, None),
    ]);
    // `[limits] job_timeout` = 2.5 s; each step alone is within the local
    // default (60 s), the steps together are not.
    let timeouts = TimeoutConfig {
        job: Some(secs(2.5)),
        ..TimeoutConfig::default()
    };
    let sk = engine(&dir, planner, timeouts).await;
    let started = Instant::now();
    let done = run(&sk, req(&dir)).await;
    assert!(
        started.elapsed() < secs(15.0),
        "the running step was killed"
    );
    assert_eq!(done.job.timeout_ms, Some(2_500));
    assert_eq!(done.job.status, JobStatus::TimedOut);
    let statuses: Vec<_> = done.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Succeeded,
            StepStatus::TimedOut,
            StepStatus::Skipped
        ]
    );
    let failure = done.job.failure().unwrap();
    assert_eq!(failure.step, Some(1));
    assert!(
        failure.message.contains("(global job limit of 2s 500ms)"),
        "{}",
        failure.message
    );
    // What was left of the job's limit when step 2 started.
    assert!(failure.timeout.unwrap().limit_ms < 2_500);
    assert_eq!(recorded_levels(&sk, &done, 1).await, ["global"; 5]);
}

#[tokio::test]
async fn the_read_only_cap_bounds_read_only_steps_unless_the_request_lifts_it() {
    // The cap (1 s) is shorter than the local default (60 s).
    let timeouts = TimeoutConfig {
        read_only_step: secs(1.0),
        ..TimeoutConfig::default()
    };

    // A READ_ONLY step that set nothing: cut by the cap.
    let dir = tempfile::tempdir().unwrap();
    let planner = Fixed(vec![(vec!["sleep", "30"], None, None)]);
    let sk = engine(&dir, planner, timeouts.clone()).await;
    let done = run(&sk, req(&dir)).await;
    assert_eq!(done.job.risk, RiskLevel::ReadOnly);
    assert_eq!(done.job.status, JobStatus::TimedOut);
    assert_eq!(recorded_levels(&sk, &done, 0).await, ["read_only_cap"; 5]);

    // [limits] step_timeout alone does not lift the cap.
    let dir = tempfile::tempdir().unwrap();
    let planner = Fixed(vec![(vec!["sleep", "30"], None, None)]);
    let mut configured = timeouts.clone();
    configured.step = Some(secs(20.0));
    let sk = engine(&dir, planner, configured).await;
    let done = run(&sk, req(&dir)).await;
    let cut = done.job.failure().unwrap().timeout.unwrap();
    assert_eq!(cut.level, TimeoutLevel::ReadOnlyCap);

    // Nor does the command's own timeout: the planner chose it, and a
    // model's output may be hostile.
    let dir = tempfile::tempdir().unwrap();
    let planner = Fixed(vec![(vec!["sleep", "30"], Some(30_000), None)]);
    let sk = engine(&dir, planner, timeouts.clone()).await;
    let started = Instant::now();
    let done = run(&sk, req(&dir)).await;
    assert!(started.elapsed() < secs(15.0), "killed at the cap");
    assert_eq!(done.job.status, JobStatus::TimedOut);
    let cut = done.job.failure().unwrap().timeout.unwrap();
    assert_eq!(
        (cut.level, cut.limit_ms),
        (TimeoutLevel::ReadOnlyCap, 1_000)
    );

    // The request's step budget or a WRITE step: not capped.
    for (step, step_budget) in [
        ((vec!["sleep", "2"], Some(3_000), None), Some(secs(3.0))),
        ((vec!["sleep", "2"], None, None), Some(secs(3.0))),
        ((vec!["sleep", "2"], None, Some(("MARK", "1"))), None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sk = engine(&dir, Fixed(vec![step]), timeouts.clone()).await;
        let mut r = req(&dir);
        r.step_timeout = step_budget;
        let done = run(&sk, r).await;
        assert_eq!(
            done.job.status,
            JobStatus::Succeeded,
            "{:?}: {:?}",
            done.job.risk,
            done.job.error
        );
    }
}
