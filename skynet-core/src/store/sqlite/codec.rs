//! Conversions between rows and core types: times as unix microseconds,
//! enums as their stable strings, plans and approvals as JSON text.

use crate::job::{Approval, Job, JobId, JobSource, JobStatus, Lease};
use crate::provider::Stream;
use crate::store::chain;
use crate::store::{Event, LogLine, StepRecord, StepStatus};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{Sqlite, SqliteRow};
use std::path::PathBuf;
use std::time::Duration;

/// The columns [`job_from_row`] reads, in a form ready for `SELECT`.
pub(super) const JOB_COLUMNS: &str = "id, intent, status, plan, risk, root, provider, priority, \
     approval, attempts, max_attempts, lease_id, lease_worker, lease_expires_at, run_at, \
     timeout_ms, created_at, queued_at, started_at, finished_at, error, source, idempotency_key";

/// The columns [`step_from_row`] reads.
pub(super) const STEP_COLUMNS: &str =
    "idx, status, risk, exit_code, started_at, finished_at, output_bytes, truncated, error";

/// The columns [`event_from_row`] reads.
pub(super) const EVENT_COLUMNS: &str = "seq, job_id, kind, data, at, prev_hash, hash";

/// Turn an sqlx error into a store error that says what was being done.
pub(super) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| Error::Store(format!("{context}: {e}"))
}

/// Now, truncated to what the store keeps (microseconds), so a value read
/// back equals the value hashed.
pub(super) fn now() -> DateTime<Utc> {
    chain::truncate_to_micros(Utc::now())
}

/// Stored form of an instant.
pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// `at + lease`, saturating far in the future instead of overflowing.
pub(super) fn plus(at: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn time(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| Error::Store(format!("stored time {us} is out of range")))
}

fn opt_time(us: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    us.map(time).transpose()
}

fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| Error::Store(format!("reading column {name}: {e}")))
}

fn unsigned<T: TryFrom<i64>>(v: i64, name: &str) -> Result<T> {
    T::try_from(v).map_err(|_| Error::Store(format!("column {name} holds {v}, out of range")))
}

fn json<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Store(format!("column {name}: bad JSON: {e}")))
}

/// Serialize a value stored as JSON text.
pub(super) fn to_json<T: serde::Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Store(format!("encoding {what}: {e}")))
}

/// Parse a stored job status.
pub(super) fn status(s: &str) -> Result<JobStatus> {
    s.parse()
        .map_err(|_| Error::Store(format!("unknown job status {s:?} in the ledger")))
}

/// Parse a stored output stream.
pub(super) fn stream(s: &str) -> Result<Stream> {
    Ok(match s {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        "system" => Stream::System,
        other => return Err(Error::Store(format!("unknown log stream {other:?}"))),
    })
}

/// A `jobs` row (selected with [`JOB_COLUMNS`]).
pub(super) fn job_from_row(row: &SqliteRow) -> Result<Job> {
    let plan: Option<String> = col(row, "plan")?;
    let approval: Option<String> = col(row, "approval")?;
    let lease_id: Option<String> = col(row, "lease_id")?;
    let lease_worker: Option<String> = col(row, "lease_worker")?;
    let lease_expires_at = opt_time(col(row, "lease_expires_at")?)?;
    let lease = match (lease_id, lease_worker, lease_expires_at) {
        (Some(id), Some(worker), Some(expires_at)) => Some(Lease {
            id,
            worker,
            expires_at,
        }),
        _ => None,
    };
    let timeout_ms: Option<i64> = col(row, "timeout_ms")?;
    Ok(Job {
        id: JobId::parse(&col::<String>(row, "id")?)
            .map_err(|_| Error::Store("malformed job id in the ledger".into()))?,
        intent: col(row, "intent")?,
        status: status(&col::<String>(row, "status")?)?,
        plan: plan.as_deref().map(|p| json(p, "plan")).transpose()?,
        risk: col::<String>(row, "risk")?.parse()?,
        root: PathBuf::from(col::<String>(row, "root")?),
        provider: col(row, "provider")?,
        priority: col(row, "priority")?,
        approval: approval
            .as_deref()
            .map(|a| json::<Approval>(a, "approval"))
            .transpose()?,
        attempts: unsigned(col(row, "attempts")?, "attempts")?,
        max_attempts: unsigned(col(row, "max_attempts")?, "max_attempts")?,
        lease,
        run_at: time(col(row, "run_at")?)?,
        timeout_ms: timeout_ms.map(|t| unsigned(t, "timeout_ms")).transpose()?,
        created_at: time(col(row, "created_at")?)?,
        queued_at: opt_time(col(row, "queued_at")?)?,
        started_at: opt_time(col(row, "started_at")?)?,
        finished_at: opt_time(col(row, "finished_at")?)?,
        error: col(row, "error")?,
        source: col::<String>(row, "source")?
            .parse::<JobSource>()
            .map_err(|e| Error::Store(e.to_string()))?,
        idempotency_key: col(row, "idempotency_key")?,
    })
}

/// A `steps` row (selected with [`STEP_COLUMNS`]).
pub(super) fn step_from_row(row: &SqliteRow) -> Result<StepRecord> {
    let exit_code: Option<i64> = col(row, "exit_code")?;
    Ok(StepRecord {
        index: unsigned(col(row, "idx")?, "idx")?,
        status: StepStatus::parse(&col::<String>(row, "status")?)?,
        risk: col::<String>(row, "risk")?.parse()?,
        exit_code: exit_code.map(|c| unsigned(c, "exit_code")).transpose()?,
        started_at: opt_time(col(row, "started_at")?)?,
        finished_at: opt_time(col(row, "finished_at")?)?,
        output_bytes: unsigned(col(row, "output_bytes")?, "output_bytes")?,
        truncated: col(row, "truncated")?,
        error: col(row, "error")?,
    })
}

/// An `events` row (selected with [`EVENT_COLUMNS`]).
pub(super) fn event_from_row(row: &SqliteRow) -> Result<Event> {
    Ok(Event {
        seq: col(row, "seq")?,
        job_id: JobId::parse(&col::<String>(row, "job_id")?)
            .map_err(|_| Error::Store("malformed job id in the event log".into()))?,
        kind: col(row, "kind")?,
        data: json(&col::<String>(row, "data")?, "data")?,
        at: time(col(row, "at")?)?,
        prev_hash: col(row, "prev_hash")?,
        hash: col(row, "hash")?,
    })
}

/// A `logs` row (`seq, step, stream, text, at`).
pub(super) fn log_from_row(row: &SqliteRow) -> Result<LogLine> {
    Ok(LogLine {
        seq: col(row, "seq")?,
        step: unsigned(col(row, "step")?, "step")?,
        stream: stream(&col::<String>(row, "stream")?)?,
        text: col(row, "text")?,
        at: time(col(row, "at")?)?,
    })
}
