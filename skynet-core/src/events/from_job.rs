//! The job lifecycle events of the global log, derived from the job's own
//! hash-chained events: the ledger writes both in the same transaction,
//! and this is the one place the mapping is written.
//!
//! A job's insert (`submitted`) gives `job.created`, then `job.planned`
//! when it has a plan, then the event of the status it starts in
//! (`job.approval_requested` for `planned`, `job.queued` for `queued`).
//! Each later status change gives the event of the status it enters, and
//! an approval (or a review's requeue, which is one) gives
//! `job.approval_granted` before `job.queued`. Step starts and ends give
//! `step.started` and `step.finished`. Other chained kinds (reports,
//! provider choices, caller-written kinds) stay in the job's chain only.

use super::{EventPayload, JobCreated, JobTransition, StepChange};
use serde_json::Value;

/// The source recorded on job lifecycle events.
pub const LEDGER_SOURCE: &str = "ledger";

/// Whether chained events of `kind` give global log events.
pub fn is_lifecycle_kind(kind: &str) -> bool {
    matches!(
        kind,
        "submitted" | "status" | "step_started" | "step_finished"
    )
}

/// The global log's events for one chained event of kind `kind`.
pub fn lifecycle_events(kind: &str, data: &Value) -> Vec<EventPayload> {
    match kind {
        "submitted" => submitted(data),
        "status" => status(data),
        "step_started" => vec![EventPayload::StepStarted(step(data))],
        "step_finished" => vec![EventPayload::StepFinished(step(data))],
        _ => Vec::new(),
    }
}

fn text(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_string)
}

fn submitted(data: &Value) -> Vec<EventPayload> {
    let status = text(data, "status").unwrap_or_default();
    let plan_hash = text(data, "plan_hash");
    let mut out = Vec::with_capacity(3);
    let has_plan = plan_hash.is_some();
    out.push(EventPayload::JobCreated(JobCreated {
        intent: text(data, "intent").unwrap_or_default(),
        status: status.clone(),
        risk: text(data, "risk").unwrap_or_default(),
        source: text(data, "source").unwrap_or_default(),
        principal: text(data, "principal").unwrap_or_default(),
        plan_hash,
    }));
    let entered = |to: &str| JobTransition {
        to: to.to_string(),
        ..JobTransition::default()
    };
    if has_plan {
        out.push(EventPayload::JobPlanned(entered(&status)));
    }
    match status.as_str() {
        "planned" => out.push(EventPayload::ApprovalRequested(entered("planned"))),
        "queued" => out.push(EventPayload::JobQueued(entered("queued"))),
        _ => {}
    }
    out
}

fn status(data: &Value) -> Vec<EventPayload> {
    let t = JobTransition {
        from: text(data, "from"),
        to: text(data, "to").unwrap_or_default(),
        actor: text(data, "actor"),
        reason: text(data, "reason").or_else(|| text(data, "error")),
        worker: text(data, "worker"),
        attempt: data
            .get("attempt")
            .and_then(Value::as_u64)
            .and_then(|a| u32::try_from(a).ok()),
    };
    let approved = data.get("approver").is_some();
    match t.to.as_str() {
        "planned" => vec![EventPayload::ApprovalRequested(t)],
        "queued" if approved => vec![
            EventPayload::ApprovalGranted(t.clone()),
            EventPayload::JobQueued(t),
        ],
        "queued" => vec![EventPayload::JobQueued(t)],
        "running" => vec![EventPayload::JobStarted(t)],
        "succeeded" => vec![EventPayload::JobSucceeded(t)],
        "failed" => vec![EventPayload::JobFailed(t)],
        "timed_out" => vec![EventPayload::JobTimedOut(t)],
        "cancelled" => vec![EventPayload::JobCancelled(t)],
        "needs_review" => vec![EventPayload::JobNeedsReview(t)],
        "denied" => vec![EventPayload::ApprovalDenied(t)],
        _ => Vec::new(),
    }
}

fn step(data: &Value) -> StepChange {
    StepChange {
        step: data
            .get("step")
            .and_then(Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or_default(),
        status: text(data, "status"),
        exit_code: data
            .get("exit_code")
            .and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok()),
        error: text(data, "error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use serde_json::json;

    fn types(kind: &str, data: Value) -> Vec<EventType> {
        lifecycle_events(kind, &data)
            .iter()
            .map(EventPayload::event_type)
            .collect()
    }

    #[test]
    fn an_insert_reports_creation_plan_and_first_status() {
        let planned = json!({"intent": "x", "status": "planned", "plan_hash": "ab"});
        assert_eq!(
            types("submitted", planned),
            [
                EventType::JobCreated,
                EventType::JobPlanned,
                EventType::ApprovalRequested
            ]
        );
        let created = json!({"intent": "x", "status": "created", "plan_hash": null});
        assert_eq!(types("submitted", created), [EventType::JobCreated]);
    }

    #[test]
    fn a_status_change_reports_the_status_entered() {
        let approval = json!({"from": "planned", "to": "queued", "approver": "ann"});
        assert_eq!(
            types("status", approval),
            [EventType::ApprovalGranted, EventType::JobQueued]
        );
        assert_eq!(
            types("status", json!({"from": "running", "to": "queued"})),
            [EventType::JobQueued]
        );
        assert_eq!(
            types("status", json!({"from": "planned", "to": "denied"})),
            [EventType::ApprovalDenied]
        );
        assert!(types("provider_selected", json!({})).is_empty());
    }
}
