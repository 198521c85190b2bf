//! Hybrid search: a full-text ranking and a vector ranking fused by
//! reciprocal rank fusion (RRF), then weighed with importance (recency,
//! success, access frequency) into one score whose parts are reported.

use super::{Memory, MemoryFilter, MemoryOutcome};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// RRF's constant: a rank `r` adds `1 / (K + r)` (ranks from 1).
pub const RRF_K: f64 = 60.0;

/// Recency halves every this many days.
pub const RECENCY_HALF_LIFE_DAYS: f64 = 7.0;

/// Accesses at which the frequency part reaches 1.
pub const FREQUENT: f64 = 100.0;

/// A search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// What to look for.
    pub query: String,
    /// How many results (default 10, at most 100).
    pub limit: Option<u32>,
    /// Which memories to consider.
    #[serde(default, flatten)]
    pub filter: MemoryFilter,
}

/// How much each part counts in a score (`SKYNET_MEMORY_WEIGHTS`, e.g.
/// `relevance=0.6,recency=0.2,success=0.1,frequency=0.1`). Weights are
/// used as given (they need not sum to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// The fused text and vector rank, normalised to the best result.
    pub relevance: f64,
    /// `0.5 ^ (age in days / 7)` since the last access.
    pub recency: f64,
    /// 1 for a success, 0 for a failure, 0.5 otherwise.
    pub success: f64,
    /// `ln(1 + accesses) / ln(1 + 100)`, at most 1.
    pub frequency: f64,
    /// The memory's own base importance.
    pub importance: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            relevance: 0.6,
            recency: 0.15,
            success: 0.1,
            frequency: 0.05,
            importance: 0.1,
        }
    }
}

impl Weights {
    /// The fused rank alone: results in the order of their match, as a
    /// plain similarity search gives them.
    pub(crate) fn relevance_only() -> Self {
        Weights {
            relevance: 1.0,
            recency: 0.0,
            success: 0.0,
            frequency: 0.0,
            importance: 0.0,
        }
    }

    /// Parse `name=value,…` over the defaults ([`Error::Config`] on an
    /// unknown name or a value that is not a finite number ≥ 0).
    pub fn parse(text: &str) -> Result<Self> {
        let mut w = Weights::default();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| bad(pair))?;
            let value: f64 = value.trim().parse().map_err(|_| bad(pair))?;
            if !value.is_finite() || value < 0.0 {
                return Err(bad(pair));
            }
            match name.trim() {
                "relevance" => w.relevance = value,
                "recency" => w.recency = value,
                "success" => w.success = value,
                "frequency" => w.frequency = value,
                "importance" => w.importance = value,
                _ => return Err(bad(pair)),
            }
        }
        Ok(w)
    }

    /// The weights of `SKYNET_MEMORY_WEIGHTS`, or the defaults when unset.
    pub fn from_env() -> Result<Self> {
        match std::env::var("SKYNET_MEMORY_WEIGHTS") {
            Ok(text) => Weights::parse(&text),
            Err(_) => Ok(Weights::default()),
        }
    }
}

fn bad(pair: &str) -> Error {
    Error::Config(format!(
        "SKYNET_MEMORY_WEIGHTS: {pair:?} is not name=number (names: relevance, recency, \
         success, frequency, importance; numbers ≥ 0)"
    ))
}

/// A score's parts, each 0 to 1 (ranks from 1, absent when the memory was
/// not in that ranking).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreParts {
    /// Its place in the full-text ranking.
    pub text_rank: Option<u32>,
    /// Its place in the vector ranking.
    pub vector_rank: Option<u32>,
    /// Cosine similarity to the query.
    pub similarity: f64,
    /// Fused rank, normalised to the best result.
    pub relevance: f64,
    /// Recency.
    pub recency: f64,
    /// Success.
    pub success: f64,
    /// Access frequency.
    pub frequency: f64,
    /// Base importance.
    pub importance: f64,
}

