//! The local embedder: sentence-transformers' all-MiniLM-L6-v2 (a 6-layer
//! BERT of width 384) run on the CPU with candle, from a model directory
//! holding `model.safetensors`, `tokenizer.json` and `config.json`.
//!
//! The forward pass is written here (embeddings, then self-attention
//! layers with the attention mask, GELU feed-forward and LayerNorms, as in
//! Hugging Face's `BertModel`), followed by sentence-transformers' pooling
//! for this model: the mean of the last hidden states over the attention
//! mask, then L2 normalisation. Inputs are cut at
//! [`MiniLmEmbedder::MAX_TOKENS`] word pieces (the model's
//! `max_seq_length`) and embedded in padded batches.

use super::Embedder;
use crate::{Error, Result};
use async_trait::async_trait;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The variable naming the model directory.
pub const MODEL_DIR_VAR: &str = "SKYNET_EMBED_MODEL_DIR";

/// Sentences embedded in one forward pass (longer lists are split).
const BATCH: usize = 32;

/// all-MiniLM-L6-v2 on the CPU. Cheap to clone (the weights are shared).
#[derive(Clone)]
pub struct MiniLmEmbedder {
    inner: Arc<Loaded>,
}

struct Loaded {
    bert: Bert,
    tokenizer: Tokenizer,
    dir: PathBuf,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl MiniLmEmbedder {
    /// The model id stored beside every vector.
    pub const MODEL_ID: &'static str = "sentence-transformers/all-MiniLM-L6-v2";
    /// The vectors' dimension.
    pub const DIMENSION: usize = 384;
    /// Word pieces kept per text (sentence-transformers' `max_seq_length`
    /// for this model); the rest is cut off.
    pub const MAX_TOKENS: usize = 256;

    /// Load the model from `dir` (`model.safetensors`, `tokenizer.json`,
    /// `config.json`, as in the model's Hugging Face repository). A missing
    /// or unreadable file, or a model that is not a 6-layer BERT of width
    /// 384, is an [`Error::Config`] saying what to do.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "MiniLM model directory {} does not exist; point {MODEL_DIR_VAR} \
                 ([embedder] model_dir) at a directory holding all-MiniLM-L6-v2's \
                 model.safetensors, tokenizer.json and config.json",
                dir.display()
            )));
        }
        let file = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::Config(format!(
                    "MiniLM model directory {} has no {name}; it needs all-MiniLM-L6-v2's \
                     model.safetensors, tokenizer.json and config.json",
                    dir.display()
                )))
            }
        };
        let bad = |name: &str, why: String| {
            Error::Config(format!(
                "MiniLM model file {}: {why}; replace it with all-MiniLM-L6-v2's {name}",
                dir.join(name).display()
            ))
        };

        let config_path = file("config.json")?;
        let config: BertConfig = std::fs::read(&config_path)
            .map_err(|e| bad("config.json", e.to_string()))
            .and_then(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| bad("config.json", e.to_string()))
            })?;
        config.check().map_err(|why| bad("config.json", why))?;

        let tokenizer_path = file("tokenizer.json")?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| bad("tokenizer.json", e.to_string()))?;
        let pad = tokenizer.get_padding().cloned().unwrap_or_default();
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_to_multiple_of: None,
            ..pad
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: Self::MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| bad("tokenizer.json", e.to_string()))?;

        let weights_path = file("model.safetensors")?;
        let tensors = candle_core::safetensors::load(&weights_path, &Device::Cpu)
            .map_err(|e| bad("model.safetensors", e.to_string()))?;
        let bert = Bert::new(&config, tensors)
            .map_err(|e| bad("model.safetensors", format!("not a BERT model: {e}")))?;
        Ok(MiniLmEmbedder {
            inner: Arc::new(Loaded {
                bert,
                tokenizer,
                dir: dir.to_path_buf(),
            }),
        })
    }

    /// Load from the directory `SKYNET_EMBED_MODEL_DIR` names.
    pub fn from_env() -> Result<Self> {
        match std::env::var_os(MODEL_DIR_VAR) {
            Some(dir) if !dir.is_empty() => Self::load(PathBuf::from(dir)),
            _ => Err(Error::Config(format!(
                "{MODEL_DIR_VAR} is not set; point it at a directory holding \
                 all-MiniLM-L6-v2's model.safetensors, tokenizer.json and config.json"
            ))),
        }
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The vectors of `texts` (synchronous and CPU-bound;
    /// [`Embedder::embed`] runs it off the async runtime's threads).
    pub fn vectors(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.inner.batch(chunk)?);
        }
        Ok(out)
    }
}

impl Loaded {
    fn batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| failed(format!("tokenizing: {e}")))?;
        let rows = encodings.len();
        let Some(len) = encodings.first().map(|e| e.get_ids().len()) else {
            return Ok(Vec::new());
        };
        let flat = |part: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings.iter().flat_map(|e| part(e).to_vec()).collect()
        };
        let ids = flat(tokenizers::Encoding::get_ids);
        let types = flat(tokenizers::Encoding::get_type_ids);
        let mask = flat(tokenizers::Encoding::get_attention_mask);
        if ids.len() != rows * len || mask.len() != rows * len || types.len() != rows * len {
            return Err(failed("the tokenizer padded a batch unevenly".into()));
        }
        self.forward(ids, types, mask, rows, len)
            .map_err(|e| failed(e.to_string()))
    }

    fn forward(
        &self,
        ids: Vec<u32>,
        types: Vec<u32>,
        mask: Vec<u32>,
        rows: usize,
        len: usize,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, (rows, len), &device)?;
        let types = Tensor::from_vec(types, (rows, len), &device)?;
        let mask = Tensor::from_vec(mask, (rows, len), &device)?.to_dtype(DType::F32)?;
        let hidden = self.bert.forward(&ids, &types, &mask)?;
        // Mean over the real (unmasked) tokens, then unit length.
        let m = mask.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

