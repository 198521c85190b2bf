//! Memory at scale (issue 18), release, in process, on the ledger the URL
//! names (SQLite file or PostgreSQL database, fresh).
//!
//! `memory-scale hybrid URL [N] [QUERIES]`: ingest N seeded operations
//! notes with the offline (hash) embedder through `Skynet::remember_many`
//! (batches of 1,000, one transaction each), build the vector index, then
//! time QUERIES hybrid searches (`Skynet::search_memories`, limit 10) and
//! measure recall@10 of the first 100 against an exact hybrid ranking over
//! every memory (the same fusion and weights, with every vector compared).
//!
//! `memory-scale vectors URL DIR [N] [QUERIES]`: N seeded random unit
//! vectors of dimension 384 and QUERIES query vectors, written to
//! `DIR/vectors.f32`, `DIR/queries.f32` (little-endian f32, row after
//! row) and the exact top 10 of each query to `DIR/truth.u32`, for
//! `benches/memory/chroma_peer.py`; then stored as memories (an embedder
//! that hands out these vectors) and searched with
//! `Skynet::similar_memories` (limit 10): latency and recall@10. With
//! `MEMSCALE_EF=32,64,…`, then the index alone at each search breadth.
//!
//! A ledger an earlier `hybrid` run filled (N + 500 memories) is searched
//! again without a new ingest; `MEMSCALE_NO_RECALL=1` skips the (slow)
//! exact recall pass; `MEMSCALE_SQL_PROFILE=1` prints the time per SQL
//! statement of the timed searches.
//!
//! Run with `SKYNET_MEMORY_WEIGHTS=relevance=1,recency=0,success=0,frequency=0,importance=0`
//! for the hybrid recall, so the access counts searches leave behind do
//! not move the exact ranking between the two runs.

