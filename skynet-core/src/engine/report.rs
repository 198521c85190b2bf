//! An executor's report on a job, recorded through the engine.

use super::Skynet;
use crate::Result;
use crate::job::{JobId, JobStatus};
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

/// A recorded report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportReceipt {
    /// The `report` event's position in the job's chain.
    pub event_seq: i64,
    /// What the reporter should do next.
    pub next_action: NextAction,
}

impl Skynet {
    /// Record an executor's report on job `id` as a `report` event in its
    /// chain (secrets redacted), and say what comes next.
    pub async fn record_report(
        &self,
        id: &JobId,
        reporter: &str,
        overall_status: &str,
        step_reports: serde_json::Value,
    ) -> Result<ReportReceipt> {
        self.inner.store.get_job(id).await?;
        let data = serde_json::json!({
            "reporter": reporter,
            "overall_status": overall_status,
            "step_reports": step_reports,
        });
        let data = match self.inner.redactor.is_empty() {
            true => data,
            false => {
                serde_json::from_str(&self.inner.redactor.redact(&data.to_string())).unwrap_or(data)
            }
        };
        let event = self.inner.store.append_event(id, "report", data).await?;
        let job = self.inner.store.get_job(id).await?;
        Ok(ReportReceipt {
            event_seq: event.seq,
            next_action: NextAction::after(job.status),
        })
    }
}
