//! Artifacts over HTTP, on both ledgers: the list, the bytes with a
//! strong ETag and single ranges per RFC 9110 (206, suffix ranges, 416,
//! 304 on `If-None-Match`), another principal sees nothing, and a
//! corrupted object is refused instead of served.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp};
use serde_json::json;
use skynet_core::store::keys::Scope;

const HELLO: &str = "hello from a file\n";

/// A finished job that kept the fixture's `hello.txt`; returns its id.
async fn job_with_artifact(t: &TestApp) -> String {
    let r = t
        .call(
            "POST",
            "/v1/jobs",
            Some(&t.submit),
            Some(json!({ "intent": "list the files", "artifacts": ["hello.txt"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().expect("id").to_string();
    let plan_steps = r.json()["plan"]["steps"].clone();
    assert_eq!(
        plan_steps[0]["artifacts"],
        json!(["hello.txt"]),
        "shown on the plan"
    );
    t.run_once().await;
    id
}

/// `GET /v1/jobs/{id}/artifacts` with the `read` key.
async fn list_artifacts(t: &TestApp, id: &str) -> common::Resp {
    t.get_read(&format!("/v1/jobs/{id}/artifacts")).await
}

/// `GET url` with the `read` key and these headers.
async fn get_with(t: &TestApp, url: &str, headers: &[(&str, &str)]) -> common::Resp {
    t.call_with("GET", url, Some(&t.read), None, headers).await
}

async fn artifacts_are_listed_and_served_with_etag_and_ranges(db: Db) {
    let t = TestApp::new(db).await;
    let id = job_with_artifact(&t).await;
    let list = list_artifacts(&t, &id).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.json()["artifacts"].clone();
    assert_eq!(items.as_array().expect("list").len(), 1);
    assert_eq!(items[0]["name"], "hello.txt");
    assert_eq!(items[0]["size"], HELLO.len());
    let sha = items[0]["sha256"].as_str().expect("sha").to_string();
    let url = format!("/v1/jobs/{id}/artifacts/hello.txt");
    let etag = format!("\"{sha}\"");

    let whole = t.get_read(&url).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.text, HELLO);
    assert_eq!(whole.headers["etag"], etag.as_str());
    assert_eq!(whole.headers["accept-ranges"], "bytes");
    assert_eq!(whole.headers["content-type"], "text/plain");
    assert_eq!(
        whole.headers["content-length"],
        HELLO.len().to_string().as_str()
    );
    assert_eq!(whole.headers["x-content-type-options"], "nosniff");

    let size = HELLO.len();
    for (range, body, content_range) in [
        ("bytes=0-4", "hello", format!("bytes 0-4/{size}")),
        (
            "bytes=-5",
            "file\n",
            format!("bytes {}-{}/{size}", size - 5, size - 1),
        ),
        (
            "bytes=11-",
            "a file\n",
            format!("bytes 11-{}/{size}", size - 1),
        ),
    ] {
        let r = get_with(&t, &url, &[("range", range)]).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(r.text, body, "{range}");
        assert_eq!(
            r.headers["content-range"],
            content_range.as_str(),
            "{range}"
        );
        assert_eq!(r.headers["content-length"], body.len().to_string().as_str());
    }
    for range in [format!("bytes={size}-"), "bytes=-0".to_string()] {
        let r = get_with(&t, &url, &[("range", &range)]).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            r.headers["content-range"],
            format!("bytes */{size}").as_str()
        );
        assert!(r.text.is_empty());
    }
    // Several ranges, or a stale If-Range: the whole artifact.
    let r = get_with(&t, &url, &[("range", "bytes=0-1,3-4")]).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, HELLO));
    let r = get_with(
        &t,
        &url,
        &[("range", "bytes=0-1"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, HELLO));
    let r = get_with(&t, &url, &[("range", "bytes=0-1"), ("if-range", &etag)]).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (StatusCode::PARTIAL_CONTENT, "he")
    );
    let r = get_with(&t, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.text.is_empty());
    assert_eq!(r.headers["etag"], etag.as_str());

    let r = t
        .get_read(&format!("/v1/jobs/{id}/artifacts/nope.txt"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
}

async fn the_original_plan_names_the_expected_artifacts(db: Db) {
    let t = TestApp::new(db).await;
    let r = t
        .plan(json!({ "user_message": "list the files", "artifacts": ["reports/*.xml"] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["expected_artifacts"], json!(["reports/*.xml"]));
    let r = t
        .plan(json!({ "user_message": "list the files", "artifacts": ["../../etc/passwd"] }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("leads out of the root"), "{}", r.text);
}

async fn another_principal_sees_no_artifact(db: Db) {
    let t = TestApp::new(db).await;
    let id = job_with_artifact(&t).await;
    let mallory = t.key(&[Scope::Read], Some("mallory")).await;
    for tail in [
        "/artifacts",
        "/artifacts/hello.txt",
        "/artifacts/hello.txt?presign=1",
    ] {
        let r = t
            .call("GET", &format!("/v1/jobs/{id}{tail}"), Some(&mallory), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{tail}: {}", r.text);
        assert!(!r.text.contains("hello"), "{tail}: {}", r.text);
    }
}

async fn a_corrupted_artifact_is_refused_not_served(db: Db) {
    let t = TestApp::new(db).await;
    let id = job_with_artifact(&t).await;
    let list = list_artifacts(&t, &id).await;
    let sha = list.json()["artifacts"][0]["sha256"]
        .as_str()
        .expect("sha")
        .to_string();
    let object = t
        .dir
        .path()
        .join(".artifacts/objects")
        .join(&sha[..2])
        .join(&sha);
    std::fs::write(&object, "HELLO from a file\n").expect("tamper");
    let r = t
        .get_read(&format!("/v1/jobs/{id}/artifacts/hello.txt"))
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text);
    assert!(!r.text.contains("HELLO"), "{}", r.text);
    assert_eq!(r.code(), "internal", "the details go to the operator's log");
}

/// `?presign=1` needs a store with presigned URLs: the local one has none,
/// a clear 400; a flag that is not 1/true/0/false is a 400 too; `0` is the
/// bytes.
async fn presign_asks_a_store_that_has_such_urls(db: Db) {
    let t = TestApp::new(db).await;
    let id = job_with_artifact(&t).await;
    let url = format!("/v1/jobs/{id}/artifacts/hello.txt");
    let r = t.get_read(&format!("{url}?presign=1")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("has no presigned URLs"), "{}", r.text);
    let r = t.get_read(&format!("{url}?presign=maybe")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = t.get_read(&format!("{url}?presign=0")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.text, HELLO);
}

on_every_backend!(
    presign_asks_a_store_that_has_such_urls,
    artifacts_are_listed_and_served_with_etag_and_ranges,
    another_principal_sees_no_artifact,
    the_original_plan_names_the_expected_artifacts,
    a_corrupted_artifact_is_refused_not_served,
);
