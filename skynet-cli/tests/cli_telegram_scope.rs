//! `skynet telegram` serves remote callers: its steps read their root only
//! (like `skynet serve`'s), not the local user's system read scope. Tested
//! against a local HTTP server speaking the Bot API's JSON (wiremock), with
//! the real binary and a real step.

mod common;

use common::Sandbox;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "123456:TEST-token-not-a-secret";
const USER: i64 = 42;

fn ok(result: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": result}))
}

/// The Bot API's Message for `text` from the allowed user.
fn message(id: i64, text: &str) -> Value {
    json!({
        "message_id": id,
        "date": 1_700_000_000,
        "chat": {"id": USER, "type": "private", "first_name": "op"},
        "from": {"id": USER, "is_bot": false, "first_name": "op"},
        "text": text,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_steps_do_not_read_the_system_read_scope() {
    let api = MockServer::start().await;
    let task = "/task show the first 3 lines of /etc/hostname";
    Mock::given(method("POST"))
        .and(path_regex("(?i)/getupdates$"))
        .respond_with(ok(json!([{"update_id": 1, "message": message(1, task)}])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("(?i)/getupdates$"))
        .respond_with(ok(json!([])).set_delay(Duration::from_millis(200)))
        .with_priority(2)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("(?i)/(sendmessage|editmessagetext)$"))
        .respond_with(ok(message(100, "sent")))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(json!(true)))
        .with_priority(10)
        .mount(&api)
        .await;

    let sb = Sandbox::new();
    let mut bot = sb
        .std_cmd()
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", api.uri())
        .env("TELEGRAM_ALLOWED_USER_ID", USER.to_string())
        .env("TELEGRAM_ROOT", sb.repo.path())
        .args(["telegram", "--workers", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start skynet telegram");

    // Every text the bot sent, until one names the refusal.
    let deadline = Instant::now() + Duration::from_secs(60);
    let texts = loop {
        let texts: Vec<String> = api
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                let p = r.url.path().to_ascii_lowercase();
                p.ends_with("sendmessage") || p.ends_with("editmessagetext")
            })
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|b| b["text"].as_str().map(str::to_string))
            .collect();
        if texts
            .iter()
            .any(|t| t.contains("/etc/hostname") && t.contains("outside"))
            || texts.iter().any(|t| t.contains("succeeded"))
            || Instant::now() > deadline
        {
            break texts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = bot.kill();
    let _ = bot.wait();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("/etc/hostname") && t.contains("outside the sandbox root")),
        "the bot should refuse to read /etc/hostname for a remote caller; it sent: {texts:#?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("succeeded")),
        "nothing may have run: {texts:#?}"
    );
}
