//! The gateway provider speaking the ORIGINAL gateway protocol, against a
//! local axum server on a loopback port that speaks exactly that wire
//! format (`POST /execute` → `{"status": "accepted"}`, `GET /status/{id}`,
//! `POST /cancel/{id}`, `GET /status`), since the original gateway itself
//! is out of reach. The server records every body it receives, so the
//! tests see what SKYNET sent.

mod provider_support;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use provider_support::{Step, command, run_to_success};
use serde_json::{Value, json};
use skynet_core::llm::ApiKey;
use skynet_core::provider::{
    ExitKind, GatewayConfig, GatewayProtocol, GatewayProvider, Provider, Stream,
};
use skynet_core::{Error, JobStatus, RiskLevel, Skynet, SubmitRequest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How the fake gateway plays a job, chosen by the step's first argv word.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    /// Running with one line on the first poll, completed with two on the
    /// next (cumulative output, as the protocol sends it).
    TwoLines,
    /// Running until cancelled.
    Forever,
    /// A status answer without the required `status` field.
    NoStatusField,
}

#[derive(Debug)]
struct Job {
    script: Script,
    polls: u32,
    cancelled: bool,
}

#[derive(Default)]
struct Gateway {
    executed: Mutex<Vec<Value>>,
    cancelled: Mutex<Vec<String>>,
    jobs: Mutex<HashMap<String, Job>>,
    started: Notify,
}

async fn execute(State(gw): State<Arc<Gateway>>, Json(body): Json<Value>) -> Json<Value> {
    let id = body["job_id"].as_str().expect("job_id").to_string();
    let first = body["execution_spec"]["steps"][0]["argv"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let script = match first.as_str() {
        "sleep" => Script::Forever,
        "broken" => Script::NoStatusField,
        _ => Script::TwoLines,
    };
    gw.executed.lock().expect("lock").push(body);
    gw.jobs.lock().expect("lock").insert(
        id,
        Job {
            script,
            polls: 0,
            cancelled: false,
        },
    );
    gw.started.notify_waiters();
    Json(json!({"status": "accepted"}))
}

async fn status(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let mut jobs = gw.jobs.lock().expect("lock");
    let job = jobs.get_mut(&id).ok_or(axum::http::StatusCode::NOT_FOUND)?;
    job.polls += 1;
    if job.cancelled {
        return Ok(Json(json!({"job_id": id, "status": "cancelled"})));
    }
    Ok(Json(match (job.script, job.polls) {
        (Script::TwoLines, 1) => {
            json!({"job_id": id, "status": "running", "output": "line 1\n", "queue_position": 0})
        }
        (Script::TwoLines, _) => json!({
            "job_id": id,
            "status": "completed",
            "steps": [{"status": "completed", "output": "line 1\nline 2\n", "stderr": "warned\n", "exit_code": 0}],
            "finished_at": "2024-01-01T00:00:00Z"
        }),
        (Script::Forever, _) => json!({"job_id": id, "status": "running"}),
        (Script::NoStatusField, _) => json!({"job_id": id, "output": "where am I"}),
    }))
}

async fn cancel(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Json<Value> {
    gw.cancelled.lock().expect("lock").push(id.clone());
    if let Some(job) = gw.jobs.lock().expect("lock").get_mut(&id) {
        job.cancelled = true;
    }
    Json(json!({"status": "cancelling"}))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "online", "agent_connected": true}))
}

/// Serve the original protocol on a free loopback port.
async fn original_gateway() -> (Arc<Gateway>, String) {
    let gw = Arc::new(Gateway::default());
    let app = Router::new()
        .route("/execute", post(execute))
        .route("/status", get(health))
        .route("/status/{id}", get(status))
        .route("/cancel/{id}", post(cancel))
        .with_state(gw.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (gw, url)
}

fn config(url: &str, trusted: bool) -> GatewayConfig {
    // The original gateway runs without a token.
    let mut config = GatewayConfig::new(url, ApiKey::new(""));
    config.protocol = GatewayProtocol::Original;
    config.trusted = trusted;
    config.poll_interval = Duration::from_millis(20);
    config
}

async fn engine(url: &str, trusted: bool) -> Skynet {
    let provider = GatewayProvider::new(config(url, trusted)).expect("provider");
    Skynet::builder()
        .provider(Arc::new(provider))
        .default_provider("openclaw")
        .build()
        .await
        .expect("engine")
}

#[tokio::test]
async fn a_job_runs_end_to_end_over_the_original_wire_format() {
    let (gw, url) = original_gateway().await;
    let root = tempfile::tempdir().expect("root");
    std::fs::write(root.path().join("notes.txt"), "hello\n").expect("write");
    let sk = engine(&url, true).await;
    let job = sk
        .submit(SubmitRequest::new("read notes.txt").root(root.path()))
        .await
        .expect("submit");
    assert_eq!(job.provider, "gateway");
    assert_eq!(
        job.status,
        JobStatus::Queued,
        "trusted: READ_ONLY runs unasked"
    );
    let judged = job.plan.as_ref().expect("plan").steps[0]
        .command
        .argv
        .clone();

    let logs = run_to_success(&sk, &job.id).await;
    let texts: Vec<&str> = logs.iter().map(|l| l.text.as_str()).collect();
    assert!(texts.contains(&"line 1"), "{texts:?}");
    assert!(texts.contains(&"line 2"), "{texts:?}");
    assert!(
        logs.iter()
            .any(|l| l.text == "warned" && l.stream == Stream::Stderr),
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| **t == "line 1").count(),
        1,
        "cumulative output is logged once: {texts:?}"
    );

    // What the gateway received: the action, its parameters and the argv
    // SKYNET judged, both at the top of the step and in its params.
    let executed = gw.executed.lock().expect("lock").clone();
    assert_eq!(executed.len(), 1, "{executed:?}");
    let body = &executed[0];
    assert!(
        body["job_id"]
            .as_str()
            .expect("id")
            .starts_with(job.id.as_str()),
        "{body}"
    );
    let step = &body["execution_spec"]["steps"][0];
    assert_eq!(step["action"], "read_file");
    assert_eq!(step["params"]["path"], "notes.txt");
    assert_eq!(step["params"]["argv"], json!(judged));
    assert_eq!(step["argv"], json!(judged));
    assert_eq!(step["risk"], "READ_ONLY");
    assert_eq!(step["working_dir"], ".");
}

