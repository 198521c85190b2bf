//! The HNSW graph laid out for searching: every vector in one contiguous
//! buffer, node after node, and each node's layer-0 links in a fixed-width
//! row of node numbers, copied from the [`hnsw_rs`] graph that builds it.
//!
//! hnsw_rs keeps each vector in its own allocation and each neighbour
//! behind an `Arc` and a lock, and its walk keeps visited points in a hash
//! map: half a search went to walking, half to cache misses on scattered
//! vectors. This copy is walked as hnswlib walks (greedy descent to
//! convergence on every upper layer, then a bounded beam on layer 0 with
//! a bit set of visited nodes) and stops early even when a filter rejects
//! some nodes.
//!
//! Links are copied when the owner relinks; nodes added since (their
//! vectors are here at once) are compared one by one, so the copy is never
//! wrong, only briefly slower, and the owner relinks when they pile up.

use super::index::dot;
use hnsw_rs::hnsw::Hnsw;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

/// No link (padding at the end of a node's row).
const NONE: u32 = u32::MAX;

/// A cosine distance (`1 - a·b`) ordered totally, so it can sit in a heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Distance(f32);

impl Eq for Distance {}

impl PartialOrd for Distance {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Distance {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The searchable copy of an HNSW graph of unit vectors.
#[derive(Debug, Default)]
pub(crate) struct FlatGraph {
    dimension: usize,
    /// Every node's vector, node `i` at `i * dimension`.
    vectors: Vec<f32>,
    /// Links per node on layer 0 (the row width).
    width: usize,
    /// Layer-0 links of the first `linked` nodes, `width` per node,
    /// padded with `NONE`.
    links: Vec<u32>,
    /// Nodes with links copied; later nodes are compared one by one.
    linked: usize,
    /// A node above layer 0 → its links on layers 1, 2, … (few nodes).
    upper: HashMap<u32, Vec<Vec<u32>>>,
    /// Where walks start: a node on the top layer, and that layer.
    entry: Option<(u32, usize)>,
}

impl FlatGraph {
    /// An empty copy for vectors of `dimension` with `width` layer-0 links
    /// a node, sized for `expected` nodes.
    pub(crate) fn new(dimension: usize, width: usize, expected: usize) -> Self {
        FlatGraph {
            dimension,
            vectors: Vec::with_capacity(expected * dimension),
            width,
            ..FlatGraph::default()
        }
    }

    /// Nodes held (linked or not).
    pub(crate) fn len(&self) -> usize {
        self.vectors.len() / self.dimension.max(1)
    }

    /// Nodes added since the last [`relink`](Self::relink).
    pub(crate) fn unlinked(&self) -> usize {
        self.len() - self.linked
    }

    /// Its memory in bytes.
    pub(crate) fn bytes(&self) -> usize {
        let upper: usize = self
            .upper
            .values()
            .map(|ls| 48 + ls.iter().map(|l| 24 + 4 * l.len()).sum::<usize>())
            .sum();
        4 * (self.vectors.capacity() + self.links.capacity()) + upper
    }

    /// Add the next node's (unit) vector; it is found by comparison until
    /// the next relink.
    pub(crate) fn push(&mut self, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dimension);
        self.vectors.extend_from_slice(vector);
    }

    fn vector(&self, node: u32) -> &[f32] {
        let at = node as usize * self.dimension;
        &self.vectors[at..at + self.dimension]
    }

    fn distance(&self, query: &[f32], node: u32) -> Distance {
        Distance(1.0 - dot(query, self.vector(node)))
    }

