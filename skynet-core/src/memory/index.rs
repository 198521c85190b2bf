//! The approximate vector index: an HNSW graph ([`hnsw_rs`], pure Rust)
//! over every embedded memory of one model, held in process.
//!
//! The graph cannot delete, so a forgotten memory becomes a tombstone
//! (skipped by every search) and the owner rebuilds the index when
//! tombstones outnumber a quarter of it. Searches filter by principal in
//! the graph walk, so another principal's vectors never take a result's
//! place; every other filter is applied by the caller, who fetches the
//! rows from the store with the filter in SQL.

use super::Memory;
use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Links per node (HNSW's `M`); layer 0 keeps twice as many.
pub const LINKS: usize = 24;
/// Candidates kept while inserting (`ef_construction`), by default.
pub const EF_CONSTRUCTION: usize = 200;
/// Layers at most (hnsw_rs's limit is 16).
const LAYERS: usize = 16;

/// Cosine distance of unit vectors, `1 - a·b`, never below 0 (rounding
/// can push a self-match a hair under). Eight partial sums let the
/// compiler vectorise the loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// The dot product of two equally long vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `v` scaled to length 1 (`None` for a zero or non-finite vector, which
/// no cosine can rank).
pub fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let norm = dot(v, v).sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

/// When and how searches use the index (`[limits]` `memory_index_*`,
/// `SKYNET_MEMORY_INDEX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSettings {
    /// Embedded memories from which searches use the index (`None`:
    /// never, always exact). Default 10,000.
    pub threshold: Option<u64>,
    /// Vectors the index holds at most: beyond, searches are exact again
    /// (and stats say why). Default 1,000,000 (about 2 GB at 384
    /// dimensions).
    pub max_vectors: u64,
    /// Candidates a search explores (HNSW's `ef`; higher: better recall,
    /// slower). Default 256.
    pub ef_search: usize,
    /// Candidates kept while inserting (HNSW's `ef_construction`; higher:
    /// a better graph, slower to build). Default 200.
    pub ef_construction: usize,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            threshold: Some(10_000),
            max_vectors: 1_000_000,
            ef_search: 256,
            ef_construction: EF_CONSTRUCTION,
        }
    }
}

/// What `stats` says of the vector index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IndexReport {
    /// `hnsw` (in use), `exact` (below the threshold, or turned off),
    /// `loading`, or `full` (more vectors than `max_vectors`: exact).
    pub kind: String,
    /// Memories in the index.
    pub vectors: u64,
    /// Forgotten memories still in its graph (rebuilt past a quarter).
    pub tombstones: u64,
    /// Its estimated memory, bytes.
    pub bytes: u64,
    /// The vectors it may hold.
    pub max_vectors: u64,
    /// Embedded memories from which it is used (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
}

/// What the index knows of one memory.
#[derive(Debug, Clone)]
struct Slot {
    id: String,
    principal: String,
    created_at: i64,
}

/// One memory's vector as the index takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedVector {
    /// The memory's id.
    pub id: String,
    /// Its principal.
    pub principal: String,
    /// When it was stored (unix microseconds).
    pub created_at: i64,
    /// Its vector (any length; scaled to 1 on insert).
    pub vector: Vec<f32>,
}

impl IndexedVector {
    /// The vector of an embedded memory.
    pub fn of(m: &Memory) -> Self {
        IndexedVector {
            id: m.id.clone(),
            principal: m.principal.as_str().to_string(),
            created_at: m.created_at.timestamp_micros(),
            vector: m.embedding.clone(),
        }
    }
}

/// A nearest neighbour found.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// The memory's id.
    pub id: String,
    /// Cosine similarity to the query.
    pub similarity: f32,
}

/// An HNSW index of unit vectors of one dimension, keyed by memory id.
pub struct VectorIndex {
    graph: Hnsw<'static, f32, UnitCosine>,
    dimension: usize,
    /// Graph node → memory (`None`: forgotten).
    slots: Vec<Option<Slot>>,
    /// Memory id → graph node.
    by_id: HashMap<String, usize>,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dimension", &self.dimension)
            .field("live", &self.len())
            .field("tombstones", &self.tombstones())
            .finish()
    }
}

impl VectorIndex {
    /// An empty index for vectors of `dimension`, sized for `expected`,
    /// exploring `ef_construction` candidates per insert.
    pub fn new(dimension: usize, expected: usize, ef_construction: usize) -> Self {
        VectorIndex {
            graph: Hnsw::new(
                LINKS,
                expected.max(1),
                LAYERS,
                ef_construction.max(LINKS),
                UnitCosine,
            ),
            dimension,
            slots: Vec::with_capacity(expected),
            by_id: HashMap::with_capacity(expected),
        }
    }

