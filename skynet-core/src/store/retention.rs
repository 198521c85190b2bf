//! Retention's table family: job tombstones (`job_tombstones`), what gc
//! removed from jobs that are kept (`prune_marks`), the one-row gc lease
//! (`gc_lease`), and the reads and deletes [`crate::engine`]'s gc plans
//! and applies, for every dialect.
//!
//! Logs are not in a job's hash chain (only its events are), so removing
//! old log lines leaves every chain verifiable; a pruned job's chain goes
//! whole, and its tombstone keeps the chain's head hash and length.

use crate::job::{JobId, JobStatus};
use crate::principal::{Principal, Visibility};
use crate::store::artifacts::ArtifactRecord;
use crate::store::codec::{LedgerRow, db, micros, status, time};
use crate::store::dialect::Dialect;
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Jobs pruned per transaction.
const PRUNE_CHUNK: usize = 100;

/// What is left of a pruned job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tombstone {
    /// The job.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub job_id: JobId,
    /// Whose it was.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub principal: Principal,
    /// How it ended.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: JobStatus,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
    /// When it finished.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub finished_at: Option<DateTime<Utc>>,
    /// When gc removed it.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pruned_at: DateTime<Utc>,
    /// The hash of the last event of its chain (what a kept copy of the
    /// chain must end with).
    pub event_head: Option<String>,
    /// How many events its chain had.
    pub event_count: u64,
}

/// A finished job old enough to prune, as gc plans it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunableJob {
    /// The job.
    pub job_id: JobId,
    /// Whose it is.
    pub principal: Principal,
    /// How it ended.
    pub status: JobStatus,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

/// Log lines of one job (old ones to prune, or pruned ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLogUsage {
    /// The job.
    pub job_id: JobId,
    /// Lines.
    pub lines: u64,
    /// Bytes of text.
    pub bytes: u64,
}

/// What gc removed from a job that is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneMark {
    /// `logs` (lines older than `before`) or `artifact` (the record `detail`).
    pub what: String,
    /// For an artifact, its name.
    pub detail: String,
    /// Lines or records removed.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Log lines older than this were removed.
    pub before: DateTime<Utc>,
    /// When.
    pub pruned_at: DateTime<Utc>,
}

/// What the ledger holds, for `/metrics` and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StorageUsage {
    /// Jobs in the ledger.
    pub jobs: u64,
    /// Tombstones of pruned jobs.
    pub tombstones: u64,
    /// Log lines.
    pub log_lines: u64,
    /// Bytes of log text.
    pub log_bytes: u64,
    /// Artifact records.
    pub artifacts: u64,
    /// Bytes the artifact records name (an object shared by several
    /// records counts once per record).
    pub artifact_bytes: u64,
}

