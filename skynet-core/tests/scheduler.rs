//! The scheduler through the engine, on a real SQLite file: placement at
//! submit among candidates with different capabilities and health, a
//! named provider's checks, the load counter around running steps, the
//! history from the ledger, and `diagnose` with and without a fallback.
#![allow(clippy::unwrap_used)]

mod engine_support;

use async_trait::async_trait;
use engine_support::Env;
use skynet_core::action::Action;
use skynet_core::plan::Command;
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::mock::{MockProvider, MockResponse};
use skynet_core::provider::{Capabilities, ExecContext, Health, Output, Provider};
use skynet_core::scheduler::{ExecutionSpec, HealthSource, SpecStep};
use skynet_core::store::JobFilter;
use skynet_core::{Error, JobStatus, Skynet, SubmitRequest};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A mock under another name, with chosen actions and health.
struct Fake {
    name: &'static str,
    actions: Vec<String>,
    healthy: Arc<AtomicBool>,
    max_concurrency: usize,
    mock: MockProvider,
}

impl Fake {
    fn new(name: &'static str, actions: &[&str]) -> Self {
        Fake {
            name,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            healthy: Arc::new(AtomicBool::new(true)),
            max_concurrency: 4,
            mock: MockProvider::new(),
        }
    }
    fn unhealthy(self) -> Self {
        self.healthy.store(false, Ordering::SeqCst);
        self
    }
    fn with_mock(mut self, mock: MockProvider) -> Self {
        self.mock = mock;
        self
    }
}

#[async_trait]
impl Provider for Fake {
    fn name(&self) -> &str {
        self.name
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            actions: self.actions.clone(),
            isolated: true,
            max_concurrency: self.max_concurrency,
        }
    }
    async fn health(&self) -> Health {
        let healthy = self.healthy.load(Ordering::SeqCst);
        Health {
            healthy,
            message: format!("{} is {}", self.name, if healthy { "up" } else { "down" }),
        }
    }
    async fn execute(&self, command: &Command, ctx: ExecContext) -> skynet_core::Result<Output> {
        self.mock.execute(command, ctx).await
    }
}

