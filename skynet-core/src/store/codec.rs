//! Conversions between rows and core types, shared by every SQL backend:
//! times as unix microseconds (lossless for the event hash chain), enums as
//! their stable strings, plans, approvals and event data as JSON text.

use crate::job::{Approval, Job, JobId, JobSource, JobStatus, Lease};
use crate::provider::Stream;
use crate::store::chain;
use crate::store::sql::{Run, Stmt};
use crate::store::{Event, LogLine, StepRecord, StepStatus, WorkerInfo, WorkerRecord, WorkerState};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::decode::Decode;
use sqlx::{ColumnIndex, Row, Type};
use std::path::PathBuf;
use std::time::Duration;

/// The columns [`job_from_row`] reads, in a form ready for `SELECT`.
pub(crate) const JOB_COLUMNS: &str = "id, intent, status, plan, risk, root, provider, priority, \
     approval, attempts, max_attempts, lease_id, lease_worker, lease_expires_at, run_at, \
     timeout_ms, created_at, queued_at, started_at, finished_at, error, source, request_key, \
     principal, request_hash, expires_at, retry_of, origin";

/// The columns [`step_from_row`] reads.
pub(crate) const STEP_COLUMNS: &str =
    "idx, status, risk, exit_code, started_at, finished_at, output_bytes, truncated, error";

/// The columns [`event_from_row`] reads.
pub(crate) const EVENT_COLUMNS: &str = "seq, job_id, kind, data, at, prev_hash, hash";

/// Turn an sqlx error into a store error that says what was being done
/// and keeps the driver's error as its source.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { context, source }
}

/// Now, truncated to what the store keeps (microseconds), so a value read
/// back equals the value hashed.
pub(crate) fn now() -> DateTime<Utc> {
    chain::truncate_to_micros(Utc::now())
}

/// Stored form of an instant.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// `at + lease`, saturating far in the future instead of overflowing.
pub(crate) fn plus(at: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// An instant from its stored form.
pub(crate) fn time(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| Error::Store(format!("stored time {us} is out of range")))
}

fn opt_time(us: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    us.map(time).transpose()
}

/// Reading the column types the ledger uses, the same way from every
/// backend's rows.
pub trait LedgerRow {
    /// A nullable text column.
    fn opt_text(&self, name: &str) -> Result<Option<String>>;
    /// A nullable integer column (BIGINT/INTEGER).
    fn opt_int(&self, name: &str) -> Result<Option<i64>>;
    /// A boolean column.
    fn flag(&self, name: &str) -> Result<bool>;
    /// A non-null text column.
    fn text(&self, name: &str) -> Result<String> {
        self.opt_text(name)?
            .ok_or_else(|| Error::Store(format!("column {name} is unexpectedly NULL")))
    }
    /// A non-null integer column.
    fn int(&self, name: &str) -> Result<i64> {
        self.opt_int(name)?
            .ok_or_else(|| Error::Store(format!("column {name} is unexpectedly NULL")))
    }
}

fn column_error(name: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |e| Error::store(format!("reading column {name}"), e)
}

impl<R: Row> LedgerRow for R
where
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: ColumnIndex<R>,
{
    fn opt_text(&self, name: &str) -> Result<Option<String>> {
        self.try_get(name).map_err(column_error(name))
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        self.try_get(name).map_err(column_error(name))
    }
    fn flag(&self, name: &str) -> Result<bool> {
        self.try_get(name).map_err(column_error(name))
    }
}

fn narrow<T: TryFrom<i64>>(v: i64, name: &str) -> Result<T> {
    T::try_from(v).map_err(|_| Error::Store(format!("column {name} holds {v}, out of range")))
}

fn json<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::store(format!("column {name}: bad JSON"), e))
}

/// Serialize a value stored as JSON text.
pub(crate) fn to_json<T: serde::Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::store(format!("encoding {what}"), e))
}

/// A job status as an SQL string literal. Safe to splice into SQL: the
/// names are core's own constants of lowercase letters and `_` (a test
/// checks every one).
pub(crate) fn status_literal(s: JobStatus) -> String {
    format!("'{}'", s.as_str())
}

/// Parse a stored job status.
pub(crate) fn status(s: &str) -> Result<JobStatus> {
    s.parse()
        .map_err(|_| Error::Store(format!("unknown job status {s:?} in the ledger")))
}

/// Parse a stored output stream.
pub(crate) fn stream(s: &str) -> Result<Stream> {
    Ok(match s {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        "system" => Stream::System,
        other => return Err(Error::Store(format!("unknown log stream {other:?}"))),
    })
}