use async_trait::async_trait;
use skynet_core::memory::{Embedder, HashEmbedder, MemoryFilter, NewMemory, SearchQuery};
use skynet_core::principal::Visibility;
use skynet_core::{SimilarTo, Skynet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skynet_benches::corpus::{mix, note, query};

const DIM: usize = 384;
const BATCH: usize = 1_000;

/// A seeded random unit vector (normal coordinates, Box-Muller).
fn unit_vector(seed: u64) -> Vec<f32> {
    let mut v = Vec::with_capacity(DIM);
    let mut k = seed.wrapping_mul(1_000_003);
    while v.len() < DIM {
        k += 1;
        let u1 = ((mix(k) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        k += 1;
        let u2 = (mix(k) >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        v.push((r * (std::f64::consts::TAU * u2).cos()) as f32);
        v.push((r * (std::f64::consts::TAU * u2).sin()) as f32);
    }
    v.truncate(DIM);
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= norm);
    v
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// p-th percentile of sorted `xs`.
fn pct(xs: &[Duration], p: f64) -> f64 {
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i].as_secs_f64() * 1e3
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn engine(url: &str, embedder: Option<Arc<dyn Embedder>>) -> anyhow::Result<Skynet> {
    let mut b = Skynet::builder().database_url(url);
    // The settings this bench varies (the builder reads no
    // environment): the index's search breadth, and its build breadth
    // (a cheaper graph for profiling the rest of a search).
    let mut config = skynet_core::engine::EngineConfig::default();
    if let Ok(ef) = std::env::var("SKYNET_MEMORY_INDEX_EF") {
        config.memory_index.ef_search = ef.parse()?;
    }
    if let Ok(ef) = std::env::var("SKYNET_MEMORY_INDEX_EF_CONSTRUCTION") {
        config.memory_index.ef_construction = ef.parse()?;
    }
    b = b.config(config);
    if let Some(e) = embedder {
        b = b.embedder(e);
    }
    Ok(b.build().await?)
}

async fn ingest(sk: &Skynet, contents: impl Iterator<Item = String>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for content in contents {
        batch.push(NewMemory {
            content,
            ..Default::default()
        });
        if batch.len() == BATCH {
            sk.remember_many(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        sk.remember_many(batch).await?;
    }
    Ok(started.elapsed())
}

/// On PostgreSQL, `VACUUM ANALYZE memories`, as autovacuum does after a
/// bulk import (and after the updates of an earlier run's access counts)
/// on a default server; this machine's test server runs without it.
/// Full-text ranking reads word frequencies from the statistics.
async fn analyze(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    if !url.starts_with("postgres") {
        return Ok(());
    }
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("VACUUM ANALYZE memories")
        .execute(&mut conn)
        .await?;
    println!("VACUUM ANALYZE memories: done");
    Ok(())
}

async fn build_index(sk: &Skynet) -> anyhow::Result<()> {
    let started = Instant::now();
    sk.load_memory_index().await?;
    let s = sk.memory_stats().await?;
    println!(
        "index: {} with {} vectors, ~{:.0} MB, built in {:.1} s (load {})",
        s.index,
        s.index_detail.vectors,
        s.index_detail.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        load_average()
    );
    anyhow::ensure!(s.index == "hnsw", "the index is not in use: {s:?}");
    Ok(())
}

async fn hybrid(url: &str, n: u64, queries: u64) -> anyhow::Result<()> {
    let sk = engine(url, None).await?;
    let held = sk.memory_stats().await?.counts.total;
    if held == n + 500 {
        // A ledger this bench filled before: time the searches again.
        println!("ingest: skipped, the ledger holds the {held} memories of an earlier run");
    } else {
        anyhow::ensure!(
            held == 0,
            "the ledger holds {held} memories: give a fresh one"
        );
        ingest_notes(&sk, n).await?;
    }
    analyze(url).await?;
    build_index(&sk).await?;
    let search = |j: u64| SearchQuery {
        query: query(j),
        limit: Some(10),
        filter: MemoryFilter::default(),
    };
    for j in 0..50 {
        sk.search_memories(&search(j)).await?;
    }
    skynet_benches::sql_profile::reset();
    let mut times = Vec::with_capacity(queries as usize);
    for j in 0..queries {
        let t = Instant::now();
        let found = sk.search_memories(&search(j)).await?;
        times.push(t.elapsed());
        anyhow::ensure!(found.len() == 10, "query {j} found {}", found.len());
    }
    skynet_benches::sql_profile::report("hybrid search");
    times.sort();
    println!(
        "hybrid search: {queries} queries, p50 {:.2} ms, p99 {:.2} ms (load {})",
        pct(&times, 0.5),
        pct(&times, 0.99),
        load_average()
    );
    if std::env::var_os("MEMSCALE_NO_RECALL").is_some() {
        return Ok(());
    }
    // Exact: every memory a candidate, every vector compared, with the
    // full-text ranking a search without the index uses (`TEXT_BUDGET`),
    // and again with bm25 / ts_rank over every match.
    let weights = skynet_core::memory::Weights::from_env()?;
    let all = sk.memories(&MemoryFilter::default(), u32::MAX).await?;
    let embedder = HashEmbedder::new();
    let checked = queries.min(100);
    let (mut hits, mut hits_bm25) = (0, 0);
    for j in 0..checked {
        let q = search(j);
        let got = sk.search_memories(&q).await?;
        let v = embedder
            .embed(std::slice::from_ref(&q.query))
            .await?
            .remove(0);
        let terms = skynet_core::memory::terms(&q.query);
        let now = chrono::Utc::now();
        for (budget, limit, hits) in [
            (
                skynet_core::memory::TEXT_BUDGET,
                skynet_core::engine::SEARCH_CANDIDATES,
                &mut hits,
            ),
            (u32::MAX, u32::MAX, &mut hits_bm25),
        ] {
            let text = sk
                .store()
                .text_search_memories(&terms, &Visibility::All, limit, budget)
                .await?;
            let exact = skynet_core::memory::rank(all.clone(), &text, &v, now, &weights, 10);
            let want: std::collections::HashSet<&str> =
                exact.iter().map(|s| s.memory.id.as_str()).collect();
            *hits += got
                .iter()
                .filter(|s| want.contains(s.memory.id.as_str()))
                .count();
        }
    }
    let recall = |hits: usize| hits as f64 / (checked * 10) as f64;
    println!(
        "hybrid recall@10 against exact over all {} memories ({checked} queries): {:.4}; \
         against exact with bm25 over every full-text match: {:.4}",
        all.len(),
        recall(hits),
        recall(hits_bm25)
    );
    Ok(())
}

/// Store notes 0..n in batches, then 500 more one by one, printing both
/// rates.
async fn ingest_notes(sk: &Skynet, n: u64) -> anyhow::Result<()> {
    let took = ingest(sk, (0..n).map(note)).await?;
    println!(
        "ingest: {n} memories (hash embedder, batches of {BATCH}) in {:.2} s: {:.0} records/s (load {})",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        load_average()
    );
    let started = Instant::now();
    for i in 0..500 {
        sk.remember(NewMemory {
            content: note(n + i),
            ..Default::default()
        })
        .await?;
    }
    let one = started.elapsed();
    println!(
        "ingest one by one (remember): 500 in {:.2} s: {:.0} records/s",
        one.as_secs_f64(),
        500.0 / one.as_secs_f64()
    );
    Ok(())
}

/// Hands out the bench's vectors: `v I` is vector I, `q J` query J.
struct FileEmbedder {
    vectors: Arc<Vec<Vec<f32>>>,
    queries: Arc<Vec<Vec<f32>>>,
}

#[async_trait]
impl Embedder for FileEmbedder {
    fn model_id(&self) -> &str {
        "bench-random-384"
    }
    fn dimension(&self) -> usize {
        DIM
    }
    async fn embed(&self, texts: &[String]) -> skynet_core::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let (kind, i) = t.split_once(' ').unwrap_or(("v", "0"));
                let i: usize = i.parse().unwrap_or(0);
                match kind {
                    "q" => self.queries[i].clone(),
                    _ => self.vectors[i].clone(),
                }
            })
            .collect())
    }
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        for x in r {
            f.write_all(&x.to_le_bytes())?;
        }
    }
    Ok(f.flush()?)
}

async fn vectors(url: &str, dir: &Path, n: u64, queries: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let vs: Vec<Vec<f32>> = (0..n).map(unit_vector).collect();
    let qs: Vec<Vec<f32>> = (0..queries).map(|j| unit_vector(10_000_000 + j)).collect();
    write_f32(&dir.join("vectors.f32"), &vs)?;
    write_f32(&dir.join("queries.f32"), &qs)?;
    let started = Instant::now();
    let truth: Vec<Vec<u32>> = qs
        .iter()
        .map(|q| {
            let mut s: Vec<(f32, u32)> = vs
                .iter()
                .enumerate()
                .map(|(i, v)| (dot(q, v), i as u32))
                .collect();
            s.select_nth_unstable_by(10, |a, b| b.0.total_cmp(&a.0));
            s.truncate(10);
            s.into_iter().map(|(_, i)| i).collect()
        })
        .collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("truth.u32"))?);
    for t in &truth {
        for i in t {
            f.write_all(&i.to_le_bytes())?;
        }
    }
    f.flush()?;
    println!(
        "exact top 10 of {queries} queries by brute force in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (embedder_vectors, query_vectors) = (Arc::new(vs), Arc::new(qs));
    let embedder = FileEmbedder {
        vectors: Arc::clone(&embedder_vectors),
        queries: Arc::clone(&query_vectors),
    };
    let sk = engine(url, Some(Arc::new(embedder))).await?;
    let took = ingest(&sk, (0..n).map(|i| format!("v {i}"))).await?;
    println!(
        "stored {n} vectors in {:.1} s (load {})",
        took.as_secs_f64(),
        load_average()
    );
    build_index(&sk).await?;
    let similar = |j: u64| SimilarTo::Content(format!("q {j}"));
    for j in 0..50 {
        sk.similar_memories(&similar(j), Some(10)).await?;
    }
    let mut times = Vec::with_capacity(queries as usize);
    let mut hits = 0;
    for j in 0..queries {
        let t = Instant::now();
        let found = sk.similar_memories(&similar(j), Some(10)).await?;
        times.push(t.elapsed());
        let want = &truth[j as usize];
        hits += found
            .iter()
            .filter_map(|s| s.memory.content.strip_prefix("v ")?.parse::<u32>().ok())
            .filter(|i| want.contains(i))
            .count();
    }
    times.sort();
    println!(
        "vector search (similar_memories, k=10): {queries} queries, p50 {:.3} ms, p99 {:.3} ms, \
         recall@10 {:.4} (load {})",
        pct(&times, 0.5),
        pct(&times, 0.99),
        hits as f64 / (queries * 10) as f64,
        load_average()
    );
    if let Ok(efs) = std::env::var("MEMSCALE_EF") {
        drop(sk);
        sweep(&embedder_vectors, &query_vectors, &truth, &efs)?;
    }
    Ok(())
}

