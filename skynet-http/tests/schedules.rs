//! `/v1/schedules`, `/v1/triggers`, `/v1/initiative` and `/v1/webhooks`:
//! every route with every scope (`read` to list and read, `admin` to
//! change), bad input refused with a typed 4xx and nothing stored, a
//! principal sees only its own schedules, triggers and webhooks, and a
//! webhook's secret is shown once.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp, admins, readers};
use serde_json::{Value, json};
use skynet_core::store::keys::Scope;

/// Each body, POSTed to `uri` with the `admin` key, is a 400
/// `invalid_input`.
async fn all_refused_as_invalid(t: &TestApp, uri: &str, bodies: &[Value]) {
    for body in bodies {
        let r = t
            .call("POST", uri, Some(&t.admin), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.code(), "invalid_input", "{body}");
    }
}

/// `DELETE uri` with `key` finds nothing (any more).
async fn delete_finds_nothing(t: &TestApp, uri: &str, key: &str) {
    let r = t.call("DELETE", uri, Some(key), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(r.code(), "not_found");
}

/// The list at `uri` as read by bob (empty) and by alice (her one item).
async fn alice_alone_sees(t: &TestApp, uri: &str) -> Value {
    let bob = t.key(&[Scope::Read], Some("bob")).await;
    let r = t.call("GET", uri, Some(&bob), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json().as_array().expect("list").is_empty());
    let alice_reader = t.key(&[Scope::Read], Some("alice")).await;
    let list = t.call("GET", uri, Some(&alice_reader), None).await.json();
    assert_eq!(list.as_array().expect("list").len(), 1);
    list
}

async fn add(t: &TestApp, key: &str) -> String {
    let r = t
        .call(
            "POST",
            "/v1/schedules",
            Some(key),
            Some(json!({"intent": "list the files", "cron": "*/5 * * * *", "time_zone": "Europe/Paris"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["time_zone"], "Europe/Paris");
    r.json()["id"].as_str().expect("id").to_string()
}

async fn count(t: &TestApp) -> usize {
    let r = t.call("GET", "/v1/schedules", Some(&t.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json().as_array().expect("a list").len()
}

async fn routes_need_their_scopes(db: Db) {
    let t = TestApp::new(db).await;
    let owner = t.key(&[Scope::Admin], Some("alice")).await;
    let id = add(&t, &owner).await;
    let calls = |_| {
        vec![
            readers("GET", "/v1/schedules"),
            admins("POST", "/v1/schedules")
                .body(json!({"intent": "list the files", "every": "10m"}))
                .answers(StatusCode::CREATED),
            admins("POST", format!("/v1/schedules/{id}/pause")),
            admins("POST", format!("/v1/schedules/{id}/resume")),
            readers("GET", "/v1/initiative"),
            admins("POST", "/v1/initiative/pause"),
            admins("POST", "/v1/initiative/resume"),
            // Last: only the `admin` key, the last one, removes it.
            admins("DELETE", format!("/v1/schedules/{id}")).answers(StatusCode::NO_CONTENT),
        ]
    };
    t.scope_matrix("alice", calls, |_, _| {}).await;
    delete_finds_nothing(&t, &format!("/v1/schedules/{id}"), &owner).await;
    // Without a key: 401.
    let r = t.call("GET", "/v1/schedules", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn bad_input_is_refused_and_nothing_is_stored(db: Db) {
    let t = TestApp::new(db).await;
    let bad = [
        json!({"intent": "list the files", "cron": "*/5 * * *"}),
        json!({"intent": "list the files", "cron": "0 9 * * *", "time_zone": "Mars/Olympus"}),
        json!({"intent": "list the files", "every": "0s"}),
        json!({"intent": "list the files", "every": "soon"}),
        json!({"intent": "list the files", "every": "10m", "cron": "* * * * *"}),
        json!({"intent": "list the files"}),
        json!({"intent": "", "every": "10m"}),
        json!({"intent": "list the files", "every": "10m", "root": "../.."}),
        json!({"intent": "list the files", "every": "10m", "missed": "sometimes"}),
        json!({"intent": "list the files", "every": "10m", "surprise": true}),
    ];
    all_refused_as_invalid(&t, "/v1/schedules", &bad).await;
    assert_eq!(count(&t).await, 0);
    t.admin_gets_not_found(&[
        ("POST", "/v1/schedules/nope/pause"),
        ("POST", "/v1/schedules/nope/resume"),
        ("DELETE", "/v1/schedules/nope"),
    ])
    .await;
}

async fn a_principal_sees_only_its_own_schedules(db: Db) {
    let t = TestApp::new(db).await;
    let alice = t.key(&[Scope::Admin], Some("alice")).await;
    add(&t, &alice).await;
    let list = alice_alone_sees(&t, "/v1/schedules").await;
    assert_eq!(list[0]["principal"], "alice");
}

async fn the_initiative_switch_is_visible_to_readers(db: Db) {
    let t = TestApp::new(db).await;
    let r = t
        .call("POST", "/v1/initiative/pause", Some(&t.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = t.get_read("/v1/initiative").await;
    let status = r.json();
    assert_eq!(status["enabled"], false);
    assert_eq!(status["usage"]["paused"], true);
    assert!(
        status["usage"]["changed_by"]
            .as_str()
            .expect("who")
            .contains("admin")
    );
    assert_eq!(status["budget"]["per_day"], 20);
    t.openapi_listing(&[
        "/v1/schedules",
        "/v1/schedules/{id}",
        "/v1/schedules/{id}/pause",
        "/v1/schedules/{id}/resume",
        "/v1/initiative",
        "/v1/initiative/pause",
        "/v1/initiative/resume",
    ])
    .await;
}

async fn add_trigger(t: &TestApp, key: &str) -> String {
    let r = t
        .call(
            "POST",
            "/v1/triggers",
            Some(key),
            Some(
                json!({"on": "provider.degraded", "where": {"provider": "docker"},
                "intent": "list the files", "max": "5/day"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let body = r.json();
    assert_eq!(body["conditions"]["provider"], "docker");
    assert_eq!(body["rate"]["max_firings"], 5);
    assert_eq!(body["rate"]["window_secs"], 86_400);
    body["id"].as_str().expect("id").to_string()
}

async fn trigger_routes_need_their_scopes(db: Db) {
    let t = TestApp::new(db).await;
    let owner = t.key(&[Scope::Admin], Some("alice")).await;
    let id = add_trigger(&t, &owner).await;
    let calls = |_| {
        vec![
            readers("GET", "/v1/triggers"),
            admins("POST", "/v1/triggers")
                .body(json!({"on": "job.failed", "intent": "list the files"}))
                .answers(StatusCode::CREATED),
            admins("POST", format!("/v1/triggers/{id}/pause")),
            admins("POST", format!("/v1/triggers/{id}/resume")),
            // Last: only the `admin` key, the last one, removes it.
            admins("DELETE", format!("/v1/triggers/{id}")).answers(StatusCode::NO_CONTENT),
        ]
    };
    t.scope_matrix("alice", calls, |_, _| {}).await;
    delete_finds_nothing(&t, &format!("/v1/triggers/{id}"), &owner).await;
    let r = t.call("GET", "/v1/triggers", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn bad_triggers_are_refused_and_nothing_is_stored(db: Db) {
    let t = TestApp::new(db).await;
    let bad = [
        json!({"on": "job.exploded", "intent": "list the files"}),
        json!({"on": "", "intent": "list the files"}),
        json!({"on": "job.failed", "intent": "  "}),
        json!({"on": "job.failed", "intent": "list the files", "max": "0/hour"}),
        json!({"on": "job.failed", "intent": "list the files", "max": "often"}),
        json!({"on": "job.failed", "intent": "list the files", "where": {"a b": "c"}}),
        json!({"on": "trigger.fired", "intent": "list the files"}),
        json!({"on": "job.failed", "intent": "list the files", "root": "../.."}),
        json!({"on": "job.failed", "intent": "list the files", "surprise": true}),
    ];
    all_refused_as_invalid(&t, "/v1/triggers", &bad).await;
    let r = t.call("GET", "/v1/triggers", Some(&t.admin), None).await;
    assert!(r.json().as_array().expect("a list").is_empty());
    t.admin_gets_not_found(&[
        ("POST", "/v1/triggers/nope/pause"),
        ("POST", "/v1/triggers/nope/resume"),
        ("DELETE", "/v1/triggers/nope"),
    ])
    .await;
}

async fn a_principal_sees_only_its_own_triggers(db: Db) {
    let t = TestApp::new(db).await;
    let alice = t.key(&[Scope::Admin], Some("alice")).await;
    let id = add_trigger(&t, &alice).await;
    let list = alice_alone_sees(&t, "/v1/triggers").await;
    assert_eq!(list[0]["principal"], "alice");
    t.openapi_listing(&[
        "/v1/triggers",
        "/v1/triggers/{id}",
        "/v1/triggers/{id}/pause",
    ])
    .await;
    let _ = id;
}

/// A public address (TEST-NET-3) the egress check lets through without
/// any lookup; nothing here ever sends to it.
const HOOK: &str = "http://203.0.113.7/hook?token=T0K";

async fn webhook_routes_need_their_scopes_and_show_the_secret_once(db: Db) {
    let t = TestApp::new(db).await;
    let owner = t.key(&[Scope::Admin], Some("alice")).await;
    let r = t
        .call(
            "POST",
            "/v1/webhooks",
            Some(&owner),
            Some(json!({"url": HOOK, "types": ["job.*"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let created = r.json();
    let secret = created["secret"].as_str().expect("the secret").to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["url"], "http://203.0.113.7/hook?…");
    assert_eq!(created["principal"], "alice");
    let id = created["id"].as_str().expect("id").to_string();
    let calls = |_| {
        vec![
            readers("GET", "/v1/webhooks"),
            readers(
                "GET",
                format!("/v1/webhooks/deliveries?webhook={id}&state=dead"),
            ),
            admins("POST", "/v1/webhooks")
                .body(json!({"url": HOOK}))
                .answers(StatusCode::CREATED),
            admins("POST", "/v1/webhooks/nope/test").answers(StatusCode::NOT_FOUND),
            admins("POST", "/v1/webhooks/deliveries/nope/redeliver").answers(StatusCode::NOT_FOUND),
            admins("DELETE", "/v1/webhooks/nope").answers(StatusCode::NOT_FOUND),
        ]
    };
    t.scope_matrix("alice", calls, |call, r| {
        let (method, uri) = (call.method, &call.uri);
        assert!(!r.text.contains(&secret), "{method} {uri} shows the secret");
        assert!(
            !r.text.contains("T0K"),
            "{method} {uri} shows the URL's token"
        );
    })
    .await;
    let r = t
        .call("DELETE", &format!("/v1/webhooks/{id}"), Some(&owner), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    delete_finds_nothing(&t, &format!("/v1/webhooks/{id}"), &owner).await;
}

async fn bad_webhooks_are_refused_and_nothing_is_stored(db: Db) {
    let t = TestApp::new(db).await;
    let refused = [
        (
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"url": "http://127.0.0.1:8080/hook"}),
            StatusCode::FORBIDDEN,
        ),
        (json!({"url": "http://[::1]/hook"}), StatusCode::FORBIDDEN),
        (
            json!({"url": "http://10.0.0.8/hook"}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"url": "ftp://203.0.113.7/x"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"url": HOOK, "types": ["job.exploded"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"url": HOOK, "surprise": true}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, want) in refused {
        let r = t
            .call("POST", "/v1/webhooks", Some(&t.admin), Some(body.clone()))
            .await;
        assert_eq!(r.status, want, "{body}: {}", r.text);
        if want == StatusCode::FORBIDDEN {
            assert!(
                r.text.contains("SKYNET_WEBHOOK_ALLOW"),
                "{body}: {}",
                r.text
            );
        }
    }
    let r = t.call("GET", "/v1/webhooks", Some(&t.admin), None).await;
    assert!(
        r.json().as_array().expect("list").is_empty(),
        "nothing stored"
    );
}

async fn a_principal_sees_only_its_own_webhooks(db: Db) {
    let t = TestApp::new(db).await;
    let alice = t.key(&[Scope::Admin], Some("alice")).await;
    let r = t
        .call(
            "POST",
            "/v1/webhooks",
            Some(&alice),
            Some(json!({"url": HOOK})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_str().expect("id").to_string();
    let list = alice_alone_sees(&t, "/v1/webhooks").await;
    assert!(list[0].get("secret").is_none());
    let bob = t.key(&[Scope::Read], Some("bob")).await;
    let r = t
        .call(
            "GET",
            &format!("/v1/webhooks/deliveries?webhook={id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    t.openapi_listing(&[
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/test",
        "/v1/webhooks/deliveries",
        "/v1/webhooks/deliveries/{id}/redeliver",
    ])
    .await;
}

on_every_backend!(
    trigger_routes_need_their_scopes,
    bad_triggers_are_refused_and_nothing_is_stored,
    a_principal_sees_only_its_own_triggers,
    webhook_routes_need_their_scopes_and_show_the_secret_once,
    bad_webhooks_are_refused_and_nothing_is_stored,
    a_principal_sees_only_its_own_webhooks,
    routes_need_their_scopes,
    bad_input_is_refused_and_nothing_is_stored,
    a_principal_sees_only_its_own_schedules,
    the_initiative_switch_is_visible_to_readers,
);
