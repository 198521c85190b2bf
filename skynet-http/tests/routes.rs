//! Every route through the router in-process (`oneshot`), on a real ledger
//! (SQLite and PostgreSQL): shapes, status codes, problem+json codes, and
//! what changed.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp};
use serde_json::json;
use skynet_core::store::StepStatus;
use skynet_core::{JobSource, JobStatus};
use skynet_http::schema;

/// Read a response into its documented type (the type the handler
/// returns, which also writes the OpenAPI schema).
fn conforms<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> T {
    serde_json::from_value(v.clone()).expect("response matches its documented schema")
}

async fn health_needs_no_key_and_names_components_without_secrets(db: Db) {
    let t = TestApp::new(db).await;
    let r = t.call("GET", "/v1/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let body: schema::HealthAnswer = conforms(&r.json());
    assert_eq!(body.status, "ok");
    assert_eq!(body.components["store"].detail, t.db.backend());
    assert_eq!(body.components["queue"].status, "ok");
    assert_eq!(body.components["workers"].status, "ok");
    // Queued work with no worker online shows (from the sentinel's next
    // system round), with counts only.
    t.submit_job("list the files").await;
    t.sk.sentinel().check_system().await;
    let body: schema::HealthAnswer =
        conforms(&t.call("GET", "/v1/health", None, None).await.json());
    assert_eq!(body.status, "degraded");
    assert_eq!(body.components["workers"].status, "down");
    assert!(
        body.components["workers"]
            .detail
            .contains("1 job is queued")
    );
    assert!(
        !r.text.contains(&t.dir.path().display().to_string()),
        "no paths"
    );
    assert!(!r.text.contains(&t.url), "no database URL");
    assert!(
        r.headers.contains_key("x-request-id"),
        "every answer has a request id"
    );
}

async fn submit_queues_read_only_and_holds_write_for_approval(db: Db) {
    let t = TestApp::new(db).await;
    let ro = t.submit_job("list the files").await;
    let ro: schema::JobView = conforms(&ro);
    assert_eq!(ro.status, JobStatus::Queued);
    assert_eq!(ro.source, JobSource::Http);
    assert_eq!(ro.approval.expect("auto approval").approver, "auto");
    let submitted = t.submit_job("write 'hi' to notes.txt").await;
    // The answer shows the job exactly as the ledger holds it.
    let id = submitted["id"].as_str().expect("id");
    let shown = t.get_read(&format!("/v1/jobs/{id}")).await;
    assert_eq!(shown.json(), submitted);
    let w: schema::JobView = conforms(&submitted);
    assert_eq!(w.status, JobStatus::Planned);
    assert!(w.approval.is_none());
    let plan = w.plan.expect("plan");
    assert!(!plan.hash.is_empty());
    assert_eq!(
        plan.steps[0].state.as_ref().expect("step state").status,
        StepStatus::Pending
    );
    // The job's root is the server's root.
    assert_eq!(
        w.root,
        t.dir
            .path()
            .canonicalize()
            .expect("canon")
            .display()
            .to_string()
    );
}

async fn submit_refuses_bad_input_with_problem_codes_and_stores_nothing(db: Db) {
    let t = TestApp::new(db).await;
    let cases = [
        (
            json!({ "intent": "" }),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({ "intent": "list the files", "root": "/etc" }),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({ "intent": "list the files", "root": "../" }),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({ "intent": "list the files", "provider": "nope" }),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({ "intent": "list the files", "timeout_ms": 0 }),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({ "intent": 5 }),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({ "intnet": "typo" }),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({ "intent": "run `rm -rf /`" }),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ];
    for (body, status, code) in cases {
        let r = t
            .call("POST", "/v1/jobs", Some(&t.submit), Some(body.clone()))
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert_eq!(r.code(), code, "{body}");
    }
    // A forbidden plan carries the decision that forbade it.
    let r = t
        .call(
            "POST",
            "/v1/jobs",
            Some(&t.submit),
            Some(json!({ "intent": "run `rm -rf /`" })),
        )
        .await;
    assert_eq!(r.json()["decision"]["verdict"], "forbid");
    // Not JSON at all, and a body over the limit.
    let r = t
        .call_with(
            "POST",
            "/v1/jobs",
            Some(&t.submit),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
    let huge = json!({ "intent": "x".repeat(100 * 1024) });
    let r = t
        .call("POST", "/v1/jobs", Some(&t.submit), Some(huge))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    assert!(t.ledger_snapshot().await.is_empty(), "nothing was stored");
}

async fn idempotency_key_returns_the_first_job_and_refuses_another_intent(db: Db) {
    let t = TestApp::new(db).await;
    let send = |intent: &'static str| {
        t.call_with(
            "POST",
            "/v1/jobs",
            Some(&t.submit),
            Some(json!({ "intent": intent })),
            &[("idempotency-key", "abc-1")],
        )
    };
    let a = send("list the files").await;
    let b = send("list the files").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(b.status, StatusCode::ACCEPTED);
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(a.json()["idempotency_key"], "abc-1");
    let c = send("write 'x' to y.txt").await;
    assert_eq!(
        (c.status, c.code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    assert_eq!(t.ledger_snapshot().await.len(), 1);
}

/// The header's bounds are core's: the same 400 as any invalid input, and
/// nothing stored.
async fn an_idempotency_key_too_long_is_a_bad_request(db: Db) {
    let t = TestApp::new(db).await;
    let long = "k".repeat(201);
    let r = t
        .call_with(
            "POST",
            "/v1/jobs",
            Some(&t.submit),
            Some(json!({ "intent": "list the files" })),
            &[("idempotency-key", long.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_input");
    assert!(r.text.contains("idempotency key"), "{}", r.text);
    assert!(t.ledger_snapshot().await.is_empty(), "nothing was stored");
}

async fn list_pages_with_a_cursor_and_filters_by_status(db: Db) {
    let t = TestApp::new(db).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let intent = if i % 2 == 0 {
            "list the files"
        } else {
            "write 'x' to a.txt"
        };
        ids.push(
            t.submit_job(intent).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    ids.reverse(); // newest first
    let mut seen = Vec::new();
    let mut uri = "/v1/jobs?limit=2".to_string();
    loop {
        let r = t.get_read(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page: schema::JobPage = conforms(&r.json());
        assert!(page.jobs.len() <= 2);
        seen.extend(page.jobs.iter().map(|j| j.id.clone()));
        match page.next_cursor {
            Some(c) => uri = format!("/v1/jobs?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every job once, newest first");
    let r = t.get_read("/v1/jobs?status=planned").await;
    let planned: schema::JobPage = conforms(&r.json());
    assert_eq!(planned.jobs.len(), 2);
    assert!(planned.jobs.iter().all(|j| j.status == JobStatus::Planned));
    for bad in [
        "/v1/jobs?status=nope",
        "/v1/jobs?limit=0",
        "/v1/jobs?limit=5000",
        "/v1/jobs?cursor=zzz",
        "/v1/jobs?limit=x",
    ] {
        let r = t.get_read(bad).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::BAD_REQUEST, "invalid_input"),
            "{bad}"
        );
    }
}

async fn get_job_shows_plan_steps_approval_and_404s(db: Db) {
    let t = TestApp::new(db).await;
    let id = t.submit_job("list the files").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = t.get_read(&format!("/v1/jobs/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let job: schema::JobView = conforms(&r.json());
    assert_eq!(job.id, id);
    assert_eq!(job.plan.expect("plan").steps.len(), 1);
    for missing in [
        format!("/v1/jobs/{}", skynet_core::JobId::new()),
        "/v1/jobs/not-a-uuid".to_string(),
    ] {
        let r = t.get_read(&missing).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
    }
    let r = t.get_read("/v1/nothing-here").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

async fn approve_binds_the_plan_hash_deny_and_cancel_change_status_once(db: Db) {
    let t = TestApp::new(db).await;
    let job = t.submit_job("write 'hi' to notes.txt").await;
    let id = job["id"].as_str().expect("id");
    let hash = job["plan"]["hash"].as_str().expect("hash");
    let approve_uri = format!("/v1/jobs/{id}/approve");
    let approve = |h: String| {
        t.call(
            "POST",
            &approve_uri,
            Some(&t.approve),
            Some(json!({ "plan_hash": h })),
        )
    };
    let before = t.ledger_snapshot().await;
    let r = approve("0".repeat(64)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "stale_approval")
    );
    assert_eq!(
        t.ledger_snapshot().await,
        before,
        "a stale approval changes nothing"
    );
    let r = approve(hash.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let approved: schema::JobView = conforms(&r.json());
    assert_eq!(approved.status, JobStatus::Queued);
    let approval = approved.approval.expect("approval");
    assert!(
        approval.approver.starts_with("http:approve/"),
        "{}",
        approval.approver
    );
    assert_eq!(approval.plan_hash, hash);
    // The same approval again is refused: it transitions once.
    let r = approve(hash.to_string()).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    // Cancel the queued job; cancelling again is a conflict.
    let cancel = format!("/v1/jobs/{id}/cancel");
    let r = t.call("POST", &cancel, Some(&t.approve), None).await;
    assert_eq!(r.json()["status"], "cancelled");
    let r = t.call("POST", &cancel, Some(&t.approve), None).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    // Deny another planned job, with a reason.
    let other = t.submit_job("write 'x' to y.txt").await;
    let deny = format!("/v1/jobs/{}/deny", other["id"].as_str().expect("id"));
    let r = t
        .call(
            "POST",
            &deny,
            Some(&t.approve),
            Some(json!({ "reason": "not today" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "denied");
    assert_eq!(r.json()["error"], "not today");
    let r = t
        .call("POST", &deny, Some(&t.approve), Some(json!({})))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    // The reason is optional, and so is the body: a bare POST denies.
    let third = t.submit_job("write 'x' to z.txt").await;
    let deny = format!("/v1/jobs/{}/deny", third["id"].as_str().expect("id"));
    let r = t.call("POST", &deny, Some(&t.approve), None).await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (StatusCode::OK, Some("denied")),
        "{}",
        r.text
    );
}

/// `skynet_redactions_total` as `/metrics` shows it now.
async fn redactions_total(t: &TestApp) -> u64 {
    let r = t.get_read("/metrics").await;
    r.text
        .lines()
        .find_map(|l| l.strip_prefix("skynet_redactions_total "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no redaction count in {}", r.text))
}

async fn logs_and_metrics_hide_secret_shaped_output(db: Db) {
    let t = TestApp::new(db).await;
    let before = redactions_total(&t).await;
    let id = t.submit_and_run("read creds.txt").await;
    let r = t.get_read(&format!("/v1/jobs/{id}/logs")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text.contains("hunter2"), "{}", r.text);
    assert!(!r.text.contains("AKIAIOSFODNN7EXAMPLE"), "{}", r.text);
    let logs: schema::LogsView = conforms(&r.json());
    let texts: Vec<&str> = logs.lines.iter().map(|l| l.text.as_str()).collect();
    assert!(texts.contains(&"password=[REDACTED]"), "{texts:?}");
    assert!(texts.contains(&"key [REDACTED]"), "{texts:?}");
    // A private key printed line by line is hidden whole, not only its
    // BEGIN line; what follows it is shown again.
    assert!(!r.text.contains("b3BlbnNzaC1rZXkt"), "{}", r.text);
    assert!(texts.contains(&"the end"), "{texts:?}");
    // The counter is process-wide (other tests redact too): it grew by at
    // least this job's five redactions.
    assert!(redactions_total(&t).await >= before + 5);
}

async fn logs_tail_and_search_after_a_worker_ran_the_job(db: Db) {
    let t = TestApp::new(db).await;
    let id = t.submit_and_run("read hello.txt").await;
    let r = t.get_read(&format!("/v1/jobs/{id}/logs")).await;
    assert_eq!(r.status, StatusCode::OK);
    let logs: schema::LogsView = conforms(&r.json());
    assert!(
        logs.lines.iter().any(|l| l.text == "hello from a file"),
        "{}",
        r.text
    );
    let r = t
        .get_read(&format!("/v1/jobs/{id}/logs?search=from%20a&tail=1"))
        .await;
    let logs: schema::LogsView = conforms(&r.json());
    assert_eq!(logs.lines.len(), 1);
    let r = t
        .get_read(&format!("/v1/jobs/{id}/logs?search=absent"))
        .await;
    assert!(r.json()["lines"].as_array().expect("lines").is_empty());
    let r = t.get_read(&format!("/v1/jobs/{id}")).await;
    let job: schema::JobView = conforms(&r.json());
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(
        job.plan.expect("plan").steps[0]
            .state
            .as_ref()
            .expect("state")
            .exit_code,
        Some(0)
    );
}

/// Logs by stream and time range through the query string; a bad value
/// is a 400 saying what to write.
async fn logs_by_stream_and_time_range(db: Db) {
    let t = TestApp::new(db).await;
    let id = t.submit_and_run("read hello.txt").await;
    let get = |q: String| {
        let t = &t;
        let id = id.clone();
        async move { t.get_read(&format!("/v1/jobs/{id}/logs?{q}")).await }
    };
    let r = get("stream=stdout".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let logs: schema::LogsView = conforms(&r.json());
    assert!(logs.lines.iter().any(|l| l.text == "hello from a file"));
    assert!(
        logs.lines
            .iter()
            .all(|l| l.stream == skynet_core::provider::Stream::Stdout),
        "{}",
        r.text
    );
    let r = get("stream=stderr&since=1h".into()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.json()["lines"].as_array().expect("lines").is_empty(),
        "{}",
        r.text
    );
    let r = get("until=2000-01-01T00:00:00Z".into()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["lines"].as_array().expect("lines").is_empty());
    let r = get("since=1h".into()).await;
    assert!(!r.json()["lines"].as_array().expect("lines").is_empty());
    for bad in ["stream=stdin", "since=yesterday", "until=soon"] {
        let r = get(bad.into()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert_eq!(r.code(), "invalid_input", "{bad}");
    }
}

/// `POST /v1/gc` is for `admin` only; a dry run lists, a run removes the
/// same, and `/metrics` and `/v1/health` show what is stored.
async fn gc_is_admin_only_and_storage_is_measured(db: Db) {
    let t = TestApp::new(db).await;
    t.submit_and_run("read hello.txt").await;
    let r = t
        .call("POST", "/v1/gc?dry_run=true", Some(&t.read), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = t
        .call("POST", "/v1/gc?dry_run=true", Some(&t.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let dry = r.json();
    assert_eq!(dry["dry_run"], true);
    let r = t.call("POST", "/v1/gc", Some(&t.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let real = r.json();
    assert_eq!(real["dry_run"], false);
    // The same removals (runs a moment apart: the cut-off instants differ).
    for part in ["jobs", "artifacts", "objects", "uploads", "memories"] {
        assert_eq!(dry[part], real[part], "{part}");
    }
    assert!(real["memories"].is_u64(), "{real}");
    assert_eq!(dry["logs"]["lines"], real["logs"]["lines"]);
    assert_eq!(dry["events"]["count"], real["events"]["count"]);
    let r = t.get_read("/metrics").await;
    assert!(
        r.text.contains("skynet_storage{kind=\"jobs\"} 1"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("skynet_storage{kind=\"log_lines\"}"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("skynet_storage{kind=\"artifact_object_bytes\"}"),
        "{}",
        r.text
    );
    let r = t.call("GET", "/v1/health", None, None).await;
    let storage = r.json()["components"]["storage"]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(storage.contains("1 jobs"), "{}", r.text);
}

async fn original_plan_has_the_original_field_names(db: Db) {
    let t = TestApp::new(db).await;
    let r = t
        .plan(json!({ "user_message": "read hello.txt, then write 'x' to out.txt", "context": { "team": "ops" }, "constraints": [] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body: schema::PlanAnswer = conforms(&r.json());
    assert_eq!(body.execution_plan.steps.len(), 2);
    assert_eq!(body.approval_gates.len(), 1, "only the write needs a human");
    assert_eq!(body.approval_gates[0].step, 1);
    assert_eq!(body.artifacts, vec!["out.txt".to_string()]);
    assert!(body.requires_approval);
    assert_eq!(body.plan_hash, body.execution_plan.hash);
    // Duration estimates (read_file and write_file defaults), per step and in total.
    assert_eq!(body.execution_plan.steps[0].estimate_ms, Some(50));
    assert_eq!(body.execution_plan.estimate_ms, Some(100));
    assert!(t.ledger_snapshot().await.is_empty(), "a plan is a dry run");
    let r = t
        .plan(json!({ "user_message": "run `mkfs /dev/sda`" }))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(r.json()["decision"]["verdict"], "forbid");
}

async fn original_policy_check_answers_allowed_requires_approval_risk_level(db: Db) {
    let t = TestApp::new(db).await;
    let check = |action: &str, target: Option<&str>| {
        let mut body = json!({ "action": action, "context": {} });
        if let Some(tg) = target {
            body["target"] = json!(tg);
        }
        t.call("POST", "/v1/policy/check", Some(&t.read), Some(body))
    };
    let r = check("git status", None).await;
    let a: schema::PolicyAnswer = conforms(&r.json());
    assert!(a.allowed && !a.requires_approval);
    assert_eq!(a.risk_level, schema::Risk::ReadOnly);
    let a: schema::PolicyAnswer = conforms(&check("git push", Some("origin")).await.json());
    assert!(a.allowed && a.requires_approval);
    assert_eq!(a.risk_level, schema::Risk::Admin);
    assert_eq!(a.rule.as_deref(), Some("git-push"));
    assert_eq!(a.argv, vec!["git", "push", "origin"]);
    let a: schema::PolicyAnswer = conforms(&check("rm -rf", Some("/")).await.json());
    assert!(!a.allowed);
    assert_eq!(a.verdict, "forbid");
    let r = check("", None).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
    let r = check("echo 'unclosed", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn original_execute_runs_read_only_now_and_refuses_what_needs_approval(db: Db) {
    let t = TestApp::new(db).await;
    let r = t
        .call(
            "POST",
            "/v1/execute",
            Some(&t.submit),
            Some(json!({ "user_message": "read hello.txt" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body: schema::ExecuteAnswer = conforms(&r.json());
    assert_eq!(body.job.status, JobStatus::Succeeded);
    assert!(body.logs.iter().any(|l| l.text == "hello from a file"));
    let before = t.ledger_snapshot().await;
    let r = t
        .call(
            "POST",
            "/v1/execute",
            Some(&t.submit),
            Some(json!({ "user_message": "write 'x' to out.txt" })),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "approval_required")
    );
    assert_eq!(r.json()["decision"]["verdict"], "prompt");
    assert_eq!(
        t.ledger_snapshot().await,
        before,
        "nothing stored, nothing ran"
    );
    assert!(!t.dir.path().join("out.txt").exists());
}

async fn original_report_is_recorded_on_the_job(db: Db) {
    let t = TestApp::new(db).await;
    let id = t.submit_job("write 'x' to out.txt").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = t
        .call(
            "POST",
            "/v1/report",
            Some(&t.submit),
            Some(json!({ "request_id": id, "overall_status": "partial", "step_reports": [{ "step": 0, "status": "failed", "error": "disk full" }] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ack: schema::ReportAnswer = conforms(&r.json());
    assert_eq!(ack.next_action, "await_approval");
    let events =
        t.sk.events(&skynet_core::JobId::parse(&id).expect("id"))
            .await
            .expect("events");
    let report = events
        .iter()
        .find(|e| e.kind == "report")
        .expect("a report event");
    assert_eq!(Some(report.seq), ack.event_seq);
    assert_eq!(ack.job_id.as_deref(), Some(id.as_str()));
    assert_eq!(report.data["overall_status"], "partial");
    assert_eq!(report.data["step_reports"][0]["error"], "disk full");
    assert!(
        t.sk.verify_events(&report.job_id)
            .await
            .expect("verify")
            .intact
    );
    // An id that names no job is the reporter's own: kept, linked to nothing.
    let r = t
        .call("POST", "/v1/report", Some(&t.submit), Some(json!({ "request_id": skynet_core::JobId::new().to_string(), "overall_status": "ok" })))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ack: schema::ReportAnswer = conforms(&r.json());
    assert_eq!((ack.job_id, ack.event_seq), (None, None));
}

async fn original_providers_health_counts_and_keeps_history(db: Db) {
    let t = TestApp::new(db).await;
    for n in 1..=2 {
        let r = t.get_read("/v1/providers/health").await;
        assert_eq!(r.status, StatusCode::OK);
        let h: schema::ProvidersHealth = conforms(&r.json());
        assert_eq!(h.total_count, 2);
        assert_eq!(h.healthy_count + h.unhealthy_count, h.total_count);
        assert!(h.providers.contains_key("local") && h.providers.contains_key("mock"));
        assert_eq!(h.history.len(), n);
        // The sentinel's background loop would run the next round; here
        // the test does.
        t.sk.sentinel().check_providers().await;
    }
}

/// `/v1/providers/health` reads the sentinel: a provider that fails its
/// check is reported with the sentinel's status, its message only to an
/// admin, and the history holds the sentinel's rounds.
#[tokio::test]
async fn providers_health_reports_the_sentinel_and_hides_failures_from_non_admins() {
    use skynet_core::provider::{DockerConfig, DockerProvider};
    use skynet_core::store::keys::{self, Scope};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("skynet.db").display());
    let mut docker = DockerConfig::new("busybox:1");
    let socket = dir.path().join("no-such-docker.sock");
    docker.host = Some(format!("unix://{}", socket.display()));
    let sk = skynet_core::Skynet::builder()
        .database_url(&url)
        .provider(std::sync::Arc::new(DockerProvider::new(docker)))
        .build()
        .await
        .expect("engine");
    let keys: keys::SharedKeyStore = sk.store().clone();
    let (_, read) = keys::create(keys.as_ref(), "r", &[Scope::Read], None)
        .await
        .expect("key");
    let (_, admin) = keys::create(keys.as_ref(), "a", &[Scope::Admin], None)
        .await
        .expect("key");
    let app = skynet_http::router(
        sk.clone(),
        skynet_http::HttpConfig::new(skynet_http::Auth::Keys(keys), dir.path()),
    );
    for _ in 0..2 {
        sk.sentinel().check_providers().await;
    }
    let get = |key: String| {
        let app = app.clone();
        async move {
            use tower::ServiceExt;
            let req = axum::http::Request::get("/v1/providers/health")
                .header("authorization", format!("Bearer {key}"))
                .body(axum::body::Body::empty())
                .expect("request");
            let resp = app.oneshot(req).await.expect("answer");
            assert_eq!(resp.status(), StatusCode::OK);
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .expect("body")
                .to_bytes();
            let h: schema::ProvidersHealth =
                conforms(&serde_json::from_slice(&body).expect("json"));
            h
        }
    };
    let h = get(read).await;
    assert_eq!(h.status, "degraded");
    assert_eq!(
        (h.healthy_count, h.unhealthy_count, h.total_count),
        (2, 1, 3)
    );
    assert_eq!(h.providers["docker"].status, "unhealthy");
    assert_eq!(
        h.providers["docker"].message,
        "unhealthy; the details need an admin key"
    );
    assert_eq!(h.providers["mock"].status, "healthy");
    assert_eq!(h.history.len(), 2, "the sentinel's two rounds, no new one");
    assert_eq!(h.history[0].unhealthy_count, 1);
    let h = get(admin).await;
    assert!(
        h.providers["docker"]
            .message
            .contains("no-such-docker.sock")
            || h.providers["docker"]
                .message
                .to_lowercase()
                .contains("docker"),
        "{}",
        h.providers["docker"].message
    );
    assert_ne!(
        h.providers["docker"].message,
        "unhealthy; the details need an admin key"
    );
}

async fn scheduler_diagnose_scores_the_candidates_and_refuses_bad_specs(db: Db) {
    let t = TestApp::new(db).await;
    let body = json!({
        "execution_spec": {
            "job_id": null,
            "steps": [
                { "action": "read_file", "params": { "path": "hello.txt" } },
                { "action": "git_status", "params": {} },
                { "action": "git_status" },
            ],
        },
        "fallback": "mock",
    });
    let r = t
        .call("POST", "/v1/scheduler/diagnose", Some(&t.read), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let d: schema::DiagnosisView = conforms(&r.json());
    assert_eq!(
        d.selected_provider, "local",
        "the only candidate by default"
    );
    assert!(!d.fallback_used);
    assert_eq!(d.required_capabilities, ["git_status", "read_file"]);
    assert_eq!(d.candidates, ["local"]);
    assert_eq!(d.scores.len(), 1);
    let s = &d.scores[0];
    assert_eq!(s.provider, "local");
    for v in [
        s.total_score,
        s.health_score,
        s.load_score,
        s.capability_score,
        s.success_score,
        s.latency_score,
    ] {
        assert!((0.0..=1.0).contains(&v), "{v}");
    }
    assert!(s.total_score > 0.0);

    // A stored job's plan, by id.
    let job = t.submit_job("list the files").await;
    let r = t
        .call(
            "POST",
            "/v1/scheduler/diagnose",
            Some(&t.read),
            Some(json!({ "execution_spec": { "job_id": job["id"] } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["required_capabilities"], json!(["list_directory"]));

    for (body, status, says) in [
        (
            json!({ "execution_spec": { "steps": [{ "action": "launch" }] } }),
            StatusCode::BAD_REQUEST,
            "unknown action",
        ),
        (
            json!({ "execution_spec": { "steps": [{ "action": "read_file" }] } }),
            StatusCode::BAD_REQUEST,
            "path",
        ),
        (
            json!({ "execution_spec": { "steps": [{ "action": "git_status" }] }, "fallback": "nowhere" }),
            StatusCode::BAD_REQUEST,
            "not registered",
        ),
        (
            json!({ "execution_spec": { "steps": [] } }),
            StatusCode::BAD_REQUEST,
            "no steps",
        ),
        (
            json!({ "execution_spec": { "job_id": skynet_core::JobId::new().to_string() } }),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            json!({ "execution_spec": { "steps": [] }, "surprise": 1 }),
            StatusCode::BAD_REQUEST,
            "surprise",
        ),
    ] {
        let r = t
            .call(
                "POST",
                "/v1/scheduler/diagnose",
                Some(&t.read),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        let detail = r.json()["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains(says), "{body}: {detail}");
        r.code();
    }
}

async fn metrics_show_jobs_by_status_queue_depth_and_http_latency(db: Db) {
    let t = TestApp::new(db).await;
    t.submit_job("list the files").await;
    t.submit_job("write 'x' to a.txt").await;
    let r = t.get_read("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text.contains("skynet_jobs{status=\"queued\"} 1"),
        "{}",
        r.text
    );
    assert!(r.text.contains("skynet_jobs{status=\"planned\"} 1"));
    assert!(r.text.contains("skynet_queue_depth 1"));
    assert!(r.text.contains("skynet_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/jobs\",status=\"202\"} 2"), "{}", r.text);
}

async fn rate_limit_answers_429_with_retry_after(db: Db) {
    let t = TestApp::with(db, |c| {
        c.rate_per_second = 1;
        c.rate_burst = 3;
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(t.get_read("/v1/jobs").await);
    }
    assert!(codes[..3].iter().all(|r| r.status == StatusCode::OK));
    let limited = &codes[4];
    assert_eq!(
        (limited.status, limited.code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait));
    // Another key has its own bucket.
    assert_eq!(
        t.call("GET", "/v1/jobs", Some(&t.admin), None).await.status,
        StatusCode::OK
    );
}

async fn openapi_matches_the_committed_snapshot(db: Db) {
    let t = TestApp::new(db).await;
    let r = t.get_read("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let snapshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("SKYNET_UPDATE_OPENAPI").is_some() {
        std::fs::write(&snapshot, &r.text).expect("write snapshot");
    }
    let committed = std::fs::read_to_string(&snapshot).expect("skynet-http/openapi.json exists");
    assert_eq!(
        r.text, committed,
        "the API changed: review it, then run with SKYNET_UPDATE_OPENAPI=1 to update the snapshot"
    );
    let doc = r.json();
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}/approve",
        "/v1/events",
        "/v1/plan",
        "/v1/report",
        "/v1/policy/check",
        "/v1/execute",
        "/v1/providers/health",
        "/v1/scheduler/diagnose",
        "/v1/health",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}

on_every_backend!(
    health_needs_no_key_and_names_components_without_secrets,
    submit_queues_read_only_and_holds_write_for_approval,
    submit_refuses_bad_input_with_problem_codes_and_stores_nothing,
    idempotency_key_returns_the_first_job_and_refuses_another_intent,
    an_idempotency_key_too_long_is_a_bad_request,
    list_pages_with_a_cursor_and_filters_by_status,
    get_job_shows_plan_steps_approval_and_404s,
    approve_binds_the_plan_hash_deny_and_cancel_change_status_once,
    logs_tail_and_search_after_a_worker_ran_the_job,
    logs_and_metrics_hide_secret_shaped_output,
    original_plan_has_the_original_field_names,
    original_policy_check_answers_allowed_requires_approval_risk_level,
    original_execute_runs_read_only_now_and_refuses_what_needs_approval,
    original_report_is_recorded_on_the_job,
    original_providers_health_counts_and_keeps_history,
    metrics_show_jobs_by_status_queue_depth_and_http_latency,
    rate_limit_answers_429_with_retry_after,
    openapi_matches_the_committed_snapshot,
    scheduler_diagnose_scores_the_candidates_and_refuses_bad_specs,
    logs_by_stream_and_time_range,
    gc_is_admin_only_and_storage_is_measured,
);
