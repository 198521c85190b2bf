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

/// A handler that keeps the subjects of the `error` events it is given.
#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl skynet_core::events::EventHandler for Collect {
    fn name(&self) -> &str {
        "collect"
    }
    async fn handle(&self, event: &skynet_core::events::SystemEvent) -> skynet_core::Result<()> {
        if let skynet_core::events::EventPayload::Error(n) = &event.payload {
            self.0.lock().unwrap().push(n.subject.clone());
        }
        Ok(())
    }
}

/// Poll `consumer` until `handler` holds `want` subjects (10 s at most).
async fn poll_until(consumer: &skynet_core::events::Consumer, handler: &Collect, want: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        consumer.poll_once(&[], handler).await.unwrap();
        let got = handler.0.lock().unwrap().clone();
        if got.len() >= want.len() || std::time::Instant::now() > deadline {
            assert_eq!(got, want);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Insert an `error` event with `subject` on a raw connection (inside
/// whatever transaction it has open).
async fn raw_event(conn: &mut sqlx::PgConnection, subject: &str) {
    sqlx::query(
        "INSERT INTO event_log (type, at, source, payload) VALUES ('error', 0, 'test', $1)",
    )
    .bind(format!(r#"{{"subject":"{subject}","message":"m"}}"#))
    .execute(conn)
    .await
    .unwrap();
}

/// Concurrent writers where the event with the lower id commits last: a
/// durable consumer delivers both, never skipping the late one (the
/// transaction-id horizon). Two orders: the late transaction also holds
/// the lower transaction id, or a higher one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_id_committed_late_is_never_skipped() {
    use sqlx::Connection;
    let Some(server) = server_url() else { return };
    let url = postgres::create_scratch_database(&server, "skynet_t")
        .await
        .unwrap();
    let store = store::connect(&url).await.unwrap();
    let consumer = skynet_core::events::Consumer::new(store.clone(), "collect");
    let handler = Collect::default();

    // Lower id, lower xid, committed after a later writer.
    let mut late = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut late).await.unwrap();
    raw_event(&mut late, "late").await;
    let on_time = skynet_core::events::NewSystemEvent::now(
        "test",
        skynet_core::events::EventPayload::Error(skynet_core::events::Notice {
            subject: "on time".into(),
            message: "m".into(),
        }),
    );
    store.record_event(&on_time).await.unwrap();
    for _ in 0..5 {
        assert_eq!(consumer.poll_once(&[], &handler).await.unwrap(), 0);
    }
    sqlx::query("COMMIT").execute(&mut late).await.unwrap();
    poll_until(&consumer, &handler, &["late", "on time"]).await;

    // Lower id, higher xid: the other writer's row is read first, and the
    // late one still comes after it.
    let mut a = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut b = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut a).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut a)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut b).await.unwrap();
    raw_event(&mut b, "b: lower id, later xid").await;
    raw_event(&mut a, "a: higher id, earlier xid").await;
    sqlx::query("COMMIT").execute(&mut a).await.unwrap();
    poll_until(
        &consumer,
        &handler,
        &["late", "on time", "a: higher id, earlier xid"],
    )
    .await;
    sqlx::query("COMMIT").execute(&mut b).await.unwrap();
    poll_until(
        &consumer,
        &handler,
        &[
            "late",
            "on time",
            "a: higher id, earlier xid",
            "b: lower id, later xid",
        ],
    )
    .await;
}

/// Beyond the budget, full text orders a query's words by how common the
/// server's statistics (`ANALYZE`) say they are, not by counting at every
/// search: statistics taken before the data changed keep their order until
/// the next `ANALYZE`, read by a fresh handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_text_word_frequencies_come_from_the_statistics() {
    use conformance::memory::{own, remember_with};
    use skynet_core::memory::{NewMemory, terms};
    let Some(backend) = pg_fresh().await else {
        return;
    };
    let (store, raw) = (&backend.store, backend.raw_sql.as_ref().unwrap());
    let reopen = backend.reopen.as_ref().unwrap();
    let note = |text: String| NewMemory {
        content: text,
        ..Default::default()
    };
    let both = remember_with(store, "alice", note("rotate, then deploy the api".into())).await;
    let mut rotates = Vec::new();
    for i in 0..2 {
        rotates.push(
            remember_with(store, "alice", note(format!("rotate tls key {i}")))
                .await
                .id,
        );
    }
    for i in 0..200 {
        remember_with(store, "alice", note(format!("rotate step {i}"))).await;
    }
    raw("ANALYZE memories".into()).await;
    // Now "deploy" is the common word, "rotate" the rare one.
    raw("DELETE FROM memories WHERE content LIKE 'rotate step %'".into()).await;
    for i in 0..200 {
        remember_with(store, "alice", note(format!("deploy step {i}"))).await;
    }
    let search = |store: skynet_core::store::SharedStore| async move {
        store
            .text_search_memories(&terms("deploy rotate"), &own("alice"), 10, 50)
            .await
            .unwrap()
    };
    let stale = search(reopen().await).await;
    assert_eq!(stale.len(), 10);
    assert_eq!(stale[0], both.id, "{stale:?}");
    assert!(
        rotates.iter().all(|r| !stale.contains(r)),
        "the statistics say rotate is common: deploy alone ranks first {stale:?}"
    );
    raw("ANALYZE memories".into()).await;
    let fresh = search(reopen().await).await;
    assert_eq!(fresh[0], both.id, "{fresh:?}");
    let mut next = fresh[1..3].to_vec();
    next.sort();
    rotates.sort();
    assert_eq!(next, rotates, "{fresh:?}");
}
