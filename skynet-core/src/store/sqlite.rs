//! The SQLite ledger (sqlx): one file shared by several processes (a CLI
//! approving while a `skynet worker` runs), or one in-memory database.
//!
//! Concurrency model:
//! - WAL journal, `synchronous=NORMAL`, a 10 s busy timeout, foreign keys on.
//! - Every write is one `BEGIN IMMEDIATE` transaction: it takes the write
//!   lock up front, so a read-then-write can never fail with
//!   `SQLITE_BUSY_SNAPSHOT`; other processes wait on the busy timeout.
//! - Writes of this process go through a pool of ONE connection (they
//!   queue in-process instead of spinning on SQLite's lock); reads use a
//!   separate pool and see the last committed state (WAL readers never
//!   block the writer).
//! - `sqlite::memory:` uses a single connection for everything, so every
//!   handle sees the same database.
//!
//! Times are stored as INTEGER unix microseconds.

use crate::job::Job;
use crate::store::SharedStore;
use crate::store::dialect::{Affected, Dialect, Queries, sealed};
use crate::store::ledger::{Ledger, commit};
use crate::store::tx::Tx;
use crate::{Error, Result};
use sqlx::sqlite::SqliteTransactionManager;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, TransactionManager};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// How long a write waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows a connection's thread may hand over before the reading task takes
/// them. With sqlx's default (50) a page of the event log or a batch claim
/// can make the connection's thread wait on the reading task every few
/// rows, a thread switch each time; thread switches were the largest cost
/// in a profile of the event-engine drain (benches/RESULTS.md). Pages are
/// at most a few thousand rows; a longer read still holds at most this
/// many in memory.
const ROW_BUFFER: usize = 4096;
/// Connections for reads (WAL lets them run beside the writer).
const READ_CONNECTIONS: u32 = 4;

/// The SQLite ledger: its `write` pool is exactly one connection (every
/// write transaction of this process), its `read` pool the readers (the
/// same pool as `write` for an in-memory database).
pub type SqliteStore = Ledger<Sqlite>;

impl Affected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl sealed::Sealed for Sqlite {}

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    // `BEGIN IMMEDIATE` already holds the database's write lock.
    const LOCK_ROW: &'static str = "";
    const LOCK_SHARED: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const BEGIN_UNFLUSHED: &'static str = "BEGIN IMMEDIATE";
    const NUMBERED_BINDS: bool = false;
    // A deferred transaction reads one snapshot (WAL).
    const SNAPSHOT_READ: Option<&'static str> = None;
    const SEQ_IS_COMMIT_ORDER: bool = true;
    const SUBSTR_POS: &'static str = "instr";
    const MEMORY_FTS: &'static str = "SELECT m.id AS id FROM memories_fts \
         JOIN memories m ON m.rowid = memories_fts.rowid WHERE memories_fts MATCH $1 \
         AND ($2 IS NULL OR m.principal = $2) ORDER BY bm25(memories_fts) LIMIT $3";
    const FTS_OR: &'static str = " OR ";
    const MEMORY_FTS_MATCHES: &'static str = "SELECT m.id AS id FROM memories_fts \
         JOIN memories m ON m.rowid = memories_fts.rowid WHERE memories_fts MATCH $1 \
         AND ($2 IS NULL OR m.principal = $2) LIMIT $3";
    const FTS_AND: &'static str = " AND ";
    const MEMORY_FTS_COUNTS: &'static str = "SELECT j.value AS term, (SELECT COUNT(*) FROM \
         (SELECT 1 FROM memories_fts WHERE memories_fts MATCH j.value LIMIT $2)) AS n \
         FROM json_each($1) j";
    const GREATEST: &'static str = "MAX";
    const PLANS_BY_VALUE: bool = false;
    // One writer at a time: `id` order is commit order (`xid` is always 0).
    const EVENT_LOG_AFTER: &'static str = "e.id > $2 AND e.xid >= $1";
    const EVENT_LOG_ORDER: &'static str = "e.id";
    const EVENT_LOG_ORDER_DESC: &'static str = "e.id DESC";
    const EVENT_LOG_THROUGH: &'static str = "e.id <= $2 AND e.xid <= $1";

    type State = ();

    fn sql() -> &'static Queries {
        static SQL: LazyLock<Queries> = LazyLock::new(Queries::build::<Sqlite>);
        &SQL
    }

    /// One write transaction: the job, its pending step checkpoints and
    /// its `submitted` event.
    async fn insert_job(store: &SqliteStore, job: &Job) -> Result<(Job, bool)> {
        let mut tx = store.begin().await?;
        if let Some(key) = &job.idempotency_key
            && let Some(existing) = Tx::<Sqlite>::job_by_key(&mut tx, &job.principal, key).await?
        {
            return Ok((existing, false));
        }
        let stored = Tx::<Sqlite>::insert_new_job(&mut tx, job).await?;
        commit(tx).await?;
        Ok((stored, true))
    }
}