/// A `jobs` row (selected with [`JOB_COLUMNS`]).
pub(crate) fn job_from_row(row: &impl LedgerRow) -> Result<Job> {
    let plan: Option<String> = row.opt_text("plan")?;
    let approval: Option<String> = row.opt_text("approval")?;
    let lease_id: Option<String> = row.opt_text("lease_id")?;
    let lease_worker: Option<String> = row.opt_text("lease_worker")?;
    let lease_expires_at = opt_time(row.opt_int("lease_expires_at")?)?;
    let lease = match (lease_id, lease_worker, lease_expires_at) {
        (Some(id), Some(worker), Some(expires_at)) => Some(Lease {
            id,
            worker,
            expires_at,
        }),
        _ => None,
    };
    let timeout_ms: Option<i64> = row.opt_int("timeout_ms")?;
    Ok(Job {
        id: JobId::parse(&row.text("id")?)
            .map_err(|_| Error::Store("malformed job id in the ledger".into()))?,
        intent: row.text("intent")?,
        status: status(&row.text("status")?)?,
        plan: plan.as_deref().map(|p| json(p, "plan")).transpose()?,
        risk: row.text("risk")?.parse()?,
        root: PathBuf::from(row.text("root")?),
        provider: row.text("provider")?,
        priority: narrow(row.int("priority")?, "priority")?,
        approval: approval
            .as_deref()
            .map(|a| json::<Approval>(a, "approval"))
            .transpose()?,
        attempts: narrow(row.int("attempts")?, "attempts")?,
        max_attempts: narrow(row.int("max_attempts")?, "max_attempts")?,
        lease,
        run_at: time(row.int("run_at")?)?,
        timeout_ms: timeout_ms.map(|t| narrow(t, "timeout_ms")).transpose()?,
        created_at: time(row.int("created_at")?)?,
        queued_at: opt_time(row.opt_int("queued_at")?)?,
        started_at: opt_time(row.opt_int("started_at")?)?,
        finished_at: opt_time(row.opt_int("finished_at")?)?,
        error: row.opt_text("error")?,
        source: row
            .text("source")?
            .parse::<JobSource>()
            .map_err(|e| Error::store("reading column source", e))?,
        idempotency_key: row.opt_text("request_key")?,
        principal: row
            .text("principal")?
            .parse()
            .map_err(|e: Error| Error::store("malformed principal in the ledger", e))?,
        request_hash: row.opt_text("request_hash")?,
        expires_at: opt_time(row.opt_int("expires_at")?)?,
        retry_of: row
            .opt_text("retry_of")?
            .map(|id| {
                JobId::parse(&id)
                    .map_err(|_| Error::Store("malformed retry_of job id in the ledger".into()))
            })
            .transpose()?,
        origin: row
            .opt_text("origin")?
            .map(|o| json(&o, "origin"))
            .transpose()?,
    })
}

/// A `steps` row (selected with [`STEP_COLUMNS`]).
pub(crate) fn step_from_row(row: &impl LedgerRow) -> Result<StepRecord> {
    let exit_code: Option<i64> = row.opt_int("exit_code")?;
    Ok(StepRecord {
        index: narrow(row.int("idx")?, "idx")?,
        status: StepStatus::parse(&row.text("status")?)?,
        risk: row.text("risk")?.parse()?,
        exit_code: exit_code.map(|c| narrow(c, "exit_code")).transpose()?,
        started_at: opt_time(row.opt_int("started_at")?)?,
        finished_at: opt_time(row.opt_int("finished_at")?)?,
        output_bytes: narrow(row.int("output_bytes")?, "output_bytes")?,
        truncated: row.flag("truncated")?,
        error: row.opt_text("error")?,
    })
}

/// An `events` row (selected with [`EVENT_COLUMNS`]).
pub(crate) fn event_from_row(row: &impl LedgerRow) -> Result<Event> {
    Ok(Event {
        seq: row.int("seq")?,
        job_id: JobId::parse(&row.text("job_id")?)
            .map_err(|_| Error::Store("malformed job id in the event log".into()))?,
        kind: row.text("kind")?,
        data: json(&row.text("data")?, "data")?,
        at: time(row.int("at")?)?,
        prev_hash: row.text("prev_hash")?,
        hash: row.text("hash")?,
    })
}

/// A `logs` row (`seq, step, stream, text, at`).
pub(crate) fn log_from_row(row: &impl LedgerRow) -> Result<LogLine> {
    Ok(LogLine {
        seq: row.int("seq")?,
        step: narrow(row.int("step")?, "step")?,
        stream: stream(&row.text("stream")?)?,
        text: row.text("text")?,
        at: time(row.int("at")?)?,
    })
}

