//! Inserting a new job inside a caller's transaction, for every dialect:
//! the job row, its pending step checkpoints and its `submitted` event.
//! SQLite's submit runs it alone; a schedule's tick and an initiative
//! proposal run it beside the rows that must commit with the job (the
//! tick's key, the budget's lock), so either both land or neither does.

use crate::job::Job;
use crate::store::StepStatus;
use crate::store::codec::{NEW_JOB_COLUMNS, NEW_JOB_VALUES, NewJobRow, db, now, placeholders};
use crate::store::dialect::Dialect;
use crate::store::sql::query;
use crate::store::step_signature;
use crate::store::tx::Tx;
use crate::{Error, Result};
use std::sync::LazyLock;

/// The insert of a new job's row.
static INSERT_JOB: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO jobs ({NEW_JOB_COLUMNS}) VALUES ({})",
        placeholders(1, NEW_JOB_VALUES)
    )
});

impl<D: Dialect> Tx<D> {
    /// Insert `job` (already checked) with its steps and `submitted`
    /// event on `conn`, and return it as stored. A job with its id already
    /// there is [`Error::Conflict`].
    pub(crate) async fn insert_new_job(conn: &mut D::Connection, job: &Job) -> Result<Job> {
        if Self::load_job(conn, &job.id).await?.is_some() {
            return Err(Error::Conflict(format!("job {} already exists", job.id)));
        }
        let now = now();
        let row = NewJobRow::new(job, now)?;
        row.bind(query::<D>(&INSERT_JOB))
            .execute(&mut *conn)
            .await
            .map_err(db("inserting a job"))?;
        for (index, step) in job.plan.iter().flat_map(|p| p.steps.iter()).enumerate() {
            query::<D>(
                "INSERT INTO steps (job_id, idx, status, risk, signature) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(job.id.as_str())
            .bind(i64::try_from(index).unwrap_or(i64::MAX))
            .bind(StepStatus::Pending.as_str())
            .bind(step.risk.as_str())
            .bind(step_signature(&job.principal, step))
            .execute(&mut *conn)
            .await
            .map_err(db("inserting step checkpoints"))?;
        }
        let data = row.submitted_event();
        Self::append_event(conn, &job.id, "submitted", data, now, Some(None)).await?;
        Self::require_job(conn, &job.id).await
    }
}
