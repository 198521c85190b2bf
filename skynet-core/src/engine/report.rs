//! An executor's report, recorded through the engine: kept under the
//! reporter's own request id, and linked to a job when it names one.

use super::Skynet;
use crate::job::{Job, JobId, JobStatus};
use crate::principal::Principal;
use crate::store::reports::{NewReport, ReportRecord};
use crate::{Error, Result};
use serde::Serialize;

/// What the reporter should do next, from the job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    /// The plan awaits a human approval.
    AwaitApproval,
    /// Queued or running: wait for it.
    Wait,
    /// A worker was lost mid-step: a human must look.
    Review,
    /// It has ended.
    None,
}

impl NextAction {
    /// What follows a job in `status`.
    pub fn after(status: JobStatus) -> Self {
        match status {
            JobStatus::Planned | JobStatus::Created => NextAction::AwaitApproval,
            JobStatus::Queued | JobStatus::Running => NextAction::Wait,
            JobStatus::NeedsReview => NextAction::Review,
            _ => NextAction::None,
        }
    }

    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            NextAction::AwaitApproval => "await_approval",
            NextAction::Wait => "wait",
            NextAction::Review => "review",
            NextAction::None => "none",
        }
    }
}

/// An executor's report, as it sends it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The reporter's own id for the request. When it is the id of a job
    /// the reporter may report on, the report is linked to that job (and
    /// is a `report` event in its chain); any other text is kept with the
    /// report alone.
    pub request_id: String,
    /// The reporter's word for the whole (`completed`, `failed`, ...).
    pub overall_status: String,
    /// Per-step reports, as sent.
    pub step_reports: serde_json::Value,
    /// Anything else the reporter sent along (`null` when nothing).
    pub metadata: serde_json::Value,
}

impl Report {
    /// The job the request id names, if it reads as a job id at all.
    pub fn job_id(&self) -> Option<JobId> {
        JobId::parse(&self.request_id).ok()
    }
}

/// A recorded report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportReceipt {
    /// The report's id.
    pub report_id: i64,
    /// The job it was linked to, if any.
    pub job: Option<JobId>,
    /// Its `report` event's position in the job's chain, if linked.
    pub event_seq: Option<i64>,
    /// What the reporter should do next (`none` for a report on no job).
    pub next_action: NextAction,
}

impl Skynet {
    /// Record `report` as the local operator (who may report on any job):
    /// linked to the job its request id names when there is one, else kept
    /// under its request id. Secrets are redacted first.
    pub async fn record_report(&self, report: &Report, reporter: &str) -> Result<ReportReceipt> {
        let job = match report.job_id() {
            Some(id) => self.find(&id).await?,
            None => None,
        };
        self.keep_report(report, job.as_ref(), &Principal::local(), reporter)
            .await
    }

    /// The job, or `None` when there is no such job.
    pub(crate) async fn find(&self, id: &JobId) -> Result<Option<Job>> {
        match self.get(id).await {
            Ok(job) => Ok(Some(job)),
            Err(Error::JobNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Store `report` for `principal`, linked to `job` when given.
    pub(crate) async fn keep_report(
        &self,
        report: &Report,
        job: Option<&Job>,
        principal: &Principal,
        reporter: &str,
    ) -> Result<ReportReceipt> {
        let mut body = serde_json::json!({ "step_reports": report.step_reports });
        if !report.metadata.is_null() {
            body["metadata"] = report.metadata.clone();
        }
        let body = self.redact_json(body);
        let overall_status = self.inner.redactor.redact(&report.overall_status);
        let mut event = serde_json::json!({
            "reporter": reporter,
            "overall_status": &overall_status,
            "step_reports": body["step_reports"],
        });
        if let Some(metadata) = body.get("metadata") {
            event["metadata"] = metadata.clone();
        }
        let record = self
            .inner
            .store
            .record_report(
                &NewReport {
                    request_id: report.request_id.trim().to_string(),
                    job: job.map(|j| j.id.clone()),
                    principal: principal.clone(),
                    reporter: reporter.to_string(),
                    overall_status,
                    body,
                },
                event,
            )
            .await?;
        Ok(ReportReceipt {
            report_id: record.id,
            next_action: job.map_or(NextAction::None, |j| NextAction::after(j.status)),
            job: record.job_id,
            event_seq: record.event_seq,
        })
    }

    /// The local operator's reports under `request_id`, oldest first.
    pub async fn reports(&self, request_id: &str) -> Result<Vec<ReportRecord>> {
        self.inner
            .store
            .reports(&Principal::local(), request_id)
            .await
    }

    /// `value` with every secret the redactor knows hidden.
    fn redact_json(&self, value: serde_json::Value) -> serde_json::Value {
        if self.inner.redactor.is_empty() {
            return value;
        }
        serde_json::from_str(&self.inner.redactor.redact(&value.to_string())).unwrap_or(value)
    }
}
