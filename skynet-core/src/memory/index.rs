//! The approximate vector index: an HNSW graph over every embedded memory
//! of one model, held in process. [`hnsw_rs`] (pure Rust) builds the
//! graph; searches walk a flat copy of it ([`FlatGraph`]), which keeps the
//! vectors contiguous and stops early under a filter.
//!
//! The graph cannot delete, so a forgotten memory becomes a tombstone
//! (skipped by every search) and the owner rebuilds the index when
//! tombstones outnumber a quarter of it. Another principal's vectors and
//! tombstones never take a result's place: the walk accepts only the
//! caller's live nodes and goes on until it has `ef` of them, and a
//! principal holding under a sixteenth of the graph is compared one by
//! one over its own vectors (cheaper than walking a graph mostly of
//! others'). Every other filter is applied by the caller, who fetches the
//! rows from the store with the filter in SQL.

use super::Memory;
use super::graph::FlatGraph;
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
/// Nodes added since the last relink that searches compare one by one at
/// most, or this share of the graph (1/32) when larger: then the flat copy
/// takes the graph's links again.
const RELINK_AFTER: usize = 512;
/// A principal holding under `1 / SCAN_SHARE` of the graph is searched
/// exactly over its own vectors.
const SCAN_SHARE: usize = 16;

/// Cosine distance of unit vectors, `1 - a·b`, never below 0 (rounding
/// can push a self-match a hair under).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// The widest vector instructions this processor has (AVX2 and FMA where
/// present), found once.
static SIMD: std::sync::LazyLock<pulp::Arch> = std::sync::LazyLock::new(pulp::Arch::new);

/// The dot product of two equally long vectors, with the widest vector
/// instructions the processor has (chosen at run time by pulp; a graph
/// walk spends about half its time here).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    SIMD.dispatch(Dot(a, b))
}

/// [`dot`] written once for every instruction set pulp compiles it for.
struct Dot<'a>(&'a [f32], &'a [f32]);

