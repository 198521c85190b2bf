//! The closed list of event types. `docs/events.md` documents each one
//! (name and payload); a test checks that page against [`ALL_EVENT_TYPES`].

use serde::{Deserialize, Serialize};

/// What an event reports. Serialized as its dotted name (`job.created`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// A job was recorded.
    #[serde(rename = "job.created")]
    JobCreated,
    /// A job's plan was recorded.
    #[serde(rename = "job.planned")]
    JobPlanned,
    /// A job waits for a human's approval of its plan.
    #[serde(rename = "job.approval_requested")]
    ApprovalRequested,
    /// A human approved a job's plan (an approval or a review's requeue).
    #[serde(rename = "job.approval_granted")]
    ApprovalGranted,
    /// A human denied a job's plan.
    #[serde(rename = "job.approval_denied")]
    ApprovalDenied,
    /// A job waits for a worker.
    #[serde(rename = "job.queued")]
    JobQueued,
    /// A worker claimed a job and runs it.
    #[serde(rename = "job.started")]
    JobStarted,
    /// A step started.
    #[serde(rename = "step.started")]
    StepStarted,
    /// A step ended.
    #[serde(rename = "step.finished")]
    StepFinished,
    /// Every step of a job succeeded.
    #[serde(rename = "job.succeeded")]
    JobSucceeded,
    /// A job failed.
    #[serde(rename = "job.failed")]
    JobFailed,
    /// A job ran out of time.
    #[serde(rename = "job.timed_out")]
    JobTimedOut,
    /// A job was cancelled.
    #[serde(rename = "job.cancelled")]
    JobCancelled,
    /// A job needs a human's review.
    #[serde(rename = "job.needs_review")]
    JobNeedsReview,
    /// A provider's health dropped.
    #[serde(rename = "provider.degraded")]
    ProviderDegraded,
    /// A provider is healthy again.
    #[serde(rename = "provider.recovered")]
    ProviderRecovered,
    /// A worker registered.
    #[serde(rename = "worker.online")]
    WorkerOnline,
    /// A worker stopped or went silent.
    #[serde(rename = "worker.offline")]
    WorkerOffline,
    /// Queued work waits longer than it should.
    #[serde(rename = "queue.backlog")]
    QueueBacklog,
    /// Nothing is queued or running.
    #[serde(rename = "system.idle")]
    SystemIdle,
    /// Something could run better.
    #[serde(rename = "optimization.opportunity")]
    OptimizationOpportunity,
    /// An alert was raised.
    #[serde(rename = "alert.raised")]
    AlertRaised,
    /// A budget ran out.
    #[serde(rename = "budget.exhausted")]
    BudgetExhausted,
    /// A schedule fired.
    #[serde(rename = "schedule.fired")]
    ScheduleFired,
    /// The initiative engine proposed work.
    #[serde(rename = "initiative.proposed")]
    InitiativeProposed,
    /// The initiative engine started a job.
    #[serde(rename = "initiative.started")]
    InitiativeStarted,
    /// The initiative engine skipped a proposal.
    #[serde(rename = "initiative.skipped")]
    InitiativeSkipped,
    /// The same steps failed repeatedly.
    #[serde(rename = "failure.pattern")]
    FailurePattern,
    /// A trigger fired: an event matched it and it submitted its intent.
    #[serde(rename = "trigger.fired")]
    TriggerFired,
    /// An event matched a trigger that did not fire (rate limit, refusal).
    #[serde(rename = "trigger.skipped")]
    TriggerSkipped,
    /// A gc run removed old records.
    #[serde(rename = "gc.completed")]
    GcCompleted,
    /// A durable consumer's position was inside a pruned part of the
    /// global log: it skipped the events gc had removed.
    #[serde(rename = "consumer.gap")]
    ConsumerGap,
    /// Something went wrong inside SKYNET.
    #[serde(rename = "error")]
    Error,
}

