//! `Skynet::chat`: prose answers per vendor, work as a proposal that takes
//! the normal approval path, short history carried between turns.

use crate::support::*;
use serde_json::Value;
use skynet_core::chat::{ChatReply, ChatSession};
use skynet_core::llm::ProviderKind;
use skynet_core::store::JobFilter;
use skynet_core::{Error, JobStatus, RiskLevel, Skynet, SubmitRequest};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

async fn chat_engine(provider: ProviderKind, vendor: &str, name: &str) -> (Skynet, MockServer) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(endpoint(provider)))
        .respond_with(fixture_answer(200, vendor, name))
        .mount(&server)
        .await;
    let sk = Skynet::builder()
        .llm(planner(provider, &server))
        .default_provider("mock")
        .build()
        .await
        .expect("engine");
    (sk, server)
}

#[tokio::test]
async fn prose_answers_from_every_vendor_plan_nothing() {
    for (provider, vendor, expect) in [
        (
            ProviderKind::OpenAi,
            "openai",
            "Hello! I plan and run tasks",
        ),
        (ProviderKind::Gemini, "gemini", "I can check git status"),
        (
            ProviderKind::Anthropic,
            "anthropic",
            "Hi! Tell me what to do",
        ),
    ] {
        let (sk, _server) = chat_engine(provider, vendor, "chat_prose.json").await;
        let (_dir, root) = sandbox();
        let mut session = ChatSession::new(SubmitRequest::default().root(&root));
        let reply = sk
            .chat(&mut session, "hello, what can you do?")
            .await
            .expect("reply");
        let ChatReply::Answer { text, usage } = reply else {
            panic!("{vendor}: expected an answer, got {reply:?}");
        };
        assert!(text.starts_with(expect), "{vendor}: {text}");
        assert!(usage.input_tokens > 0, "{vendor}: usage reported");
        assert!(
            sk.list(&JobFilter::default())
                .await
                .expect("list")
                .is_empty()
        );
        assert_eq!(session.history().len(), 2);
    }
}

#[tokio::test]
async fn a_request_for_work_becomes_a_job_awaiting_approval() {
    let (sk, server) = chat_engine(ProviderKind::OpenAi, "openai", "chat_work.json").await;
    let (_dir, root) = sandbox();
    let mut session = ChatSession::new(SubmitRequest::default().root(&root));
    sk.chat(&mut session, "hi").await.expect("first turn");
    let reply = sk
        .chat(&mut session, "please delete the build directory")
        .await
        .expect("proposal");
    let ChatReply::Proposal { reply, job } = reply else {
        panic!("expected a proposal, got {reply:?}");
    };
    assert!(reply.contains("once you approve"));
    assert_eq!(job.status, JobStatus::Planned);
    assert_eq!(job.risk, RiskLevel::Admin);
    assert_eq!(job.intent, "please delete the build directory");
    let plan = job.plan.clone().expect("plan");
    assert_eq!(plan.steps[0].command.argv, ["rm", "-r", "--", "build"]);
    assert!(plan.steps[0].decision.is_some(), "judged by the policy");
    // The normal approval path: the hash binds, then it queues.
    let wrong = sk.approve(&job.id, "0123456789ab", "tester").await;
    assert!(matches!(wrong, Err(Error::StaleApproval { .. })));
    let queued = sk
        .approve(&job.id, &plan.hash, "tester")
        .await
        .expect("approve");
    assert_eq!(queued.status, JobStatus::Queued);

    // The second request carried the first turn as history.
    let second: Value = server.received_requests().await.expect("recorded")[1]
        .body_json()
        .expect("json");
    let roles: Vec<&str> = second["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert!(session.history()[3].content.contains("[proposed job"));
}

#[tokio::test]
async fn history_is_short() {
    let (sk, _server) = chat_engine(ProviderKind::OpenAi, "openai", "chat_prose.json").await;
    let (_dir, root) = sandbox();
    let mut session = ChatSession::new(SubmitRequest::default().root(&root));
    session.max_history = 4;
    for i in 0..5 {
        sk.chat(&mut session, &format!("message {i}"))
            .await
            .expect("turn");
    }
    assert_eq!(session.history().len(), 4);
    assert_eq!(session.history()[0].content, "message 3");
}

#[tokio::test]
async fn chat_without_a_model_says_how_to_configure_one() {
    let sk = Skynet::builder().build().await.expect("engine");
    let mut session = ChatSession::new(SubmitRequest::default());
    let err = sk.chat(&mut session, "hello").await.expect_err("no model");
    assert!(
        matches!(&err, Error::Config(m) if m.contains("SKYNET_LLM_PROVIDER")),
        "{err}"
    );
}
