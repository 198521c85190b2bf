//! Remote embedders against a local HTTP server (wiremock) speaking each
//! vendor's documented format: OpenAI-compatible `POST /v1/embeddings`
//! (`{"model", "input": [..]}` → `{"data": [{"index", "embedding"}]}`) and
//! Gemini `models/{model}:embedContent` (`{"content": {"parts": [{"text"}]}}`
//! → `{"embedding": {"values": [..]}}`). No test reaches the internet.
//!
//! The local all-MiniLM-L6-v2 embedder (feature `minilm`) runs the real
//! model from `SKYNET_TEST_MINILM_DIR` (scripts/services.d/25-minilm.sh
//! fetches it); those tests skip, and say so, when it is unset.

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

/// A `Skynet` built from settings that choose a hosted embedder
/// (`[embedder] kind = "openai"` / `"gemini"`), storing and searching
/// memories against a local HTTP server speaking that vendor's documented
/// wire format: OpenAI `POST /v1/embeddings` with a bearer token, Gemini
/// `POST /v1beta/models/{model}:embedContent` with `x-goog-api-key`. The
/// server embeds each text with a small hashing embedder, so the ranking
/// has something to find.
mod configured {
    use serde_json::{Value, json};
    use skynet_core::config::Settings;
    use skynet_core::memory::{MemoryOutcome, MemoryType, NewMemory, SearchQuery};
    use skynet_core::{Error, Skynet};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    const KEY: &str = "sk-configured-embedder-key-456";

    /// The vendors' wire formats, each with its server side.
    #[derive(Clone, Copy, Debug)]
    enum Vendor {
        OpenAi,
        Gemini,
    }

