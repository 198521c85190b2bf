//! Reports: what an executor tells SKYNET about work it ran, kept under
//! the reporter's own request id; a report on a job is also a `report`
//! event in the job's chain, written in the same transaction. One table,
//! `reports`, for every dialect.

use crate::job::JobId;
use crate::principal::Principal;
use crate::store::codec::{LedgerRow, db, micros, now, time};
use crate::store::dialect::Dialect;
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest request id kept.
pub const MAX_REQUEST_ID: usize = 256;

/// A report to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    /// The reporter's own id for the request (any text; a job id when the
    /// report is on a SKYNET job).
    pub request_id: String,
    /// The job it is on, if any: its chain gets the `report` event.
    pub job: Option<JobId>,
    /// Whose report it is.
    pub principal: Principal,
    /// Who sent it, for audit.
    pub reporter: String,
    /// The reporter's word for the whole (`completed`, `failed`, ...).
    pub overall_status: String,
    /// Step reports and metadata, as given (already redacted).
    pub body: serde_json::Value,
}

/// A recorded report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// Its id, in recording order.
    pub id: i64,
    /// The reporter's request id.
    pub request_id: String,
    /// The job it is on, if any.
    pub job_id: Option<JobId>,
    /// Its `report` event in the job's chain, if on a job.
    pub event_seq: Option<i64>,
    /// Whose report it is.
    pub principal: Principal,
    /// Who sent it.
    pub reporter: String,
    /// The reporter's word for the whole.
    pub overall_status: String,
    /// Step reports and metadata.
    pub body: serde_json::Value,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// The report table.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Record `report`, and when it is on a job append the job's `report`
    /// event (`event_data`) in the same transaction
    /// ([`crate::Error::JobNotFound`] if the job is gone).
    async fn record_report(
        &self,
        report: &NewReport,
        event_data: serde_json::Value,
    ) -> Result<ReportRecord>;
    /// `principal`'s reports under `request_id`, oldest first.
    async fn reports(&self, principal: &Principal, request_id: &str) -> Result<Vec<ReportRecord>>;
}

fn check(request_id: &str) -> Result<()> {
    if request_id.trim().is_empty()
        || request_id.len() > MAX_REQUEST_ID
        || request_id.chars().any(char::is_control)
    {
        return Err(Error::InvalidInput(format!(
            "request_id must be 1 to {MAX_REQUEST_ID} printable characters"
        )));
    }
    Ok(())
}

fn report_from_row(row: &impl LedgerRow) -> Result<ReportRecord> {
    let body = row.text("body")?;
    Ok(ReportRecord {
        id: row.int("id")?,
        request_id: row.text("request_id")?,
        job_id: row
            .opt_text("job_id")?
            .map(|id| JobId::parse(&id))
            .transpose()
            .map_err(|_| Error::Store("column job_id is not a job id".into()))?,
        event_seq: row.opt_int("event_seq")?,
        principal: Principal::new(row.text("principal")?)?,
        reporter: row.text("reporter")?,
        overall_status: row.text("overall_status")?,
        body: serde_json::from_str(&body).map_err(|e| Error::store("column body: bad JSON", e))?,
        created_at: time(row.int("created_at")?)?,
    })
}

#[async_trait]
impl<D: Dialect> ReportStore for Ledger<D> {
    async fn record_report(
        &self,
        report: &NewReport,
        event_data: serde_json::Value,
    ) -> Result<ReportRecord> {
        check(&report.request_id)?;
        let at = now();
        let mut tx = self.begin().await?;
        let event_seq = match &report.job {
            Some(id) => {
                Tx::<D>::require_job(&mut tx, id).await?;
                Some(
                    Tx::<D>::append_event(&mut tx, id, "report", event_data, at, None)
                        .await?
                        .seq,
                )
            }
            None => None,
        };
        let id = query::<D>(
            "INSERT INTO reports (request_id, job_id, event_seq, principal, reporter, \
             overall_status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(report.request_id.as_str())
        .bind(report.job.as_ref().map(JobId::as_str))
        .bind(event_seq)
        .bind(report.principal.as_str())
        .bind(report.reporter.as_str())
        .bind(report.overall_status.as_str())
        .bind(report.body.to_string())
        .bind(micros(at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db("recording a report"))?
        .int("id")?;
        commit(tx).await?;
        Ok(ReportRecord {
            id,
            request_id: report.request_id.clone(),
            job_id: report.job.clone(),
            event_seq,
            principal: report.principal.clone(),
            reporter: report.reporter.clone(),
            overall_status: report.overall_status.clone(),
            body: report.body.clone(),
            created_at: at,
        })
    }

    async fn reports(&self, principal: &Principal, request_id: &str) -> Result<Vec<ReportRecord>> {
        let rows = query::<D>(
            "SELECT id, request_id, job_id, event_seq, principal, reporter, overall_status, \
             body, created_at FROM reports WHERE principal = $1 AND request_id = $2 ORDER BY id",
        )
        .bind(principal.as_str())
        .bind(request_id)
        .fetch_all(&self.read)
        .await
        .map_err(db("reading reports"))?;
        rows.iter().map(report_from_row).collect()
    }
}
