//! The auth matrix: every route but `/v1/health` refuses a missing, wrong,
//! malformed or revoked key with 401 and an under-scoped key with 403, and
//! a refused request changes nothing in the ledger.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp};
use serde_json::{Value, json};
use skynet_core::store::keys::{self, Scope};

/// Every route: method, path, body, the scope it needs.
fn routes(planned: &str, hash: &str) -> Vec<(&'static str, String, Option<Value>, Scope)> {
    let j = |tail: &str| format!("/v1/jobs/{planned}{tail}");
    vec![
        ("GET", "/metrics".into(), None, Scope::Read),
        ("GET", "/openapi.json".into(), None, Scope::Read),
        (
            "POST",
            "/v1/jobs".into(),
            Some(json!({ "intent": "list the files" })),
            Scope::Submit,
        ),
        ("GET", "/v1/jobs".into(), None, Scope::Read),
        ("GET", j(""), None, Scope::Read),
        (
            "POST",
            j("/approve"),
            Some(json!({ "plan_hash": hash })),
            Scope::Approve,
        ),
        ("POST", j("/deny"), Some(json!({})), Scope::Approve),
        ("POST", j("/cancel"), None, Scope::Approve),
        ("GET", j("/logs"), None, Scope::Read),
        ("GET", j("/artifacts"), None, Scope::Read),
        ("GET", j("/artifacts/reports/a.xml"), None, Scope::Read),
        ("GET", j("/events"), None, Scope::Read),
        ("GET", "/v1/events".into(), None, Scope::Read),
        (
            "POST",
            "/v1/plan".into(),
            Some(json!({ "user_message": "list the files" })),
            Scope::Read,
        ),
        (
            "POST",
            "/v1/report".into(),
            Some(json!({ "request_id": planned, "overall_status": "ok" })),
            Scope::Submit,
        ),
        (
            "POST",
            "/v1/policy/check".into(),
            Some(json!({ "action": "ls" })),
            Scope::Read,
        ),
        (
            "POST",
            "/v1/execute".into(),
            Some(json!({ "user_message": "list the files" })),
            Scope::Submit,
        ),
        ("GET", "/v1/providers/health".into(), None, Scope::Read),
        (
            "POST",
            "/v1/scheduler/diagnose".into(),
            Some(json!({ "execution_spec": { "steps": [{ "action": "git_status" }] } })),
            Scope::Read,
        ),
    ]
}

/// `r` is refused with `status` and the problem `code`.
fn refused(r: &common::Resp, status: StatusCode, code: &str, asked: &str) {
    assert_eq!(r.status, status, "{asked}: {}", r.text);
    assert_eq!(r.code(), code, "{asked}");
}

async fn every_route_refuses_bad_keys_and_under_scoped_keys_without_changing_anything(db: Db) {
    let t = TestApp::new(db).await;
    let job = t.submit_job("write 'hi' to notes.txt").await;
    let planned = job["id"].as_str().expect("id").to_string();
    let hash = job["plan"]["hash"].as_str().expect("hash").to_string();
    let (revoked, revoked_token) = keys::create(t.keys.as_ref(), "gone", &[Scope::Admin], None)
        .await
        .expect("create");
    t.keys
        .revoke_key(&revoked.id, chrono::Utc::now())
        .await
        .expect("revoke");
    // The right id with a wrong secret, and the right secret shape with no id.
    let (id_part, _) = t.admin["sk_".len()..].split_once('_').expect("key shape");
    let wrong_secret = format!("sk_{id_part}_{}", "0".repeat(64));
    let before = t.ledger_snapshot().await;
    // The scopes each fixture key holds (`read:all` holds `read`).
    let by_scope = [
        (vec![Scope::Read], t.read.clone()),
        (vec![Scope::Submit], t.submit.clone()),
        (vec![Scope::Approve, Scope::Read], t.approve.clone()),
    ];
    let (mut checked, mut expected) = (0, 0);
    for (method, path, body, needs) in routes(&planned, &hash) {
        let unauthenticated = [
            None,
            Some("garbage".to_string()),
            Some(wrong_secret.clone()),
            Some(revoked_token.clone()),
        ];
        for key in unauthenticated {
            let r = t.call(method, &path, key.as_deref(), body.clone()).await;
            let asked = format!("{method} {path} with {key:?}");
            refused(&r, StatusCode::UNAUTHORIZED, "unauthorized", &asked);
            checked += 1;
        }
        expected += 4;
        for (scopes, key) in &by_scope {
            if scopes.contains(&needs) {
                continue;
            }
            expected += 1;
            let r = t.call(method, &path, Some(key), body.clone()).await;
            let asked = format!("{method} {path} with a {scopes:?} key");
            refused(&r, StatusCode::FORBIDDEN, "insufficient_scope", &asked);
            checked += 1;
        }
        assert_eq!(
            t.ledger_snapshot().await,
            before,
            "{method} {path}: nothing changed"
        );
    }
    // 17 routes, each with 4 unauthenticated keys and every key lacking
    // its scope.
    assert_eq!(checked, expected);
    assert!(checked >= 17 * 5, "{checked}");
    // The health route needs no key.
    assert_eq!(
        t.call("GET", "/v1/health", None, None).await.status,
        StatusCode::OK
    );
}

