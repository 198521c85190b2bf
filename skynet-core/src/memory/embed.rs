//! Embedders turn text into unit vectors; [`HashEmbedder`] is the offline
//! default that needs no model and no network.

use crate::Result;
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// Turns texts into vectors of a fixed dimension, normalised to length 1
/// (so a dot product is the cosine).
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's id, stored beside every vector it makes (a changed id
    /// means stored vectors must be made again).
    fn model_id(&self) -> &str;
    /// The vectors' dimension.
    fn dimension(&self) -> usize;
    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// Feature hashing of lower-cased words (weight 1), word pairs (weight 1)
/// and character trigrams of each word (weight 0.5) into `dimension`
/// buckets with a sign bit, then L2-normalised. Deterministic across
/// machines and versions (SHA-256 of the feature picks bucket and sign), so
/// stored vectors stay comparable. It matches shared words and spellings,
/// not meanings: a paraphrase with no word in common scores low.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dimension: usize,
    model_id: String,
}

impl HashEmbedder {
    /// The default dimension.
    pub const DIMENSION: usize = 384;

    /// An embedder of [`Self::DIMENSION`] dimensions.
    pub fn new() -> Self {
        Self::with_dimension(Self::DIMENSION)
    }

    /// An embedder of `dimension` (at least 8) dimensions.
    pub fn with_dimension(dimension: usize) -> Self {
        let dimension = dimension.max(8);
        HashEmbedder {
            dimension,
            model_id: format!("skynet-hash-v1-{dimension}"),
        }
    }

    /// The vector of one text (synchronous; [`Embedder::embed`] calls it).
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dimension];
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut add = |feature: &str, weight: f32| {
            let h = Sha256::digest(feature.as_bytes());
            let n = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
            let bucket = (n % self.dimension as u64) as usize;
            let sign = if h[8] & 1 == 0 { 1.0 } else { -1.0 };
            v[bucket] += sign * weight;
        };
        for w in &words {
            add(&format!("w:{w}"), 1.0);
            let chars: Vec<char> = format!("<{w}>").chars().collect();
            for tri in chars.windows(3) {
                add(&format!("c:{}", tri.iter().collect::<String>()), 0.5);
            }
        }
        for pair in words.windows(2) {
            add(&format!("p:{} {}", pair[0], pair[1]), 1.0);
        }
        normalise(&mut v);
        v
    }
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }
    fn dimension(&self) -> usize {
        self.dimension
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine of two vectors (0 when either is empty, zero or the lengths
/// differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    use super::index::dot as dot_of;
    let dot = dot_of(a, b);
    let na = dot_of(a, a).sqrt();
    let nb = dot_of(b, b).sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_vectors_are_unit_length_and_deterministic() {
        let e = HashEmbedder::new();
        let a = e.vector("check git status in the repo");
        assert_eq!(a.len(), 384);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        assert_eq!(a, e.vector("check git status in the repo"));
        assert!(e.vector("").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn shared_words_score_above_unrelated_text() {
        let e = HashEmbedder::new();
        let q = e.vector("git status");
        let near = e.vector("check git status of the repository");
        let far = e.vector("restart the nginx web server");
        assert!(cosine(&q, &near) > cosine(&q, &far) + 0.3);
        // Trigrams match inflections a word hash alone would miss.
        assert!(cosine(&e.vector("deploying"), &e.vector("deployed")) > 0.2);
    }
}