/// Every event type, in catalogue order.
pub const ALL_EVENT_TYPES: [EventType; 33] = [
    EventType::JobCreated,
    EventType::JobPlanned,
    EventType::ApprovalRequested,
    EventType::ApprovalGranted,
    EventType::ApprovalDenied,
    EventType::JobQueued,
    EventType::JobStarted,
    EventType::StepStarted,
    EventType::StepFinished,
    EventType::JobSucceeded,
    EventType::JobFailed,
    EventType::JobTimedOut,
    EventType::JobCancelled,
    EventType::JobNeedsReview,
    EventType::ProviderDegraded,
    EventType::ProviderRecovered,
    EventType::WorkerOnline,
    EventType::WorkerOffline,
    EventType::QueueBacklog,
    EventType::SystemIdle,
    EventType::OptimizationOpportunity,
    EventType::AlertRaised,
    EventType::BudgetExhausted,
    EventType::ScheduleFired,
    EventType::InitiativeProposed,
    EventType::InitiativeStarted,
    EventType::InitiativeSkipped,
    EventType::FailurePattern,
    EventType::TriggerFired,
    EventType::TriggerSkipped,
    EventType::GcCompleted,
    EventType::ConsumerGap,
    EventType::Error,
];

impl EventType {
    /// The dotted name (`job.created`), as stored and documented.
    pub fn as_str(self) -> &'static str {
        use EventType::*;
        match self {
            JobCreated => "job.created",
            JobPlanned => "job.planned",
            ApprovalRequested => "job.approval_requested",
            ApprovalGranted => "job.approval_granted",
            ApprovalDenied => "job.approval_denied",
            JobQueued => "job.queued",
            JobStarted => "job.started",
            StepStarted => "step.started",
            StepFinished => "step.finished",
            JobSucceeded => "job.succeeded",
            JobFailed => "job.failed",
            JobTimedOut => "job.timed_out",
            JobCancelled => "job.cancelled",
            JobNeedsReview => "job.needs_review",
            ProviderDegraded => "provider.degraded",
            ProviderRecovered => "provider.recovered",
            WorkerOnline => "worker.online",
            WorkerOffline => "worker.offline",
            QueueBacklog => "queue.backlog",
            SystemIdle => "system.idle",
            OptimizationOpportunity => "optimization.opportunity",
            AlertRaised => "alert.raised",
            BudgetExhausted => "budget.exhausted",
            ScheduleFired => "schedule.fired",
            InitiativeProposed => "initiative.proposed",
            InitiativeStarted => "initiative.started",
            InitiativeSkipped => "initiative.skipped",
            FailurePattern => "failure.pattern",
            TriggerFired => "trigger.fired",
            TriggerSkipped => "trigger.skipped",
            GcCompleted => "gc.completed",
            ConsumerGap => "consumer.gap",
            Error => "error",
        }
    }

    /// Whether the event is about a job's lifecycle (visible to the job's
    /// principal); the others are system events.
    pub fn is_job_lifecycle(self) -> bool {
        self.as_str().starts_with("job.") || self.as_str().starts_with("step.")
    }

    /// Parse a list of names or prefixes (`job.failed,provider.*`); an
    /// entry ending in `*` (or `.`) takes every type under that prefix.
    pub fn parse_filter(text: &str) -> crate::Result<Vec<EventType>> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let prefix = part.strip_suffix('*').unwrap_or(part);
            let matched: Vec<EventType> = if prefix.len() < part.len() {
                ALL_EVENT_TYPES
                    .into_iter()
                    .filter(|t| t.as_str().starts_with(prefix))
                    .collect()
            } else {
                vec![part.parse()?]
            };
            if matched.is_empty() {
                return Err(unknown(part));
            }
            for t in matched {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }
}

fn unknown(name: &str) -> crate::Error {
    let names: Vec<&str> = ALL_EVENT_TYPES.iter().map(|t| t.as_str()).collect();
    crate::Error::InvalidInput(format!(
        "unknown event type {name:?}: use one of {} (or a prefix such as `job.*`)",
        names.join(", ")
    ))
}

impl std::str::FromStr for EventType {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        ALL_EVENT_TYPES
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| unknown(s))
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for t in ALL_EVENT_TYPES {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, serde_json::json!(t.as_str()));
        }
        assert!("job.exploded".parse::<EventType>().is_err());
    }

    #[test]
    fn filters_take_names_and_prefixes() {
        let f = EventType::parse_filter("provider.*, job.failed").unwrap();
        assert_eq!(
            f,
            [
                EventType::ProviderDegraded,
                EventType::ProviderRecovered,
                EventType::JobFailed
            ]
        );
        assert!(EventType::parse_filter("nothing.*").is_err());
        assert!(EventType::parse_filter("job.fail").is_err());
    }
}
