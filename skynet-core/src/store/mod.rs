//! The ledger: jobs + queue, step checkpoints, logs and the hash-chained
//! event log, behind traits so SQLite and PostgreSQL are interchangeable.
//!
//! Every state change is one transaction that also appends its event, and
//! every status change is a compare-and-set derived from
//! [`JobStatus::allowed_from`], so the SQL cannot disagree with core.

use crate::Result;
use crate::job::{Approval, Job, JobId, JobStatus, ReviewResolution};
use crate::provider::Stream;
use crate::risk::RiskLevel;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only these statuses (empty = all).
    pub statuses: Vec<JobStatus>,
    /// At most this many (newest first); `None` = a default of 100.
    pub limit: Option<u32>,
    /// Keyset pagination: only jobs strictly older than this position in
    /// the `(created_at DESC, id DESC)` order (the last job of the page
    /// before).
    pub before: Option<JobCursor>,
    /// Only dead letters: jobs that failed with every attempt used.
    pub dead_letter: bool,
    /// Only this principal's jobs (`None` = everyone's).
    pub principal: Option<crate::Principal>,
}

/// A position in the job listing order, `(created_at, id)`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    /// The job's creation time.
    pub created_at: DateTime<Utc>,
    /// The job's id (breaks ties between jobs created at the same instant).
    pub id: JobId,
}

impl JobCursor {
    /// The cursor that continues a listing after `job`.
    pub fn after(job: &Job) -> Self {
        JobCursor {
            created_at: job.created_at,
            id: job.id.clone(),
        }
    }
}

/// The fields a status change may set besides the status.
#[derive(Debug, Clone, Default)]
pub struct StatusChange {
    /// Error text to record (failed, timed out, denied, needs review...).
    pub error: Option<String>,
    /// Who asked for it (recorded in the event).
    pub actor: Option<String>,
}

/// A human's resolution of a job in `needs_review`, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Requeue, fail or mark succeeded.
    pub resolution: ReviewResolution,
    /// Who resolves it (the audit label; the approver of a requeue).
    pub reviewer: String,
    /// The principal the reviewer acts for.
    pub principal: crate::Principal,
    /// Why, in the reviewer's words.
    pub reason: Option<String>,
    /// The full hash of the plan the reviewer saw. A requeue needs it (its
    /// approval is bound to it); other resolutions check it when given.
    pub plan_hash: Option<String>,
}

/// How a worker's run of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Every step succeeded.
    Succeeded,
    /// A step failed; no retry.
    Failed(String),
    /// A step or the job ran out of time.
    TimedOut(String),
    /// The run stopped because the job was cancelled.
    Cancelled,
    /// A transient failure: re-queue to run at `run_at` unless attempts are
    /// exhausted, in which case the job fails (dead letter).
    Retry {
        /// Why.
        error: String,
        /// Not before this instant.
        run_at: DateTime<Utc>,
    },
    /// The worker is shutting down and hands the job back: re-queued to
    /// run at once elsewhere, and this attempt is not counted. Only for a
    /// job whose interrupted step (if any) was READ_ONLY.
    Released(String),
    /// A WRITE/ADMIN step was interrupted (the worker shut down mid-step):
    /// it may have changed things, so a human decides.
    NeedsReview(String),
}

/// What the reaper did with one expired lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// The job.
    pub job: JobId,
    /// Its new status (`queued`, `needs_review` or `failed`).
    pub status: JobStatus,
    /// Why.
    pub reason: String,
}

/// Status of one step's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started (or reset for a READ_ONLY resume).
    Pending,
    /// A worker started it.
    Running,
    /// Exit code 0.
    Succeeded,
    /// Non-zero exit or provider failure.
    Failed,
    /// Ran out of time.
    TimedOut,
    /// Stopped by a cancel.
    Cancelled,
    /// Never ran because an earlier step failed.
    Skipped,
}

