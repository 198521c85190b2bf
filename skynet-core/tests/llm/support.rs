//! Shared helpers: fixtures, a mock vendor server, short limits.

use skynet_core::llm::{HttpOptions, LlmSettings, ProviderKind, RetryPolicy};
use skynet_core::planner::{LlmPlanner, PlanRequest};
use skynet_core::{Error, Plan, Planner, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A fake key; the OpenAI 401 fixture echoes it, as the real API does.
pub const FAKE_KEY: &str = "sk-test-FAKE-0123456789abcdef";

/// A fixture's text.
pub fn fixture(vendor: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llm")
        .join(vendor)
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Short limits so failure cases stay fast.
pub fn fast_http() -> HttpOptions {
    HttpOptions {
        timeout: Duration::from_millis(1500),
        max_response_bytes: 4 * 1024 * 1024,
        retry: RetryPolicy {
            max_retries: 2,
            base: Duration::from_millis(20),
            max_delay: Duration::from_secs(3),
        },
    }
}

/// Settings pointing `provider` at the mock server.
pub fn settings(provider: ProviderKind, server: &MockServer) -> LlmSettings {
    let base = match provider {
        ProviderKind::Gemini => format!("{}/v1beta", server.uri()),
        _ => format!("{}/v1", server.uri()),
    };
    let mut s = LlmSettings::new(provider).base_url(base);
    if provider != ProviderKind::Ollama {
        s = s.api_key(FAKE_KEY);
    }
    s.http = fast_http();
    s
}

/// An LLM planner for `provider` at the mock server.
pub fn planner(provider: ProviderKind, server: &MockServer) -> Arc<LlmPlanner> {
    Arc::new(LlmPlanner::from_settings(&settings(provider, server), None).expect("planner"))
}

/// A sandbox root with a README, canonicalized like the engine does.
pub fn sandbox() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("README.md"), "# demo\nTODO: more\n").expect("readme");
    let root = dir.path().canonicalize().expect("canonical root");
    (dir, root)
}

/// A plan request for `intent` under `root`.
pub fn request(intent: &str, root: &Path) -> PlanRequest {
    PlanRequest {
        intent: intent.into(),
        root: root.to_path_buf(),
        ..Default::default()
    }
}

/// The mock endpoint path for a provider's default model.
pub fn endpoint(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::OpenAi | ProviderKind::Ollama => "/v1/chat/completions",
        ProviderKind::Gemini => "/v1beta/models/gemini-2.5-flash:generateContent",
        ProviderKind::Anthropic => "/v1/messages",
    }
}

/// How many requests the server saw.
pub async fn hits(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// A mock vendor server answering every POST with `answer`.
pub async fn serving(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

/// A 200 answer with this JSON body.
pub fn ok(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

/// A `status` answer whose JSON body is `vendor`'s fixture `name`.
pub fn fixture_answer(status: u16, vendor: &str, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(vendor, name), "application/json")
}

/// Plan the intent "x" with `planner` in a fresh sandbox.
pub async fn plan_x(planner: &dyn Planner) -> Result<Plan> {
    let (_dir, root) = sandbox();
    planner.plan(&request("x", &root)).await
}

/// The message of a planning error (panics on anything else).
pub fn planning_error(result: Result<Plan>) -> String {
    match result {
        Err(Error::Planning(m)) => m,
        other => panic!("expected a planning error, got {other:?}"),
    }
}