impl ScoreParts {
    /// The weighted sum.
    pub fn score(&self, w: &Weights) -> f64 {
        w.relevance * self.relevance
            + w.recency * self.recency
            + w.success * self.success
            + w.frequency * self.frequency
            + w.importance * self.importance
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The memory.
    pub memory: Memory,
    /// Its score.
    pub score: f64,
    /// The score's parts.
    pub parts: ScoreParts,
}

/// Recency of a memory last accessed at `at`, seen `now`.
pub fn recency(at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let days = (now - at).num_milliseconds().max(0) as f64 / 86_400_000.0;
    0.5f64.powf(days / RECENCY_HALF_LIFE_DAYS)
}

/// Success of an outcome.
pub fn success(outcome: Option<MemoryOutcome>) -> f64 {
    match outcome {
        Some(MemoryOutcome::Success) => 1.0,
        Some(MemoryOutcome::Failure) => 0.0,
        _ => 0.5,
    }
}

/// Frequency of `accesses`.
pub fn frequency(accesses: u64) -> f64 {
    ((1.0 + accesses as f64).ln() / (1.0 + FREQUENT).ln()).min(1.0)
}

/// The full-text terms of a query: lower-cased runs of letters and digits
/// (so nothing in them is query syntax), without duplicates.
pub fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
    {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The matches a search's full-text ranking reads at most: at 100,000
/// memories a word most of them contain has tens of thousands of matches,
/// and ranking them all by bm25 took longer than the rest of a search
/// together.
pub const TEXT_BUDGET: u32 = 2_000;

/// How a full-text search ranks, given each term's match count (counted
/// up to more than the budget).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextRanking {
    /// By relevance (bm25, `ts_rank`) over matches of any of these terms:
    /// together they match at most the budget.
    Ranked(Vec<String>),
    /// By how many of the terms a memory contains, in the
    /// [`text_levels`] of these terms (rarest first), each read only as far
    /// as the search's limit: no relevance function reads every match of
    /// a common word.
    Levels(Vec<String>),
}

/// The conjunctions [`TextRanking::Levels`] reads, best first, of terms
/// rarest first: all of them, then all but the commonest, and so on down
/// to the rarest alone; then each other term alone, rarer first.
pub fn text_levels(terms: &[String]) -> impl Iterator<Item = &[String]> {
    let prefixes = (1..=terms.len()).rev().map(|n| &terms[..n]);
    let singles = (1..terms.len()).map(|i| &terms[i..=i]);
    prefixes.chain(singles)
}

/// The [`TextRanking`] for these match counts: terms matching nothing are
/// dropped (`None` when none is left).
pub fn text_ranking(mut counts: Vec<(String, u64)>, budget: u32) -> Option<TextRanking> {
    counts.retain(|(_, n)| *n > 0);
    // Stable: equally common terms keep the query's order.
    counts.sort_by_key(|(_, n)| *n);
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let terms: Vec<String> = counts.into_iter().map(|(t, _)| t).collect();
    match terms.is_empty() {
        true => None,
        false if total <= u64::from(budget) => Some(TextRanking::Ranked(terms)),
        false => Some(TextRanking::Levels(terms)),
    }
}

/// Rank `candidates` for a query: `text_ids` is the full-text ranking
/// (best first; ids not among the candidates are ignored), `query_vector`
/// gives the vector ranking (memories with a vector of another dimension
/// are not in it). A memory in neither ranking is left out. Best first, at
/// most `limit`.
pub fn rank(
    candidates: Vec<Memory>,
    text_ids: &[String],
    query_vector: &[f32],
    now: DateTime<Utc>,
    weights: &Weights,
    limit: usize,
) -> Vec<Scored> {
    let none = std::collections::HashMap::new();
    let similarity = similarity_to(query_vector, &none);
    rank_by(candidates, text_ids, similarity, now, weights, limit)
}

/// Each memory's similarity to `query`: the one in `known` (the vector
/// index's) by id, else the cosine of its vector, if it has one of the
/// query's dimension.
pub fn similarity_to<'a>(
    query: &'a [f32],
    known: &'a std::collections::HashMap<String, f64>,
) -> impl Fn(&Memory) -> Option<f64> + 'a {
    move |m| match known.get(&m.id) {
        Some(s) => Some(*s),
        None => (m.embedding.len() == query.len() && !query.is_empty())
            .then(|| f64::from(super::cosine(&m.embedding, query))),
    }
}

