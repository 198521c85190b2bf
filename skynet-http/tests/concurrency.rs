//! Races through the router: approvals replayed 100 times at once and 100
//! submits sharing one Idempotency-Key each cause exactly one change.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, Resp, TestApp, call_on};

/// Await spawned requests (each on the runtime's threads, truly at once).
async fn joined(tasks: impl Iterator<Item = tokio::task::JoinHandle<Resp>>) -> Vec<Resp> {
    let mut out = Vec::new();
    for t in tasks.collect::<Vec<_>>() {
        out.push(t.await.expect("request task"));
    }
    out
}
use serde_json::json;

async fn hundred_concurrent_approvals_make_exactly_one_transition(db: Db) {
    let t = TestApp::new(db).await;
    let job = t.submit_job("write 'hi' to notes.txt").await;
    let id = job["id"].as_str().expect("id").to_string();
    let hash = job["plan"]["hash"].as_str().expect("hash").to_string();
    let uri = format!("/v1/jobs/{id}/approve");
    let calls = (0..100).map(|_| {
        let body = json!({ "plan_hash": hash });
        let (app, uri, key) = (t.app.clone(), uri.clone(), t.approve.clone());
        tokio::spawn(async move { call_on(app, "POST", &uri, Some(key), Some(body), vec![]).await })
    });
    let answers = joined(calls).await;
    let ok = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one approval wins");
    for r in answers.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::CONFLICT, "conflict")
        );
    }
    let events =
        t.sk.events(&skynet_core::JobId::parse(&id).expect("id"))
            .await
            .expect("events");
    let to_queued = events
        .iter()
        .filter(|e| e.kind == "status" && e.data["to"] == "queued")
        .count();
    assert_eq!(to_queued, 1, "one status change recorded");
}

async fn hundred_concurrent_posts_with_one_idempotency_key_make_one_job(db: Db) {
    let t = TestApp::new(db).await;
    let calls = (0..100).map(|_| {
        tokio::spawn(call_on(
            t.app.clone(),
            "POST",
            "/v1/jobs",
            Some(t.submit.clone()),
            Some(json!({ "intent": "write 'hi' to notes.txt" })),
            vec![("idempotency-key".into(), "deploy-42".into())],
        ))
    });
    let answers = joined(calls).await;
    assert!(
        answers.iter().all(|r| r.status == StatusCode::ACCEPTED),
        "every retry gets the job"
    );
    let first = answers[0].json()["id"].clone();
    assert!(
        answers.iter().all(|r| r.json()["id"] == first),
        "the same job"
    );
    let ledger = t.ledger_snapshot().await;
    assert_eq!(ledger.len(), 1, "one job stored");
    assert_eq!(ledger[0].2, 1, "one submitted event");
}

on_every_backend!(
    hundred_concurrent_approvals_make_exactly_one_transition,
    hundred_concurrent_posts_with_one_idempotency_key_make_one_job,
);
