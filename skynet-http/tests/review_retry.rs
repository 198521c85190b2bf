//! `POST /v1/jobs/{id}/review` and `POST /v1/jobs/{id}/retry`: scopes,
//! status codes and problem codes, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp};
use serde_json::{Value, json};
use skynet_core::{JobId, JobStatus};
use std::time::Duration;

on_every_backend!(
    review_needs_the_approve_scope_and_resolves_only_a_job_in_review,
    retry_needs_the_submit_scope_and_makes_a_new_job_of_a_finished_one,
);

/// Submit a WRITE job as the submit key, approve it, and lose its worker
/// mid-step (a lease that lapses at once, the step's start recorded, the
/// reaper): it is left in `needs_review`. Returns its id and plan hash.
async fn job_in_review(t: &TestApp) -> (String, String) {
    let job = t.submit_job("write 'hi' to notes.txt").await;
    let id = job["id"].as_str().unwrap().to_string();
    let hash = job["plan"]["hash"].as_str().unwrap().to_string();
    let r = t
        .call(
            "POST",
            &format!("/v1/jobs/{id}/approve"),
            Some(&t.approve),
            Some(json!({ "plan_hash": hash })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let store = t.sk.store();
    let job_id = JobId::parse(&id).unwrap();
    let claimed = store
        .claim_job(&job_id, "lost-worker", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let lease = claimed.lease.unwrap().id;
    store.start_step(&job_id, &lease, 0).await.unwrap();
    store
        .reap_expired(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        t.sk.get(&job_id).await.unwrap().status,
        JobStatus::NeedsReview
    );
    (id, hash)
}

/// `POST` `body` to the review route `uri` with `key`.
async fn review(t: &TestApp, uri: &str, key: String, body: Value) -> common::Resp {
    t.call("POST", uri, Some(&key), Some(body)).await
}

async fn review_needs_the_approve_scope_and_resolves_only_a_job_in_review(db: Db) {
    let t = TestApp::new(db).await;
    let (id, hash) = job_in_review(&t).await;
    let uri = format!("/v1/jobs/{id}/review");
    let send = |key: &String, body: Value| review(&t, &uri, key.clone(), body);
    let before = t.ledger_snapshot().await;

    // Keys without `approve` are refused before anything is read.
    let fail = json!({ "resolution": "fail", "reason": "no" });
    for key in [&t.read, &t.submit] {
        let r = send(key, fail.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "insufficient_scope");
    }
    let r = t.call("POST", &uri, None, Some(fail.clone())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Unusable bodies.
    for bad in [
        json!({ "resolution": "retry" }),
        json!({ "resolution": "fail", "extra": 1 }),
        json!({ "reason": "no resolution" }),
    ] {
        let r = send(&t.approve, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    let r = send(&t.approve, json!({ "resolution": "requeue" })).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
    assert!(r.json()["detail"].as_str().unwrap().contains("plan hash"));
    let r = send(
        &t.approve,
        json!({ "resolution": "requeue", "plan_hash": "0".repeat(64) }),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "stale_approval")
    );
    assert!(
        !r.text.contains(&hash),
        "a refusal never shows the plan hash"
    );
    assert_eq!(t.ledger_snapshot().await, before, "refusals change nothing");

    let r = send(
        &t.approve,
        json!({ "resolution": "requeue", "plan_hash": &hash[..12], "reason": "host checked" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let job = r.json();
    assert_eq!(job["status"], "queued");
    let approver = job["approval"]["approver"].as_str().unwrap();
    assert!(approver.starts_with("http:approve/"), "{approver}");
    let events = t.sk.events(&JobId::parse(&id).unwrap()).await.unwrap();
    let last = &events.last().unwrap().data;
    assert_eq!(last["review"], "requeue");
    assert_eq!(last["reason"], "host checked");
    assert_eq!(last["actor"], approver);

    // Queued now: not waiting for a review any more.
    let r = send(&t.approve, fail).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("is queued, not needs_review"), "{detail}");
    let r = send(&t.approve, json!({ "resolution": "fail" })).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let missing = format!("/v1/jobs/{}/review", JobId::new());
    let r = t
        .call(
            "POST",
            &missing,
            Some(&t.approve),
            Some(json!({ "resolution": "fail" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn retry_needs_the_submit_scope_and_makes_a_new_job_of_a_finished_one(db: Db) {
    let t = TestApp::new(db).await;
    let job = t.submit_job("write 'hi' to notes.txt").await;
    let id = job["id"].as_str().unwrap().to_string();
    let uri = format!("/v1/jobs/{id}/retry");

    // Not finished yet: planned.
    let r = t.call("POST", &uri, Some(&t.submit), None).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("is planned and has not finished"),
        "{detail}"
    );

    let r = t
        .call(
            "POST",
            &format!("/v1/jobs/{id}/deny"),
            Some(&t.approve),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let before = t.ledger_snapshot().await;
    for key in [&t.read, &t.approve] {
        let r = t.call("POST", &uri, Some(key), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "insufficient_scope");
    }
    assert_eq!(t.ledger_snapshot().await, before);

    let r = t.call("POST", &uri, Some(&t.submit), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let retry = r.json();
    assert_ne!(retry["id"], id);
    assert_eq!(retry["retry_of"], id.as_str());
    assert_eq!(
        retry["status"], "planned",
        "a WRITE retry waits for approval"
    );
    assert_eq!(retry["source"], "http");
    assert_eq!(retry["principal"], job["principal"]);
    let got = t
        .call(
            "GET",
            &format!("/v1/jobs/{}", retry["id"].as_str().unwrap()),
            Some(&t.read),
            None,
        )
        .await;
    assert_eq!(got.json()["retry_of"], id.as_str());

    let r = t
        .call(
            "POST",
            &format!("/v1/jobs/{}/retry", JobId::new()),
            Some(&t.submit),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
