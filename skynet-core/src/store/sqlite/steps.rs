//! Step checkpoints (fenced by the worker's lease) and job logs.

use super::tx::{load_job, require_job};
use super::{SqliteStore, commit};
use crate::job::{JobId, JobStatus};
use crate::store::codec::{STEP_COLUMNS, db, log_from_row, micros, now, step_from_row};
use crate::store::rules::{check_step_outcome, no_such_step};
use crate::store::{
    LogLine, LogQuery, LogStore, NewLogLine, StepOutcome, StepRecord, StepStatus, StepStore,
};
use crate::{Error, Result};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

/// Log lines per multi-row INSERT (5 parameters each stays far below
/// SQLite's bound-parameter limit).
const LOG_CHUNK: usize = 500;

impl SqliteStore {
    /// [`Error::JobNotFound`] unless the job exists (read pool).
    pub(super) async fn ensure_job(&self, id: &JobId) -> Result<()> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db("looking up a job"))?;
        found
            .map(|_| ())
            .ok_or_else(|| Error::JobNotFound(id.to_string()))
    }
}

/// Inside a write transaction: the job runs under `lease_id`. Returns the
/// job's event chain head, read by the same (light) query.
async fn fence(conn: &mut SqliteConnection, id: &JobId, lease_id: &str) -> Result<Option<String>> {
    let head: Option<Option<String>> = sqlx::query_scalar(
        "SELECT event_head FROM jobs WHERE id = ? AND status = ? AND lease_id = ?",
    )
    .bind(id.as_str())
    .bind(JobStatus::Running.as_str())
    .bind(lease_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("checking the lease"))?;
    match head {
        Some(head) => Ok(head),
        None => {
            require_job(conn, id).await?;
            Err(Error::LeaseLost(id.clone()))
        }
    }
}

/// Insert log lines inside the caller's transaction.
async fn insert_logs(conn: &mut SqliteConnection, id: &JobId, lines: &[NewLogLine]) -> Result<()> {
    let at = micros(now());
    for chunk in lines.chunks(LOG_CHUNK) {
        let mut qb =
            QueryBuilder::<Sqlite>::new("INSERT INTO logs (job_id, step, stream, text, at) ");
        qb.push_values(chunk, |mut row, line| {
            row.push_bind(id.as_str())
                .push_bind(i64::from(line.step))
                .push_bind(line.stream.as_str())
                .push_bind(line.text.as_str())
                .push_bind(at);
        });
        qb.build()
            .execute(&mut *conn)
            .await
            .map_err(db("appending log lines"))?;
    }
    Ok(())
}

#[async_trait]
impl StepStore for SqliteStore {
    async fn steps(&self, id: &JobId) -> Result<Vec<StepRecord>> {
        self.ensure_job(id).await?;
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE job_id = ? ORDER BY idx");
        let rows = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_all(&self.read)
            .await
            .map_err(db("loading step checkpoints"))?;
        rows.iter().map(step_from_row).collect()
    }

    async fn start_step(&self, id: &JobId, lease_id: &str, index: u32) -> Result<()> {
        let mut tx = self.begin().await?;
        let head = fence(&mut tx, id, lease_id).await?;
        let changed = sqlx::query(
            "UPDATE steps SET status = ?, started_at = ?, finished_at = NULL, exit_code = NULL, \
             error = NULL WHERE job_id = ? AND idx = ?",
        )
        .bind(StepStatus::Running.as_str())
        .bind(micros(now()))
        .bind(id.as_str())
        .bind(i64::from(index))
        .execute(&mut *tx)
        .await
        .map_err(db("starting a step"))?
        .rows_affected();
        if changed == 0 {
            return Err(no_such_step(id, index));
        }
        let data = serde_json::json!({"step": index});
        super::tx::append_event(&mut tx, id, "step_started", data, now(), Some(head)).await?;
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
        check_step_outcome(&outcome)?;
        let mut tx = self.begin().await?;
        let head = fence(&mut tx, id, lease_id).await?;
        insert_logs(&mut tx, id, logs).await?;
        let changed = sqlx::query(
            "UPDATE steps SET status = ?, exit_code = ?, finished_at = ?, output_bytes = ?, \
             truncated = ?, error = ? WHERE job_id = ? AND idx = ?",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.exit_code)
        .bind(micros(now()))
        .bind(i64::try_from(outcome.output_bytes).unwrap_or(i64::MAX))
        .bind(outcome.truncated)
        .bind(&outcome.error)
        .bind(id.as_str())
        .bind(i64::from(index))
        .execute(&mut *tx)
        .await
        .map_err(db("finishing a step"))?
        .rows_affected();
        if changed == 0 {
            return Err(no_such_step(id, index));
        }
        let data = serde_json::json!({
            "step": index,
            "status": outcome.status.as_str(),
            "exit_code": outcome.exit_code,
            "output_bytes": outcome.output_bytes,
            "truncated": outcome.truncated,
            "error": outcome.error,
        });
        super::tx::append_event(&mut tx, id, "step_finished", data, now(), Some(head)).await?;
        commit(tx).await
    }
}

#[async_trait]
impl LogStore for SqliteStore {
    async fn append_logs(&self, id: &JobId, lines: &[NewLogLine]) -> Result<()> {
        let mut tx = self.begin().await?;
        if load_job(&mut tx, id).await?.is_none() {
            return Err(Error::JobNotFound(id.to_string()));
        }
        insert_logs(&mut tx, id, lines).await?;
        commit(tx).await
    }

    async fn logs(&self, id: &JobId, query: &LogQuery) -> Result<Vec<LogLine>> {
        self.ensure_job(id).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT seq, step, stream, text, at FROM logs WHERE job_id = ",
        );
        qb.push_bind(id.as_str());
        if let Some(step) = query.step {
            qb.push(" AND step = ").push_bind(i64::from(step));
        }
        if let Some(search) = &query.search {
            // instr: a literal, case-sensitive substring (no LIKE wildcards).
            qb.push(" AND instr(text, ")
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
            .fetch_all(&self.read)
            .await
            .map_err(db("reading log lines"))?;
        let mut lines = rows.iter().map(log_from_row).collect::<Result<Vec<_>>>()?;
        if query.tail.is_some() {
            lines.reverse();
        }
        Ok(lines)
    }
}