/// Retention's reads and writes.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Take the gc lease for `holder` until `now + ttl` unless another
    /// holder has it unexpired; `true` when taken (one gc at a time across
    /// every process on the ledger).
    async fn take_gc_lease(&self, holder: &str, now: DateTime<Utc>, ttl_ms: i64) -> Result<bool>;
    /// Give the lease back (only `holder`'s).
    async fn release_gc_lease(&self, holder: &str) -> Result<()>;
    /// Jobs in a final status that finished before `before`, oldest first,
    /// at most `limit`.
    async fn prunable_jobs(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<PrunableJob>>;
    /// Remove these jobs (each only if it is still final and finished
    /// before `before`) with their steps, logs, events and artifact
    /// records, leaving a tombstone each; returns the tombstones.
    async fn prune_jobs(
        &self,
        jobs: &[JobId],
        before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Tombstone>>;
    /// Per job, its log lines older than `before`.
    async fn old_logs(&self, before: DateTime<Utc>) -> Result<Vec<JobLogUsage>>;
    /// Remove log lines older than `before`, leaving a `logs` mark on each
    /// job; returns what was removed per job.
    async fn prune_logs(
        &self,
        before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Vec<JobLogUsage>>;
    /// Every artifact record, oldest first.
    async fn artifact_records(&self) -> Result<Vec<ArtifactRecord>>;
    /// Remove these artifact records (each only if the job's name still
    /// points at the same event), leaving an `artifact` mark each; returns
    /// the ones removed.
    async fn prune_artifacts(
        &self,
        records: &[ArtifactRecord],
        at: DateTime<Utc>,
    ) -> Result<Vec<ArtifactRecord>>;
    /// A pruned job's tombstone, if `visibility` sees it.
    async fn tombstone(&self, job: &JobId, visibility: &Visibility) -> Result<Option<Tombstone>>;
    /// Tombstones `visibility` sees, newest first, at most `limit`.
    async fn tombstones(&self, visibility: &Visibility, limit: u32) -> Result<Vec<Tombstone>>;
    /// What gc removed from a kept job, oldest first
    /// ([`Error::JobNotFound`] for a job `visibility` may not see).
    async fn prune_marks(&self, job: &JobId, visibility: &Visibility) -> Result<Vec<PruneMark>>;
    /// What the ledger holds.
    async fn storage_usage(&self) -> Result<StorageUsage>;
}

fn count(row: &impl LedgerRow, name: &str) -> Result<u64> {
    u64::try_from(row.int(name)?).map_err(|_| Error::Store(format!("column {name} is negative")))
}

fn job_id(text: &str) -> Result<JobId> {
    JobId::parse(text).map_err(|_| Error::Store("malformed job id in the ledger".into()))
}

fn tombstone_from_row(row: &impl LedgerRow) -> Result<Tombstone> {
    Ok(Tombstone {
        job_id: job_id(&row.text("job_id")?)?,
        principal: Principal::new(row.text("principal")?)?,
        status: status(&row.text("status")?)?,
        created_at: time(row.int("created_at")?)?,
        finished_at: row.opt_int("finished_at")?.map(time).transpose()?,
        pruned_at: time(row.int("pruned_at")?)?,
        event_head: row.opt_text("event_head")?,
        event_count: count(row, "event_count")?,
    })
}

const TOMBSTONE_COLUMNS: &str =
    "job_id, principal, status, created_at, finished_at, pruned_at, event_head, event_count";

/// The final statuses, as SQL literals (from the transition table).
fn final_statuses() -> String {
    crate::job::ALL_STATUSES
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn log_usage_from_row(row: &impl LedgerRow) -> Result<JobLogUsage> {
    Ok(JobLogUsage {
        job_id: job_id(&row.text("job_id")?)?,
        lines: count(row, "lines")?,
        bytes: count(row, "bytes")?,
    })
}

/// Per job, the lines older than `$1` and their bytes.
const OLD_LOGS: &str = "SELECT job_id, CAST(COUNT(*) AS BIGINT) AS lines, \
     CAST(COALESCE(SUM(octet_length(text)), 0) AS BIGINT) AS bytes \
     FROM logs WHERE at < $1 GROUP BY job_id ORDER BY job_id";

#[async_trait]
impl<D: Dialect> RetentionStore for Ledger<D> {
    async fn take_gc_lease(&self, holder: &str, now: DateTime<Utc>, ttl_ms: i64) -> Result<bool> {
        let now_us = micros(now);
        let taken = query::<D>(
            "UPDATE gc_lease SET holder = $1, expires_at = $2 \
             WHERE name = 'gc' AND (expires_at <= $3 OR holder = $1)",
        )
        .bind(holder)
        .bind(now_us.saturating_add(ttl_ms.saturating_mul(1000)))
        .bind(now_us)
        .execute(&self.write)
        .await
        .map_err(db("taking the gc lease"))?;
        Ok(crate::store::dialect::Affected::rows_affected(&taken) == 1)
    }

    async fn release_gc_lease(&self, holder: &str) -> Result<()> {
        query::<D>(
            "UPDATE gc_lease SET holder = NULL, expires_at = 0 WHERE name = 'gc' AND holder = $1",
        )
        .bind(holder)
        .execute(&self.write)
        .await
        .map_err(db("releasing the gc lease"))?;
        Ok(())
    }

    async fn prunable_jobs(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<PrunableJob>> {
        let sql = format!(
            "SELECT id, principal, status, finished_at FROM jobs \
             WHERE finished_at IS NOT NULL AND finished_at < $1 AND status IN ({}) \
             ORDER BY finished_at, id LIMIT $2",
            final_statuses()
        );
        let rows = query::<D>(&sql)
            .bind(micros(before))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db("finding jobs to prune"))?;
        rows.iter()
            .map(|row| {
                Ok(PrunableJob {
                    job_id: job_id(&row.text("id")?)?,
                    principal: Principal::new(row.text("principal")?)?,
                    status: status(&row.text("status")?)?,
                    finished_at: time(row.int("finished_at")?)?,
                })
            })
            .collect()
    }

    async fn prune_jobs(
        &self,
        jobs: &[JobId],
        before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Tombstone>> {
        let select = format!(
            "SELECT j.id AS job_id, j.principal, j.status, j.created_at, j.finished_at, \
             j.event_head FROM jobs j WHERE j.id = $1 AND j.finished_at IS NOT NULL \
             AND j.finished_at < $2 AND j.status IN ({}){}",
            final_statuses(),
            D::LOCK_ROW
        );
        let mut pruned = Vec::new();
        for chunk in jobs.chunks(PRUNE_CHUNK) {
            let mut tx = self.begin().await?;
            for id in chunk {
                let Some(row) = query::<D>(&select)
                    .bind(id.as_str())
                    .bind(micros(before))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("reading a job to prune"))?
                else {
                    continue;
                };
                let events = query::<D>(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS event_count FROM events WHERE job_id = $1",
                )
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db("counting a job's events"))?;
                let stone = Tombstone {
                    job_id: id.clone(),
                    principal: Principal::new(row.text("principal")?)?,
                    status: status(&row.text("status")?)?,
                    created_at: time(row.int("created_at")?)?,
                    finished_at: row.opt_int("finished_at")?.map(time).transpose()?,
                    pruned_at: crate::store::chain::truncate_to_micros(at),
                    event_head: row.opt_text("event_head")?,
                    event_count: count(&events, "event_count")?,
                };
                query::<D>(
                    "INSERT INTO job_tombstones (job_id, principal, status, created_at, \
                     finished_at, pruned_at, event_head, event_count) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id.as_str())
                .bind(stone.principal.as_str())
                .bind(stone.status.as_str())
                .bind(micros(stone.created_at))
                .bind(stone.finished_at.map(micros))
                .bind(micros(at))
                .bind(stone.event_head.as_deref())
                .bind(crate::store::codec::to_i64(stone.event_count))
                .execute(&mut *tx)
                .await
                .map_err(db("recording a tombstone"))?;
                // Children first, explicitly: the same on every backend
                // whatever its foreign-key enforcement.
                for table in ["artifacts", "prune_marks", "logs", "events", "steps"] {
                    query::<D>(&format!("DELETE FROM {table} WHERE job_id = $1"))
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db("pruning a job's records"))?;
                }
                query::<D>("DELETE FROM jobs WHERE id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db("pruning a job"))?;
                pruned.push(stone);
            }
            commit(tx).await?;
        }
        Ok(pruned)
    }

    async fn old_logs(&self, before: DateTime<Utc>) -> Result<Vec<JobLogUsage>> {
        let rows = query::<D>(OLD_LOGS)
            .bind(micros(before))
            .fetch_all(&self.read)
            .await
            .map_err(db("measuring old log lines"))?;
        rows.iter().map(log_usage_from_row).collect()
    }

    async fn prune_logs(
        &self,
        before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Vec<JobLogUsage>> {
        let mut tx = self.begin().await?;
        let rows = query::<D>(OLD_LOGS)
            .bind(micros(before))
            .fetch_all(&mut *tx)
            .await
            .map_err(db("measuring old log lines"))?;
        let usage = rows
            .iter()
            .map(log_usage_from_row)
            .collect::<Result<Vec<_>>>()?;
        query::<D>(
            "INSERT INTO prune_marks (job_id, what, detail, count, bytes, before_at, pruned_at) \
             SELECT job_id, 'logs', '', CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(octet_length(text)), 0) AS BIGINT), $1, $2 \
             FROM logs WHERE at < $1 GROUP BY job_id",
        )
        .bind(micros(before))
        .bind(micros(at))
        .execute(&mut *tx)
        .await
        .map_err(db("marking pruned log lines"))?;
        query::<D>("DELETE FROM logs WHERE at < $1")
            .bind(micros(before))
            .execute(&mut *tx)
            .await
            .map_err(db("pruning log lines"))?;
        commit(tx).await?;
        Ok(usage)
    }

    async fn artifact_records(&self) -> Result<Vec<ArtifactRecord>> {
        let rows = query::<D>(
            "SELECT job_id, step, name, size, sha256, content_type, principal, event_seq, \
             created_at FROM artifacts ORDER BY created_at, id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db("reading artifact records"))?;
        rows.iter()
            .map(crate::store::artifacts::artifact_from_row)
            .collect()
    }

    async fn prune_artifacts(
        &self,
        records: &[ArtifactRecord],
        at: DateTime<Utc>,
    ) -> Result<Vec<ArtifactRecord>> {
        let mut removed = Vec::new();
        for chunk in records.chunks(PRUNE_CHUNK) {
            let mut tx = self.begin().await?;
            for r in chunk {
                let gone = query::<D>(
                    "DELETE FROM artifacts WHERE job_id = $1 AND name = $2 AND event_seq = $3",
                )
                .bind(r.job_id.as_str())
                .bind(r.name.as_str())
                .bind(r.event_seq)
                .execute(&mut *tx)
                .await
                .map_err(db("pruning an artifact record"))?;
                if crate::store::dialect::Affected::rows_affected(&gone) == 0 {
                    continue;
                }
                query::<D>(
                    "INSERT INTO prune_marks (job_id, what, detail, count, bytes, before_at, \
                     pruned_at) VALUES ($1, 'artifact', $2, 1, $3, $4, $4)",
                )
                .bind(r.job_id.as_str())
                .bind(r.name.as_str())
                .bind(crate::store::codec::to_i64(r.size))
                .bind(micros(at))
                .execute(&mut *tx)
                .await
                .map_err(db("marking a pruned artifact"))?;
                removed.push(r.clone());
            }
            commit(tx).await?;
        }
        Ok(removed)
    }

    async fn tombstone(&self, job: &JobId, visibility: &Visibility) -> Result<Option<Tombstone>> {
        let row = query::<D>(&format!(
            "SELECT {TOMBSTONE_COLUMNS} FROM job_tombstones WHERE job_id = $1"
        ))
        .bind(job.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db("reading a tombstone"))?;
        let stone = row.as_ref().map(tombstone_from_row).transpose()?;
        Ok(stone.filter(|t| visibility.admits(&t.principal)))
    }

    async fn tombstones(&self, visibility: &Visibility, limit: u32) -> Result<Vec<Tombstone>> {
        let mut qb =
            SqlBuilder::<D>::new(&format!("SELECT {TOMBSTONE_COLUMNS} FROM job_tombstones"));
        if let Some(me) = visibility.only() {
            qb.push(" WHERE principal = ").push_bind(me.as_str());
        }
        qb.push(" ORDER BY pruned_at DESC, job_id DESC LIMIT ")
            .push_bind(i64::from(limit.clamp(1, 10_000)));
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading tombstones"))?;
        rows.iter().map(tombstone_from_row).collect()
    }

    async fn prune_marks(&self, job: &JobId, visibility: &Visibility) -> Result<Vec<PruneMark>> {
        let owner = query::<D>("SELECT principal FROM jobs WHERE id = $1")
            .bind(job.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db("looking up a job"))?;
        match owner {
            Some(row) if visibility.admits(&Principal::new(row.text("principal")?)?) => {}
            _ => return Err(Error::JobNotFound(job.to_string())),
        }
        let rows = query::<D>(
            "SELECT what, detail, count, bytes, before_at, pruned_at FROM prune_marks \
             WHERE job_id = $1 ORDER BY id",
        )
        .bind(job.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db("reading what gc removed"))?;
        rows.iter()
            .map(|row| {
                Ok(PruneMark {
                    what: row.text("what")?,
                    detail: row.text("detail")?,
                    count: count(row, "count")?,
                    bytes: count(row, "bytes")?,
                    before: time(row.int("before_at")?)?,
                    pruned_at: time(row.int("pruned_at")?)?,
                })
            })
            .collect()
    }

    async fn storage_usage(&self) -> Result<StorageUsage> {
        let row = query::<D>(
            "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM jobs) AS jobs, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM job_tombstones) AS tombstones, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM logs) AS log_lines, \
             (SELECT CAST(COALESCE(SUM(octet_length(text)), 0) AS BIGINT) FROM logs) \
             AS log_bytes, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM artifacts) AS artifacts, \
             (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM artifacts) AS artifact_bytes",
        )
        .fetch_one(&self.read)
        .await
        .map_err(db("measuring the ledger"))?;
        Ok(StorageUsage {
            jobs: count(&row, "jobs")?,
            tombstones: count(&row, "tombstones")?,
            log_lines: count(&row, "log_lines")?,
            log_bytes: count(&row, "log_bytes")?,
            artifacts: count(&row, "artifacts")?,
            artifact_bytes: count(&row, "artifact_bytes")?,
        })
    }
}
