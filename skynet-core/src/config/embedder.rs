//! `[embedder]`: which embedder makes memories' vectors. The offline
//! hashing embedder is the default; the local all-MiniLM-L6-v2 model
//! (Cargo feature `minilm`) is chosen by `kind = "minilm"` or by setting
//! its model directory alone; a vendor's embedding API (Cargo feature
//! `llm`) by `kind = "openai"` (any OpenAI-compatible `/embeddings`:
//! OpenAI, Ollama, vLLM) or `kind = "gemini"`, with its model, base URL,
//! dimension and key, on the LLM clients' transport limits (`[llm]
//! timeout`, `max_retries`, `max_response_bytes`).

use super::layers::Layers;
use crate::llm::settings::LlmFileSection;
use crate::llm::{ApiKey, HttpOptions};
use crate::memory::{Embedder, HashEmbedder};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// `[embedder]` in `skynet.toml`. Read whether or not this build has the
/// `minilm` or `llm` feature, so a file that chooses one is refused by
/// name. Keys are never read from the file: only from the environment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EmbedderSection {
    kind: Option<String>,
    model_dir: Option<PathBuf>,
    model: Option<String>,
    base_url: Option<String>,
    dimension: Option<usize>,
}

/// The embedder the settings choose. `Debug` never shows a key.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum EmbedderChoice {
    /// The offline [`HashEmbedder`] (needs nothing).
    #[default]
    Hash,
    /// The local all-MiniLM-L6-v2 model in this directory.
    MiniLm {
        /// Holds `model.safetensors`, `tokenizer.json`, `config.json`.
        model_dir: PathBuf,
    },
    /// An OpenAI-compatible `POST {base_url}/embeddings`.
    OpenAi(RemoteEmbedding),
    /// Gemini's `POST {base_url}/models/{model}:embedContent`.
    Gemini(RemoteEmbedding),
}

/// A hosted embedder's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteEmbedding {
    /// The model, as the vendor names it.
    pub model: String,
    /// The API base (`https://api.openai.com/v1`, ...).
    pub base_url: String,
    /// The vectors' dimension (part of the model id stored beside every
    /// vector, so changing it asks for `skynet memory reindex`).
    pub dimension: usize,
    /// The key, from the environment (optional for an OpenAI-compatible
    /// server other than OpenAI's).
    pub api_key: Option<ApiKey>,
    /// Time limit, retries and body cap: the `[llm]` transport's.
    pub http: HttpOptions,
}

/// The largest dimension accepted (the largest vendor models make 3072;
/// a typo of an extra digit or two is caught).
const MAX_DIMENSION: usize = 16_384;

/// One hosted vendor's defaults and names.
struct Vendor {
    kind: &'static str,
    default_model: &'static str,
    default_base_url: &'static str,
    /// Key variables after `SKYNET_EMBED_API_KEY`, in order.
    key_vars: &'static [&'static str],
    /// The dimension a model makes when none is set (`None`: it must be
    /// set).
    dimension_of: fn(&str) -> Option<usize>,
}

const OPENAI: Vendor = Vendor {
    kind: "openai",
    default_model: "text-embedding-3-small",
    default_base_url: "https://api.openai.com/v1",
    key_vars: &["OPENAI_API_KEY"],
    dimension_of: |model| match model {
        "text-embedding-3-small" | "text-embedding-ada-002" => Some(1536),
        "text-embedding-3-large" => Some(3072),
        _ => None,
    },
};

// Gemini is asked for `outputDimensionality`, so any model has a default.
const GEMINI: Vendor = Vendor {
    kind: "gemini",
    default_model: "gemini-embedding-001",
    default_base_url: "https://generativelanguage.googleapis.com/v1beta",
    key_vars: &["GOOGLE_AI_API_KEY", "GEMINI_API_KEY"],
    dimension_of: |_| Some(768),
};

