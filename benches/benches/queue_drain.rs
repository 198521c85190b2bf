//! Drain 10,000 no-op jobs (mock provider) through the real SQLite queue,
//! beside a raw SQLite claim-and-complete loop in the same process and run.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use skynet_core::planner::ScriptedPlanner;
use skynet_core::{Action, EngineConfig, Skynet, SubmitRequest, WorkerOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Executor};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const JOBS: u64 = 10_000;

/// Build an engine on a fresh SQLite file and queue `JOBS` no-op jobs.
async fn queued_engine(dir: &std::path::Path) -> Skynet {
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let sk = Skynet::builder()
        .database_url(url)
        .planner(Arc::new(ScriptedPlanner::new(vec![
            Action::ExecuteCommand {
                argv: vec!["true".into()],
            },
        ])))
        .default_provider("mock")
        .config(EngineConfig::default())
        .build()
        .await
        .expect("engine");
    for _ in 0..JOBS {
        sk.submit(SubmitRequest::new("noop").root(dir))
            .await
            .expect("submit");
    }
    sk
}

async fn drain(sk: &Skynet) {
    let opts = WorkerOptions {
        concurrency: 16,
        once: true,
        ..Default::default()
    };
    let report = sk
        .worker(opts, CancellationToken::new())
        .await
        .expect("worker");
    assert_eq!(report.jobs_finished as u64, JOBS);
}

/// The baseline: the least a durable SQLite queue must do per job, one
/// claim transaction and one completion transaction, same pragmas.
async fn raw_setup(dir: &std::path::Path) -> sqlx::SqliteConnection {
    let opts = SqliteConnectOptions::new()
        .filename(dir.join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .expect("raw db");
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, status TEXT NOT NULL, lease TEXT, attempts INTEGER NOT NULL DEFAULT 0)")
        .await
        .expect("table");
    conn.execute("CREATE INDEX q_status ON q(status, id)")
        .await
        .expect("index");
    let mut tx = conn.begin().await.expect("tx");
    for _ in 0..JOBS {
        sqlx::query("INSERT INTO q (status) VALUES ('queued')")
            .execute(&mut *tx)
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    conn
}

async fn raw_drain(conn: &mut sqlx::SqliteConnection) {
    let mut done = 0u64;
    loop {
        conn.execute("BEGIN IMMEDIATE").await.expect("begin");
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE q SET status='running', lease='l', attempts=attempts+1 \
             WHERE id = (SELECT id FROM q WHERE status='queued' ORDER BY id LIMIT 1) RETURNING id",
        )
        .fetch_optional(&mut *conn)
        .await
        .expect("claim");
        conn.execute("COMMIT").await.expect("commit");
        let Some((id,)) = row else { break };
        conn.execute("BEGIN IMMEDIATE").await.expect("begin");
        sqlx::query("UPDATE q SET status='succeeded', lease=NULL WHERE id=? AND lease='l'")
            .bind(id)
            .execute(&mut *conn)
            .await
            .expect("complete");
        conn.execute("COMMIT").await.expect("commit");
        done += 1;
    }
    assert_eq!(done, JOBS);
}

fn queue_drain(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("drain_10k_noop_jobs");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(JOBS));
    group.bench_function("skynet_sqlite_queue", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let sk = rt.block_on(queued_engine(dir.path()));
                let start = Instant::now();
                rt.block_on(drain(&sk));
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function("raw_sqlite_claim_complete", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut conn = rt.block_on(raw_setup(dir.path()));
                let start = Instant::now();
                rt.block_on(raw_drain(&mut conn));
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, queue_drain);
criterion_main!(benches);