/// Health ratios from a table, as a monitor with a history would give.
struct Table(BTreeMap<&'static str, f64>);

impl HealthSource for Table {
    fn health_ratio(&self, provider: &str) -> Option<f64> {
        self.0.get(provider).copied()
    }
}

const LIST: &str = "list_directory";
const STATUS: &str = "git_status";

/// The scheduler suite's requests and engines over the test's ledger.
trait Placing {
    fn list_req(&self) -> SubmitRequest;
    async fn engine(&self, fakes: Vec<Fake>, health: Option<Table>) -> Skynet;
}

impl Placing for Env {
    fn list_req(&self) -> SubmitRequest {
        self.req("list the files")
    }
    /// An engine whose plans list a directory, with `fakes` registered and
    /// listed as the candidates in that order.
    async fn engine(&self, fakes: Vec<Fake>, health: Option<Table>) -> Skynet {
        let names: Vec<&str> = fakes.iter().map(|f| f.name).collect();
        let mut b = Skynet::builder()
            .database_url(self.url())
            .planner(Arc::new(ScriptedPlanner::new(vec![
                Action::ListDirectory { path: ".".into() },
            ])))
            .candidates(names);
        for f in fakes {
            b = b.provider(Arc::new(f));
        }
        if let Some(t) = health {
            b = b.health_source(Arc::new(t));
        }
        b.build().await.unwrap()
    }
}

fn spec(actions: &[&str]) -> ExecutionSpec {
    ExecutionSpec {
        job_id: None,
        steps: actions
            .iter()
            .map(|a| SpecStep {
                action: a.to_string(),
                params: Default::default(),
                artifacts: Vec::new(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn submit_picks_the_capable_candidate_records_why_and_runs_there() {
    let env = Env::new();
    let beta_mock = MockProvider::new();
    let sk = env
        .engine(
            vec![
                Fake::new("alpha", &[STATUS]),
                Fake::new("beta", &[STATUS, LIST]).with_mock(beta_mock.clone()),
            ],
            None,
        )
        .await;
    let job = sk.submit(env.list_req()).await.unwrap();
    assert_eq!(job.provider, "beta", "alpha cannot list directories");
    let events = sk.events(&job.id).await.unwrap();
    let chosen = events
        .iter()
        .find(|e| e.kind == "provider_selected")
        .expect("the choice is recorded with the job");
    assert_eq!(chosen.data["selected_provider"], "beta");
    assert_eq!(chosen.data["fallback_used"], false);
    assert_eq!(
        chosen.data["required_capabilities"],
        serde_json::json!([LIST])
    );
    assert_eq!(
        chosen.data["candidates"],
        serde_json::json!(["alpha", "beta"])
    );
    let scores = chosen.data["scores"].as_array().unwrap();
    assert_eq!(scores[0]["provider"], "beta");
    assert_eq!(scores[1]["provider"], "alpha");
    assert_eq!(scores[1]["total_score"], 0.0);
    assert_eq!(scores[1]["capability_score"], 0.0);
    let done = sk.run_job(&job.id, "w").await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(beta_mock.calls().len(), 1, "the step ran on beta");
    assert!(sk.verify_events(&job.id).await.unwrap().intact);
}

#[tokio::test]
async fn submit_skips_an_unhealthy_candidate_and_refuses_when_none_is_left() {
    let env = Env::new();
    let sk = env
        .engine(
            vec![
                Fake::new("alpha", &[LIST]).unhealthy(),
                Fake::new("beta", &[LIST]),
            ],
            None,
        )
        .await;
    assert_eq!(sk.submit(env.list_req()).await.unwrap().provider, "beta");

    let env = Env::new();
    let sk = env
        .engine(
            vec![
                Fake::new("alpha", &[LIST]).unhealthy(),
                Fake::new("beta", &[STATUS]),
            ],
            None,
        )
        .await;
    let e = sk.submit(env.list_req()).await.unwrap_err();
    let Error::NoEligibleProvider(m) = &e else {
        panic!("expected NoEligibleProvider, got {e:?}")
    };
    assert!(
        m.contains("alpha is unhealthy") && m.contains("beta cannot run list_directory"),
        "{m}"
    );
    assert!(
        sk.list(&JobFilter::default()).await.unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_plugged_in_health_source_decides_health() {
    let env = Env::new();
    // Live checks would say both are healthy; the history says beta is not.
    let table = Table([("alpha", 0.9), ("beta", 0.1)].into_iter().collect());
    let sk = env
        .engine(
            vec![Fake::new("beta", &[LIST]), Fake::new("alpha", &[LIST])],
            Some(table),
        )
        .await;
    let d = sk.diagnose(&spec(&[LIST]), None).await.unwrap();
    assert_eq!(d.selected_provider, "alpha");
    let beta = d.scores.iter().find(|s| s.provider == "beta").unwrap();
    assert_eq!((beta.health_score, beta.total_score), (0.1, 0.0));
    let alpha = &d.scores[0];
    assert_eq!(
        (alpha.provider.as_str(), alpha.health_score),
        ("alpha", 0.9)
    );
}

#[tokio::test]
async fn by_default_the_sentinels_recent_checks_decide_health() {
    let env = Env::new();
    let beta = Fake::new("beta", &[LIST]).unhealthy();
    let beta_health = beta.healthy.clone();
    let sk = env
        .engine(vec![beta, Fake::new("alpha", &[LIST])], None)
        .await;
    for _ in 0..3 {
        sk.sentinel().check_providers().await;
    }
    // Beta answers healthy now, but failed its last three rounds: the
    // sentinel's history outweighs a live check.
    beta_health.store(true, Ordering::SeqCst);
    let d = sk.diagnose(&spec(&[LIST]), None).await.unwrap();
    assert_eq!(d.selected_provider, "alpha");
    let beta = d.scores.iter().find(|s| s.provider == "beta").unwrap();
    assert_eq!((beta.health_score, beta.total_score), (0.0, 0.0));
    assert_eq!(sk.submit(env.list_req()).await.unwrap().provider, "alpha");
}

#[tokio::test]
async fn a_named_provider_must_be_registered_and_capable() {
    let env = Env::new();
    let sk = env
        .engine(
            vec![Fake::new("alpha", &[STATUS]), Fake::new("beta", &[LIST])],
            None,
        )
        .await;
    let mut req = env.list_req();
    req.provider = Some("alpha".into());
    let e = sk.submit(req.clone()).await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput(m) if m.contains("alpha cannot run list_directory") && m.contains("can run this plan: beta")),
        "{e}"
    );
    req.provider = Some("nowhere".into());
    let e = sk.submit(req.clone()).await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput(m) if m.contains("registered: alpha, beta")),
        "{e}"
    );
    assert!(sk.list(&JobFilter::default()).await.unwrap().is_empty());
    // A named provider is taken as asked, without scoring: `local` is not
    // a candidate here, and no choice event is written.
    req.provider = Some("local".into());
    let job = sk.submit(req).await.unwrap();
    assert_eq!(job.provider, "local");
    let kinds: Vec<String> = sk
        .events(&job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(!kinds.iter().any(|k| k == "provider_selected"), "{kinds:?}");
}

#[tokio::test]
async fn without_candidates_the_default_provider_takes_every_job_as_before() {
    let env = Env::new();
    let sk = Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            env.dir.path().join("skynet.db").display()
        ))
        .default_provider("mock")
        .build()
        .await
        .unwrap();
    assert_eq!(sk.scheduler().candidates(), ["mock"]);
    let job = sk.submit(env.list_req()).await.unwrap();
    assert_eq!(job.provider, "mock");
    assert_eq!(
        sk.events(&job.id).await.unwrap().len(),
        1,
        "just `submitted`"
    );
}

#[tokio::test]
async fn the_load_score_counts_running_steps_until_they_end() {
    let env = Env::new();
    let slow = MockProvider::new().with_rule(
        ["ls"],
        MockResponse::default().with_delay(Duration::from_secs(60)),
    );
    let sk = env
        .engine(
            vec![
                Fake::new("alpha", &[LIST]).with_mock(slow),
                Fake::new("beta", &[LIST]),
            ],
            None,
        )
        .await;
    let mut req = env.list_req();
    req.provider = Some("alpha".into());
    let job = sk.submit(req).await.unwrap();
    let runner = {
        let sk = sk.clone();
        let id = job.id.clone();
        tokio::spawn(async move { sk.run_job(&id, "w").await })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while sk.scheduler().load().running("alpha") == 0 {
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let d = sk.diagnose(&spec(&[LIST]), None).await.unwrap();
    let alpha = d.scores.iter().find(|s| s.provider == "alpha").unwrap();
    assert_eq!(alpha.load_score, 0.75, "1 of 4 slots busy");
    assert_eq!(d.selected_provider, "beta", "the idle one wins");
    sk.cancel(&job.id, "test").await.unwrap();
    let ended = runner.await.unwrap().unwrap();
    assert_eq!(ended.status, JobStatus::Cancelled);
    assert_eq!(
        sk.scheduler().load().running("alpha"),
        0,
        "released when the step ended"
    );
}

#[tokio::test]
async fn past_failures_lower_a_providers_success_score() {
    let env = Env::new();
    let failing = MockProvider::new().with_rule(["ls"], MockResponse::exit(1));
    let sk = env
        .engine(
            vec![
                Fake::new("alpha", &[LIST]).with_mock(failing),
                Fake::new("beta", &[LIST]),
            ],
            None,
        )
        .await;
    for _ in 0..2 {
        let mut req = env.list_req();
        req.provider = Some("alpha".into());
        let job = sk.submit(req).await.unwrap();
        assert_eq!(
            sk.run_job(&job.id, "w").await.unwrap().status,
            JobStatus::Failed
        );
    }
    let d = sk.diagnose(&spec(&[LIST]), None).await.unwrap();
    let alpha = d.scores.iter().find(|s| s.provider == "alpha").unwrap();
    assert_eq!(alpha.success_score, 0.25, "(0 + 1) / (2 + 2)");
    assert_eq!(d.scores[0].provider, "beta");
    assert_eq!(d.scores[0].success_score, 0.5, "no history: neutral");
}

#[tokio::test]
async fn diagnose_falls_back_only_when_nothing_is_eligible() {
    let env = Env::new();
    let sk = env
        .engine(
            vec![
                Fake::new("alpha", &[STATUS, LIST]).unhealthy(),
                Fake::new("beta", &[STATUS]),
            ],
            None,
        )
        .await;
    let d = sk.diagnose(&spec(&[STATUS]), Some("local")).await.unwrap();
    assert_eq!(
        (d.selected_provider.as_str(), d.fallback_used),
        ("beta", false)
    );
    let d = sk
        .diagnose(&spec(&[LIST, STATUS, LIST]), Some("local"))
        .await
        .unwrap();
    assert_eq!(
        (d.selected_provider.as_str(), d.fallback_used),
        ("local", true)
    );
    assert_eq!(d.required_capabilities, [STATUS, LIST]);
    assert_eq!(d.candidates, ["alpha", "beta"]);
    assert_eq!(d.scores.len(), 2);
    assert!(d.scores.iter().all(|s| s.total_score == 0.0));
    let e = sk.diagnose(&spec(&[LIST]), None).await.unwrap_err();
    assert!(
        matches!(&e, Error::NoEligibleProvider(m) if m.contains("no fallback")),
        "{e}"
    );
    let e = sk.diagnose(&spec(&[LIST]), Some("beta")).await.unwrap_err();
    assert!(
        matches!(&e, Error::NoEligibleProvider(m) if m.contains("the fallback beta cannot run list_directory")),
        "{e}"
    );
    let e = sk
        .diagnose(&spec(&[LIST]), Some("gamma"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput(m) if m.contains("fallback provider \"gamma\"")),
        "{e}"
    );
    let e = sk.diagnose(&spec(&["teleport"]), None).await.unwrap_err();
    assert!(
        matches!(&e, Error::UnknownAction { name, closest } if name == "teleport" && closest.len() == 3),
        "{e}"
    );
    assert_eq!(e.kind(), skynet_core::ErrorKind::InvalidInput);
    let e = sk
        .diagnose(&ExecutionSpec::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::InvalidInput(_)), "{e}");
}

#[tokio::test]
async fn diagnose_reads_a_stored_jobs_plan_by_id() {
    let env = Env::new();
    let sk = env
        .engine(
            vec![Fake::new("alpha", &[LIST]), Fake::new("beta", &[LIST])],
            None,
        )
        .await;
    let job = sk.submit(env.list_req()).await.unwrap();
    let by_id = ExecutionSpec {
        job_id: Some(job.id.to_string()),
        steps: Vec::new(),
    };
    let d = sk.diagnose(&by_id, None).await.unwrap();
    assert_eq!(d.required_capabilities, [LIST]);
    assert_eq!(d.selected_provider, job.provider);
}

#[tokio::test]
async fn candidates_must_be_registered_and_say_how_to_configure_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, says) in [
        ("gateway", "set OPENCLAW_GATEWAY_URL"),
        ("docker", "set SKYNET_DOCKER_IMAGE"),
        ("kubernetes", "not a registered provider"),
    ] {
        let e = Skynet::builder()
            .database_url(format!("sqlite://{}", dir.path().join("k.db").display()))
            .candidates(["local", name])
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m.contains(says) && m.contains("registered: local, mock")),
            "{e}"
        );
    }
}