/// The columns [`worker_from_row`] reads.
pub(crate) const WORKER_COLUMNS: &str = "id, host, pid, version, providers, capacity, running, \
     started_at, heartbeat_at, state, stopped_at";

/// A `workers` row (selected with [`WORKER_COLUMNS`]).
pub(crate) fn worker_from_row(row: &impl LedgerRow) -> Result<WorkerRecord> {
    let running = narrow(row.int("running")?, "running")?;
    let state = match row.text("state")?.as_str() {
        "offline" => WorkerState::Offline,
        _ if running > 0 => WorkerState::Busy,
        _ => WorkerState::Online,
    };
    Ok(WorkerRecord {
        info: WorkerInfo {
            id: row.text("id")?,
            host: row.text("host")?,
            pid: narrow(row.int("pid")?, "pid")?,
            version: row.text("version")?,
            providers: json(&row.text("providers")?, "providers")?,
            capacity: narrow(row.int("capacity")?, "capacity")?,
        },
        running,
        state,
        started_at: time(row.int("started_at")?)?,
        heartbeat_at: time(row.int("heartbeat_at")?)?,
        stopped_at: opt_time(row.opt_int("stopped_at")?)?,
    })
}

/// The columns [`key_from_row`] reads.
pub(crate) const KEY_COLUMNS: &str =
    "id, name, scopes, secret_hash, created_at, revoked_at, principal";

/// An `api_keys` row (selected with [`KEY_COLUMNS`]).
pub(crate) fn key_from_row(row: &impl LedgerRow) -> Result<crate::store::keys::ApiKey> {
    use crate::store::keys::Scope;
    Ok(crate::store::keys::ApiKey {
        id: row.text("id")?,
        name: row.text("name")?,
        scopes: row
            .text("scopes")?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse::<Scope>)
            .collect::<Result<_>>()?,
        secret_hash: row.text("secret_hash")?,
        created_at: time(row.int("created_at")?)?,
        revoked_at: opt_time(row.opt_int("revoked_at")?)?,
        principal: match row.opt_text("principal")? {
            Some(p) => p.parse().map_err(|e: Error| {
                Error::Store(format!("malformed principal of an API key: {e}"))
            })?,
            None => crate::principal::Principal::of_key(&row.text("id")?)?,
        },
    })
}

/// A memory from a row of `store::memory::MEMORY_COLUMNS`.
pub(crate) fn memory_from_row(row: &impl LedgerRow) -> Result<crate::memory::Memory> {
    let bad = |what: &'static str| move |e: Error| Error::Store(format!("memory {what}: {e}"));
    Ok(crate::memory::Memory {
        id: row.text("id")?,
        principal: row.text("principal")?.parse().map_err(bad("principal"))?,
        memory_type: row.text("memory_type")?.parse().map_err(bad("type"))?,
        content: row.text("content")?,
        metadata: json(&row.text("metadata")?, "metadata")?,
        tags: json(&row.text("tags")?, "tags")?,
        job_id: row.opt_text("job_id")?,
        outcome: row
            .opt_text("outcome")?
            .map(|o| o.parse())
            .transpose()
            .map_err(bad("outcome"))?,
        created_at: time(row.int("created_at")?)?,
        last_accessed_at: time(row.int("last_accessed_at")?)?,
        access_count: narrow(row.int("access_count")?, "access_count")?,
        importance: row.int("importance_micros")? as f64 / 1e6,
        embedding: match row.opt_text("embedding")? {
            Some(hex) => crate::store::memory::embedding_from_hex(&hex)?,
            None => Vec::new(),
        },
        embedding_model: row.opt_text("embedding_model")?,
        pinned: row.int("pinned")? != 0,
    })
}

/// A `u64` count as SQL's `BIGINT` (saturating).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A new job's values for the `jobs` insert both backends run, in the order
/// of [`NEW_JOB_COLUMNS`] (bind them with [`NewJobRow::bind`]).
pub(crate) struct NewJobRow<'a> {
    pub job: &'a Job,
    pub plan: Option<String>,
    pub approval: Option<String>,
    pub plan_hash: Option<String>,
    /// The job's root, as text.
    pub root: String,
    pub queued_at: Option<DateTime<Utc>>,
    /// The job's origin, as JSON text.
    pub origin: Option<String>,
}

/// How many values [`NEW_JOB_COLUMNS`] takes.
pub(crate) const NEW_JOB_VALUES: usize = 26;