    impl Vendor {
        fn kind(self) -> &'static str {
            match self {
                Vendor::OpenAi => "openai",
                Vendor::Gemini => "gemini",
            }
        }
        fn model(self) -> &'static str {
            match self {
                Vendor::OpenAi => "text-embedding-3-small",
                Vendor::Gemini => "gemini-embedding-001",
            }
        }
        fn base(self) -> &'static str {
            match self {
                Vendor::OpenAi => "/v1",
                Vendor::Gemini => "/v1beta",
            }
        }
        fn path(self) -> String {
            match self {
                Vendor::OpenAi => "/v1/embeddings".into(),
                Vendor::Gemini => format!("/v1beta/models/{}:embedContent", self.model()),
            }
        }
        fn key_var(self) -> &'static str {
            match self {
                Vendor::OpenAi => "OPENAI_API_KEY",
                Vendor::Gemini => "GOOGLE_AI_API_KEY",
            }
        }

        /// The texts a request asks to embed, after checking its headers
        /// and body are as the vendor documents them.
        fn texts(self, req: &Request) -> Vec<String> {
            let body: Value = serde_json::from_slice(&req.body).expect("a JSON body");
            let header = |name: &str| {
                req.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            assert_eq!(header("content-type").as_deref(), Some("application/json"));
            match self {
                Vendor::OpenAi => {
                    assert_eq!(header("authorization"), Some(format!("Bearer {KEY}")));
                    assert_eq!(header("x-goog-api-key"), None);
                    assert_eq!(body["model"], self.model(), "{body}");
                    body["input"]
                        .as_array()
                        .expect("`input` is an array of texts")
                        .iter()
                        .map(|t| t.as_str().expect("a text").to_string())
                        .collect()
                }
                Vendor::Gemini => {
                    assert_eq!(header("x-goog-api-key").as_deref(), Some(KEY));
                    assert_eq!(header("authorization"), None);
                    assert_eq!(body["model"], format!("models/{}", self.model()), "{body}");
                    // What the client asks for; a server may answer
                    // another length (the mismatch case below).
                    assert!(body["outputDimensionality"].is_u64(), "{body}");
                    let parts = body["content"]["parts"].as_array().expect("parts");
                    assert_eq!(parts.len(), 1, "{body}");
                    vec![parts[0]["text"].as_str().expect("a text").to_string()]
                }
            }
        }

        /// The vendor's answer carrying these vectors.
        fn answer(self, vectors: Vec<Vec<f32>>) -> Value {
            match self {
                Vendor::OpenAi => json!({
                    "object": "list",
                    "data": vectors.into_iter().enumerate().map(|(i, v)| json!({
                        "object": "embedding", "index": i, "embedding": v
                    })).collect::<Vec<_>>(),
                    "model": self.model(),
                    "usage": {"prompt_tokens": 1, "total_tokens": 1}
                }),
                Vendor::Gemini => json!({"embedding": {"values": vectors[0]}}),
            }
        }

        /// The vendor's documented error body for a refused key (which
        /// quotes the key back, so redaction has something to hide).
        fn refusal(self) -> ResponseTemplate {
            match self {
                Vendor::OpenAi => ResponseTemplate::new(401).set_body_json(json!({
                    "error": {
                        "message": format!("Incorrect API key provided: {KEY}."),
                        "type": "invalid_request_error", "param": null,
                        "code": "invalid_api_key"
                    }
                })),
                // Google's documented answer, with the key echoed into
                // its message as OpenAI's does.
                Vendor::Gemini => ResponseTemplate::new(400).set_body_json(json!({
                    "error": {
                        "code": 400,
                        "message": format!("API key not valid ({KEY}). Please pass a valid API key."),
                        "status": "INVALID_ARGUMENT",
                        "details": [{
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                            "metadata": {"service": "generativelanguage.googleapis.com"}
                        }]
                    }
                })),
            }
        }
    }

    /// A server that embeds texts into `dimension` (changeable) floats.
    async fn server(vendor: Vendor, dimension: Arc<AtomicUsize>) -> MockServer {
        let server = MockServer::start().await;
        mount_embedder(&server, vendor, dimension).await;
        server
    }

    async fn mount_embedder(server: &MockServer, vendor: Vendor, dimension: Arc<AtomicUsize>) {
        Mock::given(method("POST"))
            .and(path(vendor.path()))
            .respond_with(move |req: &Request| {
                let d = dimension.load(Ordering::SeqCst);
                let e = skynet_core::memory::HashEmbedder::with_dimension(d);
                let vectors = vendor.texts(req).iter().map(|t| e.vector(t)).collect();
                ResponseTemplate::new(200).set_body_json(vendor.answer(vectors))
            })
            .mount(server)
            .await;
    }

    fn settings(vendor: Vendor, home: &std::path::Path, base: String, dim: usize) -> Settings {
        let vars = [
            ("SKYNET_EMBEDDER", vendor.kind().to_string()),
            ("SKYNET_EMBED_BASE_URL", base),
            ("SKYNET_EMBED_MODEL", vendor.model().to_string()),
            ("SKYNET_EMBED_DIMENSION", dim.to_string()),
            (vendor.key_var(), KEY.to_string()),
            ("SKYNET_LLM_MAX_RETRIES", "0".to_string()),
        ];
        Settings::load_with(Some(home.into()), move |k: &str| {
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .expect("settings")
    }

    fn note(content: &str) -> NewMemory {
        NewMemory {
            content: content.into(),
            memory_type: Some(MemoryType::TaskExecution),
            metadata: None,
            tags: Vec::new(),
            job_id: None,
            outcome: Some(MemoryOutcome::Success),
            importance: None,
            pinned: false,
        }
    }

    async fn search(sk: &Skynet, query: &str) -> Vec<String> {
        sk.search_memories(&SearchQuery {
            query: query.into(),
            limit: Some(3),
            filter: Default::default(),
        })
        .await
        .expect("search")
        .into_iter()
        .map(|s| s.memory.content)
        .collect()
    }

    /// Stores, searches, refuses (typed, key redacted, nothing stored),
    /// then follows a dimension change through `to_reindex` and a
    /// re-embed.
    async fn round_trip(vendor: Vendor) {
        let dimension = Arc::new(AtomicUsize::new(64));
        let server = server(vendor, dimension.clone()).await;
        let home = tempfile::tempdir().expect("tempdir");
        let base = format!("{}{}", server.uri(), vendor.base());
        let sk = settings(vendor, home.path(), base.clone(), 64)
            .build()
            .await
            .expect("engine");
        let model_id = format!("{}:{}:64", vendor.kind(), vendor.model());
        for content in [
            "check git status in the repository",
            "restart the nginx web server",
            "bake a chocolate cake",
        ] {
            let m = sk.remember(note(content)).await.expect("remember");
            assert_eq!(m.embedding_model.as_deref(), Some(model_id.as_str()));
            assert_eq!(m.embedding.len(), 64);
        }
        let found = search(&sk, "git status").await;
        assert_eq!(found[0], "check git status in the repository", "{found:?}");
        let stats = sk.memory_stats().await.expect("stats");
        assert_eq!(stats.embedder, model_id);
        assert_eq!(stats.to_reindex, Some(0));
        let requests = server.received_requests().await.expect("recorded");
        assert!(!requests.is_empty());
        if let Vendor::Gemini = vendor {
            for r in &requests {
                let body: Value = serde_json::from_slice(&r.body).expect("JSON");
                assert_eq!(body["outputDimensionality"], 64, "{body}");
            }
        }

        // The vendor refuses the key: a typed embedder error, the key
        // redacted, nothing stored.
        server.reset().await;
        Mock::given(method("POST"))
            .and(path(vendor.path()))
            .respond_with(vendor.refusal())
            .mount(&server)
            .await;
        let err = sk
            .remember(note("this memory is refused"))
            .await
            .expect_err("refused");
        match &err {
            Error::Embedder { embedder, message } => {
                assert_eq!(embedder, vendor.kind());
                assert!(message.contains("check the API key"), "{message}");
            }
            other => panic!("expected Error::Embedder, got {other:?}"),
        }
        assert_eq!(err.kind(), skynet_core::ErrorKind::Provider);
        let text = format!("{err} {err:?}");
        assert!(!text.contains(KEY), "the key leaked: {text}");
        assert!(text.contains("[REDACTED]"), "{text}");
        assert_eq!(sk.memory_stats().await.expect("stats").counts.total, 3);
        drop(sk);

        // Back to answering; the configured dimension changes. The stored
        // vectors are another model id's: searches rank them by text
        // alone, stats count them to re-embed, and `reindex` re-embeds.
        server.reset().await;
        mount_embedder(&server, vendor, dimension.clone()).await;
        let sk = settings(vendor, home.path(), base.clone(), 32)
            .build()
            .await
            .expect("engine");
        // Configured for 32 while the server still makes 64: refused
        // clearly, nothing stored.
        let err = sk.remember(note("wrong size")).await.expect_err("mismatch");
        assert!(
            matches!(&err, Error::Embedder { message, .. }
                if message.contains("answered 64 dimensions, 32 were configured")
                    && message.contains("SKYNET_EMBED_DIMENSION")
                    && message.contains("skynet memory reindex")),
            "{err}"
        );
        assert_eq!(sk.memory_stats().await.expect("stats").counts.total, 3);
        dimension.store(32, Ordering::SeqCst);
        assert_eq!(sk.memory_stats().await.expect("stats").to_reindex, Some(3));
        let found = search(&sk, "nginx").await;
        assert_eq!(found[0], "restart the nginx web server", "{found:?}");
        let report = sk.reindex_memories(None, |_| {}).await.expect("reindex");
        assert_eq!(report.reembedded, 3);
        assert_eq!(
            report.model,
            format!("{}:{}:32", vendor.kind(), vendor.model())
        );
        assert_eq!(sk.memory_stats().await.expect("stats").to_reindex, Some(0));
        let found = search(&sk, "git status").await;
        assert_eq!(found[0], "check git status in the repository", "{found:?}");
        let all = sk.memories(&Default::default(), 10).await.expect("list");
        assert!(all.iter().all(|m| m.embedding.len() == 32));
    }

    #[tokio::test]
    async fn a_skynet_configured_with_kind_openai_remembers_over_the_openai_wire_format() {
        round_trip(Vendor::OpenAi).await;
    }

    #[tokio::test]
    async fn a_skynet_configured_with_kind_gemini_remembers_over_the_gemini_wire_format() {
        round_trip(Vendor::Gemini).await;
    }
}

#[cfg(feature = "minilm")]
#[path = "service/mod.rs"]
mod service;

#[cfg(feature = "minilm")]
mod minilm {
    use super::service::service_var;
    use skynet_core::config::{EmbedderChoice, Settings};
    use skynet_core::memory::{
        Embedder, MemoryOutcome, MemoryType, MiniLmEmbedder, NewMemory, SearchQuery, cosine,
    };
    use skynet_core::{Error, Skynet};
    use std::path::Path;
    use std::sync::{Arc, OnceLock};

    /// The model, loaded once per test binary; `None` (after saying so)
    /// when `SKYNET_TEST_MINILM_DIR` is unset.
    fn model(test: &str) -> Option<MiniLmEmbedder> {
        static MODEL: OnceLock<MiniLmEmbedder> = OnceLock::new();
        let dir = service_var(test, "SKYNET_TEST_MINILM_DIR")?;
        Some(
            MODEL
                .get_or_init(|| MiniLmEmbedder::load(&dir).expect("the MiniLM model loads"))
                .clone(),
        )
    }

    async fn embed(m: &MiniLmEmbedder, texts: &[&str]) -> Vec<Vec<f32>> {
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        m.embed(&texts).await.expect("embed")
    }

    #[tokio::test]
    async fn minilm_vectors_are_unit_384_and_paraphrases_score_far_above_unrelated() {
        let Some(m) =
            model("minilm_vectors_are_unit_384_and_paraphrases_score_far_above_unrelated")
        else {
            return;
        };
        assert_eq!(m.model_id(), "sentence-transformers/all-MiniLM-L6-v2");
        assert_eq!(m.dimension(), 384);
        let v = embed(
            &m,
            &[
                "check git status",
                "show the repo status",
                "bake a chocolate cake",
                "A man is eating food.",
                "A man is eating a piece of bread.",
                "A man is riding a horse.",
            ],
        )
        .await;
        for x in &v {
            assert_eq!(x.len(), 384);
            let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        }
        let para = cosine(&v[0], &v[1]);
        let unrelated = cosine(&v[0], &v[2]);
        let food = cosine(&v[3], &v[4]);
        let horse = cosine(&v[3], &v[5]);
        eprintln!(
            "cosines: git/repo {para:.4}, git/cake {unrelated:.4}, food/bread {food:.4}, food/horse {horse:.4}"
        );
        assert!(para > 0.5, "paraphrase cosine {para}");
        assert!(unrelated < 0.2, "unrelated cosine {unrelated}");
        assert!(
            food > horse + 0.2,
            "food/bread {food} vs food/horse {horse}"
        );
        // sentence-transformers' own published similarities for this model
        // (its usage guide: 0.6660, 0.1046, 0.1411, printed to 4 places).
        let w = embed(
            &m,
            &[
                "The weather is lovely today.",
                "It's so sunny outside!",
                "He drove to the stadium.",
            ],
        )
        .await;
        for ((i, j), want) in [((0, 1), 0.6660f32), ((0, 2), 0.1046), ((1, 2), 0.1411)] {
            let got = cosine(&w[i], &w[j]);
            assert!(
                (got - want).abs() < 1e-3,
                "cosine({i}, {j}) = {got}, reference {want}"
            );
        }
        // Empty text still embeds ([CLS] [SEP]) to a unit vector.
        let e = embed(&m, &[""]).await;
        let norm = e[0].iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(m.embed(&[]).await.expect("nothing").is_empty());
    }

    #[tokio::test]
    async fn minilm_a_padded_batch_gives_the_vectors_of_one_by_one() {
        let Some(m) = model("minilm_a_padded_batch_gives_the_vectors_of_one_by_one") else {
            return;
        };
        // Different lengths (so the short ones are padded), one cut at 256
        // word pieces, and more than one internal batch of 32.
        let long = "deploy the service to the staging cluster and watch the logs ".repeat(40);
        let mut texts: Vec<String> = vec![
            "ls".into(),
            "check git status".into(),
            long.clone(),
            "restart nginx on the web servers after the certificate renewal".into(),
        ];
        texts.extend((0..33).map(|i| format!("job number {i} ran the nightly backup")));
        let batch = m.embed(&texts).await.expect("batch");
        assert_eq!(batch.len(), texts.len());
        for (text, b) in texts.iter().zip(&batch) {
            let one = m.embed(std::slice::from_ref(text)).await.expect("one");
            let diff = one[0]
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "{text:.40}: batch and single differ by {diff}");
        }
        // Past 256 word pieces nothing more is read.
        let longer = format!("{long} and then bake a chocolate cake");
        let v = embed(&m, &[&long, &longer]).await;
        assert!(cosine(&v[0], &v[1]) > 0.99999);
    }

    #[tokio::test]
    async fn minilm_memory_search_finds_the_paraphrased_run_above_unrelated_ones() {
        let Some(m) = model("minilm_memory_search_finds_the_paraphrased_run_above_unrelated_ones")
        else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let sk = Skynet::builder()
            .database_url(format!(
                "sqlite://{}",
                dir.path().join("skynet.db").display()
            ))
            .embedder(Arc::new(m))
            .build()
            .await
            .expect("engine");
        let run = |content: &str| NewMemory {
            content: content.into(),
            memory_type: Some(MemoryType::TaskExecution),
            metadata: None,
            tags: Vec::new(),
            job_id: None,
            outcome: Some(MemoryOutcome::Success),
            importance: None,
            pinned: false,
        };
        for content in [
            "show the weather forecast for tomorrow",
            "bake a chocolate cake",
            "check git status",
            "restart the nginx web server",
            "list the files in the home directory",
        ] {
            let stored = sk.remember(run(content)).await.expect("remember");
            assert_eq!(
                stored.embedding_model.as_deref(),
                Some("sentence-transformers/all-MiniLM-L6-v2")
            );
            assert_eq!(stored.embedding.len(), 384);
        }
        let found = sk
            .search_memories(&SearchQuery {
                query: "show the repo status".into(),
                limit: Some(5),
                filter: Default::default(),
            })
            .await
            .expect("search");
        let order: Vec<(&str, f64)> = found
            .iter()
            .map(|s| (s.memory.content.as_str(), s.parts.similarity))
            .collect();
        eprintln!("ranking: {order:?}");
        assert_eq!(order[0].0, "check git status", "{order:?}");
        // By meaning alone too: the git run is the nearest vector by far.
        assert!(
            order[1..].iter().all(|(_, sim)| *sim < order[0].1 - 0.2),
            "{order:?}"
        );
        assert_eq!(
            sk.memory_stats().await.expect("stats").embedder,
            "sentence-transformers/all-MiniLM-L6-v2"
        );
    }

    #[tokio::test]
    async fn minilm_is_chosen_by_its_model_directory_in_settings() {
        let Some(dir) = service_var(
            "minilm_is_chosen_by_its_model_directory_in_settings",
            "SKYNET_TEST_MINILM_DIR",
        ) else {
            return;
        };
        let home = tempfile::tempdir().expect("tempdir");
        let env = |d: String| move |k: &str| (k == "SKYNET_EMBED_MODEL_DIR").then(|| d.clone());
        let s = Settings::load_with(Some(home.path().into()), env(dir.clone())).expect("load");
        assert_eq!(
            s.embedder,
            EmbedderChoice::MiniLm {
                model_dir: dir.into()
            }
        );
        let sk = s.build().await.expect("engine");
        assert_eq!(
            sk.memory_stats().await.expect("stats").embedder,
            "sentence-transformers/all-MiniLM-L6-v2"
        );
        // A directory that is not there fails the start, saying what to do.
        let missing = home.path().join("no-model").display().to_string();
        let s = Settings::load_with(Some(home.path().into()), env(missing)).expect("load");
        match s.build().await {
            Err(Error::Config(msg)) => assert!(msg.contains("SKYNET_EMBED_MODEL_DIR"), "{msg}"),
            other => panic!(
                "expected a configuration error, got {:?}",
                other.map(|_| ())
            ),
        }
    }

    fn config_error(dir: &Path) -> String {
        match MiniLmEmbedder::load(dir) {
            Err(Error::Config(msg)) => msg,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn minilm_missing_or_broken_model_files_are_configuration_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let msg = config_error(&dir.path().join("absent"));
        assert!(
            msg.contains("does not exist") && msg.contains("SKYNET_EMBED_MODEL_DIR"),
            "{msg}"
        );
        let msg = config_error(dir.path());
        assert!(msg.contains("has no config.json"), "{msg}");
        std::fs::write(dir.path().join("config.json"), "{not json").expect("write");
        let msg = config_error(dir.path());
        assert!(
            msg.contains("config.json") && msg.contains("replace it"),
            "{msg}"
        );
        // Another BERT's shape is refused, not mislabelled as MiniLM.
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"hidden_size": 768, "num_attention_heads": 12, "num_hidden_layers": 12,
                "intermediate_size": 3072, "max_position_embeddings": 512, "vocab_size": 30522}"#,
        )
        .expect("write");
        let msg = config_error(dir.path());
        assert!(msg.contains("is not all-MiniLM-L6-v2"), "{msg}");
        let Some(model) = service_var(
            "minilm_missing_or_broken_model_files_are_configuration_errors (the real files)",
            "SKYNET_TEST_MINILM_DIR",
        ) else {
            return;
        };
        for name in ["config.json", "tokenizer.json"] {
            std::fs::copy(Path::new(&model).join(name), dir.path().join(name)).expect("copy");
        }
        let msg = config_error(dir.path());
        assert!(msg.contains("has no model.safetensors"), "{msg}");
        std::fs::write(dir.path().join("model.safetensors"), b"not weights").expect("write");
        let msg = config_error(dir.path());
        assert!(msg.contains("model.safetensors"), "{msg}");
        std::fs::write(dir.path().join("tokenizer.json"), "[]").expect("write");
        let msg = config_error(dir.path());
        assert!(msg.contains("tokenizer.json"), "{msg}");
    }
}
