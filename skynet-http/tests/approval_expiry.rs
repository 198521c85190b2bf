//! An approval request that expired (`approval_ttl`, `expires_at` on the
//! job) is refused over HTTP with 409 `conflict` and a message that says
//! so; the job stays planned and shows its `expires_at`.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp, call_on};
use serde_json::json;
use skynet_core::{EngineConfig, Skynet};
use std::time::Duration;

async fn an_expired_approval_request_is_refused(db: Db) {
    // The suite's ledger and keys; an engine on it whose requests for
    // approval last 1 ns: lapsed before any approval arrives (instants are
    // stored to the microsecond), so nothing sleeps.
    let t = TestApp::new(db).await;
    let config = EngineConfig {
        approval_ttl: Duration::from_nanos(1),
        ..EngineConfig::default()
    };
    let sk = Skynet::builder()
        .database_url(&t.url)
        .config(config)
        .build()
        .await
        .expect("engine");
    let app = skynet_http::router(sk, t.config.clone());
    let admin = t.admin.clone();
    let submitted = call_on(
        app.clone(),
        "POST",
        "/v1/jobs",
        Some(admin.clone()),
        Some(json!({"intent": "write 'hi' to notes.txt"})),
        vec![],
    )
    .await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED, "{}", submitted.text);
    let job = submitted.json();
    assert!(job["expires_at"].is_string(), "shown: {job}");
    let (id, hash) = (
        job["id"].as_str().expect("id"),
        job["plan"]["hash"].as_str().expect("hash"),
    );
    let late = call_on(
        app.clone(),
        "POST",
        &format!("/v1/jobs/{id}/approve"),
        Some(admin.clone()),
        Some(json!({"plan_hash": hash})),
        vec![],
    )
    .await;
    assert_eq!(
        (late.status, late.code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    assert!(late.text.contains("expired"), "{}", late.text);
    let now = call_on(
        app,
        "GET",
        &format!("/v1/jobs/{id}"),
        Some(admin),
        None,
        vec![],
    )
    .await;
    assert_eq!(now.json()["status"], "planned");
}

on_every_backend!(an_expired_approval_request_is_refused);
