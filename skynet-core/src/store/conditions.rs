//! What the default handlers read and the conditions they raise, for every
//! dialect: `raised_conditions` (one row per condition raised and not yet
//! cleared: `queue.backlog`, `system.idle`, a failure pattern, a slowed
//! step), inserted with its event in one transaction so that any number of
//! processes raise a condition once; a step's recent runs by signature;
//! the time of the last job activity; the global log's head.

use crate::events::{EventPosition, NewSystemEvent};
use crate::job::JobId;
use crate::store::codec::{LedgerRow, db, micros, time};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::store::tx::Tx;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Jobs whose steps' signatures one statement reads at most.
pub const SIGNATURE_CHUNK: usize = 500;

/// One finished run of a step, as the default handlers read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRun {
    /// Its job.
    pub job: JobId,
    /// Its index in the job's plan.
    pub step: u32,
    /// How it ended (`succeeded`, `failed`, ...).
    pub status: String,
    /// Its error, if it failed.
    pub error: Option<String>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How long it ran, in milliseconds, when it started.
    pub duration_ms: Option<u64>,
}

/// The default handlers' readings and raised conditions.
#[async_trait]
pub trait ConditionStore: Send + Sync {
    /// Raise condition `key` as of `now`, recording `event` in the same
    /// transaction; `true` when this call raised it. A condition already
    /// raised is raised again only when `renew_before` is given and it was
    /// raised before then (a pattern raised once per window).
    async fn raise_condition(
        &self,
        key: &str,
        now: DateTime<Utc>,
        renew_before: Option<DateTime<Utc>>,
        event: &NewSystemEvent,
    ) -> Result<bool>;
    /// Clear condition `key`; `true` when it was raised.
    async fn clear_condition(&self, key: &str) -> Result<bool>;
    /// The raised conditions whose key starts with `prefix`.
    async fn raised_conditions(&self, prefix: &str) -> Result<Vec<String>>;
    /// The signatures of these steps (job, index), in one read per
    /// [`SIGNATURE_CHUNK`] jobs; a step without one (or that does not
    /// exist) is left out.
    async fn step_signatures(
        &self,
        steps: &[(JobId, u32)],
    ) -> Result<HashMap<(JobId, u32), String>>;
    /// The finished runs of steps with `signature` since `since`, newest
    /// first (at most `limit`).
    async fn step_runs(
        &self,
        signature: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StepRun>>;
    /// When a job last changed (the newest job event of the global log).
    async fn last_job_activity(&self) -> Result<Option<DateTime<Utc>>>;
    /// The position of the newest event a reader can see now (the start of
    /// the log when it is empty): where a reader that wants only what
    /// happens from now on starts.
    async fn event_log_head(&self) -> Result<EventPosition>;
}

#[async_trait]
impl<D: Dialect> ConditionStore for Ledger<D> {
    async fn raise_condition(
        &self,
        key: &str,
        now: DateTime<Utc>,
        renew_before: Option<DateTime<Utc>>,
        event: &NewSystemEvent,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        // With no renewal, `raised_at < MIN` never holds.
        let renew = renew_before.map_or(i64::MIN, micros);
        let raised = query::<D>(
            "INSERT INTO raised_conditions (name, raised_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET raised_at = excluded.raised_at \
             WHERE raised_conditions.raised_at < $3",
        )
        .bind(key)
        .bind(micros(now))
        .bind(renew)
        .execute(&mut *tx)
        .await
        .map_err(db("raising a condition"))?;
        if raised.rows_affected() == 0 {
            return Ok(false);
        }
        Tx::<D>::record_events_in(&mut tx, std::slice::from_ref(event)).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn clear_condition(&self, key: &str) -> Result<bool> {
        let done = query::<D>("DELETE FROM raised_conditions WHERE name = $1")
            .bind(key)
            .execute(&self.write)
            .await
            .map_err(db("clearing a condition"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn raised_conditions(&self, prefix: &str) -> Result<Vec<String>> {
        // The table holds a handful of rows: filtered here, not in SQL.
        let rows = query::<D>("SELECT name FROM raised_conditions ORDER BY name")
            .fetch_all(&self.read)
            .await
            .map_err(db("reading raised conditions"))?;
        let mut keys = Vec::new();
        for row in &rows {
            let key = row.text("name")?;
            if key.starts_with(prefix) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    async fn step_signatures(
        &self,
        steps: &[(JobId, u32)],
    ) -> Result<HashMap<(JobId, u32), String>> {
        // Each step asked for, keyed by the caller's own id (rows are
        // matched to it), and the jobs to read, each once.
        let wanted: HashMap<(&str, u32), &JobId> =
            steps.iter().map(|(j, i)| ((j.as_str(), *i), j)).collect();
        let mut jobs: Vec<&str> = wanted.keys().map(|(j, _)| *j).collect();
        jobs.sort_unstable();
        jobs.dedup();
        let mut found = HashMap::new();
        for chunk in jobs.chunks(SIGNATURE_CHUNK) {
            let mut qb = SqlBuilder::<D>::new(
                "SELECT job_id, idx, signature FROM steps WHERE signature IS NOT NULL AND job_id IN ",
            );
            qb.push_in(chunk.iter().copied());
            let (sql, args) = qb.into_parts()?;
            let rows = query_with::<D>(&sql, args)
                .fetch_all(&self.read)
                .await
                .map_err(db("reading steps' signatures"))?;
            for row in &rows {
                let job = row.text("job_id")?;
                let Ok(idx) = u32::try_from(row.int("idx")?) else {
                    continue;
                };
                if let Some(id) = wanted.get(&(job.as_str(), idx)) {
                    found.insert(((*id).clone(), idx), row.text("signature")?);
                }
            }
        }
        Ok(found)
    }

    async fn step_runs(
        &self,
        signature: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StepRun>> {
        // By the (signature, finished_at) index.
        let rows = query::<D>(
            "SELECT job_id, idx, status, error, started_at, finished_at FROM steps \
             WHERE signature = $1 AND finished_at >= $2 ORDER BY finished_at DESC LIMIT $3",
        )
        .bind(signature)
        .bind(micros(since))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db("reading a step's recent runs"))?;
        rows.iter()
            .map(|r| {
                let finished = r.int("finished_at")?;
                Ok(StepRun {
                    job: JobId::parse(&r.text("job_id")?)
                        .map_err(|_| Error::Store("malformed job id of a step".into()))?,
                    step: u32::try_from(r.int("idx")?).unwrap_or(0),
                    status: r.text("status")?,
                    error: r.opt_text("error")?,
                    finished_at: time(finished)?,
                    duration_ms: r
                        .opt_int("started_at")?
                        .map(|s| u64::try_from((finished - s) / 1000).unwrap_or(0)),
                })
            })
            .collect()
    }

    async fn last_job_activity(&self) -> Result<Option<DateTime<Utc>>> {
        let row = query::<D>(
            "SELECT at FROM event_log WHERE job_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await
        .map_err(db("reading the last job activity"))?;
        row.map(|r| time(r.int("at")?)).transpose()
    }

    async fn event_log_head(&self) -> Result<EventPosition> {
        // Every row a reader may see now, newest first (see
        // `Dialect::EVENT_LOG_AFTER`: on PostgreSQL, only transactions that
        // can no longer be joined by an older one).
        let sql = format!(
            "SELECT e.xid, e.id FROM event_log e WHERE {} ORDER BY {} LIMIT 1",
            D::EVENT_LOG_AFTER,
            D::EVENT_LOG_ORDER_DESC
        );
        let row = query::<D>(&sql)
            .bind(0_i64)
            .bind(0_i64)
            .fetch_optional(&self.read)
            .await
            .map_err(db("reading the head of the global event log"))?;
        match row {
            Some(r) => Ok(EventPosition {
                xid: r.int("xid")?,
                id: r.int("id")?,
            }),
            None => Ok(EventPosition::START),
        }
    }
}
