//! [`StepStore`](crate::store::StepStore) and
//! [`LogStore`](crate::store::LogStore), written once for both SQL
//! backends: step checkpoints go through the shared checkpoint helpers
//! (`super::checkpoint`), logs are plain inserts and reads. The SQL is
//! common (`$n` parameters, which SQLite numbers alike).

/// Implement the step and log stores for `$store`: `$db` (the sqlx
/// database), `$read` (the pool field reads use), `$share` (appended to the
/// job-row read before appending logs: `" FOR SHARE"` so the job cannot
/// vanish while appends of one job don't serialize, or `""` where the
/// write transaction holds the database lock) and `$substr` (the SQL
/// function for a literal, case-sensitive substring position: no LIKE
/// wildcards).
macro_rules! step_store {
    ($store:ident, $db:ty, $read:ident, $share:literal, $substr:literal) => {
        use super::checkpoint::{insert_logs, record_checkpoints_in, start_step_in};
        use super::{commit, $store};
        use crate::job::{Job, JobId};
        use crate::store::codec::{STEP_COLUMNS, db, log_from_row, step_from_row};
        use crate::store::{
            FinishedStep, LogLine, LogQuery, LogStore, NewLogLine, RunCheckpoint, StepOutcome,
            StepRecord, StepStore,
        };
        use crate::{Error, Result};
        use async_trait::async_trait;
        use sqlx::QueryBuilder;

        impl $store {
            /// [`Error::JobNotFound`] unless the job exists (read pool).
            pub(super) async fn ensure_job(&self, id: &JobId) -> Result<()> {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.$read)
                    .await
                    .map_err(db("looking up a job"))?;
                found
                    .map(|_| ())
                    .ok_or_else(|| Error::JobNotFound(id.to_string()))
            }

            /// The run's completion alone, in its own transaction.
            pub(super) async fn complete_alone(
                &self,
                id: &JobId,
                lease_id: &str,
                completion: crate::store::Completion,
            ) -> Result<Job> {
                self.checkpoint(RunCheckpoint {
                    job: id.clone(),
                    lease_id: lease_id.to_string(),
                    step: None,
                    completion: Some(completion),
                })
                .await?
                .ok_or_else(|| Error::Store(format!("completing job {id} returned no job")))
            }

            /// Record one checkpoint in its own transaction.
            pub(super) async fn checkpoint(&self, cp: RunCheckpoint) -> Result<Option<Job>> {
                let mut tx = self.begin().await?;
                let mut results = record_checkpoints_in(&mut tx, std::slice::from_ref(&cp)).await?;
                let job = results
                    .pop()
                    .unwrap_or_else(|| Err(Error::Store("no checkpoint result".into())))?;
                commit(tx).await?;
                Ok(job)
            }
        }

        #[async_trait]
        impl StepStore for $store {
            async fn steps(&self, id: &JobId) -> Result<Vec<StepRecord>> {
                self.ensure_job(id).await?;
                let sql =
                    format!("SELECT {STEP_COLUMNS} FROM steps WHERE job_id = $1 ORDER BY idx");
                let rows = sqlx::query(&sql)
                    .bind(id.as_str())
                    .fetch_all(&self.$read)
                    .await
                    .map_err(db("loading step checkpoints"))?;
                rows.iter().map(step_from_row).collect()
            }

            async fn start_step(&self, id: &JobId, lease_id: &str, index: u32) -> Result<()> {
                let mut tx = self.begin().await?;
                start_step_in(&mut tx, id, lease_id, index).await?;
                commit(tx).await
            }

            async fn finish_step(
                &self,
                id: &JobId,
                lease_id: &str,
                index: u32,
                outcome: StepOutcome,
                logs: &[NewLogLine],
            ) -> Result<()> {
                let step = FinishedStep {
                    index,
                    started_at: None,
                    outcome,
                    logs: logs.to_vec(),
                };
                self.checkpoint(RunCheckpoint {
                    job: id.clone(),
                    lease_id: lease_id.to_string(),
                    step: Some(step),
                    completion: None,
                })
                .await
                .map(|_| ())
            }

            async fn record_checkpoints(
                &self,
                batch: &[RunCheckpoint],
            ) -> Result<Vec<Result<Option<Job>>>> {
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin().await?;
                let results = record_checkpoints_in(&mut tx, batch).await?;
                commit(tx).await?;
                Ok(results)
            }
        }

        #[async_trait]
        impl LogStore for $store {
            async fn append_logs(&self, id: &JobId, lines: &[NewLogLine]) -> Result<()> {
                let mut tx = self.begin().await?;
                let found: Option<String> =
                    sqlx::query_scalar(concat!("SELECT id FROM jobs WHERE id = $1", $share))
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db("looking up a job"))?;
                if found.is_none() {
                    return Err(Error::JobNotFound(id.to_string()));
                }
                insert_logs(&mut tx, id, lines).await?;
                commit(tx).await
            }

            async fn logs(&self, id: &JobId, query: &LogQuery) -> Result<Vec<LogLine>> {
                self.ensure_job(id).await?;
                let mut qb = QueryBuilder::<$db>::new(
                    "SELECT seq, step, stream, text, at FROM logs WHERE job_id = ",
                );
                qb.push_bind(id.as_str());
                if let Some(step) = query.step {
                    qb.push(" AND step = ").push_bind(i64::from(step));
                }
                if let Some(search) = &query.search {
                    qb.push(concat!(" AND ", $substr, "(text, "))
                        .push_bind(search.as_str())
                        .push(") > 0");
                }
                if let Some(after) = query.after_seq {
                    qb.push(" AND seq > ").push_bind(after);
                }
                match query.tail {
                    Some(n) => qb.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(n)),
                    None => qb.push(" ORDER BY seq"),
                };
                let rows = qb
                    .build()
                    .fetch_all(&self.$read)
                    .await
                    .map_err(db("reading log lines"))?;
                let mut lines = rows.iter().map(log_from_row).collect::<Result<Vec<_>>>()?;
                if query.tail.is_some() {
                    lines.reverse();
                }
                Ok(lines)
            }
        }
    };
}

pub(crate) use step_store;