impl StepStatus {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Skipped => "skipped",
        }
    }
    /// Parse the stored form.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => StepStatus::Pending,
            "running" => StepStatus::Running,
            "succeeded" => StepStatus::Succeeded,
            "failed" => StepStatus::Failed,
            "timed_out" => StepStatus::TimedOut,
            "cancelled" => StepStatus::Cancelled,
            "skipped" => StepStatus::Skipped,
            other => {
                return Err(crate::Error::Store(format!(
                    "unknown step status {other:?}"
                )));
            }
        })
    }
}

/// A step's checkpoint row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Index in the plan.
    pub index: u32,
    /// Status.
    pub status: StepStatus,
    /// The step's effective risk.
    pub risk: RiskLevel,
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Output bytes produced.
    pub output_bytes: u64,
    /// Output past the cap was dropped.
    pub truncated: bool,
    /// Error text for failures.
    pub error: Option<String>,
}

/// How a step ended, as a worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// Final step status (not pending/running).
    pub status: StepStatus,
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Output bytes produced.
    pub output_bytes: u64,
    /// Output past the cap was dropped.
    pub truncated: bool,
    /// Error text.
    pub error: Option<String>,
}

/// A step's end as a worker records it, possibly with its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedStep {
    /// Index in the plan.
    pub index: u32,
    /// When the step started, if that start was not recorded yet: it is
    /// recorded now, with its `step_started` event, before the end. (A
    /// READ_ONLY step's start checkpoint is only written if the step runs
    /// for a while: the crash rules treat an unrecorded READ_ONLY start
    /// like a recorded one.)
    pub started_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Its last output lines not stored yet.
    pub logs: Vec<NewLogLine>,
}

/// What a worker records about a job it holds the lease on, in one go: a
/// step's end and/or the end of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCheckpoint {
    /// The job.
    pub job: JobId,
    /// The lease the worker holds (every write is fenced by it).
    pub lease_id: String,
    /// The step that ended, if any.
    pub step: Option<FinishedStep>,
    /// How the run ends, if it does (`None`: the job goes on).
    pub completion: Option<Completion>,
}

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Position in the job's log (increasing).
    pub seq: i64,
    /// Step index.
    pub step: u32,
    /// Stream.
    pub stream: Stream,
    /// Text (secrets already redacted).
    pub text: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// A log line to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogLine {
    /// Step index.
    pub step: u32,
    /// Stream.
    pub stream: Stream,
    /// Text.
    pub text: String,
}

/// Which log lines to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only this step.
    pub step: Option<u32>,
    /// Only lines containing this text (case-sensitive).
    pub search: Option<String>,
    /// Only lines with `seq` greater than this (for following).
    pub after_seq: Option<i64>,
    /// Only the last N matching lines.
    pub tail: Option<u32>,
    /// Only lines recorded at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only lines recorded before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only lines of this stream.
    pub stream: Option<Stream>,
}

/// One entry of a job's hash-chained event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Global position.
    pub seq: i64,
    /// The job.
    pub job_id: JobId,
    /// What happened (`submitted`, `status`, `step_started`, ...).
    pub kind: String,
    /// Details.
    pub data: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
    /// Hash of the job's previous event (or of the job id for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash`, kind, data, time and job id.
    pub hash: String,
}

/// The outcome of verifying a job's event chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// Events checked.
    pub events: usize,
    /// Whether every link and the job's recorded head match.
    pub intact: bool,
    /// The first broken event's seq and what is wrong.
    pub problem: Option<String>,
}

/// How a provider's recent finished jobs went (for the scheduler).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStats {
    /// The provider.
    pub provider: String,
    /// Jobs counted: succeeded, failed or timed out (a cancel, denial or
    /// review says nothing about the provider).
    pub finished: u64,
    /// Of those, the ones that succeeded.
    pub succeeded: u64,
    /// Median start-to-finish time of the succeeded ones.
    pub median_duration_ms: Option<u64>,
}

