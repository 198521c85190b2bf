//! The use-cases every front-end calls: "run it now" (planned once), the
//! approval gate, idempotency conflicts, structured failures and their
//! redaction, report recording, root containment, the health verdict.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use skynet_core::action::Action;
use skynet_core::engine::{HealthCheck, NextAction, Report};
use skynet_core::plan::Plan;
use skynet_core::planner::{PlanRequest, Planner, ScriptedPlanner};
use skynet_core::provider::mock::{MockProvider, MockResponse};
use skynet_core::sentinel::HealthStatus;
use skynet_core::store::JobFilter;
use skynet_core::view::{Details, JobView};
use skynet_core::{
    EngineConfig, Error, ErrorKind, FailureKind, Gate, JobId, JobStatus, RunHere, Skynet,
    SubmitRequest,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A scripted planner that counts its calls.
struct Counting {
    inner: ScriptedPlanner,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Planner for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    async fn plan(&self, request: &PlanRequest) -> skynet_core::Result<Plan> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.plan(request).await
    }
}

struct Env {
    dir: tempfile::TempDir,
    calls: Arc<AtomicUsize>,
}

impl Env {
    async fn new(actions: Vec<Action>, mock: MockProvider) -> (Env, Skynet) {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let planner = Counting {
            inner: ScriptedPlanner::new(actions),
            calls: calls.clone(),
        };
        let sk = Skynet::builder()
            .database_url(format!(
                "sqlite://{}",
                dir.path().join("skynet.db").display()
            ))
            .planner(Arc::new(planner))
            .provider(Arc::new(mock))
            .default_provider("mock")
            .config(EngineConfig {
                heartbeat: Duration::from_millis(100),
                retry_base: Duration::from_millis(20),
                retry_max: Duration::from_millis(100),
                ..EngineConfig::default()
            })
            .build()
            .await
            .unwrap();
        (Env { dir, calls }, sk)
    }

    fn req(&self, intent: &str) -> SubmitRequest {
        SubmitRequest::new(intent).root(self.dir.path())
    }
}

fn here() -> RunHere {
    RunHere {
        worker: "test-here".into(),
        timeout: Some(Duration::from_secs(30)),
        log_tail: Some(100),
    }
}

fn touch() -> Action {
    Action::ExecuteCommand {
        argv: vec!["touch".into(), "x".into()],
    }
}

#[tokio::test]
async fn execute_plans_once_runs_here_and_returns_the_output() {
    let mock = MockProvider::new().with_rule(["ls"], MockResponse::stdout(["a.txt"]));
    let (env, sk) = Env::new(vec![Action::ListDirectory { path: ".".into() }], mock).await;
    let done = sk
        .execute(&env.req("list"), &Gate::AutoOnly, &here())
        .await
        .unwrap();
    assert_eq!(done.job.status, JobStatus::Succeeded);
    assert_eq!(env.calls.load(Ordering::SeqCst), 1, "planned once");
    assert!(
        done.logs.iter().any(|l| l.text == "a.txt"),
        "{:?}",
        done.logs
    );
    assert_eq!(done.steps.len(), 1);
}

#[tokio::test]
async fn auto_only_refuses_what_needs_a_human_and_stores_nothing() {
    let (env, sk) = Env::new(vec![touch()], MockProvider::new()).await;
    let e = sk
        .execute(&env.req("touch"), &Gate::AutoOnly, &here())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ApprovalRequired);
    assert!(matches!(e, Error::PlanNeedsApproval { .. }), "{e}");
    assert!(sk.list(&JobFilter::default()).await.unwrap().is_empty());
    // Held, it waits; approved in advance, it runs.
    let held = sk.start(&env.req("touch"), &Gate::Hold).await.unwrap();
    assert_eq!(held.status, JobStatus::Planned);
    let review = sk.review(&env.req("touch")).await.unwrap();
    assert!(review.requires_approval);
    assert_eq!(review.gates.len(), 1);
    let done = sk
        .execute(&env.req("touch"), &Gate::Approve("tester".into()), &here())
        .await
        .unwrap();
    assert_eq!(done.job.status, JobStatus::Succeeded);
    assert_eq!(done.job.approval.unwrap().approver, "tester");
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_request_is_a_conflict() {
    let (env, sk) = Env::new(vec![Action::GitStatus], MockProvider::new()).await;
    let mut req = env.req("status");
    req.idempotency_key = Some("k-1".into());
    let a = sk.submit(req.clone()).await.unwrap();
    let b = sk.submit(req.clone()).await.unwrap();
    assert_eq!(a.id, b.id, "the same request returns the first job");
    req.intent = "status, but another".into();
    let e = sk.submit(req).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        matches!(&e, Error::IdempotencyConflict { job, .. } if *job == a.id),
        "{e}"
    );
    assert_eq!(sk.list(&JobFilter::default()).await.unwrap().len(), 1);
}

