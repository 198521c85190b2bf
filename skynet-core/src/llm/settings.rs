//! Which model to talk to and how: provider, model, base URL, key, limits.

use super::{ApiKey, HttpOptions};
use crate::{Error, Result};
use serde::Deserialize;

/// The wire format (and defaults) to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI Chat Completions (also vLLM, llama.cpp server, LM Studio
    /// through `base_url`).
    OpenAi,
    /// Ollama's OpenAI-compatible endpoint; no key needed.
    Ollama,
    /// Google Gemini `generateContent`.
    Gemini,
    /// Anthropic Messages.
    Anthropic,
}

impl ProviderKind {
    /// Parse `openai`, `ollama`, `gemini` or `anthropic`.
    pub fn parse(text: &str) -> Result<ProviderKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "openai" | "openai-compatible" => Ok(ProviderKind::OpenAi),
            "ollama" => Ok(ProviderKind::Ollama),
            "gemini" | "google" => Ok(ProviderKind::Gemini),
            "anthropic" | "claude" => Ok(ProviderKind::Anthropic),
            other => Err(Error::Config(format!(
                "LLM provider {other:?} is unknown; use openai, ollama, gemini or anthropic"
            ))),
        }
    }

    /// The name used in plans and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    fn default_model(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "gpt-4o-mini",
            ProviderKind::Ollama => "llama3.2",
            ProviderKind::Gemini => "gemini-2.5-flash",
            ProviderKind::Anthropic => "claude-3-5-haiku-latest",
        }
    }

    fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Ollama => "http://localhost:11434/v1",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
            ProviderKind::Anthropic => "https://api.anthropic.com/v1",
        }
    }

    /// Environment variables that may hold the key, in order of preference.
    pub fn key_vars(self) -> &'static [&'static str] {
        match self {
            ProviderKind::OpenAi => &["SKYNET_LLM_API_KEY", "OPENAI_API_KEY"],
            ProviderKind::Ollama => &["SKYNET_LLM_API_KEY", "OLLAMA_API_KEY"],
            ProviderKind::Gemini => &["SKYNET_LLM_API_KEY", "GOOGLE_AI_API_KEY", "GEMINI_API_KEY"],
            ProviderKind::Anthropic => &["SKYNET_LLM_API_KEY", "ANTHROPIC_API_KEY"],
        }
    }
}

/// Everything an adapter needs. `Debug` never shows the key.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// Wire format.
    pub provider: ProviderKind,
    /// Model name.
    pub model: String,
    /// API base, e.g. `http://localhost:11434/v1` (no trailing slash needed).
    pub base_url: String,
    /// The key (required except for Ollama).
    pub api_key: Option<ApiKey>,
    /// Timeout, size cap, retries.
    pub http: HttpOptions,
    /// Tokens LLM planning may use per UTC day (none = unlimited).
    pub daily_token_budget: Option<u64>,
    /// Price override in US dollars per million input / output tokens.
    pub price_per_mtok: Option<(f64, f64)>,
}

impl LlmSettings {
    /// Settings for `provider` with its default model and base URL, no key.
    pub fn new(provider: ProviderKind) -> Self {
        LlmSettings {
            provider,
            model: provider.default_model().into(),
            base_url: provider.default_base_url().into(),
            api_key: None,
            http: HttpOptions::default(),
            daily_token_budget: None,
            price_per_mtok: None,
        }
    }

