//! A good multi-step plan from each vendor, and the request each adapter
//! sends (headers, structured-output mode) checked on the wire.

use crate::support::*;
use serde_json::{Value, json};
use skynet_core::llm::ProviderKind;
use skynet_core::{Action, Planner, RiskLevel};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer};

/// The four-step plan every `plan_multi_step.json` fixture holds.
fn assert_good_plan(plan: &skynet_core::Plan, planner: &str) {
    assert_eq!(plan.planner, planner);
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(
        kinds,
        ["git_status", "read_file", "execute_command", "write_file"]
    );
    assert_eq!(
        plan.steps[1].action,
        Action::ReadFile {
            path: "README.md".into()
        }
    );
    assert_eq!(
        plan.steps[2].command.argv,
        ["grep", "-c", "TODO", "README.md"]
    );
    assert_eq!(plan.steps[3].command.argv, ["tee", "--", "notes.txt"]);
    assert_eq!(plan.steps[3].command.stdin.as_deref(), Some("checked\n"));
    assert_eq!(plan.steps[3].risk, RiskLevel::Write);
    assert_eq!(plan.risk, RiskLevel::Write);
    assert_eq!(plan.hash, plan.compute_hash());
}

/// Plan `intent` with `provider` at `server` and check it is the fixtures'
/// good four-step plan by `planner_name`; the sandbox root comes back too.
async fn good_plan(
    provider: ProviderKind,
    server: &MockServer,
    intent: &str,
    planner_name: &str,
) -> (skynet_core::Plan, std::path::PathBuf) {
    let (_dir, root) = sandbox();
    let plan = planner(provider, server)
        .plan(&request(intent, &root))
        .await
        .expect("plan");
    assert_good_plan(&plan, planner_name);
    (plan, root)
}

#[tokio::test]
async fn openai_chat_completions_multi_step_plan_with_json_schema_mode() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header(
            "authorization",
            format!("Bearer {FAKE_KEY}").as_str(),
        ))
        .and(body_partial_json(json!({
            "model": "gpt-4o-mini",
            "response_format": {"type": "json_schema", "json_schema": {"name": "skynet_plan"}},
        })))
        .respond_with(ok(fixture("openai", "plan_multi_step.json")))
        .expect(1)
        .mount(&server)
        .await;
    let (plan, root) = good_plan(
        ProviderKind::OpenAi,
        &server,
        "check the repo and leave a note",
        "llm:openai:gpt-4o-mini",
    )
    .await;
    let usage = plan.usage.expect("usage recorded on the plan");
    assert_eq!((usage.input_tokens, usage.output_tokens), (812, 95));
    assert_eq!(usage.model, "openai:gpt-4o-mini");
    let cost = usage.estimated_cost_usd.expect("gpt-4o-mini is priced");
    assert!((cost - (812.0 * 0.15 + 95.0 * 0.60) / 1e6).abs() < 1e-12);

    // The prompt carried the catalog, the root and the request.
    let sent: Value = server.received_requests().await.expect("recorded")[0]
        .body_json()
        .expect("json body");
    let system = sent["messages"][0]["content"].as_str().expect("system");
    assert!(system.contains("delete_path(path: string) [ADMIN]"));
    assert!(system.contains(&format!("Sandbox root: {}", root.display())));
    assert_eq!(sent["messages"][1]["role"], "user");
    assert!(
        sent["messages"][1]["content"]
            .as_str()
            .expect("user")
            .contains("check the repo")
    );
}

#[tokio::test]
async fn ollama_speaks_openai_format_without_a_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "llama3.2"})))
        .respond_with(ok(fixture("openai", "plan_multi_step.json")))
        .mount(&server)
        .await;
    let (plan, _) = good_plan(
        ProviderKind::Ollama,
        &server,
        "check the repo",
        "llm:ollama:llama3.2",
    )
    .await;
    assert_eq!(plan.usage.and_then(|u| u.estimated_cost_usd), Some(0.0));
    let sent = &server.received_requests().await.expect("recorded")[0];
    assert!(sent.headers.get("authorization").is_none());
}

#[tokio::test]
async fn gemini_generate_content_multi_step_plan_with_response_schema() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(endpoint(ProviderKind::Gemini)))
        .and(header("x-goog-api-key", FAKE_KEY))
        .and(body_partial_json(json!({
            "generationConfig": {"responseMimeType": "application/json"},
        })))
        .respond_with(ok(fixture("gemini", "plan_multi_step.json")))
        .expect(1)
        .mount(&server)
        .await;
    let (plan, _) = good_plan(
        ProviderKind::Gemini,
        &server,
        "check the repo and leave a note",
        "llm:gemini:gemini-2.5-flash",
    )
    .await;
    let usage = plan.usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (901, 120));
    let sent = &server.received_requests().await.expect("recorded")[0];
    assert!(
        !sent.url.as_str().contains("key="),
        "the key never goes in the URL"
    );
    let body: Value = sent.body_json().expect("json");
    assert_eq!(body["generationConfig"]["responseSchema"]["type"], "OBJECT");
    assert!(body["systemInstruction"]["parts"][0]["text"].is_string());
    assert_eq!(body["contents"][0]["role"], "user");
}

#[tokio::test]
async fn anthropic_messages_multi_step_plan_through_forced_tool_use() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", FAKE_KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_partial_json(json!({
            "model": "claude-3-5-haiku-latest",
            "tool_choice": {"type": "tool", "name": "skynet_plan"},
        })))
        .respond_with(ok(fixture("anthropic", "plan_multi_step.json")))
        .expect(1)
        .mount(&server)
        .await;
    let (plan, _) = good_plan(
        ProviderKind::Anthropic,
        &server,
        "check the repo and leave a note",
        "llm:anthropic:claude-3-5-haiku-latest",
    )
    .await;
    let usage = plan.usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (1024, 180));
    let body: Value = server.received_requests().await.expect("recorded")[0]
        .body_json()
        .expect("json");
    assert!(
        body["system"]
            .as_str()
            .expect("system")
            .contains("git_status")
    );
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
}
