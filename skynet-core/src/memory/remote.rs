//! Embedders over a vendor's HTTP API, on the LLM adapters' transport
//! (retries, time limit, capped bodies, the key redacted from errors):
//! OpenAI-compatible `POST /embeddings` (OpenAI, Ollama, vLLM) and Gemini
//! `models/{model}:embedContent`. Every failure is an
//! [`Error::Embedder`]; configuration chooses them with `[embedder] kind`
//! (`config/embedder.rs`).

use super::Embedder;
use crate::llm::LlmSettings;
use crate::llm::http::Transport;
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::{Value, json};

/// Vectors from an OpenAI-compatible `/embeddings` endpoint
/// (`settings.base_url`, e.g. `https://…/v1`; the key, if any, as a bearer
/// token).
pub struct OpenAiEmbedder {
    transport: Transport,
    settings: LlmSettings,
    dimension: usize,
    model_id: String,
}

/// Vectors from Gemini's `embedContent` (one request per text).
pub struct GeminiEmbedder {
    transport: Transport,
    settings: LlmSettings,
    dimension: usize,
    model_id: String,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for GeminiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiEmbedder")
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

/// The LLM clients' transport, with the key redacted from its errors and
/// the embedder's settings named in its hints.
fn transport(vendor: &'static str, settings: &LlmSettings) -> Result<Transport> {
    let keys = settings.api_key.iter().map(|k| k.expose().to_string());
    Ok(
        Transport::new(vendor, settings.http.clone(), keys)?.model_settings(
            "SKYNET_EMBED_MODEL and SKYNET_EMBED_BASE_URL ([embedder] model, base_url)",
        ),
    )
}

impl OpenAiEmbedder {
    /// An embedder of `settings.model` answering vectors of `dimension`.
    pub fn new(settings: &LlmSettings, dimension: usize) -> Result<Self> {
        Ok(OpenAiEmbedder {
            transport: transport("openai-embeddings", settings)?,
            model_id: format!("openai:{}:{dimension}", settings.model),
            settings: settings.clone(),
            dimension,
        })
    }
}

impl GeminiEmbedder {
    /// An embedder of `settings.model` answering vectors of `dimension`
    /// (a key is required).
    pub fn new(settings: &LlmSettings, dimension: usize) -> Result<Self> {
        settings.require_key()?;
        Ok(GeminiEmbedder {
            transport: transport("gemini-embeddings", settings)?,
            model_id: format!("gemini:{}:{dimension}", settings.model),
            settings: settings.clone(),
            dimension,
        })
    }
}

/// A vector of `expected` floats from a JSON array, normalised.
fn vector(values: Option<&Value>, expected: usize, vendor: &str) -> Result<Vec<f32>> {
    let values = values
        .and_then(Value::as_array)
        .ok_or_else(|| embedding_error(vendor, "the answer carries no embedding array".into()))?;
    let mut v = values
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect::<Option<Vec<f32>>>()
        .ok_or_else(|| embedding_error(vendor, "an embedding value is not a number".into()))?;
    if v.len() != expected {
        return Err(embedding_error(
            vendor,
            format!(
                "the model answered {} dimensions, {expected} were configured; set \
                 SKYNET_EMBED_DIMENSION ([embedder] dimension) to the dimension the model \
                 makes, then run `skynet memory reindex`",
                v.len()
            ),
        ));
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    Ok(v)
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }
    fn dimension(&self) -> usize {
        self.dimension
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ "model": self.settings.model, "input": texts });
        let answer = self
            .transport
            .post_json_bearer(
                &self.settings.url("embeddings"),
                self.settings.api_key.as_ref(),
                &body,
            )
            .await
            .map_err(|e| vendor_error("openai", e))?;
        let data = answer["data"]
            .as_array()
            .ok_or_else(|| embedding_error("openai", "the answer has no `data` array".into()))?;
        if data.len() != texts.len() {
            return Err(embedding_error(
                "openai",
                format!("{} embeddings for {} texts", data.len(), texts.len()),
            ));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (i, item) in data.iter().enumerate() {
            let at = item["index"].as_u64().map_or(i, |n| n as usize);
            let slot = out.get_mut(at).ok_or_else(|| {
                embedding_error("openai", format!("embedding index {at} out of range"))
            })?;
            *slot = Some(vector(item.get("embedding"), self.dimension, "openai")?);
        }
        out.into_iter()
            .map(|v| {
                v.ok_or_else(|| embedding_error("openai", "an embedding index repeats".into()))
            })
            .collect()
    }
}

#[async_trait]
impl Embedder for GeminiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }
    fn dimension(&self) -> usize {
        self.dimension
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let key = self.settings.require_key()?;
        let url = self
            .settings
            .url(&format!("models/{}:embedContent", self.settings.model));
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            let body = json!({
                "model": format!("models/{}", self.settings.model),
                "content": { "parts": [{ "text": text }] },
                "outputDimensionality": self.dimension,
            });
            let answer = self
                .transport
                .post_json(&url, &[("x-goog-api-key", key.expose())], &body)
                .await
                .map_err(|e| vendor_error("gemini", e))?;
            out.push(vector(
                answer.get("embedding").and_then(|e| e.get("values")),
                self.dimension,
                "gemini",
            )?);
        }
        Ok(out)
    }
}

/// A vendor's unusable embedding answer.
fn embedding_error(vendor: &str, message: String) -> Error {
    Error::Embedder {
        embedder: vendor.into(),
        message,
    }
}

/// The transport's failure (already scrubbed of the key) as the
/// embedder's: the vendor refused, timed out or could not be reached.
fn vendor_error(vendor: &str, e: Error) -> Error {
    match e {
        Error::Planning(m) => {
            let m = m.split_once(": ").map_or(m.as_str(), |(_, rest)| rest);
            embedding_error(vendor, m.to_string())
        }
        other => other,
    }
}