impl SqliteStore {
    /// Open (creating the file and its directory if needed) and migrate.
    /// `url` is `sqlite://PATH` or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self> {
        let shown = crate::redact::redact_url(url);
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("bad SQLite URL {shown:?}: {e}")))?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .row_buffer_size(ROW_BUFFER);
        if is_memory(url) {
            // One connection that never idles out: the database lives as
            // long as the pool does.
            let pool = writer_pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(|e| Error::store(format!("opening {shown}"), e))?;
            migrate(&pool)
                .await
                .map_err(|e| Error::store(format!("migrating {shown}"), e))?;
            return Ok(Ledger {
                write: pool.clone(),
                read: pool,
                state: (),
                tail: Default::default(),
            });
        }
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Store(format!(
                    "creating the directory {} for {shown}: {e}",
                    dir.display()
                ))
            })?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        // Processes opening a fresh file at the same moment race on the
        // switch to WAL and on the migrations (SQLite migrations take no
        // lock); the loser gets SQLITE_BUSY or "table already exists"
        // at once, without the busy timeout. Retrying a few times then
        // finds the file in WAL mode and migrated.
        let mut attempt = 0;
        let write = loop {
            match open_writer(&options).await {
                Ok(pool) => break pool,
                Err(e) if attempt < OPEN_RETRIES && e.is_transient() => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "opening {shown} raced; retrying");
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                }
                Err(e) => return Err(Error::store(format!("opening {shown}"), e)),
            }
        };
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| Error::store(format!("opening {shown} for reading"), e))?;
        Ok(Ledger {
            write,
            read,
            state: (),
            tail: Default::default(),
        })
    }
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Times [`SqliteStore::connect`] retries a raced open.
const OPEN_RETRIES: u32 = 5;

/// Why opening the write pool failed.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("{0}")]
    Connect(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl OpenError {
    /// Whether another process opening the same file at once may explain it.
    fn is_transient(&self) -> bool {
        use sqlx::migrate::MigrateError;
        match self {
            OpenError::Connect(e) => is_busy(e),
            // Busy, or another process recorded the same migration first
            // (this one's transaction, script included, rolled back).
            OpenError::Migrate(MigrateError::Execute(e)) => is_busy(e) || is_unique_violation(e),
            // Another process applied the same migration first.
            OpenError::Migrate(MigrateError::ExecuteMigration(..)) => true,
            OpenError::Migrate(_) => false,
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED, including their extended codes.
fn is_busy(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The one-connection write pool, with the schema migrated.
async fn open_writer(options: &SqliteConnectOptions) -> Result<SqlitePool, OpenError> {
    let pool = writer_pool_options()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(OpenError::Connect)?;
    migrate(&pool).await.map_err(OpenError::Migrate)?;
    Ok(pool)
}

/// Options for a pool that write transactions use. A task cancelled while
/// sqlx was acknowledging its `BEGIN` (a run's heartbeat stopped at the end
/// of a step, an HTTP client that hung up) hands its connection back inside
/// a transaction no `Transaction` owns, and sqlx then refuses every later
/// `BEGIN IMMEDIATE` on it ("non-zero transaction depth"). Roll such a
/// connection back as it returns to the pool. (A dropped `Transaction`'s
/// own queued rollback runs first; this one then finds nothing to undo.)
fn writer_pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().after_release(|conn, _| {
        Box::pin(async move {
            if conn.is_in_transaction() {
                <SqliteTransactionManager as TransactionManager>::rollback(conn).await?;
            }
            Ok(true)
        })
    })
}

/// Apply the embedded migrations.
async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations/sqlite").run(pool).await
}

/// Open the SQLite store at `url` as a shared handle.
pub async fn open(url: &str) -> Result<SharedStore> {
    Ok(Arc::new(SqliteStore::connect(url).await?))
}
