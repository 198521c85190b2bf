//! `/v1/memory/*`: every route with every scope, bad input refused with a
//! clear 4xx and nothing stored, and a principal sees only its own.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp, admins, readers, submitters};
use serde_json::json;
use skynet_core::store::keys::Scope;

async fn total(t: &TestApp, key: &str) -> u64 {
    let r = t.call("GET", "/v1/memory/stats", Some(key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["total"].as_u64().expect("total")
}

/// `PUT /v1/memory/{id}/pin` with `key`.
async fn pin(t: &TestApp, key: &str, id: &str, pinned: bool) -> common::Resp {
    t.call(
        "PUT",
        &format!("/v1/memory/{id}/pin"),
        Some(key),
        Some(json!({ "pinned": pinned })),
    )
    .await
}

async fn routes_need_their_scopes(db: Db) {
    let t = TestApp::new(db).await;
    let admin = t.key(&[Scope::Admin], Some("alice")).await;
    let stored = t
        .call(
            "POST",
            "/v1/memory/store",
            Some(&admin),
            Some(json!({"content": "check git status", "tags": ["git"]})),
        )
        .await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.text);
    let id = stored.json()["id"].as_str().expect("id").to_string();
    let calls = |scope| {
        vec![
            submitters("POST", "/v1/memory/store")
                .body(json!({"content": format!("note by {scope}")}))
                .answers(StatusCode::CREATED),
            readers("POST", "/v1/memory/search").body(json!({"query": "git"})),
            readers("POST", "/v1/memory/similar").body(json!({"memory_id": id})),
            readers("GET", "/v1/memory/stats"),
            readers("GET", format!("/v1/memory/{id}")),
            // Last: only the `admin` key, the last one, deletes it.
            admins("DELETE", format!("/v1/memory/{id}")).answers(StatusCode::NO_CONTENT),
        ]
    };
    t.scope_matrix("alice", calls, |_, _| {}).await;
    let no_key = t.call("GET", "/v1/memory/stats", None, None).await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
    let r = t
        .call("DELETE", &format!("/v1/memory/{id}"), Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
}

async fn bad_input_is_refused_and_nothing_is_stored(db: Db) {
    let t = TestApp::new(db).await;
    let key = t.key(&[Scope::Submit, Scope::Read], Some("alice")).await;
    let huge = "x".repeat(10 * 1024 * 1024);
    let bad = [
        json!({"content": ""}),
        json!({"content": "   "}),
        json!({"content": huge}),
        json!({"content": "ok", "memory_type": "dream"}),
        json!({"content": "ok", "outcome": "maybe"}),
        json!({"content": "ok", "metadata": [1, 2]}),
        json!({"content": "ok", "importance": 3}),
        json!({"content": "ok", "colour": "blue"}),
        json!({"memory_type": "note"}),
    ];
    for body in bad {
        let r = t
            .call("POST", "/v1/memory/store", Some(&key), Some(body.clone()))
            .await;
        assert!(
            r.status.is_client_error(),
            "{body:.80}: {} {}",
            r.status,
            r.text
        );
        r.code();
    }
    let r = t
        .call(
            "POST",
            "/v1/memory/store",
            Some(&key),
            Some(json!({"content": "ok", "memory_type": "dream"})),
        )
        .await;
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("task_execution"),
        "{}",
        r.text
    );
    assert_eq!(total(&t, &key).await, 0);
    for body in [
        json!({"query": ""}),
        json!({"query": "git", "limit": 0}),
        json!({"query": "git", "limit": 101}),
        json!({"query": "git", "memory_type": "dream"}),
    ] {
        let r = t
            .call("POST", "/v1/memory/search", Some(&key), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
    for body in [
        json!({}),
        json!({"content": "a", "memory_id": "b"}),
        json!({"memory_id": "nope"}),
    ] {
        let r = t
            .call("POST", "/v1/memory/similar", Some(&key), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
}

async fn a_principal_sees_only_its_own_memories(db: Db) {
    let t = TestApp::new(db).await;
    let alice = t.key(&[Scope::Submit, Scope::Read], Some("alice")).await;
    let bob = t.key(&[Scope::Submit, Scope::Read], Some("bob")).await;
    let all = t.key(&[Scope::ReadAll], Some("carol")).await;
    let r = t
        .call("POST", "/v1/memory/store", Some(&alice), Some(json!({"content": "alice deploys with git push", "memory_type": "success_pattern", "tags": ["deploy"]})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let m = r.json();
    assert_eq!(m["principal"], "alice");
    assert_eq!(m["memory_type"], "success_pattern");
    let id = m["id"].as_str().expect("id");
    let q = json!({"query": "git push", "tags": ["deploy"]});
    let found = t
        .call("POST", "/v1/memory/search", Some(&alice), Some(q.clone()))
        .await
        .json();
    assert_eq!(found["results"][0]["memory"]["id"], id);
    assert!(found["results"][0]["parts"]["text_rank"].is_u64());
    let none = t
        .call("POST", "/v1/memory/search", Some(&bob), Some(q.clone()))
        .await
        .json();
    assert_eq!(none["results"].as_array().expect("results").len(), 0);
    let r = t
        .call("GET", &format!("/v1/memory/{id}"), Some(&bob), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.text.contains("git push"));
    assert_eq!(total(&t, &bob).await, 0);
    assert_eq!(total(&t, &alice).await, 1);
    let seen = t
        .call("POST", "/v1/memory/search", Some(&all), Some(q))
        .await
        .json();
    assert_eq!(seen["results"][0]["memory"]["id"], id);
    let stats = t
        .call("GET", "/v1/memory/stats", Some(&alice), None)
        .await
        .json();
    assert_eq!(stats["by_type"]["success_pattern"], 1);
    assert_eq!(stats["index"], "exact");
}

async fn memory_routes_are_in_the_openapi_document(db: Db) {
    let t = TestApp::new(db).await;
    let doc = t
        .openapi_listing(&[
            "/v1/memory/store",
            "/v1/memory/search",
            "/v1/memory/similar",
            "/v1/memory/stats",
            "/v1/memory/{id}",
            "/v1/memory/forget",
            "/v1/memory/{id}/pin",
        ])
        .await;
    assert!(doc["paths"]["/v1/memory/{id}"]["delete"].is_object());
    assert!(doc["components"]["schemas"]["MemoryResults"].is_object());
}

async fn forget_by_filter_keeps_pinned_and_pin_needs_admin(db: Db) {
    let t = TestApp::new(db).await;
    let alice = t.key(&[Scope::Admin], Some("alice")).await;
    let bob = t.key(&[Scope::Submit, Scope::Read], Some("bob")).await;
    let store = |key: String, body: serde_json::Value| {
        let t = &t;
        async move {
            let r = t
                .call("POST", "/v1/memory/store", Some(&key), Some(body))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            r.json()["id"].as_str().expect("id").to_string()
        }
    };
    let old = store(alice.clone(), json!({"content": "old", "tags": ["old"]})).await;
    let kept = store(
        alice.clone(),
        json!({"content": "kept", "tags": ["old"], "pinned": true}),
    )
    .await;
    let bobs = store(bob.clone(), json!({"content": "bob's", "tags": ["old"]})).await;
    // Under-scoped, empty, or unknown: refused, nothing forgotten.
    for (key, body, want) in [
        (&bob, json!({"tags": ["old"]}), StatusCode::FORBIDDEN),
        (&alice, json!({}), StatusCode::BAD_REQUEST),
        (
            &alice,
            json!({"memory_type": "dream"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = t
            .call("POST", "/v1/memory/forget", Some(key), Some(body.clone()))
            .await;
        assert_eq!(r.status, want, "{body}: {}", r.text);
    }
    let r = t
        .call(
            "POST",
            "/v1/memory/forget",
            Some(&alice),
            Some(json!({"colour": "red"})),
        )
        .await;
    assert!(r.status.is_client_error(), "unknown field: {}", r.text);
    // An admin sees (and so forgets) every principal's.
    assert_eq!(total(&t, &alice).await, 3);
    let r = t
        .call(
            "POST",
            "/v1/memory/forget",
            Some(&alice),
            Some(json!({"tags": ["old"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["forgotten"], 2, "the pinned one stays");
    let gone = t
        .call("GET", &format!("/v1/memory/{old}"), Some(&alice), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let view = t
        .call("GET", &format!("/v1/memory/{kept}"), Some(&alice), None)
        .await;
    assert_eq!(view.json()["pinned"], true);
    assert_eq!(total(&t, &bob).await, 0);
    // Pinning: admin only.
    let r = pin(&t, &bob, &kept, false).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = pin(&t, &alice, &bobs, true).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "forgotten: {}", r.text);
    let r = pin(&t, &alice, &kept, false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["pinned"], false);
    let stats = t
        .call("GET", "/v1/memory/stats", Some(&alice), None)
        .await
        .json();
    assert_eq!(stats["pinned"], 0);
}

async fn plan_shows_the_callers_own_similar_past_runs(db: Db) {
    let t = TestApp::new(db).await;
    let alice = t.key(&[Scope::Submit, Scope::Read], Some("alice")).await;
    let bob = t.key(&[Scope::Submit, Scope::Read], Some("bob")).await;
    for outcome in ["success", "success", "failure"] {
        let r = t
            .call(
                "POST",
                "/v1/memory/store",
                Some(&alice),
                Some(json!({
                    "content": format!("intent: read hello.txt\noutcome: {outcome}\nerror: disk on fire"),
                    "memory_type": "task_execution",
                    "metadata": {"intent": "read hello.txt", "error": "disk on fire"},
                    "outcome": outcome,
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let plan = |key: String| {
        let t = &t;
        async move {
            let r = t
                .call(
                    "POST",
                    "/v1/plan",
                    Some(&key),
                    Some(json!({"user_message": "read hello.txt"})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.json()
        }
    };
    let mine = plan(alice.clone()).await;
    assert_eq!(
        mine["execution_plan"]["past_runs_line"],
        "similar past runs: 2 succeeded, 1 failed: disk on fire"
    );
    assert_eq!(mine["execution_plan"]["past_runs"]["failed"], 1);
    assert_eq!(mine["risk_level"], "READ_ONLY", "memory changes no risk");
    let theirs = plan(bob).await;
    assert!(
        theirs["execution_plan"]["past_runs_line"].is_null(),
        "bob plans with his own memory: {theirs}"
    );
    assert_eq!(
        theirs["plan_hash"], mine["plan_hash"],
        "annotations are outside the hash"
    );
}

on_every_backend!(
    plan_shows_the_callers_own_similar_past_runs,
    forget_by_filter_keeps_pinned_and_pin_needs_admin,
    routes_need_their_scopes,
    bad_input_is_refused_and_nothing_is_stored,
    a_principal_sees_only_its_own_memories,
    memory_routes_are_in_the_openapi_document,
);