/// Jobs and the queue.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Insert a new job (and its step checkpoints, and a `submitted`
    /// event). With an idempotency key already used, returns the existing
    /// job and `false`.
    async fn insert_job(&self, job: &Job) -> Result<(Job, bool)>;
    /// One job, or [`crate::Error::JobNotFound`].
    async fn get_job(&self, id: &JobId) -> Result<Job>;
    /// Jobs, newest first (`created_at DESC, id DESC`), after
    /// `filter.before` when given.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// The principals that own these jobs (ids not found are left out).
    async fn job_principals(&self, ids: &[JobId]) -> Result<Vec<(JobId, crate::Principal)>>;
    /// How many jobs are in each status (statuses with none are left out).
    async fn count_jobs_by_status(&self) -> Result<Vec<(JobStatus, u64)>>;
    /// Since when the longest-waiting claimable job has waited: the
    /// earliest `max(queued_at, run_at)` among queued jobs whose `run_at`
    /// has come by `now` (a job held back by a retry delay is not waiting
    /// yet). `None` when no queued job is due.
    async fn oldest_queued_since(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;
    /// Compare-and-set status change allowed by the transition table
    /// (not for `running`, which only [`JobStore::claim`] enters, nor for
    /// `queued` other than a retry out of `running`: only
    /// [`JobStore::approve`] queues work).
    /// Leaving `running` clears the lease.
    async fn set_status(&self, id: &JobId, to: JobStatus, change: StatusChange) -> Result<Job>;
    /// `planned` (or `created`) `-> queued` if `approval.plan_hash` is the
    /// job's plan hash (else [`crate::Error::StaleApproval`]). Apart from a
    /// retry out of `running`, an approval is the only way into `queued`
    /// (this, or the one a review's requeue carries,
    /// [`JobStore::resolve_review`]), and a job inserted as `queued` must
    /// carry an approval of its plan.
    async fn approve(&self, id: &JobId, approval: Approval) -> Result<Job>;
    /// Resolve a job in `needs_review`, in one compare-and-set with its
    /// `status` event (who, why, which resolution): requeue it under a
    /// fresh approval of `review.plan_hash` (the job's plan, else
    /// [`crate::Error::StaleApproval`]), fail it, or mark it succeeded (the
    /// interrupted step too). A job in any other status is
    /// [`crate::Error::NotUnderReview`]; a refusal changes nothing.
    async fn resolve_review(&self, id: &JobId, review: &Review) -> Result<Job>;
    /// Claim up to `limit` queued jobs whose `run_at` has come, highest
    /// priority first, each with a fresh lease for `worker`.
    async fn claim(&self, worker: &str, lease: Duration, limit: usize) -> Result<Vec<Job>>;
    /// Claim one specific queued job (used by `approve` to run it exactly once).
    async fn claim_job(&self, id: &JobId, worker: &str, lease: Duration) -> Result<Option<Job>>;
    /// Extend the lease. [`crate::Error::LeaseLost`] if the job is no
    /// longer running under this lease (cancelled, reaped, completed).
    async fn heartbeat(&self, id: &JobId, lease_id: &str, lease: Duration) -> Result<()>;
    /// Finish a run, fenced by the lease id.
    async fn complete(&self, id: &JobId, lease_id: &str, completion: Completion) -> Result<Job>;
    /// Recover every job whose lease expired before `now`: an in-flight
    /// WRITE/ADMIN step -> `needs_review`; otherwise re-queue (the running
    /// READ_ONLY step goes back to pending) unless attempts are exhausted.
    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<Vec<Reaped>>;
    /// For each provider with finished jobs, how its last `limit` of them
    /// (newest `finished_at` first) went; sorted by provider name.
    async fn provider_stats(&self, limit: u32) -> Result<Vec<ProviderStats>>;
    /// A signal that ticks whenever another process may have queued work
    /// (PostgreSQL `LISTEN/NOTIFY`), so idle workers wake at once instead
    /// of at their next poll. `None` when the backend has no such signal:
    /// callers poll.
    fn work_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// How many jobs are in `status`, read from what
/// [`JobStore::count_jobs_by_status`] returned (0 when it left the status out).
pub(crate) fn jobs_in(counts: &[(JobStatus, u64)], status: JobStatus) -> u64 {
    counts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

/// Per-step checkpoints.
#[async_trait]
pub trait StepStore: Send + Sync {
    /// The job's step checkpoints, in order ([`crate::Error::JobNotFound`]
    /// for an unknown job, like every method that takes a job id).
    async fn steps(&self, id: &JobId) -> Result<Vec<StepRecord>>;
    /// Mark a step running, fenced by the lease; appends a `step_started`
    /// event in the same transaction.
    async fn start_step(&self, id: &JobId, lease_id: &str, index: u32) -> Result<()>;
    /// Record how a step ended, fenced by the lease, together with the
    /// step's last unwritten log lines and a `step_finished` event, in one
    /// transaction.
    async fn finish_step(
        &self,
        id: &JobId,
        lease_id: &str,
        index: u32,
        outcome: StepOutcome,
        logs: &[NewLogLine],
    ) -> Result<()>;
    /// Record several jobs' checkpoints in ONE transaction (group commit),
    /// each fenced by its own lease: per job, its step end with its log
    /// lines and events, then its completion with its `status` event.
    /// Per checkpoint: the completed job (`None` when the run goes on), or
    /// the error that refused it before it wrote anything
    /// ([`crate::Error::LeaseLost`], [`crate::Error::JobNotFound`],
    /// [`crate::Error::InvalidInput`]). An outer error means nothing was
    /// written.
    async fn record_checkpoints(&self, batch: &[RunCheckpoint])
    -> Result<Vec<Result<Option<Job>>>>;
    /// For each step signature, the median duration in milliseconds of
    /// its last `runs` successful runs; signatures never run successfully
    /// are absent.
    async fn step_medians(
        &self,
        signatures: &[String],
        runs: u32,
    ) -> Result<std::collections::HashMap<String, u64>>;
    /// For each step signature, how many of its runs that finished at or
    /// after `since` failed or timed out; signatures without such a run
    /// are absent. The signature names its principal, so another
    /// principal's failures never count.
    async fn step_failures_since(
        &self,
        signatures: &[String],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<std::collections::HashMap<String, u32>>;
}

/// Job logs, line by line.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Append lines in order.
    async fn append_logs(&self, id: &JobId, lines: &[NewLogLine]) -> Result<()>;
    /// Read lines.
    async fn logs(&self, id: &JobId, query: &LogQuery) -> Result<Vec<LogLine>>;
}

/// The hash-chained event log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Append an event that is not a status change (those are appended by
    /// the status-changing methods themselves).
    async fn append_event(&self, id: &JobId, kind: &str, data: serde_json::Value) -> Result<Event>;
    /// A job's events, oldest first.
    async fn events(&self, id: &JobId) -> Result<Vec<Event>>;
    /// Up to `limit` events with `seq > after_seq`, in `seq` order, of one
    /// job or (with `None`) of every job. A reader that resumes from the
    /// last `seq` it saw misses nothing: an event becomes visible only
    /// after every event with a smaller `seq` is visible.
    async fn events_after(
        &self,
        job: Option<&JobId>,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Event>>;
    /// Recompute the job's chain and compare it with the recorded head.
    async fn verify_events(&self, id: &JobId) -> Result<ChainReport>;
}

/// A worker as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Unique id (`host-pid-xxxx` by default).
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// SKYNET version it runs.
    pub version: String,
    /// Providers it can run steps on.
    pub providers: Vec<String>,
    /// Jobs it runs at once.
    pub capacity: u32,
}

/// How a registered worker looks now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Heartbeating, no job running.
    Online,
    /// Heartbeating, running at least one job.
    Busy,
    /// Stopped, or silent for longer than the staleness limit.
    Offline,
}

