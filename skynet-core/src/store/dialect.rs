//! What differs between the SQL backends, in one place: the [`Dialect`]
//! trait, implemented by `sqlx::Sqlite` (in [`super::sqlite`]) and
//! `sqlx::Postgres` (in [`super::postgres`]) and by nothing else.
//!
//! The ledger's code is written once, generic over `D: Dialect`
//! ([`super::ledger`] and the table-family modules next to it). Parameters
//! are `$n` everywhere (SQLite numbers them alike), so a dialect only holds
//! the few fragments that really differ (row locks, `SKIP LOCKED`, how a
//! write transaction begins, two function names) and the statements whose
//! shape differs, built once per dialect in [`Queries`].
//!
//! Generic code needs nothing from sqlx beyond `D: Dialect`: binding values
//! and running statements go through [`super::sql`] (`query::<D>(SQL)
//! .bind(…).fetch_all(&mut *conn)`), whose `Run` trait holds the sqlx
//! bounds once. Rows are read through [`LedgerRow`] (implemented for both
//! backends' rows), never with sqlx's `Decode`.

use crate::Result;
use crate::job::Job;
use crate::store::codec::{EVENT_COLUMNS, JOB_COLUMNS, KEY_COLUMNS, LedgerRow, STEP_COLUMNS};
use crate::store::ledger::Ledger;
use crate::store::schedules::{OWNED, SCHEDULE_COLUMNS};
use crate::store::sql::Run;
use std::future::Future;

pub(crate) mod sealed {
    /// Only the backends of this crate are dialects.
    pub trait Sealed {}
}