/// `MEMSCALE_EF=32,64,…`: the index alone (`VectorIndex`, built with
/// the engine's defaults) searched at each breadth, for the curve of
/// latency against recall beside Chroma's; the engine's own search adds
/// reading the candidates back from the ledger.
fn sweep(vs: &[Vec<f32>], qs: &[Vec<f32>], truth: &[Vec<u32>], efs: &str) -> anyhow::Result<()> {
    use skynet_core::memory::index::{EF_CONSTRUCTION, IndexedVector, VectorIndex};
    let started = Instant::now();
    let mut index = VectorIndex::new(DIM, vs.len(), EF_CONSTRUCTION);
    let items: Vec<IndexedVector> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| IndexedVector {
            id: i.to_string(),
            principal: "local".into(),
            created_at: 0,
            vector: v.clone(),
        })
        .collect();
    for chunk in items.chunks(10_000) {
        index.insert(chunk);
    }
    println!(
        "index alone: built in {:.1} s (load {})",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    for ef in efs.split(',').filter(|e| !e.is_empty()) {
        let ef: usize = ef.trim().parse()?;
        for q in qs.iter().take(50) {
            index.search(q, 10, ef, None);
        }
        let mut times = Vec::with_capacity(qs.len());
        let mut hits = 0;
        for (q, want) in qs.iter().zip(truth) {
            let t = Instant::now();
            let found = index.search(q, 10, ef, None);
            times.push(t.elapsed());
            hits += found
                .iter()
                .filter_map(|n| n.id.parse::<u32>().ok())
                .filter(|i| want.contains(i))
                .count();
        }
        times.sort();
        println!(
            "index alone (VectorIndex::search, k=10, ef {ef}): p50 {:.3} ms, p99 {:.3} ms, \
             recall@10 {:.4} (load {})",
            pct(&times, 0.5),
            pct(&times, 0.99),
            hits as f64 / (qs.len() * 10) as f64,
            load_average()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("MEMSCALE_SQL_PROFILE").is_some() {
        skynet_benches::sql_profile::install();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> anyhow::Result<u64> {
        Ok(args
            .get(i)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    match args.first().map(String::as_str) {
        Some("hybrid") if args.len() >= 2 => {
            hybrid(&args[1], num(2, 100_000)?, num(3, 1_000)?).await
        }
        Some("vectors") if args.len() >= 3 => {
            vectors(
                &args[1],
                &PathBuf::from(&args[2]),
                num(3, 100_000)?,
                num(4, 1_000)?,
            )
            .await
        }
        _ => anyhow::bail!(
            "usage: memory-scale hybrid URL [N] [QUERIES] | memory-scale vectors URL DIR [N] [QUERIES]"
        ),
    }
}