async fn the_right_scope_is_enough_admin_holds_all_and_x_api_key_works(db: Db) {
    let t = TestApp::new(db).await;
    let job = t.submit_job("write 'hi' to notes.txt").await;
    let id = job["id"].as_str().expect("id");
    let r = t
        .call_with(
            "GET",
            &format!("/v1/jobs/{id}"),
            None,
            None,
            &[("x-api-key", &t.read)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .call("GET", &format!("/v1/jobs/{id}"), Some(&t.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .call(
            "POST",
            &format!("/v1/jobs/{id}/approve"),
            Some(&t.admin),
            Some(json!({ "plan_hash": job["plan"]["hash"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn provider_details_are_redacted_for_keys_without_admin(db: Db) {
    let t = TestApp::new(db).await;
    let r = t
        .call(
            "POST",
            "/v1/jobs",
            // The mock provider is for admin keys only.
            Some(&t.admin),
            Some(json!({ "intent": "list the files", "provider": "mock" })),
        )
        .await;
    let id = skynet_core::JobId::parse(r.json()["id"].as_str().expect("id")).expect("id");
    // Make the job fail the way a provider failure is recorded.
    let claimed =
        t.sk.store()
            .claim_job(&id, "w", std::time::Duration::from_secs(60))
            .await
            .expect("claim")
            .expect("claimed");
    let lease = claimed.lease.expect("lease").id;
    t.sk.store()
        .complete(
            &id,
            &lease,
            skynet_core::store::Completion::Failed(
                skynet_core::JobFailure {
                    kind: skynet_core::FailureKind::Provider,
                    step: Some(0),
                    exit_code: None,
                    provider: Some("mock".into()),
                    timeout: None,
                    message: "step 1 (List): provider mock: token=hunter2 rejected by 10.0.0.5"
                        .into(),
                }
                .encode(),
            ),
        )
        .await
        .expect("complete");
    let shown = t.get_read(&format!("/v1/jobs/{id}")).await;
    assert!(!shown.text.contains("hunter2"), "{}", shown.text);
    assert!(
        shown.json()["error"]
            .as_str()
            .expect("error")
            .contains("need an admin key")
    );
    let admin = t
        .call("GET", &format!("/v1/jobs/{id}"), Some(&t.admin), None)
        .await;
    assert!(admin.text.contains("hunter2"));
    let listed = t.get_read("/v1/jobs").await;
    assert!(!listed.text.contains("hunter2"));
}

async fn a_revoked_key_stops_working_within_the_cache_ttl(db: Db) {
    let t = TestApp::new(db).await;
    let (key, token) = keys::create(t.keys.as_ref(), "soon-gone", &[Scope::Read], None)
        .await
        .expect("create");
    assert_eq!(
        t.call("GET", "/v1/jobs", Some(&token), None).await.status,
        StatusCode::OK
    );
    t.keys
        .revoke_key(&key.id, chrono::Utc::now())
        .await
        .expect("revoke");
    let revoked_at = std::time::Instant::now();
    loop {
        let r = t.call("GET", "/v1/jobs", Some(&token), None).await;
        if r.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            revoked_at.elapsed() < skynet_http::KEY_CACHE_TTL + std::time::Duration::from_secs(2),
            "the revoked key still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

on_every_backend!(
    every_route_refuses_bad_keys_and_under_scoped_keys_without_changing_anything,
    the_right_scope_is_enough_admin_holds_all_and_x_api_key_works,
    provider_details_are_redacted_for_keys_without_admin,
    a_revoked_key_stops_working_within_the_cache_ttl,
);