fn failed(why: String) -> Error {
    Error::Embedder {
        embedder: "minilm".into(),
        message: why,
    }
}

#[async_trait]
impl Embedder for MiniLmEmbedder {
    fn model_id(&self) -> &str {
        Self::MODEL_ID
    }
    fn dimension(&self) -> usize {
        Self::DIMENSION
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let this = self.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || this.vectors(&texts))
            .await
            .map_err(|e| failed(format!("the embedding task ended: {e}")))?
    }
}

/// The fields of Hugging Face's `config.json` the forward pass reads.
#[derive(Debug, Deserialize)]
struct BertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    vocab_size: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    #[serde(default = "eps")]
    layer_norm_eps: f64,
    #[serde(default = "gelu")]
    hidden_act: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

impl BertConfig {
    /// all-MiniLM-L6-v2's shape, or why not.
    fn check(&self) -> std::result::Result<(), String> {
        if self.hidden_size != MiniLmEmbedder::DIMENSION || self.num_hidden_layers != 6 {
            return Err(format!(
                "a BERT of width {} with {} layers is not all-MiniLM-L6-v2 (width 384, 6 layers)",
                self.hidden_size, self.num_hidden_layers
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "{} attention heads do not divide width {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if self.max_position_embeddings < MiniLmEmbedder::MAX_TOKENS {
            return Err(format!(
                "{} positions are fewer than the {} word pieces embedded",
                self.max_position_embeddings,
                MiniLmEmbedder::MAX_TOKENS
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!("activation {:?} is not gelu", self.hidden_act));
        }
        Ok(())
    }
}

/// Hugging Face's `BertModel` without its pooler (sentence-transformers
/// pools the last hidden states itself).
struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    norm: LayerNorm,
    layers: Vec<Layer>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
}

impl Bert {
    fn new(config: &BertConfig, tensors: HashMap<String, Tensor>) -> candle_core::Result<Self> {
        // Checkpoints saved from BertForXxx carry a `bert.` prefix;
        // sentence-transformers' saves the bare BertModel.
        let prefixed = tensors.contains_key("bert.embeddings.word_embeddings.weight");
        let root = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let vb = if prefixed { root.pp("bert") } else { root };
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let emb = vb.pp("embeddings");
        let encoder = vb.pp("encoder").pp("layer");
        let linear = |vb: VarBuilder, i: usize, o: usize| candle_nn::linear(i, o, vb);
        let norm = |vb: VarBuilder| candle_nn::layer_norm(h, eps, vb.pp("LayerNorm"));
        let layers = (0..config.num_hidden_layers)
            .map(|n| {
                let l = encoder.pp(n.to_string());
                let attn = l.pp("attention");
                Ok(Layer {
                    query: linear(attn.pp("self").pp("query"), h, h)?,
                    key: linear(attn.pp("self").pp("key"), h, h)?,
                    value: linear(attn.pp("self").pp("value"), h, h)?,
                    attention_out: linear(attn.pp("output").pp("dense"), h, h)?,
                    attention_norm: norm(attn.pp("output"))?,
                    intermediate: linear(
                        l.pp("intermediate").pp("dense"),
                        h,
                        config.intermediate_size,
                    )?,
                    output: linear(l.pp("output").pp("dense"), config.intermediate_size, h)?,
                    output_norm: norm(l.pp("output"))?,
                    heads: config.num_attention_heads,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Bert {
            word: emb.get((config.vocab_size, h), "word_embeddings.weight")?,
            position: emb.get(
                (config.max_position_embeddings, h),
                "position_embeddings.weight",
            )?,
            token_type: emb.get((config.type_vocab_size, h), "token_type_embeddings.weight")?,
            norm: norm(emb)?,
            layers,
        })
    }

    /// The last hidden states `(rows, len, hidden)` of `ids` `(rows, len)`;
    /// `mask` (f32, 1 for a real token, 0 for padding) keeps attention off
    /// the padding.
    fn forward(&self, ids: &Tensor, types: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, len) = ids.dims2()?;
        let h = self.word.dim(1)?;
        let lookup = |table: &Tensor, ids: &Tensor| {
            table
                .index_select(&ids.flatten_all()?, 0)?
                .reshape((rows, len, h))
        };
        let positions = self.position.narrow(0, 0, len)?.unsqueeze(0)?;
        let x = lookup(&self.word, ids)?
            .add(&lookup(&self.token_type, types)?)?
            .broadcast_add(&positions)?;
        let mut x = self.norm.forward(&x)?;
        // 0 where attending is allowed, a large negative number on padding,
        // shaped to add to every head's scores: (rows, 1, 1, len).
        let bias = ((mask.ones_like()? - mask)? * -1e4f64)?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias)?;
        }
        Ok(x)
    }
}

impl Layer {
    fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, len, h) = x.dims3()?;
        let d = h / self.heads;
        let split = |t: Tensor| {
            t.reshape((rows, len, self.heads, d))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((rows, len, h))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + x)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.output_norm
            .forward(&(self.output.forward(&inner)? + &attended)?)
    }
}