impl EmbedderSection {
    /// `SKYNET_EMBEDDER` / `kind` (`hash`, `minilm`, `openai`, `gemini`;
    /// default `minilm` when a model directory is set, else `hash`),
    /// `SKYNET_EMBED_MODEL_DIR` / `model_dir` for `minilm`, and for the
    /// hosted ones `SKYNET_EMBED_MODEL`, `SKYNET_EMBED_BASE_URL`,
    /// `SKYNET_EMBED_DIMENSION` (file: `model`, `base_url`, `dimension`)
    /// and the key (`SKYNET_EMBED_API_KEY`, else the vendor's variable).
    /// A file key that the chosen kind does not use is refused; the
    /// environment's are ignored, since they may be set for another
    /// choice.
    pub(super) fn resolve(self, layers: &Layers, llm: &LlmFileSection) -> Result<EmbedderChoice> {
        let model_dir = layers
            .pick(
                "SKYNET_EMBED_MODEL_DIR",
                self.model_dir.as_ref().map(|p| p.display().to_string()),
            )
            .filter(|d| !d.trim().is_empty());
        let kind = layers.pick("SKYNET_EMBEDDER", self.kind.clone());
        let kind = match kind.as_deref().map(str::trim) {
            Some(k) => k.to_ascii_lowercase(),
            None if model_dir.is_some() => "minilm".into(),
            None => "hash".into(),
        };
        let vendor = match kind.as_str() {
            "openai" => Some(&OPENAI),
            "gemini" => Some(&GEMINI),
            _ => None,
        };
        self.refuse_unused(&kind, vendor.is_some())?;
        if let Some(vendor) = vendor {
            let settings = self.remote(vendor, layers, llm)?;
            return Ok(match vendor.kind {
                "openai" => EmbedderChoice::OpenAi(settings),
                _ => EmbedderChoice::Gemini(settings),
            });
        }
        match kind.as_str() {
            "hash" => Ok(EmbedderChoice::Hash),
            "minilm" => {
                if !cfg!(feature = "minilm") {
                    return Err(crate::provider::feature_missing(
                        "the minilm embedder is chosen (SKYNET_EMBEDDER / SKYNET_EMBED_MODEL_DIR, \
                         [embedder] in skynet.toml)",
                        "minilm",
                    ));
                }
                let model_dir = model_dir.ok_or_else(|| {
                    Error::Config(
                        "the minilm embedder needs its model directory: set \
                         SKYNET_EMBED_MODEL_DIR ([embedder] model_dir) to a directory holding \
                         all-MiniLM-L6-v2's model.safetensors, tokenizer.json and config.json"
                            .into(),
                    )
                })?;
                Ok(EmbedderChoice::MiniLm {
                    model_dir: PathBuf::from(model_dir),
                })
            }
            other => Err(Error::Config(format!(
                "embedder: {other:?} is not one of hash, minilm, openai, gemini \
                 (SKYNET_EMBEDDER, [embedder] kind)"
            ))),
        }
    }

    /// A file key set for another kind than the chosen one is a mistake
    /// worth naming (`model` under `kind = "minilm"` does nothing).
    fn refuse_unused(&self, kind: &str, remote: bool) -> Result<()> {
        let stray: &[(&str, bool)] = if remote {
            &[("model_dir", self.model_dir.is_some())]
        } else {
            &[
                ("model", self.model.is_some()),
                ("base_url", self.base_url.is_some()),
                ("dimension", self.dimension.is_some()),
            ]
        };
        match stray.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(Error::Config(format!(
                "[embedder] {key} does not apply to the {kind} embedder; remove it, or set \
                 kind to {}",
                if remote { "minilm" } else { "openai or gemini" }
            ))),
            None => Ok(()),
        }
    }

    /// The hosted embedder's settings, each checked.
    fn remote(
        self,
        vendor: &Vendor,
        layers: &Layers,
        llm: &LlmFileSection,
    ) -> Result<RemoteEmbedding> {
        if !cfg!(feature = "llm") {
            return Err(crate::provider::feature_missing(
                &format!(
                    "the {} embedder is chosen (SKYNET_EMBEDDER, [embedder] kind)",
                    vendor.kind
                ),
                "llm",
            ));
        }
        let model = match layers.pick("SKYNET_EMBED_MODEL", self.model) {
            Some(m) if m.trim().is_empty() => {
                return Err(Error::Config(
                    "SKYNET_EMBED_MODEL ([embedder] model) is empty; name the embedding model"
                        .into(),
                ));
            }
            Some(m) => m.trim().to_string(),
            None => vendor.default_model.to_string(),
        };
        let base_url = match layers.pick("SKYNET_EMBED_BASE_URL", self.base_url) {
            Some(u) => base_url(u.trim())?,
            None => vendor.default_base_url.to_string(),
        };
        let dimension = match layers.pick("SKYNET_EMBED_DIMENSION", self.dimension) {
            Some(d) => dimension(&d)?,
            None => (vendor.dimension_of)(&model).ok_or_else(|| {
                Error::Config(format!(
                    "the {} embedder's model {model:?} has no known dimension: set \
                     SKYNET_EMBED_DIMENSION ([embedder] dimension) to the length of the vectors \
                     it makes",
                    vendor.kind
                ))
            })?,
        };
        let key_vars: Vec<&str> = std::iter::once("SKYNET_EMBED_API_KEY")
            .chain(vendor.key_vars.iter().copied())
            .collect();
        let api_key = key_vars
            .iter()
            .find_map(|k| layers.var(k).filter(|v| !v.trim().is_empty()))
            .map(|v| ApiKey::new(v.trim()));
        // Gemini always wants one; an OpenAI-compatible server other than
        // OpenAI's (Ollama, vLLM) may not.
        let key_required =
            vendor.kind == "gemini" || base_url.trim_end_matches('/') == OPENAI.default_base_url;
        if api_key.is_none() && key_required {
            return Err(Error::Config(format!(
                "the {} embedder needs an API key: set {}",
                vendor.kind,
                key_vars.join(" or ")
            )));
        }
        Ok(RemoteEmbedding {
            model,
            base_url,
            dimension,
            api_key,
            http: HttpOptions::load(llm, layers.env())?,
        })
    }
}

