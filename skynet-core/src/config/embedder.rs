//! `[embedder]`: which embedder makes memories' vectors. The offline
//! hashing embedder is the default; the local all-MiniLM-L6-v2 model
//! (Cargo feature `minilm`) is chosen by `kind = "minilm"` or by setting
//! its model directory alone.

use super::layers::Layers;
use crate::memory::{Embedder, HashEmbedder};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// `[embedder]` in `skynet.toml`. Read whether or not this build has the
/// `minilm` feature, so a file that chooses it is refused by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EmbedderSection {
    kind: Option<String>,
    model_dir: Option<PathBuf>,
}

/// The embedder the settings choose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EmbedderChoice {
    /// The offline [`HashEmbedder`] (needs nothing).
    #[default]
    Hash,
    /// The local all-MiniLM-L6-v2 model in this directory.
    MiniLm {
        /// Holds `model.safetensors`, `tokenizer.json`, `config.json`.
        model_dir: PathBuf,
    },
}

impl EmbedderSection {
    /// `SKYNET_EMBEDDER` / `kind` (`hash`, `minilm`; default `minilm` when
    /// a model directory is set, else `hash`) and `SKYNET_EMBED_MODEL_DIR`
    /// / `model_dir`.
    pub(super) fn resolve(self, layers: &Layers) -> Result<EmbedderChoice> {
        let model_dir = layers
            .pick(
                "SKYNET_EMBED_MODEL_DIR",
                self.model_dir.map(|p| p.display().to_string()),
            )
            .filter(|d| !d.trim().is_empty());
        let kind = layers.pick("SKYNET_EMBEDDER", self.kind);
        let kind = match kind.as_deref().map(str::trim) {
            Some(k) => k.to_ascii_lowercase(),
            None if model_dir.is_some() => "minilm".into(),
            None => "hash".into(),
        };
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
                "embedder: {other:?} is not one of hash, minilm"
            ))),
        }
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
        }
    }
}
