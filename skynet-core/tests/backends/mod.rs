//! Engine suites that run every case on both backends: a ledger in a
//! temporary SQLite file or a fresh PostgreSQL database
//! (`SKYNET_TEST_POSTGRES_URL`; without it each PostgreSQL case says it
//! skipped), and `on_every_backend!`, which expands into
//! `sqlite::$case` and `postgres::$case`, each calling `$case(Db)`. A suite
//! adds its own engine builders in an `impl Db` block.
#![allow(dead_code)]

/// One ledger for one case, and a directory (the jobs' root; for SQLite
/// also the database file's home), both removed with it.
pub struct Db {
    /// The ledger's URL.
    pub url: String,
    /// The temporary directory.
    pub dir: tempfile::TempDir,
}

impl Db {
    /// A fresh SQLite file.
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("skynet.db").display());
        Db { url, dir }
    }

    /// A fresh PostgreSQL database, or `None` after printing that `suite`
    /// skipped.
    pub async fn postgres(suite: &str) -> Option<Db> {
        let server = crate::service::service_var(suite, "SKYNET_TEST_POSTGRES_URL")?;
        let url = skynet_core::store::postgres::create_scratch_database(&server, "skynet_t")
            .await
            .expect("a scratch database");
        Some(Db {
            url,
            dir: tempfile::tempdir().expect("tempdir"),
        })
    }
}

impl Db {
    /// An engine builder on this ledger that plans `action` for any intent
    /// and runs it on `mock` (the default provider); a suite adds its own
    /// settings before `build`.
    pub fn scripted_on_mock(
        &self,
        action: skynet_core::action::Action,
        mock: skynet_core::provider::mock::MockProvider,
    ) -> skynet_core::SkynetBuilder {
        use std::sync::Arc;
        skynet_core::Skynet::builder()
            .database_url(&self.url)
            .planner(Arc::new(skynet_core::planner::ScriptedPlanner::new(vec![
                action,
            ])))
            .provider(Arc::new(mock))
            .default_provider("mock")
    }
}

/// The jobs (the latest 1,000) that `source` submitted.
pub async fn jobs_from(
    sk: &skynet_core::Skynet,
    source: skynet_core::JobSource,
) -> Vec<skynet_core::Job> {
    let filter = skynet_core::store::JobFilter {
        limit: Some(1000),
        ..Default::default()
    };
    let jobs = sk.list(&filter).await.expect("jobs");
    jobs.into_iter().filter(|j| j.source == source).collect()
}

/// Expand into `sqlite::$case` and `postgres::$case`, each calling
/// `$case(Db)` of the suite's root module.
macro_rules! on_every_backend {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Db::sqlite()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let suite = concat!(env!("CARGO_CRATE_NAME"), "::", stringify!($case));
                    let Some(db) = super::Db::postgres(suite).await else { return };
                    super::$case(db).await;
                }
            )+
        }
    };
}

/// How many events of type `t` the global log shows, read until at least
/// `want` are visible or 10 s pass. On PostgreSQL a committed event is
/// read only once every transaction older than it has ended (commit
/// order), so under a busy cluster it appears a moment after its commit.
pub async fn count_events(
    sk: &skynet_core::Skynet,
    t: skynet_core::events::EventType,
    want: usize,
) -> usize {
    use skynet_core::store::event_log::EventLogQuery;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut query = EventLogQuery {
        limit: 1000,
        types: vec![t],
        ..Default::default()
    };
    let mut count = 0;
    loop {
        let page = sk
            .event_log(query.clone())
            .await
            .expect("read the event log");
        count += page.events.len();
        query.after = page.next;
        if count >= want || std::time::Instant::now() > deadline {
            return count;
        }
        if page.events.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