    /// The dimension it holds.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Memories it holds (tombstones excluded).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Forgotten memories still in the graph.
    pub fn tombstones(&self) -> usize {
        self.slots.len() - self.by_id.len()
    }

    /// Whether it holds this memory.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// An estimate of its memory in bytes: the vectors, the graph's links
    /// (layer 0 holds `2 * LINKS` per node, upper layers rarely matter)
    /// and the id maps.
    pub fn bytes(&self) -> u64 {
        let nodes = self.slots.len() as u64;
        let vector = (self.dimension * 4) as u64;
        // A link is a neighbour record (ids and distance) behind an Arc.
        let links = (2 * LINKS as u64) * 40;
        let ids = 2 * (36 + 24) + 64;
        nodes * (vector + links + ids + 96)
    }

    /// Add `items` (a memory already held is replaced, one of another
    /// dimension or with a zero vector is skipped); how many went in.
    /// Large batches insert in parallel.
    pub fn insert(&mut self, items: &[IndexedVector]) -> usize {
        let mut batch: Vec<(Vec<f32>, usize)> = Vec::with_capacity(items.len());
        for item in items {
            if item.vector.len() != self.dimension {
                continue;
            }
            let Some(v) = unit(&item.vector) else {
                continue;
            };
            self.remove(&item.id);
            let node = self.slots.len();
            self.slots.push(Some(Slot {
                id: item.id.clone(),
                principal: item.principal.clone(),
                created_at: item.created_at,
            }));
            self.by_id.insert(item.id.clone(), node);
            batch.push((v, node));
        }
        if batch.len() >= 64 {
            let refs: Vec<(&Vec<f32>, usize)> = batch.iter().map(|(v, n)| (v, *n)).collect();
            self.graph.parallel_insert(&refs);
        } else {
            for (v, n) in &batch {
                self.graph.insert((v.as_slice(), *n));
            }
        }
        batch.len()
    }

    /// Forget a memory; whether it was held.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.by_id.remove(id) {
            Some(node) => {
                self.slots[node] = None;
                true
            }
            None => false,
        }
    }

    /// The ids held, with their `created_at`.
    pub fn ids(&self) -> impl Iterator<Item = (&str, i64)> {
        self.slots
            .iter()
            .flatten()
            .map(|s| (s.id.as_str(), s.created_at))
    }

    /// The `k` nearest live memories to `query` (of `principal` only, when
    /// given), exploring `ef` candidates (at least `k`). Most similar
    /// first.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        principal: Option<&str>,
    ) -> Vec<Neighbour> {
        if query.len() != self.dimension || k == 0 || self.is_empty() {
            return Vec::new();
        }
        let Some(q) = unit(query) else {
            return Vec::new();
        };
        let keep = |node: &usize| match self.slots.get(*node) {
            Some(Some(slot)) => principal.is_none_or(|p| slot.principal == p),
            _ => false,
        };
        let found = self.graph.search_filter(
            &q,
            k,
            ef.max(k),
            Some(&keep as &dyn hnsw_rs::filter::FilterT),
        );
        let mut out: Vec<Neighbour> = found
            .into_iter()
            .filter_map(|n| {
                let slot = self.slots.get(n.d_id)?.as_ref()?;
                Some(Neighbour {
                    id: slot.id.clone(),
                    similarity: 1.0 - n.distance,
                })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        out.truncate(k);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, principal: &str, v: Vec<f32>) -> IndexedVector {
        IndexedVector {
            id: id.into(),
            principal: principal.into(),
            created_at: 1,
            vector: v,
        }
    }

    #[test]
    fn finds_by_cosine_and_skips_the_forgotten_and_others() {
        let mut ix = VectorIndex::new(2, 8, EF_CONSTRUCTION);
        assert_eq!(
            ix.insert(&[
                item("a", "alice", vec![1.0, 0.0]),
                item("b", "alice", vec![0.8, 0.6]),
                item("c", "bob", vec![0.99, 0.01]),
                item("zero", "alice", vec![0.0, 0.0]),
                item("wrong", "alice", vec![1.0, 0.0, 0.0]),
            ]),
            3
        );
        let got = ix.search(&[2.0, 0.0], 2, 10, Some("alice"));
        let ids: Vec<&str> = got.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!((got[1].similarity - 0.8).abs() < 1e-5);
        assert!(ix.remove("a"));
        assert_eq!((ix.len(), ix.tombstones()), (2, 1));
        let ids: Vec<String> = ix
            .search(&[1.0, 0.0], 5, 10, None)
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(ids, ["c", "b"]);
        assert!(ix.search(&[1.0], 5, 10, None).is_empty());
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}
