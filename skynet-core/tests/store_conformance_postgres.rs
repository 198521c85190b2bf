//! The store conformance suite against a real PostgreSQL server
//! (`SKYNET_TEST_POSTGRES_URL`, e.g. `postgres://postgres@127.0.0.1:5432/postgres`;
//! `scripts/test` sets it). Every test gets its own fresh database, so runs
//! and tests never collide. Without the variable, each test says it skipped.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod conformance;
mod service;

use conformance::Backend;
use skynet_core::store::{self, postgres};

/// The server URL, or `None` (and a note that the test skipped).
fn server_url() -> Option<String> {
    service::service_var("store_conformance_postgres", "SKYNET_TEST_POSTGRES_URL")
}

/// A fresh database on the test server, migrated, with raw SQL access.
async fn pg_fresh() -> Option<Backend> {
    let server = server_url()?;
    let url = postgres::create_scratch_database(&server, "skynet_t")
        .await
        .expect("create a test database");
    let store = store::connect(&url)
        .await
        .expect("open the PostgreSQL store");
    assert_eq!(store.backend(), "postgres");
    Some(Backend::at::<sqlx::PgConnection>(store, url, Box::new(())))
}

conformance_tests!(pg_fresh);

/// Wait for the next tick of a work signal, failing after 10 s.
async fn next_tick(signal: &mut tokio::sync::watch::Receiver<u64>, what: &str) {
    tokio::time::timeout(std::time::Duration::from_secs(10), signal.changed())
        .await
        .unwrap_or_else(|_| panic!("no wake-up: {what}"))
        .expect("the listener is running");
}

/// Another handle's listener wakes when a job is inserted queued (the store
/// announces it after the commit) and when a planned job is approved (the
/// trigger), as a worker in another process would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_inserts_and_approvals_wake_listeners_of_another_handle() {
    use skynet_core::JobStatus;
    let Some(backend) = pg_fresh().await else {
        return;
    };
    let other = (backend.reopen.as_ref().unwrap())().await;
    let mut signal = other.work_signal().expect("PostgreSQL has a work signal");
    next_tick(&mut signal, "the listener ticks once it listens").await;
    conformance::insert(
        &backend.store,
        conformance::test_job(&[skynet_core::RiskLevel::ReadOnly]),
    )
    .await;
    next_tick(&mut signal, "a queued insert").await;
    let planned = conformance::insert(
        &backend.store,
        conformance::job_in(JobStatus::Planned, &[skynet_core::RiskLevel::Write]),
    )
    .await;
    let approval = skynet_core::job::Approval {
        approver: "tester".into(),
        plan_hash: planned.plan.as_ref().unwrap().hash.clone(),
        at: chrono::Utc::now(),
    };
    backend.store.approve(&planned.id, approval).await.unwrap();
    next_tick(&mut signal, "an approval").await;
}