/// An `http://` or `https://` URL with a host.
fn base_url(text: &str) -> Result<String> {
    let usable = reqwest::Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    match usable {
        Some(_) => Ok(text.to_string()),
        None => Err(Error::Config(format!(
            "SKYNET_EMBED_BASE_URL ([embedder] base_url) {text:?} is not an http:// or https:// \
             URL; set the API base, e.g. https://api.openai.com/v1"
        ))),
    }
}

/// A dimension of 1 to [`MAX_DIMENSION`].
fn dimension(text: &str) -> Result<usize> {
    match text.trim().parse::<usize>() {
        Ok(d @ 1..=MAX_DIMENSION) => Ok(d),
        _ => Err(Error::Config(format!(
            "SKYNET_EMBED_DIMENSION ([embedder] dimension) {text:?} is not a whole number from 1 \
             to {MAX_DIMENSION}; set the length of the vectors the model makes"
        ))),
    }
}

impl EmbedderChoice {
    /// The embedder itself (the MiniLM model is loaded from its directory
    /// here, so a missing or broken one fails the engine's start with an
    /// error saying what to do).
    pub fn build(&self) -> Result<Arc<dyn Embedder>> {
        match self {
            EmbedderChoice::Hash => Ok(Arc::new(HashEmbedder::new())),
            #[cfg(feature = "minilm")]
            EmbedderChoice::MiniLm { model_dir } => {
                Ok(Arc::new(crate::memory::MiniLmEmbedder::load(model_dir)?))
            }
            #[cfg(not(feature = "minilm"))]
            EmbedderChoice::MiniLm { .. } => Err(crate::provider::feature_missing(
                "the minilm embedder is chosen",
                "minilm",
            )),
            #[cfg(feature = "llm")]
            EmbedderChoice::OpenAi(r) => Ok(Arc::new(crate::memory::OpenAiEmbedder::new(
                &r.llm_settings(crate::llm::ProviderKind::OpenAi),
                r.dimension,
            )?)),
            #[cfg(feature = "llm")]
            EmbedderChoice::Gemini(r) => Ok(Arc::new(crate::memory::GeminiEmbedder::new(
                &r.llm_settings(crate::llm::ProviderKind::Gemini),
                r.dimension,
            )?)),
            #[cfg(not(feature = "llm"))]
            EmbedderChoice::OpenAi(_) | EmbedderChoice::Gemini(_) => Err(
                crate::provider::feature_missing("a hosted embedder is chosen", "llm"),
            ),
        }
    }

    /// The key this embedder sends, for the engine's redaction.
    pub(crate) fn secret(&self) -> Option<&ApiKey> {
        match self {
            EmbedderChoice::OpenAi(r) | EmbedderChoice::Gemini(r) => r.api_key.as_ref(),
            EmbedderChoice::Hash | EmbedderChoice::MiniLm { .. } => None,
        }
    }
}

impl RemoteEmbedding {
    /// The LLM clients' settings these stand for (the embedders share
    /// their transport).
    #[cfg(feature = "llm")]
    fn llm_settings(&self, provider: crate::llm::ProviderKind) -> crate::llm::LlmSettings {
        let mut s = crate::llm::LlmSettings::new(provider)
            .base_url(self.base_url.clone())
            .model(self.model.clone());
        s.api_key = self.api_key.clone();
        s.http = self.http.clone();
        s
    }
}