    /// Copy the links of every node from `graph`, whose data ids are the
    /// node numbers pushed here.
    pub(crate) fn relink<D>(&mut self, graph: &Hnsw<'static, f32, D>)
    where
        D: hnsw_rs::anndists::dist::Distance<f32> + Send + Sync,
    {
        let nodes = self.len();
        let mut links = vec![NONE; nodes * self.width];
        let mut upper = HashMap::new();
        let mut entry: Option<(u32, usize)> = None;
        let points = graph.get_point_indexation();
        for point in points {
            let node = point.get_origin_id();
            if node >= nodes {
                continue;
            }
            let layers = point.get_neighborhood_id();
            let level = usize::from(point.get_point_id().0);
            let row = &mut links[node * self.width..(node + 1) * self.width];
            let to = |l: &Vec<hnsw_rs::hnsw::Neighbour>| -> Vec<u32> {
                l.iter()
                    .map(|n| n.d_id)
                    .filter(|&d| d < nodes)
                    .map(|d| d as u32)
                    .collect()
            };
            if let Some(l0) = layers.first() {
                for (slot, d) in row.iter_mut().zip(to(l0)) {
                    *slot = d;
                }
            }
            if level > 0 {
                let lists: Vec<Vec<u32>> = (1..=level)
                    .map(|l| layers.get(l).map(to).unwrap_or_default())
                    .collect();
                upper.insert(node as u32, lists);
            }
            if entry.is_none_or(|(_, top)| level > top) {
                entry = Some((node as u32, level));
            }
        }
        self.links = links;
        self.upper = upper;
        self.entry = entry;
        self.linked = nodes;
    }

    fn row(&self, node: u32) -> &[u32] {
        let at = node as usize * self.width;
        &self.links[at..at + self.width]
    }

    fn upper_links(&self, node: u32, layer: usize) -> &[u32] {
        self.upper
            .get(&node)
            .and_then(|ls| ls.get(layer - 1))
            .map_or(&[], Vec::as_slice)
    }

    /// The `k` nodes nearest `query` (a unit vector) that `keep` accepts,
    /// with their cosine distance, nearest first. `ef` (at least `k`)
    /// bounds the beam; `filtered` says `keep` may reject some, so the
    /// walk stops only once `ef` accepted nodes are found.
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filtered: bool,
        keep: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let ef = ef.max(k);
        let mut best: BinaryHeap<(Distance, u32)> = BinaryHeap::with_capacity(ef + 1);
        if let Some((entry, top)) = self.entry {
            self.walk(query, entry, top, ef, filtered, &keep, &mut best);
        }
        // Nodes added since the last relink: compared one by one.
        for node in self.linked..self.len() {
            let node = node as u32;
            if keep(node) {
                best.push((self.distance(query, node), node));
                if best.len() > ef {
                    best.pop();
                }
            }
        }
        let mut found: Vec<(u32, f32)> = best
            .into_sorted_vec()
            .into_iter()
            .map(|(d, n)| (n, d.0))
            .collect();
        found.truncate(k);
        found
    }

    /// hnswlib's walk: greedy down the upper layers, then a beam of `ef`
    /// on layer 0, the accepted nodes gathered in `best`.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        query: &[f32],
        entry: u32,
        top: usize,
        ef: usize,
        filtered: bool,
        keep: &impl Fn(u32) -> bool,
        best: &mut BinaryHeap<(Distance, u32)>,
    ) {
        let (mut at, mut here) = (entry, self.distance(query, entry));
        for layer in (1..=top).rev() {
            let mut moved = true;
            while moved {
                moved = false;
                for &n in self.upper_links(at, layer) {
                    let d = self.distance(query, n);
                    if d < here {
                        (at, here, moved) = (n, d, true);
                    }
                }
            }
        }
        let mut visited = vec![0u64; self.linked.div_ceil(64)];
        let mut seen = |n: u32| {
            let (word, bit) = (n as usize / 64, 1u64 << (n % 64));
            let was = visited[word] & bit != 0;
            visited[word] |= bit;
            was
        };
        seen(at);
        let mut frontier = BinaryHeap::with_capacity(4 * ef);
        frontier.push(Reverse((here, at)));
        let mut bound = Distance(f32::INFINITY);
        if keep(at) {
            best.push((here, at));
            bound = here;
        }
        while let Some(Reverse((d, node))) = frontier.pop() {
            if d > bound && (best.len() >= ef || !filtered) {
                break;
            }
            for &n in self.row(node) {
                if n == NONE {
                    break;
                }
                if seen(n) {
                    continue;
                }
                let dn = self.distance(query, n);
                if best.len() < ef || dn < bound {
                    frontier.push(Reverse((dn, n)));
                    if keep(n) {
                        best.push((dn, n));
                        if best.len() > ef {
                            best.pop();
                        }
                        if let Some(&(worst, _)) = best.peek() {
                            bound = worst;
                        }
                    }
                }
            }
        }
    }

    /// The `k` nodes nearest `query` among `candidates`, compared one by
    /// one, nearest first.
    pub(crate) fn scan(
        &self,
        query: &[f32],
        k: usize,
        candidates: impl Iterator<Item = u32>,
    ) -> Vec<(u32, f32)> {
        let mut found: Vec<(u32, f32)> =
            candidates.map(|n| (n, self.distance(query, n).0)).collect();
        found.sort_by(|a, b| a.1.total_cmp(&b.1));
        found.truncate(k);
        found
    }
}