/// One rule for the key, whichever front-end sends it: 1 to 200 visible
/// ASCII characters. A bad key is refused before planning and records
/// nothing.
#[tokio::test]
async fn an_idempotency_key_out_of_bounds_is_refused_before_anything_is_recorded() {
    let (env, sk) = Env::new(vec![Action::GitStatus], MockProvider::new()).await;
    for bad in [String::new(), "k".repeat(201), "a\nb".into(), "clé".into()] {
        let mut req = env.req("status");
        req.idempotency_key = Some(bad.clone());
        let e = sk.submit(req).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        assert!(e.to_string().contains("idempotency key"), "{e}");
    }
    assert_eq!(env.calls.load(Ordering::SeqCst), 0, "no plan was asked for");
    assert!(sk.list(&JobFilter::default()).await.unwrap().is_empty());
    let mut req = env.req("status");
    req.idempotency_key = Some(format!("deploy 42 {}", "k".repeat(190)));
    sk.submit(req)
        .await
        .expect("200 visible characters, spaces included");
}

/// The caller's own steps are planned as given (the planner is not asked),
/// judged like planned ones, bounded by the constraints object, and part
/// of what an idempotency key compares.
#[tokio::test]
async fn caller_steps_and_constraints_bind_the_plan() {
    let (env, sk) = Env::new(vec![Action::GitStatus], MockProvider::new()).await;
    let step = |action: &str, params: serde_json::Value| skynet_core::scheduler::SpecStep {
        action: action.into(),
        params: params.as_object().cloned().unwrap_or_default(),
        artifacts: Vec::new(),
    };
    let mut req = env.req("");
    req.steps = vec![step("read_file", serde_json::json!({ "path": "notes" }))];
    let job = sk.submit(req.clone()).await.unwrap();
    assert_eq!(
        env.calls.load(Ordering::SeqCst),
        0,
        "the planner is not asked"
    );
    assert_eq!(job.intent, "run: read_file");
    assert_eq!(job.status, JobStatus::Queued, "READ_ONLY runs unasked");
    let plan = job.plan.as_ref().unwrap();
    assert_eq!(plan.planner, "caller");
    assert_eq!(plan.steps[0].command.argv[0], "cat");

    // requires_approval_for holds a READ_ONLY step for a human.
    req.limits.requires_approval_for = vec!["read_file".into()];
    let held = sk.submit(req.clone()).await.unwrap();
    assert_eq!(held.status, JobStatus::Planned);
    let decision = held.plan.as_ref().unwrap().steps[0]
        .decision
        .clone()
        .unwrap();
    assert_eq!(
        decision.rule.as_deref(),
        Some("constraints.requires_approval_for")
    );
    assert!(matches!(
        sk.execute(&req, &Gate::AutoOnly, &here()).await,
        Err(Error::PlanNeedsApproval { .. })
    ));

    // max_risk refuses a riskier plan; nothing is stored.
    let before = sk.list(&JobFilter::default()).await.unwrap().len();
    let mut write = env.req("");
    write.steps = vec![step(
        "write_file",
        serde_json::json!({ "path": "out.txt", "content": "x" }),
    )];
    write.limits.max_risk = Some(skynet_core::RiskLevel::ReadOnly);
    assert!(matches!(
        sk.submit(write).await,
        Err(Error::Forbidden { decision }) if decision.rule.as_deref() == Some("constraints.max_risk")
    ));
    // An unknown action is bad input, not a plan.
    let mut bad = env.req("");
    bad.steps = vec![step("make_coffee", serde_json::json!({}))];
    assert!(matches!(
        sk.submit(bad).await,
        Err(Error::UnknownAction { name, .. }) if name == "make_coffee"
    ));
    assert_eq!(sk.list(&JobFilter::default()).await.unwrap().len(), before);

    // The time budget is the job's limit unless the request sets one.
    let mut budget = env.req("status");
    budget.limits.time_budget = Some(Duration::from_secs(120));
    assert_eq!(sk.submit(budget).await.unwrap().timeout_ms, Some(120_000));

    // A key reused with other steps is another request.
    let mut keyed = env.req("");
    keyed.steps = vec![step("read_file", serde_json::json!({ "path": "a" }))];
    keyed.idempotency_key = Some("k-1".into());
    sk.submit(keyed.clone()).await.unwrap();
    keyed.steps = vec![step("read_file", serde_json::json!({ "path": "b" }))];
    assert!(matches!(
        sk.submit(keyed).await,
        Err(Error::IdempotencyConflict { .. })
    ));
}

