//! The typed payload of each event type. Payload structs are shared by
//! types that say the same kind of thing (every status change carries a
//! [`JobTransition`]); unknown fields are ignored on reading, so a payload
//! may grow a field without breaking stored events.

use super::EventType;
use serde::{Deserialize, Serialize};

/// A job was recorded (`job.created`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobCreated {
    /// The intent, as submitted.
    pub intent: String,
    /// The status it was recorded in.
    pub status: String,
    /// The plan's risk.
    pub risk: String,
    /// Who submitted it through what (`cli`, `http`, `trigger`, ...).
    pub source: String,
    /// The principal that owns it.
    pub principal: String,
    /// The plan's content hash, when it has a plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_hash: Option<String>,
}

/// A job entered a status (every `job.*` type but `job.created`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobTransition {
    /// The status it left (absent when it was just recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The status it is in now.
    pub to: String,
    /// Who caused it (an approver, `reaper`, a reviewer), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Why, or the error, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The worker holding it, for a start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// The attempt, for a start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// A step started or ended (`step.started`, `step.finished`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepChange {
    /// The step's index in the plan.
    pub step: u32,
    /// How it ended (`succeeded`, `failed`, ...), for an end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its exit code, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Its error, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A provider's health changed (`provider.degraded`, `provider.recovered`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderHealth {
    /// The provider.
    pub provider: String,
    /// What was observed.
    pub detail: String,
}

/// A worker came or went (`worker.online`, `worker.offline`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerChange {
    /// The worker's id.
    pub worker: String,
    /// Jobs it held (for an offline worker: jobs left to recover).
    #[serde(default)]
    pub running: u32,
}

/// Queued work waits too long (`queue.backlog`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueBacklog {
    /// Jobs queued.
    pub queued: u64,
    /// How long the oldest has waited, in milliseconds.
    pub oldest_wait_ms: u64,
}

/// Nothing is queued or running (`system.idle`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemIdle {
    /// Since how long, in milliseconds.
    pub idle_for_ms: u64,
}

/// A finding for a person or a strategy (`optimization.opportunity`,
/// `budget.exhausted`, `error`): what, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    /// What it is about (`provider:local`, `llm`, `webhooks`, ...).
    pub subject: String,
    /// What happened, for a person.
    pub message: String,
}

/// An alert was raised (`alert.raised`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRaised {
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// What it is about (`provider:NAME`, `workers`, `queue`, ...).
    pub subject: String,
    /// What happened, for a person.
    pub message: String,
}

/// A schedule fired (`schedule.fired`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleFired {
    /// The schedule's id or name.
    pub schedule: String,
    /// The tick that fired (RFC 3339).
    pub tick: String,
}

/// The initiative engine's decision (`initiative.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitiativeDecision {
    /// The strategy (`maintenance`, `recovery`, `optimization`).
    pub strategy: String,
    /// The intent it proposed.
    pub intent: String,
    /// Why (and, for a skip, why not).
    pub reason: String,
}

/// The same steps failed repeatedly (`failure.pattern`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailurePattern {
    /// The failing step's signature (principal, action and command hashed).
    pub signature: String,
    /// How many of its recent runs failed in a row.
    pub failures: u32,
    /// The failed jobs, newest first.
    pub jobs: Vec<String>,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A trigger's decision about one event (`trigger.fired`,
/// `trigger.skipped`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerFiring {
    /// The trigger's id.
    pub trigger: String,
    /// The trigger's name.
    pub name: String,
    /// The id of the event that matched.
    pub event: i64,
    /// The type of the event that matched.
    pub event_type: String,
    /// Why it did not fire (a skip), or the job's status (a firing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A gc run removed old records (`gc.completed`): how much of each kind
/// (the full list is the run's report).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcCompleted {
    /// Jobs removed (each left a tombstone).
    pub jobs: u64,
    /// Log lines of kept jobs removed.
    pub log_lines: u64,
    /// Their bytes.
    pub log_bytes: u64,
    /// Events of the global log's old prefix removed (an anchor marks
    /// the gap).
    #[serde(default)]
    pub events: u64,
    /// Artifact records of kept jobs removed.
    pub artifacts: u64,
    /// Objects removed from the artifact store.
    pub objects: u64,
    /// Their bytes.
    pub object_bytes: u64,
    /// Unfinished uploads removed.
    pub uploads: u64,
    /// The removed jobs (at most the first 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_ids: Vec<String>,
}

/// A durable consumer skipped events gc had removed (`consumer.gap`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumerGap {
    /// The consumer's name.
    pub consumer: String,
    /// Its stored position (`XID-ID`) when it found the gap.
    pub after: String,
    /// Where it resumed: the position of the last event removed.
    pub through: String,
    /// At most this many events it had not handled were removed (the
    /// pruned ranges' counts; part of the first may have been handled).
    pub events: u64,
}

