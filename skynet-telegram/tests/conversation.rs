//! Conversation through the bot, against the local fake Bot API server and
//! a local model server speaking OpenAI's chat-completions wire format
//! (wiremock serving the recorded fixtures skynet-core's LLM tests use).

mod support;

use serde_json::Value;
use skynet_core::JobStatus;
use skynet_core::llm::{LlmSettings, ProviderKind};
use skynet_core::planner::LlmPlanner;
use skynet_core::store::JobFilter;
use std::sync::Arc;
use support::*;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../skynet-core/tests/fixtures/llm/openai")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Seven small-talk turns, then a request for work: the model sees the
/// personality and the chat's last 10 messages; the work comes back as a
/// plan with Approve / Deny buttons and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_conversation_with_a_local_model_keeps_ten_messages_and_proposes_a_plan() {
    let model = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("please delete the build directory"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("chat_work.json"), "application/json"),
        )
        .with_priority(1)
        .mount(&model)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("chat_prose.json"), "application/json"),
        )
        .with_priority(5)
        .mount(&model)
        .await;
    let settings = LlmSettings::new(ProviderKind::OpenAi)
        .base_url(format!("{}/v1", model.uri()))
        .api_key("sk-test-FAKE-0123456789abcdef");
    let llm = Arc::new(LlmPlanner::from_settings(&settings, None).expect("planner"));
    let h = Harness::with(|b| b.llm(llm)).await;
    for i in 0..7 {
        h.fake
            .push(text_update(APPROVER, &format!("small talk {i}")));
        h.fake
            .until("the answer", |f| {
                Some(()).filter(|_| f.messages(APPROVER).len() == i + 1)
            })
            .await;
    }
    assert!(
        h.fake.messages(APPROVER)[0]
            .text
            .starts_with("Hello! I plan and run tasks"),
        "{:?}",
        h.fake.messages(APPROVER)[0].text
    );
    h.fake
        .push(text_update(APPROVER, "please delete the build directory"));
    let plan = h.message_with(APPROVER, "Plan hash").await;
    h.message_with(APPROVER, "once you approve").await;
    assert!(Harness::buttons(&plan).is_some(), "work needs approval");
    assert!(plan.text.contains("[ADMIN]"), "{}", plan.text);
    assert!(plan.text.contains("rm -r -- build"), "{}", plan.text);
    let jobs = h.sk.list(&JobFilter::default()).await.expect("list");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Planned, "nothing ran");
    assert_eq!(jobs[0].principal.as_str(), format!("telegram:{APPROVER}"));

    let requests = model.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 8);
    let last: Value = requests[7].body_json().expect("json");
    let messages = last["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 12, "system + 10 remembered + the new one");
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().expect("system");
    assert!(
        system.starts_with("You are SKYNET in a Telegram chat"),
        "{system}"
    );
    assert_eq!(
        messages[1]["content"], "small talk 2",
        "the oldest turns dropped"
    );
    assert_eq!(messages[11]["content"], "please delete the build directory");
}

/// A viewer may not chat (a conversation can propose work).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_a_viewer_cannot_chat() {
    let h = Harness::start().await;
    h.fake.push(text_update(VIEWER, "please delete everything"));
    h.message_with(VIEWER, "`submit`").await;
    assert!(
        h.sk.list(&JobFilter::default())
            .await
            .expect("list")
            .is_empty()
    );
}
