//! Who may see, approve and report on what, over a real TCP server: every
//! key acts for a principal; a key sees its own principal's jobs unless it
//! holds `read:all`; idempotency keys are per principal and compare the
//! whole request; nobody approves their own principal's work but an admin;
//! refusals never reveal a plan hash; `mock` is for admins only.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, Tcp, TestApp};
use serde_json::{Value, json};
use skynet_core::store::keys::Scope;

const WRITE_INTENT: &str = "write 'hi' to notes.txt";

async fn submit(tcp: &Tcp, key: &str, intent: &str, headers: &[(&str, &str)]) -> Value {
    let r = tcp
        .call(
            "POST",
            "/v1/jobs",
            key,
            Some(json!({ "intent": intent })),
            headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.json()
}

async fn a_read_key_sees_only_its_own_principals_jobs(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp().await;
    let alice = t.key(&[Scope::Submit, Scope::Read], Some("alice")).await;
    let alice_reader = t.key(&[Scope::Read], Some("alice")).await;
    let bob = t.key(&[Scope::Submit, Scope::Read], Some("bob")).await;
    let job = submit(&tcp, &alice, WRITE_INTENT, &[]).await;
    let id = job["id"].as_str().expect("id");
    assert_eq!(job["principal"], "alice");

    // Bob: not in his listing; the job itself, its logs and events "do not exist".
    let list = tcp.call("GET", "/v1/jobs", &bob, None, &[]).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()["jobs"].as_array().expect("jobs").len(), 0);
    for tail in ["", "/logs", "/events"] {
        let r = tcp
            .call("GET", &format!("/v1/jobs/{id}{tail}"), &bob, None, &[])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{tail}: {}", r.text);
        assert!(!r.text.contains(WRITE_INTENT), "{tail}: {}", r.text);
    }
    // Alice's other key shares her principal; read:all and admin see all.
    for key in [&alice_reader, &t.read, &t.admin] {
        let list = tcp.call("GET", "/v1/jobs", key, None, &[]).await;
        let jobs = list.json()["jobs"].as_array().expect("jobs").clone();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0]["id"], id);
        let r = tcp
            .call("GET", &format!("/v1/jobs/{id}"), key, None, &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    // Nor can Bob act on it: approve, deny, cancel all find nothing.
    let hash = job["plan"]["hash"].as_str().expect("hash");
    let approver_bob = t.key(&[Scope::Approve], Some("bob")).await;
    for (path, body) in [
        ("approve", json!({ "plan_hash": hash })),
        ("deny", json!({})),
        ("cancel", json!({})),
    ] {
        let r = tcp
            .call(
                "POST",
                &format!("/v1/jobs/{id}/{path}"),
                &approver_bob,
                Some(body),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let still =
        t.sk.get(&skynet_core::JobId::parse(id).expect("id"))
            .await
            .expect("get");
    assert_eq!(still.status, skynet_core::JobStatus::Planned);
}

async fn idempotency_keys_are_per_principal_and_compare_the_whole_request(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp().await;
    let alice = t.key(&[Scope::Submit, Scope::Read], Some("alice")).await;
    let bob = t.key(&[Scope::Submit, Scope::Read], Some("bob")).await;
    let key = [("idempotency-key", "deploy-7")];
    let a = submit(&tcp, &alice, "list the files", &key).await;
    let b = submit(&tcp, &bob, "list the files", &key).await;
    assert_ne!(a["id"], b["id"], "bob must not get alice's job back");
    assert_eq!(b["principal"], "bob");
    // The same request again is the same job.
    let again = submit(&tcp, &alice, "list the files", &key).await;
    assert_eq!(again["id"], a["id"]);
    // The same intent with another root or priority is another request.
    std::fs::create_dir_all(t.dir.path().join("sub")).expect("mkdir");
    for body in [
        json!({ "intent": "list the files", "root": "sub" }),
        json!({ "intent": "list the files", "priority": 5 }),
    ] {
        let r = tcp
            .call("POST", "/v1/jobs", &alice, Some(body.clone()), &key)
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{body}: {}", r.text);
        assert_eq!(r.code(), "conflict");
    }
    let alices =
        t.sk.list(&skynet_core::store::JobFilter::default())
            .await
            .expect("list");
    assert_eq!(alices.len(), 2, "only the two first requests made jobs");
}

async fn separation_of_duties_refuses_self_approval_but_not_an_admin(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp().await;
    let both = t
        .key(&[Scope::Submit, Scope::Approve, Scope::Read], Some("carol"))
        .await;
    let carol_too = t.key(&[Scope::Approve, Scope::Read], Some("carol")).await;
    let job = submit(&tcp, &both, WRITE_INTENT, &[]).await;
    let (id, hash) = (job["id"].as_str().expect("id"), &job["plan"]["hash"]);
    for key in [&both, &carol_too] {
        let r = tcp
            .call(
                "POST",
                &format!("/v1/jobs/{id}/approve"),
                key,
                Some(json!({ "plan_hash": hash })),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "not_permitted");
        assert!(r.text.contains("separation of duties"), "{}", r.text);
    }
    // Another principal that can read it approves it.
    let r = tcp
        .call(
            "POST",
            &format!("/v1/jobs/{id}/approve"),
            &t.approve,
            Some(json!({ "plan_hash": hash })),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["status"], "queued");

    // An admin may approve its own principal's job.
    let admin_job = submit(&tcp, &t.admin, WRITE_INTENT, &[]).await;
    let r = tcp
        .call(
            "POST",
            &format!("/v1/jobs/{}/approve", admin_job["id"].as_str().expect("id")),
            &t.admin,
            Some(json!({ "plan_hash": admin_job["plan"]["hash"] })),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // The operator can turn the rule off.
    let lax = TestApp::with(t.db.clone(), |c| c.separation_of_duties = false).await;
    let tcp = lax.serve_tcp().await;
    let dave = lax
        .key(&[Scope::Submit, Scope::Approve, Scope::Read], Some("dave"))
        .await;
    let job = submit(&tcp, &dave, WRITE_INTENT, &[]).await;
    let r = tcp
        .call(
            "POST",
            &format!("/v1/jobs/{}/approve", job["id"].as_str().expect("id")),
            &dave,
            Some(json!({ "plan_hash": job["plan"]["hash"] })),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn a_refused_approval_reveals_no_plan_hash(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp().await;
    let job = submit(&tcp, &t.submit, WRITE_INTENT, &[]).await;
    let id = job["id"].as_str().expect("id");
    let hash = job["plan"]["hash"].as_str().expect("hash");
    let wrong = "0".repeat(64);
    // An approve key that may not read this job finds nothing; one that may
    // read it is told its hash is stale, and neither answer holds the hash.
    let blind = t.key(&[Scope::Approve], Some("eve")).await;
    for (key, status) in [
        (&blind, StatusCode::NOT_FOUND),
        (&t.approve, StatusCode::CONFLICT),
    ] {
        let r = tcp
            .call(
                "POST",
                &format!("/v1/jobs/{id}/approve"),
                key,
                Some(json!({ "plan_hash": wrong })),
                &[],
            )
            .await;
        assert_eq!(r.status, status, "{}", r.text);
        assert!(
            !r.text.contains(&hash[..12]),
            "the answer leaks the plan hash: {}",
            r.text
        );
        assert!(
            !r.text.contains(WRITE_INTENT),
            "the answer leaks the plan: {}",
            r.text
        );
    }
}

async fn reports_only_on_own_jobs_or_with_the_gateway_scope(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp().await;
    let alice = t.key(&[Scope::Submit, Scope::Read], Some("alice")).await;
    let mallory = t
        .key(&[Scope::Submit, Scope::ReadAll], Some("mallory"))
        .await;
    let stranger = t.key(&[Scope::Submit], Some("trent")).await;
    let gateway = t.key(&[Scope::Gateway], Some("agent")).await;
    let id = submit(&tcp, &alice, "list the files", &[]).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let report = json!({ "request_id": id, "overall_status": "succeeded", "step_reports": [] });
    let events_before =
        t.sk.events(&skynet_core::JobId::parse(&id).expect("id"))
            .await
            .expect("events")
            .len();
    // A job the caller cannot see is not linked: the report is kept under
    // that request id like any other, and tells nothing about the job.
    let r = tcp
        .call("POST", "/v1/report", &stranger, Some(report.clone()), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["job_id"], Value::Null);
    assert_eq!(r.json()["next_action"], "none");
    let r = tcp
        .call("POST", "/v1/report", &mallory, Some(report.clone()), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "not_permitted");
    let events = || async {
        t.sk.events(&skynet_core::JobId::parse(&id).expect("id"))
            .await
            .expect("events")
            .len()
    };
    assert_eq!(
        events().await,
        events_before,
        "a refused report writes nothing"
    );
    for key in [&alice, &gateway] {
        let r = tcp
            .call("POST", "/v1/report", key, Some(report.clone()), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    assert_eq!(events().await, events_before + 2);
}

async fn the_mock_provider_is_for_admins_only(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp().await;
    let before = t.ledger_snapshot().await;
    let body = json!({ "intent": "list the files", "provider": "mock" });
    let r = tcp
        .call("POST", "/v1/jobs", &t.submit, Some(body.clone()), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "not_permitted");
    assert_eq!(t.ledger_snapshot().await, before, "nothing stored");
    let r = tcp
        .call("POST", "/v1/jobs", &t.admin, Some(body), &[])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json()["provider"], "mock");
}

async fn any_submitter_may_ask_for_a_dry_run_which_is_shown_as_one(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp().await;
    let body = json!({ "intent": "list the files", "dry_run": true });
    let r = tcp
        .call("POST", "/v1/jobs", &t.submit, Some(body), &[])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let job = r.json();
    assert_eq!(
        (job["provider"].as_str(), job["dry_run"].as_bool()),
        (Some("mock"), Some(true))
    );
    let shown = tcp
        .call(
            "GET",
            &format!("/v1/jobs/{}", job["id"].as_str().expect("id")),
            &t.read,
            None,
            &[],
        )
        .await;
    assert_eq!(shown.json()["dry_run"], true);
    let real = submit(&tcp, &t.submit, "list the files", &[]).await;
    assert_eq!(real["dry_run"], false);
}

on_every_backend!(
    a_read_key_sees_only_its_own_principals_jobs,
    idempotency_keys_are_per_principal_and_compare_the_whole_request,
    separation_of_duties_refuses_self_approval_but_not_an_admin,
    a_refused_approval_reveals_no_plan_hash,
    reports_only_on_own_jobs_or_with_the_gateway_scope,
    the_mock_provider_is_for_admins_only,
    any_submitter_may_ask_for_a_dry_run_which_is_shown_as_one,
);
