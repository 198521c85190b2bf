//! The store conformance suite against SQLite: a fresh temp-file database
//! per test, plus a few cases on `sqlite::memory:`.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod conformance;

use conformance::Backend;
use skynet_core::store::{self, Completion, SharedStore};

/// A fresh SQLite file in a temp dir, reopenable and open to raw SQL.
async fn sqlite_file() -> Option<Backend> {
    let dir = tempfile::tempdir().expect("temp dir");
    // A missing parent directory is created by the store.
    let path = dir.path().join("data").join("ledger.db");
    let url = format!("sqlite://{}", path.display());
    let store = store::connect(&url).await.expect("open the SQLite store");
    assert_eq!(store.backend(), "sqlite");
    Some(Backend::at::<sqlx::SqliteConnection>(
        store,
        url,
        Box::new(dir),
    ))
}

/// A fresh in-memory database.
async fn sqlite_memory() -> Option<Backend> {
    Some(Backend {
        store: store::connect("sqlite::memory:")
            .await
            .expect("open memory"),
        reopen: None,
        raw_sql: None,
        keep: Box::new(()),
    })
}

conformance_tests!(sqlite_file);

mod memory {
    use super::sqlite_memory;
    conformance_tests!(sqlite_memory;
        insert_get_list_filter,
        transition_table_is_enforced_for_every_pair,
        concurrent_claimers_claim_each_job_once,
        event_chain_verifies,
        stale_approval_changes_nothing,
        unknown_id_is_not_found_everywhere,
    );
}

/// Several handles (as several processes would) opening one fresh file at
/// once all get a migrated, working store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_of_a_fresh_file_all_migrate() {
    for round in 0..10 {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let (url, barrier) = (url.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store::connect(&url).await
                })
            })
            .collect();
        let mut stores = Vec::new();
        for open in opens {
            let opened = open.await.expect("task");
            stores.push(opened.unwrap_or_else(|e| panic!("round {round}: open failed: {e}")));
        }
        let job = conformance::test_job(&[skynet_core::RiskLevel::ReadOnly]);
        let (job, _) = stores[0].insert_job(&job).await.expect("insert");
        for store in &stores {
            assert_eq!(store.get_job(&job.id).await.expect("get").id, job.id);
        }
    }
}

/// A URL naming no usable file is a clear error, not a panic.
#[tokio::test]
async fn unusable_path_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let url = format!("sqlite://{}/ledger.db", blocker.display());
    let err = store::connect(&url).await.err().expect("must fail");
    assert!(
        matches!(
            err,
            skynet_core::Error::Store(_) | skynet_core::Error::StoreCause { .. }
        ),
        "{err}"
    );
}

/// Rough claim+complete throughput on one file: `cargo test -p skynet-core
/// --test store_conformance --release -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput_claim_complete() {
    for workers in [1usize, 4] {
        let backend = sqlite_file().await.expect("SQLite needs no service");
        let store = backend.store.clone();
        let n = 2000;
        let started = std::time::Instant::now();
        for _ in 0..n {
            store
                .insert_job(&conformance::test_job(&[skynet_core::RiskLevel::ReadOnly]))
                .await
                .expect("insert");
        }
        let inserted = started.elapsed();
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for w in 0..workers {
            let store: SharedStore = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = 0;
                loop {
                    let jobs = store
                        .claim(&format!("w{w}"), conformance::LONG, 1)
                        .await
                        .expect("claim");
                    let Some(job) = jobs.into_iter().next() else {
                        return done;
                    };
                    let lease = job.lease.expect("lease").id;
                    store
                        .complete(&job.id, &lease, Completion::Succeeded)
                        .await
                        .expect("complete");
                    done += 1;
                }
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        let took = started.elapsed();
        assert_eq!(total, n);
        println!(
            "sqlite file, {workers} worker(s): {n} inserts in {inserted:?} ({:.0}/s); \
             {n} claim+complete cycles in {took:?} ({:.0}/s)",
            n as f64 / inserted.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
}

/// Writers cancelled at any point of their transaction (a heartbeat task
/// aborted at the end of a run, an HTTP client hanging up) must not leave
/// the single write connection inside a transaction nobody owns: every
/// write after them still works. Aborts land at varied points, including
/// while sqlx acknowledges a `BEGIN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_cancelled_mid_transaction_leave_the_store_usable() {
    use conformance::{running, test_job};
    use skynet_core::RiskLevel;
    use std::time::Duration;
    let backend = sqlite_file().await.unwrap();
    let store = backend.store.clone();
    let lease = Duration::from_secs(60);
    let (job, lease_id) = running(&store, &[RiskLevel::ReadOnly], lease).await;
    for round in 0..400u32 {
        let (s, id, l) = (store.clone(), job.id.clone(), lease_id.clone());
        let task = tokio::spawn(async move { s.heartbeat(&id, &l, lease).await });
        // Abort after a varying number of scheduler turns (and sometimes a
        // short sleep), so some aborts hit each await of the write.
        for _ in 0..(round % 23) {
            tokio::task::yield_now().await;
        }
        if round % 5 == 0 {
            tokio::time::sleep(Duration::from_micros(u64::from(round % 7) * 50)).await;
        }
        task.abort();
        let _ = task.await;
        store
            .heartbeat(&job.id, &lease_id, lease)
            .await
            .unwrap_or_else(|e| panic!("round {round}: a write after a cancelled one failed: {e}"));
    }
    // Other kinds of write still work too.
    let other = store.insert_job(&test_job(&[RiskLevel::ReadOnly])).await;
    assert!(other.is_ok(), "{other:?}");
}

/// Built without the PostgreSQL backend, its URL is refused with an error
/// that names the missing feature.
#[cfg(not(feature = "postgres"))]
#[tokio::test]
async fn a_compiled_out_backend_names_its_feature() {
    let Err(e) = store::connect("postgres://postgres@127.0.0.1/x").await else {
        panic!("a PostgreSQL URL opened a store without the postgres feature");
    };
    assert!(matches!(e, skynet_core::Error::Config(_)), "{e}");
    assert!(e.to_string().contains("feature `postgres`"), "{e}");
}
