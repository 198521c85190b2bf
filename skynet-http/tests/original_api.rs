//! The original API as its clients call it: the original documentation's
//! exact request bodies (`fixtures/original_requests.json`) replayed
//! against the router, and each compatibility rule on its own: catalog
//! actions in the policy check, constraints as an object, reports under
//! the caller's own request id, unused diagnose parameters, health
//! timestamps, the `/docs` page and CORS.

#[macro_use]
mod common;

use axum::http::StatusCode;
use base64::Engine;
use common::{Db, TestApp};
use serde_json::{Value, json};
use skynet_core::store::keys::Scope;
use skynet_http::{Auth, schema};

fn conforms<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).expect("response matches its documented schema")
}

/// A project the test and build tools are detected in (`make test`).
fn with_makefile(t: &TestApp) {
    std::fs::write(t.dir.path().join("Makefile"), "test:\n\ttrue\n").expect("Makefile");
}

async fn the_original_documented_requests_are_accepted(db: Db) {
    let t = TestApp::new(db).await;
    with_makefile(&t);
    // One sentinel round, so the health history has an entry to show.
    t.sk.sentinel().check_providers().await;
    let fixture: Value = serde_json::from_str(include_str!("fixtures/original_requests.json"))
        .expect("the fixture is JSON");
    let requests = fixture["requests"].as_array().expect("requests");
    assert!(requests.len() >= 9, "every documented request is replayed");
    for req in requests {
        let name = req["name"].as_str().expect("name");
        let key = match req["key"].as_str().expect("key") {
            "none" => None,
            "read" => Some(t.read.as_str()),
            "submit" => Some(t.submit.as_str()),
            other => panic!("{name}: unknown key {other}"),
        };
        let body = Some(req["body"].clone()).filter(|b| !b.is_null());
        let r = t
            .call(
                req["method"].as_str().expect("method"),
                req["path"].as_str().expect("path"),
                key,
                body,
            )
            .await;
        assert_eq!(
            r.status.as_u16(),
            req["status"].as_u64().expect("status") as u16,
            "{name}: {}",
            r.text
        );
        let answer = r.json();
        for pointer in req["present"].as_array().expect("present") {
            let pointer = pointer.as_str().expect("pointer");
            assert!(
                answer.pointer(pointer).is_some(),
                "{name}: {pointer} is missing in {answer}"
            );
        }
        for (pointer, want) in req["equals"].as_object().expect("equals") {
            assert_eq!(
                answer.pointer(pointer),
                Some(want),
                "{name}: {pointer} in {answer}"
            );
        }
    }
}

