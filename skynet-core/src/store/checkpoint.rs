//! What a worker writes, written once for every dialect: batch claims
//! (a locking `SELECT`, one `UPDATE … FROM (VALUES …)`, one multi-row
//! insert of their events), and about the jobs it holds the lease on: step
//! starts, step ends with their last log lines, completions, and whole
//! batches of those for several jobs in one transaction (group commit, in
//! `super::checkpoint_batch`). Every write is fenced by the job's lease and
//! every event extends the job's hash chain; the events one checkpoint
//! causes go in with a single multi-row `INSERT`.

use crate::job::{Job, JobFailure, JobId, JobStatus};
use crate::store::codec::{JOB_COLUMNS, LedgerRow, db, job_from_row, micros, now, plus};
use crate::store::dialect::{Affected, Dialect};
use crate::store::rules::{
    Val, check_step_outcome, claim_transition, completion_transition, no_such_step,
};
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::store::tx::Tx;
use crate::store::{FinishedStep, NewLogLine, RunCheckpoint, chain};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Log lines per multi-row INSERT (5 parameters each stays far below
/// both backends' bound-parameter limits).
const LOG_CHUNK: usize = 500;

/// An event to append: kind, data, time.
pub(crate) type NewEvent = (&'static str, Value, DateTime<Utc>);

/// An event row chained and ready to insert: kind, data, time
/// (micros), previous hash, hash.
pub(crate) type ChainedEvent = (&'static str, String, i64, String, String);

impl<D: Dialect> Tx<D> {
    /// [`JobStore::claim`](crate::store::JobStore::claim) inside the
    /// caller's transaction: one statement picks and locks the jobs
    /// (skipping rows other claimers hold, where the backend can); their
    /// leases and `status` events are made here, and one `UPDATE … FROM
    /// (VALUES …)` leases them with their chain heads already on the new
    /// events (one new version of each job row), one insert appends the
    /// events.
    pub(crate) async fn claim_in(
        conn: &mut D::Connection,
        worker: &str,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let now = now();
        let mut qb = SqlBuilder::<D>::new("SELECT ");
        qb.push(JOB_COLUMNS)
            .push(", event_head FROM jobs WHERE run_at <= ")
            .push_bind(micros(now));
        Self::push_status_in(&mut qb, &JobStatus::allowed_from(JobStatus::Running));
        qb.push(" ORDER BY priority DESC, run_at, created_at, id LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .push(D::SKIP_LOCKED);
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("claiming jobs"))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut leased = Vec::with_capacity(rows.len());
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let job = job_from_row(row)?;
            let head = row.opt_text("event_head")?;
            let lease_id = uuid::Uuid::now_v7().to_string();
            let t = claim_transition(&job, worker, &lease_id, lease, now);
            let event = ("status", Self::status_event_data(job.status, &t), now);
            let (rows, new_head) = Self::chain_events(&job.id, head, vec![event]);
            let Some(new_head) = new_head else {
                return Err(Error::Store("a claim made no event".into()));
            };
            events.extend(rows);
            leased.push((job.id, lease_id, new_head));
        }
        let mut qb = SqlBuilder::<D>::new("UPDATE jobs SET status = ");
        qb.push_bind(JobStatus::Running.as_str())
            .push(", lease_worker = ")
            .push_bind(worker)
            .push(", lease_expires_at = ")
            .push_bind(micros(plus(now, lease)))
            .push(", attempts = attempts + 1, started_at = COALESCE(started_at, ")
            .push_bind(micros(now))
            // `column1` ...: the names both backends give a VALUES list's columns.
            .push("), lease_id = v.column2, event_head = v.column3 FROM (");
        qb.push_values(&leased, |row, (id, lease_id, head)| {
            row.push_bind(id.as_str())
                .push_bind(lease_id.as_str())
                .push_bind(head.as_str());
        });
        qb.push(") AS v WHERE jobs.id = v.column1 RETURNING ")
            .push(JOB_COLUMNS);
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("claiming jobs"))?;
        // RETURNING gives no order: hand them out in the SELECT's. The
        // rows are locked (or the database is), so every one was leased;
        // if not, the transaction must not commit.
        let mut by_id = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let job = job_from_row(row)?;
            by_id.insert(job.id.as_str().to_string(), job);
        }
        let claimed = leased
            .iter()
            .map(|(id, _, _)| {
                by_id
                    .remove(id.as_str())
                    .ok_or_else(|| Error::Store(format!("claimed job {id} was not leased")))
            })
            .collect::<Result<Vec<Job>>>()?;
        let events = leased
            .iter()
            .zip(events)
            .map(|((id, _, _), e)| (id.as_str(), e));
        Self::insert_event_rows(&mut *conn, events.collect(), "recording claims").await?;
        Ok(claimed)
    }

    /// Why a fenced read found nothing: the job is gone, or it no longer
    /// runs under this lease.
    pub(crate) async fn not_fenced(conn: &mut D::Connection, id: &JobId) -> Error {
        let found = query::<D>("SELECT 1 FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await;
        match found {
            Ok(Some(_)) => Error::LeaseLost(id.clone()),
            Ok(None) => Error::JobNotFound(id.to_string()),
            Err(e) => db("looking up a job")(e),
        }
    }

    /// Inside a write transaction: the job runs under `lease_id`; its row
    /// is locked (its chain is appended to next). Returns the chain head.
    pub(crate) async fn fence(
        conn: &mut D::Connection,
        id: &JobId,
        lease_id: &str,
    ) -> Result<Option<String>> {
        Self::fenced_row(conn, &D::sql().fence, id, lease_id)
            .await?
            .opt_text("event_head")
    }

    /// [`fence`], returning the whole job as well (a completion needs it).
    pub(crate) async fn fenced_job(
        conn: &mut D::Connection,
        id: &JobId,
        lease_id: &str,
    ) -> Result<(Job, Option<String>)> {
        let row = Self::fenced_row(conn, &D::sql().fenced_job, id, lease_id).await?;
        let head = row.opt_text("event_head")?;
        Ok((job_from_row(&row)?, head))
    }

    /// The row `sql` locks when the job runs under `lease_id`, else why not.
    async fn fenced_row(
        conn: &mut D::Connection,
        sql: &'static str,
        id: &JobId,
        lease_id: &str,
    ) -> Result<D::Row> {
        let row = query::<D>(sql)
            .bind(id.as_str())
            .bind(JobStatus::Running.as_str())
            .bind(lease_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("checking the lease"))?;
        match row {
            Some(row) => Ok(row),
            None => Err(Self::not_fenced(conn, id).await),
        }
    }

    /// Insert log lines inside the caller's transaction.
    pub(crate) async fn insert_logs(
        conn: &mut D::Connection,
        id: &JobId,
        lines: &[NewLogLine],
    ) -> Result<()> {
        let rows: Vec<(&str, &NewLogLine)> = lines.iter().map(|l| (id.as_str(), l)).collect();
        Self::insert_log_rows(conn, &rows).await
    }

    /// Insert log lines, each with its job, in as few statements as the
    /// parameter limits allow.
    pub(crate) async fn insert_log_rows(
        conn: &mut D::Connection,
        rows: &[(&str, &NewLogLine)],
    ) -> Result<()> {
        let at = micros(now());
        for chunk in rows.chunks(LOG_CHUNK) {
            let mut qb = SqlBuilder::<D>::new("INSERT INTO logs (job_id, step, stream, text, at) ");
            qb.push_values(chunk, |row, (id, line)| {
                row.push_bind(*id)
                    .push_bind(i64::from(line.step))
                    .push_bind(line.stream.as_str())
                    .push_bind(line.text.as_str())
                    .push_bind(at);
            });
            let (sql, args) = qb.into_parts()?;
            query_with::<D>(&sql, args)
                .execute(&mut *conn)
                .await
                .map_err(db("appending log lines"))?;
        }
        Ok(())
    }

    /// Chain `events` after `head`, in order: the rows to insert and the
    /// new head (`None` for no events).
    pub(crate) fn chain_events(
        id: &JobId,
        head: Option<String>,
        events: Vec<NewEvent>,
    ) -> (Vec<ChainedEvent>, Option<String>) {
        if events.is_empty() {
            return (Vec::new(), None);
        }
        let mut prev = head.unwrap_or_else(|| chain::genesis(id));
        let mut rows = Vec::with_capacity(events.len());
        for (kind, data, at) in events {
            let at = chain::truncate_to_micros(at);
            let hash = chain::event_hash(&prev, id, kind, &data, at);
            rows.push((kind, data.to_string(), micros(at), prev, hash.clone()));
            prev = hash;
        }
        (rows, Some(prev))
    }

    /// Insert chained event rows of one job in one statement (the
    /// caller moves the job's head).
    pub(crate) async fn insert_events(
        conn: &mut D::Connection,
        id: &JobId,
        rows: Vec<ChainedEvent>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let rows = rows.into_iter().map(|r| (id.as_str(), r)).collect();
        Self::insert_event_rows(conn, rows, "appending events").await
    }

    /// Insert chained event rows, each with its job, in one statement.
    pub(crate) async fn insert_event_rows(
        conn: &mut D::Connection,
        rows: Vec<(&str, ChainedEvent)>,
        what: &'static str,
    ) -> Result<()> {
        // The global log's lifecycle events, in the same transaction.
        let chained: Vec<(&str, &str, Value, i64)> = rows
            .iter()
            .filter(|(_, (kind, ..))| crate::events::from_job::is_lifecycle_kind(kind))
            .map(|(id, (kind, data, at, ..))| {
                (
                    *id,
                    *kind,
                    serde_json::from_str(data).unwrap_or(Value::Null),
                    *at,
                )
            })
            .collect();
        Self::log_lifecycle(
            &mut *conn,
            chained.iter().map(|(i, k, d, a)| (*i, *k, d, *a)),
        )
        .await?;
        let mut qb =
            SqlBuilder::<D>::new("INSERT INTO events (job_id, kind, data, at, prev_hash, hash) ");
        qb.push_values(rows, |row, (id, (kind, data, at, prev_hash, hash))| {
            row.push_bind(id)
                .push_bind(kind)
                .push_bind(data)
                .push_bind(at)
                .push_bind(prev_hash)
                .push_bind(hash);
        });
        let (sql, args) = qb.into_parts()?;
        query_with::<D>(&sql, args)
            .execute(&mut *conn)
            .await
            .map_err(db(what))?;
        Ok(())
    }

    /// Append `events` to the job's chain after `head`, in order, in one
    /// statement, and move the job's head to the last one.
    pub(crate) async fn append_events(
        conn: &mut D::Connection,
        id: &JobId,
        head: Option<String>,
        events: Vec<NewEvent>,
    ) -> Result<()> {
        let (rows, new_head) = Self::chain_events(id, head, events);
        let Some(new_head) = new_head else {
            return Ok(());
        };
        Self::insert_events(&mut *conn, id, rows).await?;
        Self::move_head(conn, id, &new_head).await
    }

    /// [`StepStore::start_step`](crate::store::StepStore::start_step)
    /// inside the caller's transaction.
    pub(crate) async fn start_step_in(
        conn: &mut D::Connection,
        id: &JobId,
        lease_id: &str,
        index: u32,
    ) -> Result<()> {
        let head = Self::fence(&mut *conn, id, lease_id).await?;
        let now = now();
        let changed = query::<D>(
            "UPDATE steps SET status = $1, started_at = $2, finished_at = NULL, \
             exit_code = NULL, error = NULL WHERE job_id = $3 AND idx = $4",
        )
        .bind(crate::store::StepStatus::Running.as_str())
        .bind(micros(now))
        .bind(id.as_str())
        .bind(i64::from(index))
        .execute(&mut *conn)
        .await
        .map_err(db("starting a step"))?
        .rows_affected();
        if changed == 0 {
            return Err(no_such_step(id, index));
        }
        let event = ("step_started", json!({ "step": index }), now);
        Self::append_events(conn, id, head, vec![event]).await
    }

    /// Write a step's end (and its start, if it was not recorded) with its
    /// last log lines; returns the events it causes.
    pub(crate) async fn write_step_end(
        conn: &mut D::Connection,
        id: &JobId,
        step: &FinishedStep,
    ) -> Result<Vec<NewEvent>> {
        Self::insert_logs(&mut *conn, id, &step.logs).await?;
        let now = now();
        Self::finish_steps(&mut *conn, &[(id, step)], now).await?;
        Ok(Self::step_end_events(step, now))
    }

    /// The events a step's end causes at `now`: its start (if it was not
    /// recorded) and its end.
    pub(crate) fn step_end_events(step: &FinishedStep, now: DateTime<Utc>) -> Vec<NewEvent> {
        let outcome = &step.outcome;
        let mut events = Vec::with_capacity(2);
        if let Some(at) = step.started_at {
            events.push(("step_started", json!({ "step": step.index }), at));
        }
        let mut data = json!({
            "step": step.index,
            "status": outcome.status.as_str(),
            "exit_code": outcome.exit_code,
            "output_bytes": outcome.output_bytes,
            "truncated": outcome.truncated,
            "error": outcome.error,
        });
        // Which level's limit stopped it, readable without decoding `error`.
        if let Some(limit) = outcome.error.as_deref().and_then(JobFailure::timeout_of) {
            data["timeout"] = json!(limit);
        }
        events.push(("step_finished", data, now));
        events
    }

    /// One checkpoint inside the caller's transaction. The outer error
    /// means something may have been written (the transaction must be
    /// dropped); the inner one refused the checkpoint before any write.
    pub(crate) async fn record_checkpoint_in(
        conn: &mut D::Connection,
        cp: &RunCheckpoint,
    ) -> Result<Result<Option<Job>>> {
        if let Some(step) = &cp.step
            && let Err(e) = check_step_outcome(&step.outcome)
        {
            return Ok(Err(e));
        }
        let (job, head) = match Self::fenced_job(&mut *conn, &cp.job, &cp.lease_id).await {
            Ok(found) => found,
            Err(e @ (Error::LeaseLost(_) | Error::JobNotFound(_))) => return Ok(Err(e)),
            Err(e) => return Err(e),
        };
        Self::write_checkpoint(conn, cp, &job, head).await.map(Ok)
    }

    /// Write `cp` for `job`, whose row the caller locked and fenced by
    /// the checkpoint's lease, its chain ending at `head`.
    pub(crate) async fn write_checkpoint(
        conn: &mut D::Connection,
        cp: &RunCheckpoint,
        job: &Job,
        head: Option<String>,
    ) -> Result<Option<Job>> {
        let id = &cp.job;
        let mut events = match &cp.step {
            Some(step) => Self::write_step_end(&mut *conn, id, step).await?,
            None => Vec::new(),
        };
        let Some(completion) = &cp.completion else {
            Self::append_events(conn, id, head, events).await?;
            return Ok(None);
        };
        let t = completion_transition(job, &cp.lease_id, completion.clone());
        let now = now();
        // The whole chain is known before the status change, so the
        // same UPDATE moves the head (one write of the job row).
        events.push(("status", Self::status_event_data(job.status, &t), now));
        let (rows, new_head) = Self::chain_events(id, head, events);
        let mut t = t;
        if let Some(new_head) = new_head {
            t = t.set("event_head", Val::Text(new_head));
        }
        // The fenced row is locked (or the database is), so the CAS
        // cannot miss; if it did, the transaction must not commit.
        let Some((changed, _, _)) = Self::transition_unlogged(&mut *conn, job, t, now).await?
        else {
            return Err(Error::LeaseLost(id.clone()));
        };
        Self::insert_events(conn, id, rows).await?;
        Ok(Some(changed))
    }
}