#[tokio::test]
async fn failures_are_structured_and_provider_details_can_be_hidden() {
    let mock = MockProvider::new()
        .with_rule(
            ["touch"],
            MockResponse::provider_error("token=hunter2 at 10.0.0.5"),
        )
        .with_rule(["false"], MockResponse::exit(3));
    let (env, sk) = Env::new(vec![touch()], mock).await;
    let approve = Gate::Approve("tester".into());
    let done = sk
        .execute(&env.req("touch"), &approve, &here())
        .await
        .unwrap();
    assert_eq!(done.job.status, JobStatus::Failed);
    let failure = done.job.failure().unwrap();
    assert_eq!(failure.kind, FailureKind::Provider);
    assert_eq!(failure.provider.as_deref(), Some("mock"));
    assert_eq!(failure.step, Some(0));
    // The secret is scanned out of every stored message; the provider's
    // other details (its host) stay for those allowed to see them.
    assert!(failure.message.contains("10.0.0.5"), "{}", failure.message);
    assert!(!failure.message.contains("hunter2"), "{}", failure.message);
    let full = JobView::showing(&done.job, &done.steps, Details::Full);
    assert!(full.error.unwrap().contains("10.0.0.5"));
    let hidden = JobView::showing(&done.job, &done.steps, Details::NoProviderDetails);
    let text = serde_json::to_string(&hidden).unwrap();
    assert!(!text.contains("10.0.0.5"), "{text}");
    assert!(hidden.error.unwrap().contains("admin key"));

    let (env, sk) = Env::new(
        vec![Action::ExecuteCommand {
            argv: vec!["false".into()],
        }],
        MockProvider::new().with_rule(["false"], MockResponse::exit(3)),
    )
    .await;
    let done = sk
        .execute(&env.req("fail"), &approve, &here())
        .await
        .unwrap();
    let failure = done.job.failure().unwrap();
    assert_eq!(
        (failure.kind, failure.exit_code, failure.step),
        (FailureKind::StepFailed, Some(3), Some(0))
    );
    assert!(
        done.job
            .error_message()
            .unwrap()
            .contains("exited with code 3")
    );
}