impl WorkerState {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Online => "online",
            WorkerState::Busy => "busy",
            WorkerState::Offline => "offline",
        }
    }
}

/// A worker registry row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// What it registered.
    #[serde(flatten)]
    pub info: WorkerInfo,
    /// Jobs running at its last heartbeat.
    pub running: u32,
    /// Online, busy or offline.
    pub state: WorkerState,
    /// When it registered.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it stopped cleanly or was marked offline.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The worker registry.
#[async_trait]
pub trait WorkerStore: Send + Sync {
    /// Register (or re-register after a restart under the same id) a worker
    /// as online.
    async fn register_worker(&self, info: &WorkerInfo) -> Result<()>;
    /// Record a heartbeat with the number of jobs running. A worker marked
    /// offline comes back online.
    async fn worker_heartbeat(&self, id: &str, running: u32) -> Result<()>;
    /// Mark a worker offline because it stopped.
    async fn worker_stopped(&self, id: &str) -> Result<()>;
    /// Mark every online worker whose last heartbeat is older than
    /// `before` offline; returns how many.
    async fn mark_stale_workers(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Every registered worker, most recently seen first.
    async fn workers(&self) -> Result<Vec<WorkerRecord>>;
}

/// Everything a ledger backend provides (its API keys included: one store,
/// one pool).
pub trait Store:
    JobStore
    + StepStore
    + LogStore
    + EventStore
    + WorkerStore
    + keys::KeyStore
    + crate::memory::MemoryStore
    + cursors::CursorStore
    + reports::ReportStore
    + schedules::ScheduleStore
    + initiative::InitiativeStore
    + event_log::EventLogStore
    + event_log_anchors::EventLogRetention
    + webhooks::WebhookStore
    + artifacts::ArtifactLedger
    + triggers::TriggerStore
    + conditions::ConditionStore
    + retention::RetentionStore
{
    /// Backend name (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
}

/// A shared store handle.
pub type SharedStore = Arc<dyn Store>;

/// Open (and migrate) the store named by `url`: `sqlite://PATH` (created if
/// missing), `sqlite::memory:`, or `postgres://USER@HOST:PORT/DB`. A backend
/// compiled out (its Cargo feature off) is a [`crate::Error::Config`] naming
/// the feature.
pub async fn connect(url: &str) -> Result<SharedStore> {
    if url.starts_with("sqlite:") {
        #[cfg(feature = "sqlite")]
        return sqlite::open(url).await;
        #[cfg(not(feature = "sqlite"))]
        return Err(compiled_out("sqlite", url));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return postgres::open(url).await;
        #[cfg(not(feature = "postgres"))]
        return Err(compiled_out("postgres", url));
    }
    Err(crate::Error::Config(format!(
        "unsupported database URL {:?}: use sqlite://PATH or postgres://USER@HOST/DB",
        crate::redact::redact_url(url)
    )))
}

/// The error for a URL whose backend this build left out.
#[allow(dead_code)]
fn compiled_out(feature: &str, url: &str) -> crate::Error {
    crate::Error::Config(format!(
        "database URL {:?} needs the {feature} backend, which this build of skynet-core \
         leaves out: build it with the Cargo feature `{feature}`",
        crate::redact::redact_url(url)
    ))
}

pub mod artifacts;
pub mod chain;
mod checkpoint;
mod checkpoint_batch;
pub(crate) mod codec;
pub mod conditions;
pub mod cursors;
pub mod dialect;
pub mod event_log;
pub mod event_log_anchors;
pub(crate) mod event_log_tail;
mod events;
pub mod initiative;
mod jobs;
pub mod keys;
pub mod ledger;
mod memory;
mod new_job;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod reports;
pub mod retention;
pub(crate) mod rules;
pub mod schedules;
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub(crate) mod stats;
mod steps;
pub use steps::step_signature;
pub mod triggers;
pub(crate) mod tx;
pub mod webhooks;
mod workers;
