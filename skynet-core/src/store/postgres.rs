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

mod listen;
mod memory_changes;
mod term_stats;

use crate::events::from_job::{LEDGER_SOURCE, lifecycle_events};
use crate::job::{Job, JobStatus};
use crate::store::chain::{self, truncate_to_micros};
use crate::store::codec::{
    JOB_COLUMNS, NEW_JOB_COLUMNS, NEW_JOB_VALUES, NewJobRow, db, job_from_row, micros, now,
    placeholders,
};
use crate::store::dialect::{Affected, Dialect, Queries, sealed};
use crate::store::ledger::Ledger;
use crate::store::sql::query;
use crate::store::step_signature;
use crate::store::tx::Tx;
use crate::store::{SharedStore, StepStatus};
use crate::{Error, Result};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// Connections per store handle (a worker's claims, heartbeats, step
/// checkpoints and log writes run concurrently).
const POOL_SIZE: u32 = 16;
/// How long an operation waits for a free (or new) connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL ledger (one pool, for writes and reads alike).
pub type PostgresStore = Ledger<Postgres>;

/// What a PostgreSQL store handle keeps besides its pool.
#[derive(Debug)]
pub struct PgState {
    /// The wake-up signal, started on first use.
    signal: Mutex<Option<tokio::sync::watch::Receiver<u64>>>,
    /// Asks the announcer task for one `NOTIFY` (coalesced).
    announce: tokio::sync::mpsc::Sender<()>,
    /// The memory change feed, started on first use.
    memory_changes: Mutex<Option<tokio::sync::broadcast::Sender<String>>>,
    /// Full-text word frequencies, read from the server's statistics.
    term_stats: term_stats::TermStats,
}

impl Affected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

impl sealed::Sealed for Postgres {}

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    const LOCK_ROW: &'static str = " FOR UPDATE";
    // The job cannot vanish, while appends of one job don't serialize.
    const LOCK_SHARED: &'static str = " FOR SHARE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const NUMBERED_BINDS: bool = true;
    /// A transaction whose commit returns before its WAL is flushed
    /// (`synchronous_commit = off` for it alone), saving an fsync wait.
    /// Only for a write nobody is told about: a batch claim, or memories'
    /// access counts (a crash may lose the last ones). What a worker
    /// does next that matters is committed with a flush (a WRITE or ADMIN
    /// step's start before the step runs, heartbeats, completions), and a
    /// flush writes all earlier WAL, claims included. A claim lost in a
    /// crash before that can only have let READ_ONLY steps run: the job is
    /// queued again, the run's writes are refused by the lease fence, and
    /// the job runs once more, as after a worker crash.
    const BEGIN_UNFLUSHED: &'static str = "BEGIN; SET LOCAL synchronous_commit = off";
    const SNAPSHOT_READ: Option<&'static str> =
        Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const SEQ_IS_COMMIT_ORDER: bool = false;
    const SUBSTR_POS: &'static str = "strpos";
    // `content_tsv` is stored: ranking a match reads it instead of parsing
    // the content again.
    const MEMORY_FTS: &'static str = "SELECT id FROM memories \
         WHERE content_tsv @@ to_tsquery('english', $1) \
         AND ($2::text IS NULL OR principal = $2) \
         ORDER BY ts_rank(content_tsv, to_tsquery('english', $1)) DESC, id \
         LIMIT $3";
    const FTS_OR: &'static str = " | ";
    const MEMORY_FTS_MATCHES: &'static str = "SELECT id FROM memories \
         WHERE content_tsv @@ to_tsquery('english', $1) \
         AND ($2::text IS NULL OR principal = $2) LIMIT $3";
    const FTS_AND: &'static str = " & ";
    const MEMORY_FTS_COUNTS: &'static str = "SELECT j.term AS term, (SELECT COUNT(*) FROM \
         (SELECT 1 FROM memories WHERE content_tsv @@ to_tsquery('english', j.term) LIMIT $2) s) \
         AS n FROM json_array_elements_text($1::json) AS j(term)";
    const GREATEST: &'static str = "GREATEST";
    const PLANS_BY_VALUE: bool = true;
    // Transactions commit in any order: read by (xid, id), and only rows of
    // transactions older than every running one, whose set is final.
    const EVENT_LOG_AFTER: &'static str = "(e.xid, e.id) > ($1, $2) \
         AND e.xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint";
    const EVENT_LOG_ORDER: &'static str = "e.xid, e.id";
    const EVENT_LOG_ORDER_DESC: &'static str = "e.xid DESC, e.id DESC";
    const EVENT_LOG_THROUGH: &'static str = "(e.xid, e.id) <= ($1, $2)";

    type State = PgState;

    fn sql() -> &'static Queries {
        static SQL: LazyLock<Queries> = LazyLock::new(Queries::build::<Postgres>);
        &SQL
    }

    /// One statement (one round trip, one implicit transaction): the job
    /// (its `event_head` already on the event), its pending step
    /// checkpoints and its `submitted` event. The foreign keys are checked
    /// at the statement's end, when the job row exists. On a conflict
    /// nothing is inserted; a concurrent insert with the same key makes
    /// this statement wait for the other transaction.
    async fn insert_job(store: &PostgresStore, job: &Job) -> Result<(Job, bool)> {
        let now = now();
        let row = NewJobRow::new(job, now)?;
        let steps = job.plan.iter().flat_map(|p| p.steps.iter());
        let step_idx: Vec<i64> = (0..steps.clone().count())
            .map(|i| i64::try_from(i).unwrap_or(i64::MAX))
            .collect();
        let step_risk: Vec<&str> = steps.clone().map(|s| s.risk.as_str()).collect();
        let step_signature: Vec<String> =
            steps.map(|s| step_signature(&job.principal, s)).collect();
        // The first event of a new job's chain: its head is the genesis.
        let data = row.submitted_event();
        let prev_hash = chain::genesis(&job.id);
        let at = truncate_to_micros(now);
        let hash = chain::event_hash(&prev_hash, &job.id, "submitted", &data, at);
        // The global log's lifecycle events of the insert.
        let (log_types, log_payloads): (Vec<&str>, Vec<String>) =
            lifecycle_events("submitted", &data)
                .iter()
                .map(|p| (p.event_type().as_str(), p.to_json().to_string()))
                .unzip();
        let inserted = row
            .bind(query::<Postgres>(&INSERT_JOB))
            .bind(StepStatus::Pending.as_str())
            .bind_raw(&step_idx)
            .bind_raw(&step_risk)
            .bind_raw(&step_signature)
            .bind(data.to_string())
            .bind(micros(at))
            .bind(&prev_hash)
            .bind(&hash)
            .bind_raw(&log_types)
            .bind_raw(&log_payloads)
            .fetch_optional(&store.write)
            .await
            .map_err(db("inserting a job"))?;
        let Some(row) = inserted else {
            // The id or the idempotency key exists (READ COMMITTED: a new
            // statement sees the row the conflicting transaction committed).
            if let Some(key) = &job.idempotency_key {
                let mut conn = store
                    .write
                    .acquire()
                    .await
                    .map_err(db("looking up an idempotency key"))?;
                if let Some(existing) =
                    Tx::<Postgres>::job_by_key(&mut conn, &job.principal, key).await?
                {
                    return Ok((existing, false));
                }
            }
            return Err(Error::Conflict(format!("job {} already exists", job.id)));
        };
        let stored = job_from_row(&row)?;
        if stored.status == JobStatus::Queued {
            store.announce_queued();
        }
        Ok((stored, true))
    }

    fn announce_queued(store: &PostgresStore) {
        store.announce_queued();
    }

    fn work_signal(store: &PostgresStore) -> Option<tokio::sync::watch::Receiver<u64>> {
        store.signal()
    }

    fn memory_changes(store: &PostgresStore) -> Option<tokio::sync::broadcast::Receiver<String>> {
        store.memory_change_feed()
    }

    async fn term_matches(
        store: &PostgresStore,
        terms: &[String],
        budget: u32,
    ) -> Result<Vec<(String, u64)>> {
        store.term_matches(terms, budget).await
    }
}

