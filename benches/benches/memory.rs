//! Memory on the SQLite ledger with the offline embedder (issue 18): how
//! fast memories are stored one by one through the engine, and hybrid
//! search latency over 10,000 and 100,000 stored memories.
//!
//! The texts are seeded synthetic operations notes (`skynet_benches::corpus`,
//! shared with `memory-scale`: every run stores the same corpus). Search
//! goes through `Skynet::search_memories`: full text, the embedding of the
//! query, the fusion and the access bookkeeping, as a caller sees it.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use skynet_core::Skynet;
use skynet_core::memory::{NewMemory, SearchQuery};
use std::time::{Duration, Instant};

use skynet_benches::corpus::note;

async fn engine(dir: &std::path::Path) -> Skynet {
    Skynet::builder()
        .database_url(format!("sqlite://{}", dir.join("bench.db").display()))
        .build()
        .await
        .expect("engine")
}

async fn remember(sk: &Skynet, from: u64, to: u64) {
    for i in from..to {
        sk.remember(NewMemory {
            content: note(i),
            ..NewMemory::default()
        })
        .await
        .expect("remember");
    }
}

fn ingest(c: &mut Criterion) {
    const BATCH: u64 = 1_000;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("memory_ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("remember_1000_offline_embedder", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let sk = rt.block_on(engine(dir.path()));
                let start = Instant::now();
                rt.block_on(remember(&sk, 0, BATCH));
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

fn search(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("memory_search");
    group.sample_size(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = rt.block_on(engine(dir.path()));
    let mut stored = 0;
    for size in [10_000u64, 100_000] {
        rt.block_on(remember(&sk, stored, size));
        stored = size;
        group.bench_with_input(BenchmarkId::new("hybrid", size), &size, |b, _| {
            b.iter(|| {
                let found = rt
                    .block_on(sk.search_memories(&SearchQuery {
                        query: "restart nginx failed permission denied".into(),
                        limit: Some(10),
                        ..SearchQuery::default()
                    }))
                    .expect("search");
                assert!(!found.is_empty());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest, search);
criterion_main!(benches);