/// An event's payload; its variant is its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
#[allow(missing_docs)] // each variant is documented by its EventType
pub enum EventPayload {
    JobCreated(JobCreated),
    JobPlanned(JobTransition),
    ApprovalRequested(JobTransition),
    ApprovalGranted(JobTransition),
    ApprovalDenied(JobTransition),
    JobQueued(JobTransition),
    JobStarted(JobTransition),
    StepStarted(StepChange),
    StepFinished(StepChange),
    JobSucceeded(JobTransition),
    JobFailed(JobTransition),
    JobTimedOut(JobTransition),
    JobCancelled(JobTransition),
    JobNeedsReview(JobTransition),
    ProviderDegraded(ProviderHealth),
    ProviderRecovered(ProviderHealth),
    WorkerOnline(WorkerChange),
    WorkerOffline(WorkerChange),
    QueueBacklog(QueueBacklog),
    SystemIdle(SystemIdle),
    OptimizationOpportunity(Notice),
    AlertRaised(AlertRaised),
    BudgetExhausted(Notice),
    ScheduleFired(ScheduleFired),
    InitiativeProposed(InitiativeDecision),
    InitiativeStarted(InitiativeDecision),
    InitiativeSkipped(InitiativeDecision),
    FailurePattern(FailurePattern),
    TriggerFired(TriggerFiring),
    TriggerSkipped(TriggerFiring),
    GcCompleted(GcCompleted),
    ConsumerGap(ConsumerGap),
    Error(Notice),
}

/// Dispatch over (type, payload struct) pairs in one table: `$m!` is
/// handed every `Variant => PayloadStruct` pair.
macro_rules! each_payload {
    ($m:ident) => {
        $m! {
            JobCreated => JobCreated, JobPlanned => JobTransition,
            ApprovalRequested => JobTransition, ApprovalGranted => JobTransition,
            ApprovalDenied => JobTransition, JobQueued => JobTransition,
            JobStarted => JobTransition, StepStarted => StepChange, StepFinished => StepChange,
            JobSucceeded => JobTransition, JobFailed => JobTransition,
            JobTimedOut => JobTransition, JobCancelled => JobTransition,
            JobNeedsReview => JobTransition, ProviderDegraded => ProviderHealth,
            ProviderRecovered => ProviderHealth, WorkerOnline => WorkerChange,
            WorkerOffline => WorkerChange, QueueBacklog => QueueBacklog,
            SystemIdle => SystemIdle, OptimizationOpportunity => Notice,
            AlertRaised => AlertRaised, BudgetExhausted => Notice,
            ScheduleFired => ScheduleFired, InitiativeProposed => InitiativeDecision,
            InitiativeStarted => InitiativeDecision, InitiativeSkipped => InitiativeDecision,
            FailurePattern => FailurePattern, TriggerFired => TriggerFiring,
            TriggerSkipped => TriggerFiring, GcCompleted => GcCompleted,
            ConsumerGap => ConsumerGap, Error => Notice
        }
    };
}

impl EventPayload {
    /// The type this payload belongs to.
    pub fn event_type(&self) -> EventType {
        macro_rules! kind {
            ($($v:ident => $p:ident),*) => {
                match self { $(EventPayload::$v(_) => EventType::$v,)* }
            };
        }
        each_payload!(kind)
    }

    /// Read a stored payload of type `t` (an [`crate::Error::Store`] when
    /// it does not have that type's shape).
    pub fn decode(t: EventType, value: serde_json::Value) -> crate::Result<EventPayload> {
        macro_rules! decode {
            ($($v:ident => $p:ident),*) => {
                match t {
                    $(EventType::$v => serde_json::from_value::<$p>(value).map(EventPayload::$v),)*
                }
            };
        }
        each_payload!(decode).map_err(|e| {
            crate::Error::Store(format!("a stored {t} event's payload is unreadable: {e}"))
        })
    }

    /// The name of the payload struct type `t` carries (as
    /// `docs/events.md` documents it).
    pub fn struct_name(t: EventType) -> &'static str {
        macro_rules! name {
            ($($v:ident => $p:ident),*) => {
                match t { $(EventType::$v => stringify!($p),)* }
            };
        }
        each_payload!(name)
    }

    /// The payload as JSON (what the log stores).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The payload's `JobTransition`, for every status-change type.
    pub fn transition(&self) -> Option<&JobTransition> {
        use EventPayload::*;
        match self {
            JobPlanned(t) | ApprovalRequested(t) | ApprovalGranted(t) | ApprovalDenied(t)
            | JobQueued(t) | JobStarted(t) | JobSucceeded(t) | JobFailed(t) | JobTimedOut(t)
            | JobCancelled(t) | JobNeedsReview(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::events::ALL_EVENT_TYPES;

    #[test]
    fn every_type_has_one_payload_that_round_trips() {
        macro_rules! samples {
            ($($v:ident => $p:ident),*) => { vec![$(EventPayload::$v($p::default()),)*] };
        }
        let samples: Vec<EventPayload> = each_payload!(samples);
        let types: Vec<EventType> = samples.iter().map(EventPayload::event_type).collect();
        assert_eq!(types, ALL_EVENT_TYPES);
        for sample in samples {
            let t = sample.event_type();
            assert_eq!(EventPayload::decode(t, sample.to_json()).unwrap(), sample);
        }
        let p = EventPayload::ProviderDegraded(ProviderHealth {
            provider: "local".into(),
            detail: "2 of 3 checks failed".into(),
        });
        let back = EventPayload::decode(EventType::ProviderDegraded, p.to_json()).unwrap();
        assert_eq!(back, p);
        assert!(EventPayload::decode(EventType::StepStarted, serde_json::json!({"x": 1})).is_err());
    }
}
