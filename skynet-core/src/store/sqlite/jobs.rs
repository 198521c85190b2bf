//! Jobs and the queue: insert, list, compare-and-set status changes,
//! approval, claims with leases, heartbeats, completion and the reaper.

use super::checkpoint::claim_in;
use super::tx::{
    append_event, approve_in, load_job, load_steps, push_status_in, require_job, set_status_in,
    transition,
};
use super::{SqliteStore, commit};
use crate::job::{Approval, Job, JobId, JobStatus};
use crate::store::codec::{JOB_COLUMNS, db, job_from_row, micros, now, plus, time};
use crate::store::codec::{NEW_JOB_COLUMNS, NewJobRow, bind_new_job};
use crate::store::rules::{
    DEFAULT_LIMIT, MAX_LIMIT, check_new_job, claim_transition, reap_transition,
};
use crate::store::stats;
use crate::store::{
    Completion, JobFilter, JobStore, ProviderStats, Reaped, StatusChange, StepStatus,
};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::time::Duration;

async fn job_by_key(conn: &mut SqliteConnection, key: &str) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?");
    let row = sqlx::query(&sql)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("looking up an idempotency key"))?;
    row.as_ref().map(job_from_row).transpose()
}

/// Put one queued `job` (loaded in this transaction) under a fresh lease.
/// `None` if it was not claimable after all.
async fn claim_one(
    conn: &mut SqliteConnection,
    job: &Job,
    worker: &str,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Job>> {
    let lease_id = uuid::Uuid::now_v7().to_string();
    let t = claim_transition(job, worker, &lease_id, lease, now);
    transition(conn, job, t, now).await
}

impl SqliteStore {
    /// Reap one job if it is still running under `lease_id` and that lease
    /// expired before `cutoff`.
    async fn reap_one(
        &self,
        id: &JobId,
        lease_id: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<Reaped>> {
        let mut tx = self.begin().await?;
        let Some(job) = load_job(&mut tx, id).await? else {
            return Ok(None);
        };
        let still_expired = job.status == JobStatus::Running
            && job
                .lease
                .as_ref()
                .is_some_and(|l| l.id == lease_id && l.expires_at < cutoff);
        if !still_expired {
            return Ok(None);
        }
        let steps = load_steps(&mut tx, id).await?;
        // Recorded times use the real clock; `cutoff` only selects leases.
        let stamp = now();
        let (t, reaped) = reap_transition(&job, lease_id, &steps, stamp);
        if transition(&mut tx, &job, t, stamp).await?.is_none() {
            return Ok(None);
        }
        commit(tx).await?;
        Ok(Some(reaped))
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn insert_job(&self, job: &Job) -> Result<(Job, bool)> {
        check_new_job(job)?;
        let mut tx = self.begin().await?;
        if let Some(key) = &job.idempotency_key
            && let Some(existing) = job_by_key(&mut tx, key).await?
        {
            return Ok((existing, false));
        }
        if load_job(&mut tx, &job.id).await?.is_some() {
            return Err(Error::Conflict(format!("job {} already exists", job.id)));
        }
        let now = now();
        let row = NewJobRow::new(job, now)?;
        let sql = format!(
            "INSERT INTO jobs ({NEW_JOB_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        bind_new_job!(sqlx::query(&sql), &row)
            .execute(&mut *tx)
            .await
            .map_err(db("inserting a job"))?;
        for (index, step) in job.plan.iter().flat_map(|p| p.steps.iter()).enumerate() {
            sqlx::query("INSERT INTO steps (job_id, idx, status, risk) VALUES (?, ?, ?, ?)")
                .bind(job.id.as_str())
                .bind(i64::try_from(index).unwrap_or(i64::MAX))
                .bind(StepStatus::Pending.as_str())
                .bind(step.risk.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db("inserting step checkpoints"))?;
        }
        append_event(
            &mut tx,
            &job.id,
            "submitted",
            row.submitted_event(),
            now,
            Some(None),
        )
        .await?;
        let stored = require_job(&mut tx, &job.id).await?;
        commit(tx).await?;
        Ok((stored, true))
    }

    async fn get_job(&self, id: &JobId) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db("loading a job"))?;
        match row {
            Some(row) => job_from_row(&row),
            None => Err(Error::JobNotFound(id.to_string())),
        }
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1"));
        if !filter.statuses.is_empty() {
            push_status_in(&mut qb, &filter.statuses);
        }
        if filter.dead_letter {
            qb.push(" AND status = ")
                .push_bind(JobStatus::Failed.as_str())
                .push(" AND attempts >= max_attempts");
        }
        if let Some(before) = &filter.before {
            let at = micros(before.created_at);
            qb.push(" AND (created_at < ")
                .push_bind(at)
                .push(" OR (created_at = ")
                .push_bind(at)
                .push(" AND id < ")
                .push_bind(before.id.as_str().to_string())
                .push("))");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb
            .build()
            .fetch_all(&self.read)
            .await
            .map_err(db("listing jobs"))?;
        rows.iter().map(job_from_row).collect()
    }

    async fn count_jobs_by_status(&self) -> Result<Vec<(JobStatus, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
                .fetch_all(&self.read)
                .await
                .map_err(db("counting jobs"))?;
        rows.into_iter()
            .map(|(s, n)| Ok((s.parse()?, u64::try_from(n).unwrap_or(0))))
            .collect()
    }

    async fn oldest_queued_since(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let since: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(MAX(COALESCE(queued_at, created_at), run_at)) FROM jobs \
             WHERE status = 'queued' AND run_at <= ?",
        )
        .bind(micros(now))
        .fetch_one(&self.read)
        .await
        .map_err(db("finding the oldest queued job"))?;
        since.map(time).transpose()
    }

    async fn set_status(&self, id: &JobId, to: JobStatus, change: StatusChange) -> Result<Job> {
        let mut tx = self.begin().await?;
        let job = set_status_in(&mut tx, id, to, change).await?;
        commit(tx).await?;
        Ok(job)
    }

    async fn approve(&self, id: &JobId, approval: Approval) -> Result<Job> {
        let mut tx = self.begin().await?;
        let job = approve_in(&mut tx, id, approval).await?;
        commit(tx).await?;
        Ok(job)
    }

    async fn claim(&self, worker: &str, lease: Duration, limit: usize) -> Result<Vec<Job>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let claimed = claim_in(&mut tx, worker, lease, limit).await?;
        if !claimed.is_empty() {
            commit(tx).await?;
        }
        Ok(claimed)
    }

    async fn claim_job(&self, id: &JobId, worker: &str, lease: Duration) -> Result<Option<Job>> {
        let mut tx = self.begin().await?;
        let job = require_job(&mut tx, id).await?;
        let now = now();
        let claimable =
            JobStatus::allowed_from(JobStatus::Running).contains(&job.status) && job.run_at <= now;
        if !claimable {
            return Ok(None);
        }
        let claimed = claim_one(&mut tx, &job, worker, lease, now).await?;
        commit(tx).await?;
        Ok(claimed)
    }

    async fn heartbeat(&self, id: &JobId, lease_id: &str, lease: Duration) -> Result<()> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND status = ? AND lease_id = ?",
        )
        .bind(micros(plus(now(), lease)))
        .bind(id.as_str())
        .bind(JobStatus::Running.as_str())
        .bind(lease_id)
        .execute(&mut *tx)
        .await
        .map_err(db("extending a lease"))?
        .rows_affected();
        if changed == 0 {
            return Err(match load_job(&mut tx, id).await? {
                Some(_) => Error::LeaseLost(id.clone()),
                None => Error::JobNotFound(id.to_string()),
            });
        }
        commit(tx).await
    }

    async fn complete(&self, id: &JobId, lease_id: &str, completion: Completion) -> Result<Job> {
        self.complete_alone(id, lease_id, completion).await
    }

    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<Vec<Reaped>> {
        let expired: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, lease_id FROM jobs WHERE status = 'running' AND lease_expires_at < ? \
             AND lease_id IS NOT NULL ORDER BY lease_expires_at",
        )
        .bind(micros(now))
        .fetch_all(&self.read)
        .await
        .map_err(db("finding expired leases"))?;
        let mut reaped = Vec::new();
        for (id, lease_id) in expired {
            let id = JobId::parse(&id)
                .map_err(|_| Error::Store("malformed job id in the ledger".into()))?;
            if let Some(r) = self.reap_one(&id, &lease_id, now).await? {
                reaped.push(r);
            }
        }
        Ok(reaped)
    }

    async fn provider_stats(&self, limit: u32) -> Result<Vec<ProviderStats>> {
        let rows: Vec<stats::StatsRow> = sqlx::query_as(&stats::query(limit))
            .fetch_all(&self.read)
            .await
            .map_err(stats::query_failed)?;
        stats::aggregate(rows)
    }
}
