//! Jobs and the queue, for every dialect: insert (the dialect's own
//! statements), list, compare-and-set status changes, approval, batch
//! claims with leases, heartbeats, completion and the reaper.

use crate::job::{Approval, Job, JobId, JobStatus};
use crate::store::codec::{JOB_COLUMNS, LedgerRow, db, job_from_row, micros, now, plus, time};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::{Ledger, commit};
use crate::store::rules::{DEFAULT_LIMIT, MAX_LIMIT, check_new_job};
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::store::tx::Tx;
use crate::store::{
    Completion, JobFilter, JobStore, ProviderStats, Reaped, Review, RunCheckpoint, StatusChange,
    stats,
};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[async_trait]
impl<D: Dialect> JobStore for Ledger<D> {
    async fn insert_job(&self, job: &Job) -> Result<(Job, bool)> {
        check_new_job(job)?;
        D::insert_job(self, job).await
    }

    async fn get_job(&self, id: &JobId) -> Result<Job> {
        let row = query::<D>(&D::sql().get_job)
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
        let mut qb = SqlBuilder::<D>::new("SELECT ");
        qb.push(JOB_COLUMNS).push(" FROM jobs WHERE TRUE");
        if !filter.statuses.is_empty() {
            Tx::<D>::push_status_in(&mut qb, &filter.statuses);
        }
        if let Some(principal) = &filter.principal {
            qb.push(" AND principal = ")
                .push_bind(principal.as_str().to_string());
        }
        if filter.dead_letter {
            qb.push(" AND status = ")
                .push_bind(JobStatus::Failed.as_str())
                .push(" AND attempts >= max_attempts");
        }
        if let Some(before) = &filter.before {
            qb.push(" AND (created_at, id) < (")
                .push_bind(micros(before.created_at))
                .push(", ")
                .push_bind(before.id.as_str().to_string())
                .push(")");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing jobs"))?;
        rows.iter().map(job_from_row).collect()
    }

    async fn job_principals(&self, ids: &[JobId]) -> Result<Vec<(JobId, crate::Principal)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = SqlBuilder::<D>::new("SELECT id, principal FROM jobs WHERE id IN ");
        qb.push_in(ids.iter().map(JobId::as_str));
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading jobs' principals"))?;
        rows.iter()
            .map(|row| {
                let id = JobId::parse(&row.text("id")?)
                    .map_err(|_| Error::Store("malformed job id in the ledger".into()))?;
                let principal = row.text("principal")?.parse().map_err(|e: Error| {
                    Error::Store(format!("malformed principal in the ledger: {e}"))
                })?;
                Ok((id, principal))
            })
            .collect()
    }

    async fn count_jobs_by_status(&self) -> Result<Vec<(JobStatus, u64)>> {
        let rows =
            query::<D>("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status ORDER BY status")
                .fetch_all(&self.read)
                .await
                .map_err(db("counting jobs"))?;
        rows.iter()
            .map(|row| {
                let n = u64::try_from(row.int("n")?).unwrap_or(0);
                Ok((row.text("status")?.parse()?, n))
            })
            .collect()
    }

    async fn oldest_queued_since(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let row = query::<D>(&D::sql().oldest_queued)
            .bind(micros(now))
            .fetch_one(&self.read)
            .await
            .map_err(db("finding the oldest queued job"))?;
        row.opt_int("since")?.map(time).transpose()
    }

    async fn set_status(&self, id: &JobId, to: JobStatus, change: StatusChange) -> Result<Job> {
        let mut tx = self.begin().await?;
        let job = Tx::<D>::set_status_in(&mut tx, id, to, change).await?;
        commit(tx).await?;
        Ok(job)
    }

    async fn approve(&self, id: &JobId, approval: Approval) -> Result<Job> {
        let mut tx = self.begin().await?;
        let job = Tx::<D>::approve_in(&mut tx, id, approval).await?;
        commit(tx).await?;
        Ok(job)
    }

    async fn resolve_review(&self, id: &JobId, review: &Review) -> Result<Job> {
        let mut tx = self.begin().await?;
        let job = Tx::<D>::resolve_review_in(&mut tx, id, review).await?;
        commit(tx).await?;
        Ok(job)
    }

    async fn claim(&self, worker: &str, lease: Duration, limit: usize) -> Result<Vec<Job>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Nobody waits on a claim's durability: see `Dialect::BEGIN_UNFLUSHED`.
        let mut tx = self
            .write
            .begin_with(D::BEGIN_UNFLUSHED)
            .await
            .map_err(db("starting a write transaction"))?;
        let claimed = Tx::<D>::claim_in(&mut tx, worker, lease, limit).await?;
        if !claimed.is_empty() {
            commit(tx).await?;
        }
        Ok(claimed)
    }

    async fn claim_job(&self, id: &JobId, worker: &str, lease: Duration) -> Result<Option<Job>> {
        let mut tx = self.begin().await?;
        let job = Tx::<D>::require_job(&mut tx, id).await?;
        let now = now();
        let claimable =
            JobStatus::allowed_from(JobStatus::Running).contains(&job.status) && job.run_at <= now;
        if !claimable {
            return Ok(None);
        }
        let claimed = Tx::<D>::claim_one(&mut tx, &job, worker, lease, now).await?;
        commit(tx).await?;
        Ok(claimed)
    }

    async fn heartbeat(&self, id: &JobId, lease_id: &str, lease: Duration) -> Result<()> {
        let changed = query::<D>(
            "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND status = $3 \
             AND lease_id = $4",
        )
        .bind(micros(plus(now(), lease)))
        .bind(id.as_str())
        .bind(JobStatus::Running.as_str())
        .bind(lease_id)
        .execute(&self.write)
        .await
        .map_err(db("extending a lease"))?
        .rows_affected();
        if changed == 0 {
            self.get_job(id).await?;
            return Err(Error::LeaseLost(id.clone()));
        }
        Ok(())
    }

    async fn complete(&self, id: &JobId, lease_id: &str, completion: Completion) -> Result<Job> {
        self.checkpoint(RunCheckpoint {
            job: id.clone(),
            lease_id: lease_id.to_string(),
            step: None,
            completion: Some(completion),
        })
        .await?
        .ok_or_else(|| Error::Store(format!("completing job {id} returned no job")))
    }

    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<Vec<Reaped>> {
        let expired = query::<D>(
            "SELECT id, lease_id FROM jobs WHERE status = 'running' AND lease_expires_at < $1 \
             AND lease_id IS NOT NULL ORDER BY lease_expires_at",
        )
        .bind(micros(now))
        .fetch_all(&self.read)
        .await
        .map_err(db("finding expired leases"))?;
        let mut reaped = Vec::new();
        for row in &expired {
            let id = JobId::parse(&row.text("id")?)
                .map_err(|_| Error::Store("malformed job id in the ledger".into()))?;
            let lease_id = row.text("lease_id")?;
            let mut tx = self.begin().await?;
            if let Some(r) = Tx::<D>::reap_in(&mut tx, &id, &lease_id, now).await? {
                commit(tx).await?;
                reaped.push(r);
            }
        }
        Ok(reaped)
    }

    async fn provider_stats(&self, limit: u32) -> Result<Vec<ProviderStats>> {
        let rows = query::<D>(&stats::query(limit))
            .fetch_all(&self.read)
            .await
            .map_err(stats::query_failed)?;
        stats::aggregate(rows.iter().map(stats::row).collect::<Result<Vec<_>>>()?)
    }

    fn work_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        D::work_signal(self)
    }
}
