//! The PostgreSQL ledger (sqlx): the distributed engine. Any number of
//! `skynet worker`s on any machines share one database; no second broker.
//!
//! Concurrency model:
//! - Every read-modify-write of a job first locks its row
//!   (`SELECT ... FOR UPDATE`), so status changes and the job's event chain
//!   are serialized per job while different jobs proceed in parallel.
//! - Claims take queued rows with `FOR UPDATE SKIP LOCKED`: concurrent
//!   claimers never wait on each other and never take the same job.
//! - Idle workers `LISTEN` on `skynet_jobs` (see
//!   [`PostgresStore::work_signal`](crate::store::JobStore::work_signal))
//!   and also poll, so a lost notification only costs one poll interval.
//!   A trigger `NOTIFY`s when a job's status becomes queued; a queued
//!   insert is announced by the store after it commits (a notifying
//!   commit would serialize every submit's WAL flush).
//! - Connections that die (a database restart) are replaced by the pool on
//!   the next use; callers see one failed operation, not a dead store.
//!
//! Times are BIGINT unix microseconds, like the SQLite ledger.

mod checkpoint;
mod events;
mod jobs;
mod keys;
mod listen;
mod steps;
mod tx;
mod workers;

use crate::store::SharedStore;
use crate::store::codec::db;
use crate::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections per store handle (a worker's claims, heartbeats, step
/// checkpoints and log writes run concurrently).
const POOL_SIZE: u32 = 16;
/// How long an operation waits for a free (or new) connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL ledger.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The wake-up signal, started on first use.
    signal: Arc<Mutex<Option<tokio::sync::watch::Receiver<u64>>>>,
    /// Asks the announcer task for one `NOTIFY` (coalesced).
    announce: tokio::sync::mpsc::Sender<()>,
}

impl PostgresStore {
    /// Connect and migrate. `url` is `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (any option libpq-style URLs take, e.g. `?sslmode=require`).
    pub async fn connect(url: &str) -> Result<Self> {
        let shown = crate::redact::redact_url(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("bad PostgreSQL URL {shown:?}: {e}")))?
            .application_name("skynet");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| {
                Error::Store(format!(
                    "connecting to {shown}: {e} (is PostgreSQL running and the database created?)"
                ))
            })?;
        // sqlx serializes concurrent migrators with an advisory lock.
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::Store(format!("migrating {shown}: {e}")))?;
        let announce = listen::announcer(pool.clone());
        Ok(PostgresStore {
            pool,
            signal: Arc::new(Mutex::new(None)),
            announce,
        })
    }

    /// Start a transaction. Dropping it without `commit` rolls it back.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool
            .begin()
            .await
            .map_err(db("starting a transaction"))
    }

    /// Start a transaction whose commit returns before its WAL is flushed
    /// (`synchronous_commit = off` for it alone), saving an fsync wait.
    /// Only for a write nobody is told about: a batch claim. What a worker
    /// does next that matters is committed with a flush (a WRITE or ADMIN
    /// step's start before the step runs, heartbeats, completions), and a
    /// flush writes all earlier WAL, claims included. A claim lost in a
    /// crash before that can only have let READ_ONLY steps run: the job is
    /// queued again, the run's writes are refused by the lease fence, and
    /// the job runs once more, as after a worker crash.
    async fn begin_unflushed(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
            .await
            .map_err(db("starting a transaction"))
    }
}

/// Create the database `url` names unless it exists, connecting to the
/// server's `postgres` maintenance database with the same credentials.
/// Returns whether it was created. For tests and first-time setup; the
/// name may hold only ASCII letters, digits and `_`.
pub async fn create_database(url: &str) -> Result<bool> {
    use sqlx::ConnectOptions;
    let shown = crate::redact::redact_url(url);
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| Error::Config(format!("bad PostgreSQL URL {shown:?}: {e}")))?;
    let name = options
        .get_database()
        .ok_or_else(|| Error::Config(format!("{shown:?} names no database")))?
        .to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Config(format!(
            "database name {name:?} must be ASCII letters, digits and _"
        )));
    }
    let mut conn = options
        .database("postgres")
        .connect()
        .await
        .map_err(|e| Error::Store(format!("connecting to {shown}'s server: {e}")))?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .map_err(db("looking up the database"))?;
    if exists.is_some() {
        return Ok(false);
    }
    // The name was checked above: identifiers cannot be bound.
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .map_err(db("creating the database"))?;
    Ok(true)
}

/// `url` with its database replaced by `name` (user, host and query kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Create a new, empty database named `{prefix}_{a fresh UUIDv7}` on the
/// server `server_url` points at, and return its URL. For tests and
/// benchmarks that must never share a database (the test script drops
/// leftover `skynet_t_*` databases).
pub async fn create_scratch_database(server_url: &str, prefix: &str) -> Result<String> {
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    let url = with_database(server_url, &name);
    if !create_database(&url).await? {
        return Err(Error::Store(format!("database {name} already exists")));
    }
    Ok(url)
}

/// Commit a transaction.
async fn commit(tx: Transaction<'static, Postgres>) -> Result<()> {
    tx.commit().await.map_err(db("committing"))
}

impl crate::store::Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// Open the PostgreSQL store at `url` as a shared handle.
pub async fn open(url: &str) -> Result<SharedStore> {
    Ok(Arc::new(PostgresStore::connect(url).await?))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "y"),
            "postgres://u:p@h/y?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "z"), "postgres://h/z");
    }
}