#[tokio::test]
async fn reports_are_recorded_through_the_engine() {
    let (env, sk) = Env::new(vec![touch()], MockProvider::new()).await;
    let job = sk.submit(env.req("touch")).await.unwrap();
    let steps = serde_json::json!([{ "step": 0, "status": "failed" }]);
    let on_job = Report {
        request_id: job.id.to_string(),
        overall_status: "partial".into(),
        step_reports: steps.clone(),
        metadata: serde_json::Value::Null,
    };
    let receipt = sk.record_report(&on_job, "executor").await.unwrap();
    assert_eq!(receipt.next_action, NextAction::AwaitApproval);
    assert_eq!(receipt.job.as_ref(), Some(&job.id));
    let events = sk.events(&job.id).await.unwrap();
    let report = events.iter().find(|e| e.kind == "report").unwrap();
    assert_eq!(Some(report.seq), receipt.event_seq);
    assert_eq!(report.data["reporter"], "executor");
    // The reporter's own request id (not a job's) is kept with the report.
    for request_id in ["req-17".to_string(), JobId::new().to_string()] {
        let own = Report {
            request_id: request_id.clone(),
            overall_status: "completed".into(),
            step_reports: steps.clone(),
            metadata: serde_json::json!({ "runner": "ci" }),
        };
        let receipt = sk.record_report(&own, "executor").await.unwrap();
        assert_eq!((receipt.job, receipt.event_seq), (None, None));
        assert_eq!(receipt.next_action, NextAction::None);
        let kept = sk.reports(&request_id).await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id, receipt.report_id);
        assert_eq!(kept[0].overall_status, "completed");
        assert_eq!(kept[0].body["metadata"]["runner"], "ci");
    }
    let linked = sk.reports(job.id.as_str()).await.unwrap();
    assert_eq!(linked[0].event_seq, Some(report.seq));
    let e = sk
        .record_report(
            &Report {
                request_id: " ".into(),
                ..on_job
            },
            "executor",
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn roots_are_confined_to_the_base() {
    let (env, sk) = Env::new(vec![Action::GitStatus], MockProvider::new()).await;
    std::fs::create_dir(env.dir.path().join("sub")).unwrap();
    let mut req = SubmitRequest::new("status");
    req.base = Some(env.dir.path().to_path_buf());
    req.root = Some("sub".into());
    let job = sk.submit(req.clone()).await.unwrap();
    assert_eq!(job.root, env.dir.path().canonicalize().unwrap().join("sub"));
    req.root = Some("..".into());
    let e = sk.submit(req).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[tokio::test]
async fn health_has_one_verdict() {
    let (env, sk) = Env::new(vec![Action::GitStatus], MockProvider::new()).await;
    let now = sk.health(HealthCheck::Now).await;
    assert_eq!(now.verdict, HealthStatus::Healthy, "{now:?}");
    assert_eq!(now.report.status, now.verdict);
    // Queued work and no worker: the workers component is unhealthy, and
    // so is the verdict, whichever way it is checked.
    sk.submit(env.req("status")).await.unwrap();
    for check in [HealthCheck::Now, HealthCheck::Latest] {
        let h = sk.health(check).await;
        assert_eq!(h.verdict, HealthStatus::Unhealthy, "{check:?}: {h:?}");
        assert!(!h.is_healthy());
    }
}

/// A plan's estimate comes from the step's past runs once it has some
/// (the median the ledger records), and from the action's default before.
#[tokio::test]
async fn a_plan_is_estimated_from_the_steps_past_runs() {
    let mut slow = MockResponse::stdout(["a.txt"]);
    slow.delay = Some(Duration::from_millis(300));
    let mock = MockProvider::new().with_rule(["ls"], slow);
    let list = Action::ListDirectory { path: ".".into() };
    let (env, sk) = Env::new(vec![list.clone()], mock).await;
    let fresh = sk.plan(&env.req("list")).await.unwrap();
    assert_eq!(fresh.steps[0].estimate_ms, Some(list.default_estimate_ms()));

    let done = sk
        .execute(&env.req("list"), &Gate::AutoOnly, &here())
        .await
        .unwrap();
    let ran = &done.steps[0];
    let took = (ran.finished_at.unwrap() - ran.started_at.unwrap()).num_milliseconds() as u64;
    assert!(
        took > list.default_estimate_ms(),
        "the step ran longer than the default estimate: {took} ms"
    );
    let known = sk.plan(&env.req("list")).await.unwrap();
    assert_eq!(known.steps[0].estimate_ms, Some(took));
    assert_eq!(known.estimate_ms, Some(took));
}