impl pulp::WithSimd for Dot<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> f32 {
        let n = self.0.len().min(self.1.len());
        let (a, a_tail) = S::as_simd_f32s(&self.0[..n]);
        let (b, b_tail) = S::as_simd_f32s(&self.1[..n]);
        // Two accumulators, so one multiply-add need not wait for the
        // one before it.
        let (mut even, mut odd) = (simd.splat_f32s(0.0), simd.splat_f32s(0.0));
        let (a2, b2) = (a.chunks_exact(2), b.chunks_exact(2));
        let rest = a2.remainder().iter().zip(b2.remainder());
        for (x, y) in a2.zip(b2) {
            even = simd.mul_add_f32s(x[0], y[0], even);
            odd = simd.mul_add_f32s(x[1], y[1], odd);
        }
        for (x, y) in rest {
            even = simd.mul_add_f32s(*x, *y, even);
        }
        let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
        simd.reduce_sum_f32s(simd.add_f32s(even, odd)) + tail
    }
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
    /// Principal → its live memories in the graph.
    principals: HashMap<String, usize>,
    /// What searches walk.
    flat: FlatGraph,
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
            principals: HashMap::new(),
            flat: FlatGraph::new(dimension, 2 * LINKS, expected),
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

    /// An estimate of its memory in bytes: hnsw_rs's vectors and links
    /// (layer 0 holds `2 * LINKS` per node, upper layers rarely matter),
    /// the id maps, and the flat copy searches walk (every vector again).
    pub fn bytes(&self) -> u64 {
        let nodes = self.slots.len() as u64;
        let vector = (self.dimension * 4) as u64;
        // A link is a neighbour record (ids and distance) behind an Arc.
        let links = (2 * LINKS as u64) * 40;
        let ids = 2 * (36 + 24) + 64;
        nodes * (vector + links + ids + 96) + self.flat.bytes() as u64
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
            *self.principals.entry(item.principal.clone()).or_default() += 1;
            self.flat.push(&v);
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
        if self.flat.unlinked() > RELINK_AFTER.max(self.flat.len() / 32) {
            self.flat.relink(&self.graph);
        }
        batch.len()
    }

    /// Forget a memory; whether it was held.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.by_id.remove(id) {
            Some(node) => {
                if let Some(slot) = self.slots[node].take()
                    && let Some(n) = self.principals.get_mut(&slot.principal)
                {
                    *n -= 1;
                    if *n == 0 {
                        self.principals.remove(&slot.principal);
                    }
                }
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
        let keep = |node: u32| match self.slots.get(node as usize) {
            Some(Some(slot)) => principal.is_none_or(|p| slot.principal == p),
            _ => false,
        };
        let passing = match principal {
            None => self.len(),
            Some(p) => self.principals.get(p).copied().unwrap_or(0),
        };
        if passing == 0 {
            return Vec::new();
        }
        let total = self.slots.len();
        let found = if passing * SCAN_SHARE < total {
            let own = (0..total as u32).filter(|&n| keep(n));
            self.flat.scan(&q, k, own)
        } else {
            self.flat.search(&q, k, ef, passing < total, keep)
        };
        found
            .into_iter()
            .filter_map(|(node, distance)| {
                let slot = self.slots.get(node as usize)?.as_ref()?;
                Some(Neighbour {
                    id: slot.id.clone(),
                    similarity: (1.0 - distance).min(1.0),
                })
            })
            .collect()
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
    fn a_minority_principal_still_gets_its_own_nearest() {
        let mut ix = VectorIndex::new(2, 8, EF_CONSTRUCTION);
        let at = |deg: f32| vec![deg.to_radians().cos(), deg.to_radians().sin()];
        let mut items: Vec<IndexedVector> = (0..30)
            .map(|i| item(&format!("a{i}"), "alice", at(i as f32)))
            .collect();
        items.push(item("b", "bob", at(80.0)));
        ix.insert(&items);
        // Bob holds 1 of 31: the filtered walk, not alice's nearest.
        let got = ix.search(&at(0.0), 3, 3, Some("bob"));
        let ids: Vec<&str> = got.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["b"]);
        assert!(ix.search(&at(0.0), 3, 3, Some("carol")).is_empty());
    }

    #[test]
    fn forgetting_the_nearest_leaves_the_next_live_ones() {
        let mut ix = VectorIndex::new(2, 32, EF_CONSTRUCTION);
        let at = |deg: f32| vec![deg.to_radians().cos(), deg.to_radians().sin()];
        let items: Vec<IndexedVector> = (0..20)
            .map(|i| item(&format!("m{i}"), "alice", at(i as f32 * 4.0)))
            .collect();
        ix.insert(&items);
        // The nine nearest to 0° go: an unfiltered walk of 10 finds one
        // live memory, too few, so the search walks again filtered.
        for i in 0..9 {
            assert!(ix.remove(&format!("m{i}")));
        }
        let ids: Vec<String> = ix
            .search(&at(0.0), 5, 5, Some("alice"))
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(ids, ["m9", "m10", "m11", "m12", "m13"]);
        let all: Vec<String> = ix
            .search(&at(0.0), 5, 5, None)
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(all, ids);
    }

    /// Seeded pseudo-random unit-ish vectors (xorshift), no crate needed.
    fn scattered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x % 2_000) as f32 / 1_000.0 - 1.0
                    })
                    .collect()
            })
            .collect()
    }

    /// The number in a test id `m<number>`.
    fn number(id: &str) -> usize {
        id[1..].parse().expect("an id of the form m<number>")
    }

    /// The exact `k` nearest of `among` by cosine, as ids.
    fn exact(query: &[f32], among: &[(String, Vec<f32>)], k: usize) -> Vec<String> {
        let q = unit(query).expect("a non-zero query");
        let mut all: Vec<(f32, &String)> = among
            .iter()
            .map(|(id, v)| (dot(&q, &unit(v).expect("a non-zero vector")), id))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        all.into_iter().take(k).map(|(_, id)| id.clone()).collect()
    }

    #[test]
    fn the_flat_walk_finds_the_exact_nearest_with_a_wide_beam() {
        // 1,000 nodes: enough for the flat copy to be linked and walked
        // (not compared one by one), then 100 more added after the last
        // relink, which searches must still find; a wide beam in 8
        // dimensions finds the exact nearest.
        let vs = scattered(1_100, 8, 7);
        let mut ix = VectorIndex::new(8, 1_100, 64);
        let items: Vec<IndexedVector> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| {
                item(
                    &format!("m{i}"),
                    if i.is_multiple_of(4) { "bob" } else { "alice" },
                    v.clone(),
                )
            })
            .collect();
        ix.insert(&items[..1_000]);
        assert_eq!(ix.flat.unlinked(), 0, "a batch this large relinks");
        ix.insert(&items[1_000..]);
        assert_eq!(
            ix.flat.unlinked(),
            100,
            "a small batch waits for the next relink"
        );
        // Forget every tenth: tombstones never come back.
        for i in (0..1_100).step_by(10) {
            ix.remove(&format!("m{i}"));
        }
        let live: Vec<(String, Vec<f32>)> = (0..1_100)
            .filter(|i: &usize| !i.is_multiple_of(10))
            .map(|i| (format!("m{i}"), vs[i].clone()))
            .collect();
        let alices: Vec<(String, Vec<f32>)> = live
            .iter()
            .filter(|(id, _)| !number(id).is_multiple_of(4))
            .cloned()
            .collect();
        for query in scattered(20, 8, 99) {
            let got: Vec<String> = ix
                .search(&query, 10, 400, None)
                .into_iter()
                .map(|n| n.id)
                .collect();
            assert_eq!(got, exact(&query, &live, 10));
            let got: Vec<String> = ix
                .search(&query, 10, 400, Some("alice"))
                .into_iter()
                .map(|n| n.id)
                .collect();
            assert_eq!(got, exact(&query, &alices, 10));
        }
        // A narrow beam still answers k live nodes, most similar first,
        // each with its true cosine.
        let query = &scattered(1, 8, 5)[0];
        let got = ix.search(query, 10, 10, Some("alice"));
        assert_eq!(got.len(), 10);
        let q = unit(query).expect("a non-zero query");
        for pair in got.windows(2) {
            assert!(pair[0].similarity >= pair[1].similarity);
        }
        for n in &got {
            let i = number(&n.id);
            assert!(
                !i.is_multiple_of(10) && !i.is_multiple_of(4),
                "{} is forgotten or bob's",
                n.id
            );
            assert!(
                (n.similarity - dot(&q, &unit(&vs[i]).expect("a non-zero vector"))).abs() < 1e-5
            );
        }
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}