async fn policy_check_judges_catalog_actions_through_the_catalog(db: Db) {
    let t = TestApp::new(db).await;
    with_makefile(&t);
    let check = |body: Value| t.call("POST", "/v1/policy/check", Some(&t.read), Some(body));

    let r = check(json!({ "action": "git_push", "target": "origin main" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let a: schema::PolicyAnswer = conforms(&r.json());
    assert_eq!(a.risk_level, schema::Risk::Admin);
    assert!(a.allowed && a.requires_approval);
    assert_eq!(a.action.as_deref(), Some("git_push"));
    assert_eq!(a.argv, ["git", "push", "origin", "main"]);
    assert!(!a.reason.is_empty());

    let a: schema::PolicyAnswer = conforms(&check(json!({ "action": "git_status" })).await.json());
    assert_eq!(a.risk_level, schema::Risk::ReadOnly);
    assert!(a.allowed && !a.requires_approval);

    // At least the catalog's risk, even where the command alone is less.
    let a: schema::PolicyAnswer = conforms(&check(json!({ "action": "run_tests" })).await.json());
    assert_eq!(a.argv, ["make", "test"]);
    assert!(a.risk_level >= schema::Risk::Write && a.requires_approval);

    // Parameters by name; ones the action does not take are reported.
    let a: schema::PolicyAnswer = conforms(
        &check(json!({ "action": "read_file", "params": { "path": "hello.txt", "encoding": "utf-8" } }))
            .await
            .json(),
    );
    assert_eq!(a.argv, ["cat", "--", "hello.txt"]);
    assert_eq!(a.ignored_params.len(), 1);
    assert_eq!(a.ignored_params[0].field, "params.encoding");

    // A command line keeps working, as `action` or as `command`.
    for body in [
        json!({ "action": "git push", "target": "origin" }),
        json!({ "command": "git push", "target": "origin" }),
    ] {
        let a: schema::PolicyAnswer = conforms(&check(body).await.json());
        assert_eq!(a.argv, ["git", "push", "origin"]);
        assert_eq!(a.action, None);
        assert_eq!(a.risk_level, schema::Risk::Admin);
    }

    // An unknown action is a typed 400 naming the closest ones.
    let r = check(json!({ "action": "git_pushh", "target": "origin" })).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
    let detail = r.json()["detail"].as_str().expect("detail").to_string();
    assert!(
        detail.contains("unknown action \"git_pushh\"") && detail.contains("git_push"),
        "{detail}"
    );
    for (body, says) in [
        (json!({ "action": "read_file" }), "path"),
        (
            json!({ "action": "git_status", "command": "ls" }),
            "not both",
        ),
        (json!({}), "nothing to judge"),
    ] {
        let r = check(body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{body}: {}",
            r.text
        );
    }
}

async fn plan_takes_constraints_as_an_object(db: Db) {
    let t = TestApp::new(db).await;
    let plan = |constraints: Value, intent: &str| {
        t.plan(json!({ "user_message": intent, "constraints": constraints }))
    };
    // Known keys honoured, unknown ones reported.
    let r = plan(
        json!({ "requires_approval_for": ["read_file"], "max_cost_usd": 1.5, "colour": "blue" }),
        "read hello.txt",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let a: schema::PlanAnswer = conforms(&r.json());
    assert!(
        a.requires_approval,
        "a READ_ONLY step named in requires_approval_for"
    );
    assert_eq!(a.approval_gates.len(), 1);
    assert!(a.approval_gates[0].reason.contains("requires_approval_for"));
    let mut ignored: Vec<&str> = a
        .ignored_constraints
        .iter()
        .map(|i| i.field.as_str())
        .collect();
    ignored.sort_unstable();
    assert_eq!(ignored, ["constraints.colour", "constraints.max_cost_usd"]);

    // max_risk refuses a riskier plan, and nothing is stored.
    let before = t.ledger_snapshot().await;
    let r = plan(json!({ "max_risk": "READ_ONLY" }), "write 'x' to out.txt").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(r.json()["decision"]["rule"], "constraints.max_risk");
    assert_eq!(t.ledger_snapshot().await, before);
    let r = plan(json!({ "max_risk": "WRITE" }), "write 'x' to out.txt").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // The list form still works; a known key with a bad value is a 400.
    let r = plan(json!(["be quick"]), "read hello.txt").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(!r.json()["requires_approval"].as_bool().expect("bool"));
    let r = plan(json!({ "max_risk": "extreme" }), "read hello.txt").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
}

async fn report_keeps_the_callers_request_id_and_step_id(db: Db) {
    let t = TestApp::new(db).await;
    let executor = t.key(&[Scope::Submit], Some("executor")).await;
    let principal: skynet_core::Principal = "executor".parse().expect("principal");
    let t = &t;
    let report = |request_id: String, key: String| async move {
        t.call(
            "POST",
            "/v1/report",
            Some(&key),
            Some(json!({
                "request_id": request_id,
                "overall_status": "completed",
                "step_reports": [{ "step_id": 2, "status": "completed", "output": "ok" }],
                "metadata": { "runner": "openclaw" },
            })),
        )
        .await
    };
    // Not a job: kept under the caller's own request id.
    let r = report("req-2026-17".into(), executor.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ack: schema::ReportAnswer = conforms(&r.json());
    assert!(ack.received);
    assert_eq!((ack.job_id, ack.event_seq), (None, None));
    assert_eq!(ack.next_action, "none");
    let kept =
        t.sk.store()
            .reports(&principal, "req-2026-17")
            .await
            .expect("reports");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, ack.report_id);
    assert_eq!(
        kept[0].body["step_reports"][0]["step"], 2,
        "step_id is the step"
    );
    assert_eq!(kept[0].body["metadata"]["runner"], "openclaw");

    // One of the caller's jobs: linked, and an event in its chain.
    let submitted = t
        .call(
            "POST",
            "/v1/jobs",
            Some(&executor),
            Some(json!({ "intent": "write 'x' to out.txt" })),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED, "{}", submitted.text);
    let id = submitted.json()["id"].as_str().expect("id").to_string();
    let ack: schema::ReportAnswer = conforms(&report(id.clone(), executor.clone()).await.json());
    assert_eq!(ack.job_id.as_deref(), Some(id.as_str()));
    assert_eq!(ack.next_action, "await_approval");
    let job = skynet_core::JobId::parse(&id).expect("id");
    let events = t.sk.events(&job).await.expect("events");
    let event = events.iter().find(|e| e.kind == "report").expect("event");
    assert_eq!(Some(event.seq), ack.event_seq);
    assert_eq!(event.data["step_reports"][0]["step"], 2);
}

async fn diagnose_reports_parameters_an_action_does_not_take(db: Db) {
    let t = TestApp::new(db).await;
    let diagnose =
        |body: Value| t.call("POST", "/v1/scheduler/diagnose", Some(&t.read), Some(body));
    let r = diagnose(json!({ "action": "run_tests", "params": { "working_dir": "." } })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let d: schema::DiagnosisView = conforms(&r.json());
    assert_eq!(d.required_capabilities, ["run_tests"]);
    assert_eq!(d.ignored_params.len(), 1);
    assert_eq!(d.ignored_params[0].field, "steps[0].params.working_dir");
    assert!(d.ignored_params[0].reason.contains("run_tests"));
    // Without unused parameters the answer has none to list.
    let r = diagnose(json!({ "execution_spec": { "steps": [{ "action": "git_status" }] } })).await;
    assert!(r.json().get("ignored_params").is_none(), "{}", r.text);
    for body in [
        json!({ "execution_spec": { "steps": [{ "action": "git_status" }] }, "action": "git_status" }),
        json!({ "fallback": "local" }),
    ] {
        let r = diagnose(body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
}

async fn health_history_items_carry_epoch_seconds(db: Db) {
    let t = TestApp::new(db).await;
    t.sk.sentinel().check_providers().await;
    let r = t.get_read("/v1/providers/health").await;
    let h: schema::ProvidersHealth = conforms(&r.json());
    let sample = h.history.first().expect("one round");
    let at = chrono::DateTime::parse_from_rfc3339(&sample.at).expect("rfc 3339");
    assert!((sample.timestamp - at.timestamp_micros() as f64 / 1e6).abs() < 1e-3);
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        (now - sample.timestamp).abs() < 600.0,
        "{}",
        sample.timestamp
    );
}

async fn docs_page_is_served_from_the_binary_with_the_openapi_rules(db: Db) {
    let t = TestApp::new(db).await;
    // As /openapi.json: a key is needed; a browser is asked for it.
    let r = t.call("GET", "/docs/", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.headers["www-authenticate"].to_str().expect("ascii");
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    assert_eq!(
        t.call("GET", "/openapi.json", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = t.call("GET", "/docs/", Some(&t.submit), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a key without read");

    let r = t.get_read("/docs").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers["location"], "/docs/");
    let page = t.get_read("/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert!(page.text.contains("swagger-ui"), "{}", page.text);

    // What a browser sends after the prompt: Basic, the key as password.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("me:{}", t.read))
    );
    let auth = [("authorization", basic.as_str())];
    let init = t
        .call_with("GET", "/docs/swagger-initializer.js", None, None, &auth)
        .await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.text);
    assert!(init.text.contains("\"openapi.json\""), "{}", init.text);
    assert!(
        init.text.contains("\"validatorUrl\": \"none\""),
        "{}",
        init.text
    );
    let doc = t
        .call_with("GET", "/docs/openapi.json", None, None, &auth)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.text, skynet_http::openapi_json());
    let bundle = t.get_read("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(bundle.text.len() > 100_000, "the bundle is in the binary");
    // No asset of the page is loaded from elsewhere.
    for text in [&page.text, &init.text] {
        assert!(
            !text.contains("src=\"http") && !text.contains("href=\"http"),
            "{text}"
        );
    }
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("me:sk_nope_nope")
    );
    let r = t
        .call_with(
            "GET",
            "/docs/",
            None,
            None,
            &[("authorization", wrong.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.get_read("/docs/nope.js").await.status,
        StatusCode::NOT_FOUND
    );

    // Where the OpenAPI document needs no key, neither does the page.
    let open = TestApp::with(Db::Sqlite, |c| c.auth = Auth::InsecureNoAuth).await;
    assert_eq!(
        open.call("GET", "/openapi.json", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        open.call("GET", "/docs/", None, None).await.status,
        StatusCode::OK
    );
}

async fn cors_is_off_by_default_and_allows_only_configured_origins(db: Db) {
    // A browser's preflight of `POST /v1/jobs` from `origin`.
    async fn preflight(app: &TestApp, origin: &'static str) -> common::Resp {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ];
        app.call_with("OPTIONS", "/v1/jobs", None, None, &headers)
            .await
    }
    let t = TestApp::with(db.clone(), |c| {
        c.cors_origins = vec!["https://app.example".into()];
    })
    .await;
    let r = preflight(&t, "https://app.example").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let allowed = r.headers["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        r.headers["access-control-allow-methods"]
            .to_str()
            .expect("ascii")
            .contains("POST")
    );
    // Another origin gets no permission.
    let r = preflight(&t, "https://evil.example").await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // A real call from the allowed origin may read the request id.
    let r = t
        .call_with(
            "GET",
            "/v1/jobs",
            Some(&t.read),
            None,
            &[("origin", "https://app.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        r.headers["access-control-expose-headers"]
            .to_str()
            .expect("ascii")
            .contains("x-request-id")
    );

    // Off by default: no origin is allowed.
    let off = TestApp::new(db.clone()).await;
    let r = preflight(&off, "https://app.example").await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // `*` only when asked for.
    let any = TestApp::with(db, |c| c.cors_origins = vec!["*".into()]).await;
    let r = preflight(&any, "https://elsewhere.example").await;
    assert_eq!(r.headers["access-control-allow-origin"], "*");
}

async fn execute_runs_the_callers_steps_under_the_original_fields(db: Db) {
    let t = TestApp::new(db).await;
    let execute = |body: Value| t.call("POST", "/v1/execute", Some(&t.submit), Some(body));
    // The original body: catalog steps, `timeout` in seconds, its own ids.
    let r = execute(json!({
        "request_id": "r-7",
        "execution_spec": { "job_id": "job-123", "steps": [
            { "action": "read_file", "params": { "path": "hello.txt", "working_dir": "." } }
        ] },
        "timeout": 30,
    }))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let a: schema::ExecuteAnswer = conforms(&r.json());
    assert_eq!(a.job.status, skynet_core::JobStatus::Succeeded);
    assert_eq!(a.job.intent, "run: read_file");
    assert!(a.logs.iter().any(|l| l.text == "hello from a file"));
    assert_eq!(a.request_id.as_deref(), Some("r-7"));
    let job =
        t.sk.get(&skynet_core::JobId::parse(&a.job.id).expect("id"))
            .await
            .expect("stored");
    assert_eq!(job.timeout_ms, Some(30_000), "`timeout` is in seconds");
    let ignored: Vec<&str> = a.ignored_params.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(
        ignored,
        [
            "execution_spec.job_id",
            "execution_spec.steps[0].params.working_dir"
        ]
    );

    // Refused, with nothing stored and nothing written: the caller's steps
    // are judged like planned ones (a WRITE step needs approval), and the
    // original constraints object binds them (a READ_ONLY step named in
    // requires_approval_for needs a human, which /v1/execute refuses;
    // max_risk refuses a riskier plan).
    let before = t.ledger_snapshot().await;
    let write = json!({ "steps": [
        { "action": "write_file", "params": { "path": "out.txt", "content": "x" } }
    ] });
    for (body, code, rule) in [
        (
            json!({ "execution_spec": write }),
            "approval_required",
            None,
        ),
        (
            json!({
                "user_message": "read hello.txt",
                "constraints": { "requires_approval_for": ["read_file"], "max_cost_usd": 1 },
            }),
            "approval_required",
            Some("constraints.requires_approval_for"),
        ),
        (
            json!({ "execution_spec": write, "constraints": { "max_risk": "low" } }),
            "forbidden",
            Some("constraints.max_risk"),
        ),
    ] {
        let r = execute(body.clone()).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::FORBIDDEN, code),
            "{body}: {}",
            r.text
        );
        if let Some(rule) = rule {
            assert_eq!(r.json()["decision"]["rule"], rule, "{body}");
        }
    }
    assert!(!t.dir.path().join("out.txt").exists());
    assert_eq!(t.ledger_snapshot().await, before, "nothing stored");

    // Ambiguous or empty requests are 400s that say what to send.
    for (body, says) in [
        (json!({}), "give user_message"),
        (
            json!({ "user_message": "read hello.txt", "execution_spec": { "steps": [{ "action": "git_status" }] } }),
            "not both",
        ),
        (json!({ "execution_spec": { "steps": [] } }), "no steps"),
        (
            json!({ "user_message": "read hello.txt", "timeout": 5, "timeout_ms": 5000 }),
            "not both",
        ),
        (
            json!({ "execution_spec": { "steps": [{ "action": "make_coffee" }] } }),
            "make_coffee",
        ),
    ] {
        let r = execute(body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(r.text.contains(says), "{body}: {}", r.text);
    }
    assert_eq!(t.ledger_snapshot().await, before, "nothing stored");
}

on_every_backend!(
    the_original_documented_requests_are_accepted,
    policy_check_judges_catalog_actions_through_the_catalog,
    plan_takes_constraints_as_an_object,
    execute_runs_the_callers_steps_under_the_original_fields,
    report_keeps_the_callers_request_id_and_step_id,
    diagnose_reports_parameters_an_action_does_not_take,
    health_history_items_carry_epoch_seconds,
    docs_page_is_served_from_the_binary_with_the_openapi_rules,
    cors_is_off_by_default_and_allows_only_configured_origins,
);