/// One SQL backend's differences. Sealed: implemented for `sqlx::Sqlite` and
/// `sqlx::Postgres` only.
pub trait Dialect:
    Run + sqlx::Database<Row: LedgerRow, QueryResult: Affected> + Sync + sealed::Sealed
{
    /// The backend's name (`sqlite`, `postgres`), as [`crate::store::Store::backend`] says it.
    const BACKEND: &'static str;
    /// Appended to a read of a job row that is then changed in the same
    /// transaction: `" FOR UPDATE"`, or `""` where the write transaction
    /// already holds the database's write lock (SQLite's `BEGIN IMMEDIATE`).
    const LOCK_ROW: &'static str;
    /// Appended to a read of a job row that must not vanish before the
    /// transaction ends, while other writers of the same job go on
    /// (`" FOR SHARE"`, or `""`).
    const LOCK_SHARED: &'static str;
    /// Appended to the claim's selection of queued jobs, so that
    /// concurrent claimers skip each other's rows (`" FOR UPDATE SKIP
    /// LOCKED"`, or `""`).
    const SKIP_LOCKED: &'static str;
    /// The statement that begins a write transaction.
    const BEGIN_WRITE: &'static str;
    /// The statement that begins a write transaction nobody waits on the
    /// durability of (a batch claim, memories' access counts; see the
    /// PostgreSQL backend).
    const BEGIN_UNFLUSHED: &'static str;
    /// Run first in a read transaction that must see one snapshot (`None`:
    /// every read transaction already does).
    const SNAPSHOT_READ: Option<&'static str>;
    /// Whether event `seq` order is commit order (one writer at a time); if
    /// not, a reader of every job's events must not skip over a fresh gap.
    const SEQ_IS_COMMIT_ORDER: bool;
    /// Whether [`crate::store::sql::SqlBuilder`] writes numbered
    /// placeholders (`$1, $2`) or anonymous ones (`?`), bound in order.
    /// SQLite looks a numbered parameter's name up in a list as long as
    /// the statement's parameters, once per parameter when sqlx binds, so
    /// a multi-row insert with thousands of them spent milliseconds just
    /// binding; anonymous ones have no name to look up.
    const NUMBERED_BINDS: bool;
    /// The SQL function for the position of a literal, case-sensitive
    /// substring (`instr`, `strpos`): no `LIKE` wildcards.
    const SUBSTR_POS: &'static str;
    /// Whether the planner chooses by a bound value, so that a statement
    /// whose best plan depends on it is better planned per call than kept
    /// prepared (PostgreSQL: a full-text word every row holds is read from
    /// the table, a rare one through the index; SQLite's FTS5 plan is the
    /// same for every word, and preparing again only costs).
    const PLANS_BY_VALUE: bool;
    /// The SQL function for the largest of its arguments (`MAX`, `GREATEST`).
    const GREATEST: &'static str;
    /// Memory ids whose content matches full-text query `$1` (terms joined
    /// by [`Dialect::FTS_OR`]), of principal `$2` unless it is NULL, best
    /// first, at most `$3` (SQLite FTS5 `bm25`, PostgreSQL `ts_rank`).
    const MEMORY_FTS: &'static str;
    /// The "any of these terms" operator of [`Dialect::MEMORY_FTS`]'s query.
    const FTS_OR: &'static str;
    /// Like [`Dialect::MEMORY_FTS`] unranked: reads no more matches than
    /// it returns (SQLite oldest first, FTS5's cheap direction: newest
    /// first cost a third more; PostgreSQL in no set order).
    const MEMORY_FTS_MATCHES: &'static str;
    /// The "all of these terms" operator of a full-text query.
    const FTS_AND: &'static str;
    /// Each term of the JSON array of terms `$1` (`term`) with how many
    /// memories it matches, counted up to `$2` (`n`): reading no more of a
    /// common term's matches than that keeps the count cheap.
    const MEMORY_FTS_COUNTS: &'static str;
    /// The global event log's rows after position `($1, $2)` (`xid`, `id`)
    /// that can be read without missing one committed later: a `WHERE`
    /// condition on `event_log e`. SQLite commits in `id` order; PostgreSQL
    /// reads by `(xid, id)` and only transactions older than every running
    /// one (their rows can no longer appear).
    const EVENT_LOG_AFTER: &'static str;
    /// The global event log's read order (`ORDER BY` list).
    const EVENT_LOG_ORDER: &'static str;
    /// [`Dialect::EVENT_LOG_ORDER`] backwards (newest first), by the same
    /// index (SQLite has none on `xid`, which is always 0 there).
    const EVENT_LOG_ORDER_DESC: &'static str;
    /// The global event log's rows at or before position `($1, $2)` in
    /// commit order: a `WHERE` condition on `event_log e` (gc's prefix).
    const EVENT_LOG_THROUGH: &'static str;

    /// What a store handle of this backend keeps besides its pools.
    type State: Send + Sync + std::fmt::Debug + 'static;

    /// The statements built for this dialect, once.
    fn sql() -> &'static Queries;

    /// Insert a new job with its step checkpoints and `submitted` event
    /// ([`crate::store::JobStore::insert_job`]; the job is already checked).
    fn insert_job(
        store: &Ledger<Self>,
        job: &Job,
    ) -> impl Future<Output = Result<(Job, bool)>> + Send;

    /// Tell idle workers of other processes that a job inserted queued
    /// has committed (nothing for a backend whose workers poll).
    fn announce_queued(_store: &Ledger<Self>) {}

    /// Changes to memories by any process (see
    /// [`crate::memory::MemoryStore::memory_changes`]); `None` by default.
    fn memory_changes(_store: &Ledger<Self>) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// Each of `terms` with about how many memories hold it: by default
    /// counted up to `budget + 1` (see [`Dialect::MEMORY_FTS_COUNTS`]).
    fn term_matches(
        store: &Ledger<Self>,
        terms: &[String],
        budget: u32,
    ) -> impl Future<Output = Result<Vec<(String, u64)>>> + Send {
        store.fts_counts(terms, budget)
    }

    /// The backend's wake-up signal for idle workers, if it has one.
    fn work_signal(_store: &Ledger<Self>) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// How many rows a statement changed (both backends' results say it; sqlx
/// has no trait for it).
pub trait Affected {
    /// Rows inserted, updated or deleted.
    fn rows_affected(&self) -> u64;
}

/// The statements whose text depends on the dialect or is assembled from
/// column lists: built once per dialect (see [`Dialect::sql`]), never per
/// call.
#[derive(Debug)]
pub struct Queries {
    /// A job by id, its row locked for the transaction.
    pub(crate) load_job: String,
    /// A job by id, from the read pool.
    pub(crate) get_job: String,
    /// A job by principal and idempotency key.
    pub(crate) job_by_key: String,
    /// The chain head of a job running under a lease, its row locked.
    pub(crate) fence: String,
    /// The job and chain head of a job running under a lease, its row locked.
    pub(crate) fenced_job: String,
    /// A job's id, its row share-locked (appending logs).
    pub(crate) job_exists_shared: String,
    /// A job's step checkpoints in order.
    pub(crate) steps: String,
    /// A job's events in order.
    pub(crate) events: String,
    /// A job's events after a seq, in order, up to a limit.
    pub(crate) job_events_after: String,
    /// Every job's events after a seq, in order, up to a limit.
    pub(crate) events_after: String,
    /// The global event log after a position, in commit order: every
    /// type, some types (`event_log::read_sql`).
    pub(crate) event_log_after: [String; 2],
    /// One job's part of the global event log after a position (the same
    /// two).
    pub(crate) job_event_log_after: [String; 2],
    /// Since when the longest-waiting due job has waited.
    pub(crate) oldest_queued: String,
    /// An API key by id.
    pub(crate) key: String,
    /// Every API key.
    pub(crate) keys: String,
    /// A schedule by id (`$1`) of owner `$2` (NULL: anyone's).
    pub(crate) schedule: String,
    /// The same, its row locked for the transaction.
    pub(crate) schedule_locked: String,
    /// Every schedule of owner `$1` (NULL: anyone's), oldest first.
    pub(crate) schedules: String,
    /// Unpaused schedules due by `$1`, most overdue first, at most `$2`.
    pub(crate) due_schedules: String,
}

impl Queries {
    /// The statements for `D`.
    pub(crate) fn build<D: Dialect>() -> Self {
        let lock = D::LOCK_ROW;
        Queries {
            load_job: format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1{lock}"),
            get_job: format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
            job_by_key: format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE principal = $1 AND request_key = $2"
            ),
            fence: format!(
                "SELECT event_head FROM jobs WHERE id = $1 AND status = $2 AND lease_id = $3{lock}"
            ),
            fenced_job: format!(
                "SELECT {JOB_COLUMNS}, event_head FROM jobs WHERE id = $1 AND status = $2 \
                 AND lease_id = $3{lock}"
            ),
            job_exists_shared: format!("SELECT id FROM jobs WHERE id = $1{}", D::LOCK_SHARED),
            steps: format!("SELECT {STEP_COLUMNS} FROM steps WHERE job_id = $1 ORDER BY idx"),
            events: format!("SELECT {EVENT_COLUMNS} FROM events WHERE job_id = $1 ORDER BY seq"),
            event_log_after: [false, true]
                .map(|t| crate::store::event_log::read_sql::<D>(false, t)),
            job_event_log_after: [false, true]
                .map(|t| crate::store::event_log::read_sql::<D>(true, t)),
            job_events_after: format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE job_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3"
            ),
            events_after: format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ),
            oldest_queued: format!(
                "SELECT MIN({}(COALESCE(queued_at, created_at), run_at)) AS since FROM jobs \
                 WHERE status = 'queued' AND run_at <= $1",
                D::GREATEST
            ),
            key: format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"),
            keys: format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"),
            schedule: format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1 AND {OWNED}"),
            schedule_locked: format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1 AND {OWNED}{lock}"
            ),
            schedules: format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules \
                 WHERE CAST($1 AS TEXT) IS NULL OR principal = $1 ORDER BY created_at, id"
            ),
            due_schedules: format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE NOT paused AND next_tick_at <= $1 \
                 ORDER BY next_tick_at, id LIMIT $2"
            ),
        }
    }
}
