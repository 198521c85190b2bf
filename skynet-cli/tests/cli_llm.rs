//! The `skynet` binary with an LLM planner, against a local HTTP server
//! (wiremock) speaking the OpenAI Chat Completions wire format. No test
//! reaches the internet.

mod common;

use common::Sandbox;
use std::path::Path;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const FAKE_KEY: &str = "sk-test-FAKE-0123456789abcdef";

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../skynet-core/tests/fixtures/llm/openai")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn serve(status: u16, name: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json"))
        .mount(&server)
        .await;
    server
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `skynet ARGS` configured for the mock server, with debug logging.
async fn skynet(sb: &Sandbox, server: &MockServer, args: &[&str]) -> Run {
    let mut cmd = sb.cmd();
    cmd.env("SKYNET_LLM_PROVIDER", "openai")
        .env("SKYNET_LLM_BASE_URL", format!("{}/v1", server.uri()))
        .env("OPENAI_API_KEY", FAKE_KEY)
        .env("SKYNET_LLM_MAX_RETRIES", "0")
        .env("SKYNET_LOG", "debug")
        .env_remove("SKYNET_PLANNER")
        .env_remove("SKYNET_LLM_MODEL")
        .env_remove("SKYNET_LLM_API_KEY")
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run skynet"))
        .await
        .expect("join");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    assert!(
        !run.stdout.contains(FAKE_KEY) && !run.stderr.contains(FAKE_KEY),
        "the key leaked: {}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_with_the_llm_planner_shows_planner_and_usage() {
    let sb = Sandbox::new();
    let server = serve(200, "plan_multi_step.json").await;
    let r = skynet(
        &sb,
        &server,
        &[
            "plan",
            "--planner",
            "llm",
            "check the repo and leave a note",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("(WRITE, by llm:openai:gpt-4o-mini planner)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("model openai:gpt-4o-mini: 812 tokens in, 95 out, about $"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("$ grep -c TODO README.md"),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_keeps_rule_plans_local() {
    let sb = Sandbox::new();
    let server = serve(200, "plan_multi_step.json").await;
    let r = skynet(&sb, &server, &["plan", "check git status"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("by rules planner"), "{}", r.stdout);
    assert_eq!(server.received_requests().await.map_or(0, |v| v.len()), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mislabelled_delete_waits_for_approval_and_runs_nothing() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("build")).expect("mkdir");
    let server = serve(200, "inject_mislabelled_delete.json").await;
    let r = skynet(
        &sb,
        &server,
        &["run", "--planner", "llm", "clean the build"],
    )
    .await;
    assert_eq!(r.code, 3, "needs approval: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("[ADMIN] Harmless look at build"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("awaits approval"), "{}", r.stdout);
    assert!(sb.path("build").exists(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_is_a_planning_error_without_the_key() {
    let sb = Sandbox::new();
    let server = serve(401, "error_401.json").await;
    let r = skynet(
        &sb,
        &server,
        &["plan", "--planner", "llm", "do something clever"],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("openai: HTTP 401"), "{}", r.stderr);
    assert!(
        r.stderr.contains("[REDACTED]"),
        "the echoed key is replaced: {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_answers_and_proposes() {
    let sb = Sandbox::new();
    let server = serve(200, "chat_prose.json").await;
    let r = skynet(&sb, &server, &["chat", "hello"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("Hello! I plan and run tasks"),
        "{}",
        r.stdout
    );

    let server = serve(200, "chat_work.json").await;
    let r = skynet(
        &sb,
        &server,
        &["chat", "--json", "delete the build directory"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["job"]["status"], "planned", "{v}");
    assert_eq!(v["job"]["risk"], "ADMIN");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_planner_is_bad_input() {
    let sb = Sandbox::new();
    let server = serve(200, "plan_multi_step.json").await;
    let r = skynet(&sb, &server, &["plan", "--planner", "oracle", "x"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("rules, llm or auto"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_without_a_message_reads_turns_from_stdin() {
    let sb = Sandbox::new();
    let server = serve(200, "chat_prose.json").await;
    let mut cmd = sb.cmd();
    cmd.env("SKYNET_LLM_PROVIDER", "openai")
        .env("SKYNET_LLM_BASE_URL", format!("{}/v1", server.uri()))
        .env("OPENAI_API_KEY", FAKE_KEY)
        .arg("chat")
        .write_stdin("hello\n\nwhat else?\nquit\nnot read\n");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.matches("Hello! I plan and run tasks").count(),
        2,
        "{stdout}"
    );
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2, "blank lines skipped, quit ends");
    let second: serde_json::Value = requests[1].body_json().expect("json");
    assert_eq!(
        second["messages"].as_array().map(Vec::len),
        Some(4),
        "history carried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_from_stdin_exits_non_zero_when_a_turn_failed() {
    let sb = Sandbox::new();
    // The model answers every turn with a server error (local server).
    let server = serve(500, "error_500.json").await;
    let mut cmd = sb.cmd();
    cmd.env("SKYNET_LLM_PROVIDER", "openai")
        .env("SKYNET_LLM_BASE_URL", format!("{}/v1", server.uri()))
        .env("OPENAI_API_KEY", FAKE_KEY)
        .env("SKYNET_LLM_MAX_RETRIES", "0")
        .arg("chat")
        .write_stdin("hello\nagain\n");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("error:").count(),
        2,
        "each turn reported: {stdout}"
    );
    assert_ne!(out.status.code(), Some(0), "a failed turn is not a success");

    // Without a model every turn would fail: it stops at once and says what to set.
    let mut cmd = sb.cmd();
    cmd.env_remove("SKYNET_LLM_PROVIDER")
        .env_remove("OPENAI_API_KEY")
        .arg("chat")
        .write_stdin("hello\nagain\n");
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SKYNET_LLM_PROVIDER"), "{stderr}");
}