/// [`rank`] with each candidate's similarity to the query given by
/// `similarity` (`None`: not in the vector ranking), for candidates whose
/// similarity the vector index already computed.
pub fn rank_by(
    candidates: Vec<Memory>,
    text_ids: &[String],
    similarity: impl Fn(&Memory) -> Option<f64>,
    now: DateTime<Utc>,
    weights: &Weights,
    limit: usize,
) -> Vec<Scored> {
    let mut parts: Vec<ScoreParts> = vec![ScoreParts::default(); candidates.len()];
    let index: std::collections::HashMap<&str, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut r = 0;
    for id in text_ids {
        if let Some(&i) = index.get(id.as_str()) {
            r += 1;
            parts[i].text_rank = Some(r);
        }
    }
    let mut by_vector: Vec<(usize, f64)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, similarity(m)?)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    by_vector.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (r, (i, sim)) in by_vector.iter().enumerate() {
        parts[*i].vector_rank = Some(r as u32 + 1);
        parts[*i].similarity = *sim;
    }
    let rrf = |p: &ScoreParts| {
        p.text_rank.map_or(0.0, |r| 1.0 / (RRF_K + f64::from(r)))
            + p.vector_rank.map_or(0.0, |r| 1.0 / (RRF_K + f64::from(r)))
    };
    let best = parts.iter().map(rrf).fold(0.0, f64::max);
    let mut out: Vec<Scored> = candidates
        .into_iter()
        .zip(parts)
        .filter(|(_, p)| p.text_rank.is_some() || p.vector_rank.is_some())
        .map(|(memory, mut p)| {
            p.relevance = if best > 0.0 { rrf(&p) / best } else { 0.0 };
            p.recency = recency(memory.last_accessed_at, now);
            p.success = success(memory.outcome);
            p.frequency = frequency(memory.access_count);
            p.importance = memory.importance;
            Scored {
                score: p.score(weights),
                memory,
                parts: p,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.memory.id.cmp(&a.memory.id))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryType, NewMemory};

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn parts_match_hand_computed_values() {
        let now = Utc::now();
        close(recency(now, now), 1.0);
        close(recency(now - chrono::Duration::days(7), now), 0.5);
        close(recency(now - chrono::Duration::days(14), now), 0.25);
        close(success(Some(MemoryOutcome::Success)), 1.0);
        close(success(Some(MemoryOutcome::Failure)), 0.0);
        close(success(None), 0.5);
        close(frequency(0), 0.0);
        close(frequency(100), 1.0);
        close(frequency(10), 11f64.ln() / 101f64.ln()); // 0.51955…
        close(frequency(10_000), 1.0);
        // relevance 1, recency 0.5, success 0, frequency 0, importance 0.7,
        // default weights: 0.6 + 0.075 + 0 + 0 + 0.07.
        let p = ScoreParts {
            relevance: 1.0,
            recency: 0.5,
            success: 0.0,
            importance: 0.7,
            ..Default::default()
        };
        close(p.score(&Weights::default()), 0.745);
    }

    #[test]
    fn weights_parse_over_defaults_and_refuse_nonsense() {
        let w = Weights::parse("relevance=1, recency=0").expect("parse");
        close(w.relevance, 1.0);
        close(w.recency, 0.0);
        close(w.success, Weights::default().success);
        for bad in [
            "speed=1",
            "relevance",
            "relevance=-1",
            "relevance=NaN",
            "recency=x",
        ] {
            assert!(
                matches!(Weights::parse(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn text_ranking_is_relevance_within_the_budget_and_levels_beyond() {
        let counts = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
            pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
        };
        let found = [("check", 1_500), ("host", 2_001), ("17", 40), ("nginx", 0)];
        assert_eq!(
            text_ranking(counts(&found), 5_000),
            Some(TextRanking::Ranked(vec![
                "17".into(),
                "check".into(),
                "host".into()
            ]))
        );
        assert_eq!(
            text_ranking(counts(&found), 2_000),
            Some(TextRanking::Levels(vec![
                "17".into(),
                "check".into(),
                "host".into()
            ])),
            "rarest first; nginx matches nothing"
        );
        assert_eq!(
            text_ranking(counts(&[("a", 2), ("b", 2)]), 4),
            Some(TextRanking::Ranked(vec!["a".into(), "b".into()]))
        );
        assert_eq!(text_ranking(counts(&[("none", 0)]), 10), None);
        let terms: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let levels: Vec<&[String]> = text_levels(&terms).collect();
        assert_eq!(
            levels,
            [
                &terms[..],
                &terms[..2],
                &terms[..1],
                &terms[1..2],
                &terms[2..3]
            ]
        );
        assert_eq!(text_ranking(Vec::new(), 10), None);
    }

    #[test]
    fn terms_are_plain_words() {
        assert_eq!(
            terms("Git  status OR \"x\" NEAR(a) git"),
            ["git", "status", "or", "x", "near", "a"]
        );
    }

    #[test]
    fn fusion_ranks_a_memory_in_both_rankings_first() {
        let now = Utc::now();
        let make = |text: &str, v: Vec<f32>| {
            let mut m = NewMemory {
                content: text.into(),
                memory_type: Some(MemoryType::Note),
                ..Default::default()
            }
            .into_memory(crate::Principal::local(), now)
            .expect("memory");
            m.embedding = v;
            m
        };
        let a = make("a", vec![1.0, 0.0]);
        let b = make("b", vec![0.8, 0.6]);
        let c = make("c", vec![0.0, 1.0]);
        let weights = Weights::relevance_only();
        // Text: b then c. Vector (query [1, 0]): a (1.0), b (0.8); c's
        // cosine is 0, so it is not in the vector ranking.
        let text = vec![b.id.clone(), c.id.clone(), "not-a-candidate".into()];
        let out = rank(
            vec![a.clone(), b.clone(), c.clone()],
            &text,
            &[1.0, 0.0],
            now,
            &weights,
            10,
        );
        let ids: Vec<&str> = out.iter().map(|s| s.memory.content.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
        // b: 1/61 + 1/62, the best; a: 1/61; c: 1/62.
        let best = 1.0 / 61.0 + 1.0 / 62.0;
        close(out[0].score, 1.0);
        close(out[1].score, (1.0 / 61.0) / best);
        close(out[2].score, (1.0 / 62.0) / best);
        assert_eq!(out[0].parts.text_rank, Some(1));
        assert_eq!(out[0].parts.vector_rank, Some(2));
        assert_eq!(
            rank(vec![a, b, c], &[], &[1.0, 0.0, 0.0], now, &weights, 10).len(),
            0
        );
    }
}