/// `$start, $start+1, ...`: `n` placeholders.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns a new job is inserted with ([`NEW_JOB_VALUES`] values).
pub(crate) const NEW_JOB_COLUMNS: &str = "id, intent, status, plan, plan_hash, risk, root, \
     provider, priority, approval, attempts, max_attempts, run_at, timeout_ms, created_at, \
     queued_at, started_at, finished_at, error, source, request_key, principal, request_hash, expires_at, \
     retry_of, origin";

impl<'a> NewJobRow<'a> {
    /// The row for `job` inserted at `now` (a queued job is queued now
    /// unless it says when).
    pub(crate) fn new(job: &'a Job, now: DateTime<Utc>) -> Result<Self> {
        Ok(NewJobRow {
            job,
            plan: job.plan.as_ref().map(|p| to_json(p, "plan")).transpose()?,
            approval: job
                .approval
                .as_ref()
                .map(|a| to_json(a, "approval"))
                .transpose()?,
            plan_hash: job.plan.as_ref().map(|p| p.hash.clone()),
            root: job.root.to_string_lossy().into_owned(),
            queued_at: match job.status {
                JobStatus::Queued => job.queued_at.or(Some(now)),
                _ => job.queued_at,
            },
            origin: job
                .origin
                .as_ref()
                .map(|o| to_json(o, "origin"))
                .transpose()?,
        })
    }

    /// Bind the row's values to `query`, in [`NEW_JOB_COLUMNS`] order.
    pub(crate) fn bind<'q, D: Run>(&'q self, query: Stmt<'q, D>) -> Stmt<'q, D> {
        let job = self.job;
        query
            .bind(job.id.as_str())
            .bind(job.intent.as_str())
            .bind(job.status.as_str())
            .bind(self.plan.as_deref())
            .bind(self.plan_hash.as_deref())
            .bind(job.risk.as_str())
            .bind(self.root.as_str())
            .bind(job.provider.as_str())
            .bind(i64::from(job.priority))
            .bind(self.approval.as_deref())
            .bind(i64::from(job.attempts))
            .bind(i64::from(job.max_attempts))
            .bind(micros(job.run_at))
            .bind(job.timeout_ms.map(to_i64))
            .bind(micros(job.created_at))
            .bind(self.queued_at.map(micros))
            .bind(job.started_at.map(micros))
            .bind(job.finished_at.map(micros))
            .bind(job.error.as_deref())
            .bind(job.source.as_str())
            .bind(job.idempotency_key.as_deref())
            .bind(job.principal.as_str())
            .bind(job.request_hash.as_deref())
            .bind(job.expires_at.map(micros))
            .bind(job.retry_of.as_ref().map(JobId::as_str))
            .bind(self.origin.as_deref())
    }

    /// The data of the job's first event, `submitted`.
    pub(crate) fn submitted_event(&self) -> serde_json::Value {
        let mut data = serde_json::json!({
            "intent": self.job.intent,
            "status": self.job.status.as_str(),
            "risk": self.job.risk.as_str(),
            "plan_hash": self.plan_hash,
            "source": self.job.source.as_str(),
            "principal": self.job.principal.as_str(),
        });
        // Only a retry names its original, so other jobs' first events
        // keep their shape.
        if let (Some(original), Some(fields)) = (&self.job.retry_of, data.as_object_mut()) {
            fields.insert("retry_of".into(), original.as_str().into());
        }
        // Likewise only a scheduled or proposed job names its origin.
        if let (Some(origin), Some(fields)) = (&self.job.origin, data.as_object_mut()) {
            fields.insert("origin".into(), serde_json::json!(origin));
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_error_keeps_what_was_done_and_its_cause() {
        let e = db("loading a job")(sqlx::Error::PoolTimedOut);
        assert_eq!(e.kind(), crate::ErrorKind::Internal);
        assert!(e.to_string().starts_with("store: loading a job: "), "{e}");
        let source = std::error::Error::source(&e).expect("a source");
        assert!(
            source
                .downcast_ref::<sqlx::Error>()
                .is_some_and(|s| matches!(s, sqlx::Error::PoolTimedOut)),
            "{source}"
        );
    }

    #[test]
    fn status_literals_are_plain_quoted_names() {
        for s in crate::job::ALL_STATUSES {
            let lit = status_literal(s);
            let inner = &lit[1..lit.len() - 1];
            assert_eq!(lit, format!("'{inner}'"));
            assert!(!inner.is_empty());
            assert!(
                inner.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{lit}"
            );
        }
    }
}