#[tokio::test]
async fn read_only_plans_on_an_untrusted_original_gateway_wait_for_approval() {
    let (gw, url) = original_gateway().await;
    let root = tempfile::tempdir().expect("root");
    std::fs::write(root.path().join("notes.txt"), "hello\n").expect("write");
    let req = SubmitRequest::new("read notes.txt").root(root.path());

    let sk = engine(&url, false).await;
    let review = sk.review(&req).await.expect("review");
    assert_eq!(review.plan.risk, RiskLevel::ReadOnly);
    assert!(review.requires_approval);
    let reason = &review.gates.first().expect("a gate").reason;
    assert!(
        reason.contains("original gateway protocol") && reason.contains("OPENCLAW_GATEWAY_TRUSTED"),
        "{reason}"
    );
    let job = sk.submit(req.clone()).await.expect("submit");
    assert_eq!(job.status, JobStatus::Planned);
    assert!(job.approval.is_none());
    let refused = sk
        .start(&req, &skynet_core::Gate::AutoOnly)
        .await
        .expect_err("needs a human");
    assert!(
        matches!(refused, Error::PlanNeedsApproval { .. }),
        "{refused}"
    );
    // Nothing reached the gateway.
    assert!(gw.executed.lock().expect("lock").is_empty());

    // Trusted, the same plan is auto-approved.
    let sk = engine(&url, true).await;
    assert!(!sk.review(&req).await.expect("review").requires_approval);
    let job = sk.submit(req).await.expect("submit");
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.approval.expect("approved").approver, "auto");
}

#[tokio::test]
async fn cancel_reaches_the_original_gateway() {
    let (gw, url) = original_gateway().await;
    let provider = GatewayProvider::new(config(&url, true)).expect("provider");
    let root = std::path::PathBuf::from("/jobs/1");
    let step = Step::new(&root);
    let started = gw.started.notified();
    let cancel = step.cancel.clone();
    let canceller = async {
        started.await;
        cancel.cancel();
    };
    let sleep = command(&["sleep", "600"], &root);
    let (run, ()) = tokio::join!(step.run_on(&provider, &sleep, None), canceller);
    let run = run.expect("ran");
    assert_eq!(run.out.exit, ExitKind::Cancelled, "{}", run.all());
    let id = gw.executed.lock().expect("lock")[0]["job_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(*gw.cancelled.lock().expect("lock"), [id]);
}

#[tokio::test]
async fn the_deadline_cancels_the_job_there_and_times_the_step_out() {
    let (gw, url) = original_gateway().await;
    let provider = GatewayProvider::new(config(&url, true)).expect("provider");
    let root = std::path::PathBuf::from("/jobs/1");
    let mut step = Step::new(&root);
    step.timeout = Some(Duration::from_millis(200));
    let run = step
        .run_on(&provider, &command(&["sleep", "600"], &root), None)
        .await
        .expect("ran");
    assert_eq!(run.out.exit, ExitKind::TimedOut, "{}", run.all());
    assert_eq!(gw.cancelled.lock().expect("lock").len(), 1);
    let sent = gw.executed.lock().expect("lock")[0].clone();
    assert_eq!(sent["execution_spec"]["steps"][0]["timeout_ms"], 200);
}

#[tokio::test]
async fn a_status_answer_without_its_required_field_fails_the_step_clearly() {
    let (_gw, url) = original_gateway().await;
    let provider = GatewayProvider::new(config(&url, true)).expect("provider");
    let root = std::path::PathBuf::from("/jobs/1");
    let e = Step::new(&root)
        .run_on(&provider, &command(&["broken"], &root), None)
        .await
        .expect_err("off protocol");
    let text = e.to_string();
    assert!(
        matches!(e, Error::Provider { .. }) && text.contains("no `status` field"),
        "{text}"
    );
}

#[tokio::test]
async fn health_reads_the_gateways_status_page() {
    let (_gw, url) = original_gateway().await;
    let provider = GatewayProvider::new(config(&url, false)).expect("provider");
    let health = provider.health().await;
    assert!(health.healthy, "{}", health.message);
    assert!(
        health.message.contains("original protocol"),
        "{}",
        health.message
    );
    assert!(!provider.confines_read_only().await, "untrusted");

    let gone = GatewayProvider::new(config("http://127.0.0.1:9", true)).expect("provider");
    assert!(!gone.health().await.healthy);
    assert!(gone.confines_read_only().await, "trusted");
}
