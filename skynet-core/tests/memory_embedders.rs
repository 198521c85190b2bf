//! Remote embedders against a local HTTP server (wiremock) speaking each
//! vendor's documented format: OpenAI-compatible `POST /v1/embeddings`
//! (`{"model", "input": [..]}` → `{"data": [{"index", "embedding"}]}`) and
//! Gemini `models/{model}:embedContent` (`{"content": {"parts": [{"text"}]}}`
//! → `{"embedding": {"values": [..]}}`). No test reaches the internet.

use serde_json::json;
use skynet_core::Error;
use skynet_core::llm::{LlmSettings, ProviderKind};
use skynet_core::memory::{Embedder, GeminiEmbedder, OpenAiEmbedder};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-embedding-key-123";

fn settings(kind: ProviderKind, server: &MockServer, base: &str, model: &str) -> LlmSettings {
    LlmSettings::new(kind)
        .base_url(format!("{}{base}", server.uri()))
        .model(model)
        .api_key(KEY)
}

#[tokio::test]
async fn openai_compatible_embeddings_are_read_in_index_order_and_normalised() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [0.0, 3.0, 4.0]},
                {"object": "embedding", "index": 0, "embedding": [2.0, 0.0, 0.0]}
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 2, "total_tokens": 2}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(
        &settings(
            ProviderKind::OpenAi,
            &server,
            "/v1",
            "text-embedding-3-small",
        ),
        3,
    )
    .expect("embedder");
    assert_eq!(e.model_id(), "openai:text-embedding-3-small:3");
    let v = e.embed(&["a".into(), "b".into()]).await.expect("embed");
    assert_eq!(v, vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]]);
}

#[tokio::test]
async fn a_wrong_dimension_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"index": 0, "embedding": [1.0, 0.0]}]
        })))
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(&settings(ProviderKind::OpenAi, &server, "/v1", "m"), 384)
        .expect("embedder");
    let err = e.embed(&["a".into()]).await.expect_err("wrong dimension");
    assert!(err.to_string().contains("2 dimensions, 384"), "{err}");
}

#[tokio::test]
async fn a_refused_key_never_appears_in_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error"}
        })))
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(&settings(ProviderKind::OpenAi, &server, "/v1", "m"), 3)
        .expect("embedder");
    let err = e.embed(&["a".into()]).await.expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains(KEY), "{err}");
}

#[tokio::test]
async fn gemini_embed_content_is_one_request_per_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/text-embedding-004:embedContent"))
        .and(header("x-goog-api-key", KEY))
        .and(body_partial_json(
            json!({"content": {"parts": [{"text": "hello"}]}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "embedding": {"values": [0.0, 0.0, 5.0]}
        })))
        .expect(2)
        .mount(&server)
        .await;
    let e = GeminiEmbedder::new(
        &settings(
            ProviderKind::Gemini,
            &server,
            "/v1beta",
            "text-embedding-004",
        ),
        3,
    )
    .expect("embedder");
    assert_eq!(e.model_id(), "gemini:text-embedding-004:3");
    let v = e
        .embed(&["hello".into(), "hello".into()])
        .await
        .expect("embed");
    assert_eq!(v, vec![vec![0.0, 0.0, 1.0]; 2]);
    let no_key = LlmSettings::new(ProviderKind::Gemini).base_url(server.uri());
    assert!(matches!(
        GeminiEmbedder::new(&no_key, 3),
        Err(Error::Config(_))
    ));
}