/// A new job in one statement: its row, its steps, its first event (the
/// job's [`NEW_JOB_VALUES`] values, then the steps' status, their indexes,
/// risks and signatures, and the event's data, time, previous hash and hash).
static INSERT_JOB: LazyLock<String> = LazyLock::new(|| {
    // After the job's own values: the pending step status, the steps'
    // indexes and risks, then the `submitted` event's four values.
    let n = NEW_JOB_VALUES;
    let [
        status,
        idx,
        risk,
        sig,
        data,
        at,
        prev,
        hash,
        log_type,
        log_payload,
    ] = std::array::from_fn(|i| n + 1 + i);
    format!(
        "WITH job AS (INSERT INTO jobs ({NEW_JOB_COLUMNS}, event_head) \
         VALUES ({}, ${hash}) ON CONFLICT DO NOTHING RETURNING {JOB_COLUMNS}), \
         steps AS (INSERT INTO steps (job_id, idx, status, risk, signature) \
         SELECT job.id, s.idx, ${status}, s.risk, s.sig FROM job, \
         unnest(${idx}::BIGINT[], ${risk}::TEXT[], ${sig}::TEXT[]) AS s (idx, risk, sig)), \
         event AS (INSERT INTO events (job_id, kind, data, at, prev_hash, hash) \
         SELECT job.id, 'submitted', ${data}, ${at}, ${prev}, ${hash} FROM job), \
         log AS (INSERT INTO event_log (type, at, source, job_id, payload) \
         SELECT l.type, ${at}, '{LEDGER_SOURCE}', job.id, l.payload FROM job, \
         unnest(${log_type}::TEXT[], ${log_payload}::TEXT[]) WITH ORDINALITY \
         AS l (type, payload, n) ORDER BY l.n) \
         SELECT {JOB_COLUMNS} FROM job",
        placeholders(1, NEW_JOB_VALUES)
    )
});

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
            .map_err(|e| Error::store(format!("migrating {shown}"), e))?;
        let announce = listen::announcer(pool.clone());
        Ok(Ledger {
            write: pool.clone(),
            read: pool,
            state: PgState {
                signal: Mutex::new(None),
                announce,
                memory_changes: Mutex::new(None),
                term_stats: term_stats::TermStats::default(),
            },
            tail: Default::default(),
        })
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
        .map_err(|e| Error::store(format!("connecting to {shown}'s server"), e))?;
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
