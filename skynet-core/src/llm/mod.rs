//! Language models behind one small trait, [`ChatModel`]: messages in,
//! text (or JSON, when a schema is given) out, token usage reported.
//!
//! Adapters speak each vendor's wire format over `reqwest`:
//! [`openai::OpenAiChat`] (OpenAI-compatible Chat Completions: OpenAI,
//! Ollama, vLLM, llama.cpp server, LM Studio), [`gemini::GeminiChat`]
//! (`generateContent`) and [`anthropic::AnthropicChat`] (Messages). All of
//! them share one transport with a timeout, a response size cap and
//! retries ([`retry`]). A model only ever proposes: what it answers is
//! parsed defensively ([`extract`]) and judged by the policy like any plan.

#[cfg(feature = "llm")]
pub mod anthropic;
pub mod budget;
pub mod extract;
#[cfg(feature = "llm")]
pub mod gemini;
#[cfg(feature = "llm")]
pub(crate) mod http;
#[cfg(feature = "llm")]
pub mod openai;
pub mod pricing;
pub mod retry;
pub mod settings;

pub use budget::TokenBudget;
pub use retry::RetryPolicy;
pub use settings::{LlmSettings, ProviderKind};

use crate::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A JSON schema the answer must follow, for vendors with a structured
/// output mode. The answer is validated again after parsing either way.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema {
    /// Schema name (OpenAI wants one; `[a-zA-Z0-9_-]`).
    pub name: String,
    /// The schema, in the JSON Schema subset every vendor accepts
    /// (object/array/string/integer/boolean, `properties`, `required`,
    /// `enum`).
    pub schema: serde_json::Value,
}

/// What a model is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// Instructions that frame the conversation.
    pub system: String,
    /// The conversation, oldest first; the last one is the user's.
    pub messages: Vec<Message>,
    /// Ask for JSON following this schema.
    pub schema: Option<JsonSchema>,
    /// Longest answer, in tokens.
    pub max_tokens: u32,
}

/// Tokens a request used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Prompt plus answer tokens.
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The answer text (JSON text when a schema was asked for and honoured).
    pub text: String,
    /// Tokens used.
    pub usage: Usage,
    /// Why the model stopped, as the vendor says it (`stop`, `length`, ...).
    pub finish_reason: Option<String>,
}

/// A chat model. Implementations report failures as
/// [`crate::Error::Planning`] with a message that says what to do, and
/// never put the API key in any message.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Vendor name (`openai`, `ollama`, `gemini`, `anthropic`, ...).
    fn provider(&self) -> &str;
    /// Model name as the vendor knows it.
    fn model(&self) -> &str;
    /// Send one request (retrying where that is safe) and return the answer.
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse>;
}

/// An API key. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wrap a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::redact::REDACTED)
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::redact::REDACTED)
    }
}

/// Transport limits shared by every adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Whole-request time limit, connect to last byte (default 60 s).
    pub timeout: Duration,
    /// Largest response body read, in bytes (default 4 MiB).
    pub max_response_bytes: usize,
    /// When and how long to wait before trying again.
    pub retry: RetryPolicy,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            max_response_bytes: 4 * 1024 * 1024,
            retry: RetryPolicy::default(),
        }
    }
}

/// Build the chat model these settings name.
#[cfg(feature = "llm")]
pub fn connect(settings: &LlmSettings) -> Result<Arc<dyn ChatModel>> {
    let model: Arc<dyn ChatModel> = match settings.provider {
        ProviderKind::OpenAi | ProviderKind::Ollama => Arc::new(openai::OpenAiChat::new(settings)?),
        ProviderKind::Gemini => Arc::new(gemini::GeminiChat::new(settings)?),
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicChat::new(settings)?),
    };
    Ok(model)
}

/// Build the chat model these settings name: this build has no `llm`
/// feature, so there is no client to build (a [`ChatModel`] of one's own
/// still plans through [`crate::planner::LlmPlanner::new`]).
#[cfg(not(feature = "llm"))]
pub fn connect(settings: &LlmSettings) -> Result<Arc<dyn ChatModel>> {
    Err(crate::provider::feature_missing(
        &format!(
            "the {} LLM provider is configured",
            settings.provider.as_str()
        ),
        "llm",
    ))
}

/// Longest quotation of a model's answer (in an error message, or a
/// description or summary kept from it), in chars.
const MAX_QUOTED: usize = 300;

/// `text` on one line, shortened, for quoting in an error message or
/// keeping as a description.
pub(crate) fn quote_for_error(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    match trimmed.char_indices().nth(MAX_QUOTED) {
        Some((i, _)) => format!("{}...", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}