    /// Set the base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Set the model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Set the key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// The key, or a configuration error naming the variables to set.
    pub(crate) fn require_key(&self) -> Result<&ApiKey> {
        self.api_key.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "the {} LLM provider needs an API key: set {}",
                self.provider.as_str(),
                self.provider.key_vars()[1..].join(" or ")
            ))
        })
    }

    /// Whether requests need a key: always for hosted vendors; not for
    /// Ollama or an OpenAI-compatible server at another address (vLLM,
    /// llama.cpp, LM Studio), which send one only if it is set.
    pub fn key_required(&self) -> bool {
        match self.provider {
            ProviderKind::Ollama => false,
            ProviderKind::OpenAi => {
                self.base_url.trim_end_matches('/') == ProviderKind::OpenAi.default_base_url()
            }
            ProviderKind::Gemini | ProviderKind::Anthropic => true,
        }
    }

    /// `base_url` + `/` + `path`.
    #[cfg(feature = "llm")]
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }

    /// The one vendor whose key alone is set (`GOOGLE_AI_API_KEY` →
    /// Gemini, ...), when no provider is named; none when several are.
    fn vendor_by_key(env: &dyn Fn(&str) -> Option<String>) -> Option<ProviderKind> {
        let set = |vars: &[&str]| {
            vars.iter()
                .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()))
        };
        let mut found = [
            ProviderKind::OpenAi,
            ProviderKind::Gemini,
            ProviderKind::Anthropic,
        ]
        .into_iter()
        .filter(|p| set(&p.key_vars()[1..]));
        match (found.next(), found.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// Resolve from the `[llm]` file section and the environment
    /// (environment wins). `None` when no provider is configured and no
    /// single vendor's key is set. The key is not required here: see
    /// [`LlmSettings::missing_key`].
    pub fn load(
        file: &LlmFileSection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<LlmSettings>> {
        let pick = |key: &str, v: &Option<String>| env(key).or_else(|| v.clone());
        let provider = match pick("SKYNET_LLM_PROVIDER", &file.provider) {
            Some(p) => ProviderKind::parse(&p)?,
            None => match Self::vendor_by_key(env) {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let mut s = LlmSettings::new(provider);
        if let Some(m) = pick("SKYNET_LLM_MODEL", &file.model) {
            s.model = m;
        }
        if let Some(u) = pick("SKYNET_LLM_BASE_URL", &file.base_url) {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "LLM base URL {u:?} must start with http:// or https://"
                )));
            }
            s.base_url = u;
        }
        s.api_key = provider
            .key_vars()
            .iter()
            .find_map(|k| env(k).filter(|v| !v.trim().is_empty()))
            .map(|v| ApiKey::new(v.trim()));
        s.http = HttpOptions::load(file, env)?;
        if let Some(n) = pick(
            "SKYNET_LLM_DAILY_TOKENS",
            &file.daily_token_budget.map(|n| n.to_string()),
        ) {
            s.daily_token_budget = Some(number("llm daily_token_budget", &n)?);
        }
        if let (Some(i), Some(o)) = (file.input_price_per_mtok, file.output_price_per_mtok) {
            s.price_per_mtok = Some((i, o));
        }
        Ok(Some(s))
    }

    /// The error naming the key to set, when this model needs one and has
    /// none.
    pub fn missing_key(&self) -> Option<Error> {
        if self.key_required() {
            self.require_key().err()
        } else {
            None
        }
    }
}

impl HttpOptions {
    /// The transport limits of `[llm]` (`timeout`, `max_retries`,
    /// `max_response_bytes`) and their `SKYNET_LLM_*` variables, over the
    /// defaults. The hosted embedders use the same ones.
    pub(crate) fn load(
        file: &LlmFileSection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HttpOptions> {
        let pick = |key: &str, v: Option<String>| env(key).or(v);
        let mut http = HttpOptions::default();
        if let Some(t) = pick("SKYNET_LLM_TIMEOUT", file.timeout.clone()) {
            http.timeout = crate::config::parse_duration("llm timeout", &t)?;
        }
        if let Some(n) = pick(
            "SKYNET_LLM_MAX_RETRIES",
            file.max_retries.map(|n| n.to_string()),
        ) {
            http.retry.max_retries = number("llm max_retries", &n)?;
        }
        if let Some(n) = pick(
            "SKYNET_LLM_MAX_RESPONSE_BYTES",
            file.max_response_bytes.map(|n| n.to_string()),
        ) {
            http.max_response_bytes = number("llm max_response_bytes", &n)?;
        }
        Ok(http)
    }
}

/// The `[llm]` section of `skynet.toml`. Keys are never read from the
/// file: they come from the environment only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFileSection {
    /// `openai`, `ollama`, `gemini` or `anthropic`.
    pub provider: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// API base URL.
    pub base_url: Option<String>,
    /// Per-request timeout, e.g. `60s`.
    pub timeout: Option<String>,
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// Response size cap in bytes.
    pub max_response_bytes: Option<usize>,
    /// Tokens per UTC day.
    pub daily_token_budget: Option<u64>,
    /// Price per million input tokens, US dollars.
    pub input_price_per_mtok: Option<f64>,
    /// Price per million output tokens, US dollars.
    pub output_price_per_mtok: Option<f64>,
}

fn number<T: std::str::FromStr>(what: &str, text: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| Error::Config(format!("{what}: {text:?} is not a number")))
}
