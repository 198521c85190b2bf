//! The [`Skynet`] facade: plan, judge, gate, queue, run and record.

mod acting;
mod acting_chat;
mod artifacts;
mod autonomy;
mod builder;
mod check;
mod committer;
mod conditions;
mod constraints;
mod estimates;
mod events;
mod execute;
mod gc;
mod health;
mod judge;
mod memory;
mod memory_index;
mod memory_upkeep;
pub use memory::{MemoryStats, RECALL_CANDIDATES, SEARCH_CANDIDATES, SimilarTo};
pub use memory_upkeep::{REINDEX_BATCH, ReindexProgress, ReindexReport};
mod initiative;
mod report;
mod review;
mod roots;
mod runner;
mod schedule;
mod schedules;
mod slots;
mod triggers;
mod webhook_delivery;
mod webhooks;
pub mod worker;

pub use acting::Acting;
pub use acting_chat::MIN_JOB_PREFIX;
pub use artifacts::PresignedArtifact;
pub use builder::SkynetBuilder;
pub use check::{CheckRequest, Checked};
pub use conditions::{
    CONDITION_POLL, CONDITIONS_SOURCE, ConditionLimits, ConditionRound, STEP_WATCH_CONSUMER,
};
pub use constraints::{KNOWN_CONSTRAINTS, PlanConstraints};
pub use events::JobEvent;
pub use execute::{ApprovalGate, Execution, Gate, PlanReview, RunHere};
pub use health::{HealthCheck, HealthSummary, PublicComponent};
pub use initiative::{INITIATIVE_PRINCIPAL, InitiativeRound, InitiativeStatus, ProposalOutcome};
pub use report::{NextAction, Report, ReportReceipt};
pub use review::{RetryRequest, ReviewRequest};
pub use roots::confined_root;
pub use schedules::{SCHEDULE_POLL, ScheduleRound};
pub use triggers::{TRIGGER_POLL, TriggerRound};
pub use worker::{WorkerOptions, WorkerReport};

use crate::job::{Job, JobId, JobSource};
use crate::plan::Plan;
use crate::planner::Planner;
use crate::policy::{Decision, Policy, PolicyContext};
use crate::provider::Provider;
use crate::redact::Redactor;
use crate::store::{
    ChainReport, Event, JobFilter, LogLine, LogQuery, Reaped, SharedStore, StepRecord,
};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Tunables of the engine. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Queue READ_ONLY plans without a human (default true).
    pub auto_approve_read_only: bool,
    /// Lease length a worker holds on a running job (default 30 s).
    pub lease: Duration,
    /// How often a running job's lease is renewed and cancellation checked
    /// across processes (default 1 s).
    pub heartbeat: Duration,
    /// How often an idle worker polls the queue (default 500 ms).
    pub poll_interval: Duration,
    /// Claims per job before it is dead-lettered as failed (default 3).
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter (default 1 s).
    pub retry_base: Duration,
    /// Longest retry delay (default 5 min).
    pub retry_max: Duration,
    /// Per-step output cap in bytes (default 1 MiB).
    pub max_output_bytes: u64,
    /// The configured levels of the timeout hierarchy (job, step,
    /// READ_ONLY cap, per provider, per action; see [`crate::timeouts`]).
    pub timeouts: crate::timeouts::TimeoutConfig,
    /// How long a plan awaiting approval may be approved (default 24 h):
    /// after that the job's approval request has expired
    /// ([`crate::Error::ApprovalExpired`]).
    pub approval_ttl: Duration,
    /// A worker silent in the registry this long is offline (default
    /// 10 s): `skynet workers`, the sentinel and the reaper's view.
    pub worker_offline_after: Duration,
    /// What probes may reach and the Docker daemon they read containers
    /// from ([`crate::probe`]).
    pub probes: crate::probe::ProbeConfig,
    /// Size caps of artifact collection ([`crate::artifact`]).
    pub artifacts: crate::artifact::ArtifactLimits,
    /// What gc removes and how often it runs ([`crate::retention`]).
    pub retention: crate::retention::RetentionSettings,
    /// Memories kept per principal at most (default none): storing one
    /// beyond evicts that principal's unpinned memories of lowest
    /// importance ([`crate::memory::MemoryStore::evict_memories`]).
    pub memory_max: Option<u64>,
    /// When searches use the approximate vector index.
    pub memory_index: crate::memory::index::IndexSettings,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            auto_approve_read_only: true,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            poll_interval: Duration::from_millis(500),
            max_attempts: 3,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_output_bytes: 1024 * 1024,
            timeouts: crate::timeouts::TimeoutConfig::default(),
            approval_ttl: Duration::from_secs(24 * 3600),
            worker_offline_after: Duration::from_secs(10),
            probes: crate::probe::ProbeConfig::default(),
            artifacts: crate::artifact::ArtifactLimits::default(),
            retention: crate::retention::RetentionSettings::default(),
            memory_max: None,
            memory_index: crate::memory::index::IndexSettings::default(),
        }
    }
}

/// A request to plan (and maybe submit) an intent.
#[derive(Debug, Clone, Default)]
pub struct SubmitRequest {
    /// The user's words.
    pub intent: String,
    /// Sandbox root (default: the current directory, or `base`).
    pub root: Option<PathBuf>,
    /// Confine the root to this directory: `root` is taken relative to it
    /// and must lie inside it (a server confines its callers this way).
    pub base: Option<PathBuf>,
    /// Provider to run on (default: chosen by the scheduler among the
    /// candidates; see [`crate::scheduler`]).
    pub provider: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Who submits.
    pub source: JobSource,
    /// A repeated key with the same request returns the existing job; with
    /// a different request it is [`crate::Error::IdempotencyConflict`].
    /// 1 to 200 visible ASCII characters (spaces allowed), else
    /// [`crate::Error::InvalidInput`].
    pub idempotency_key: Option<String>,
    /// Whole-job time limit (default: `[limits] job_timeout`, if set).
    pub timeout: Option<Duration>,
    /// Per-step time budget: the step level of [`crate::timeouts`], over
    /// the action's and the provider's defaults (and the READ_ONLY cap).
    pub step_timeout: Option<Duration>,
    /// Context for the planner.
    pub context: BTreeMap<String, String>,
    /// Constraints for the planner.
    pub constraints: Vec<String>,
    /// Who owns the job (default: the local operator). Front-ends that
    /// serve remote callers submit through [`Skynet::acting_as`], which
    /// sets it from the caller's key.
    pub principal: crate::Principal,
    /// A dry run: the job runs on the `mock` provider, which runs nothing
    /// (any caller may ask for one; naming `mock` otherwise needs `admin`).
    pub dry_run: bool,
    /// The caller's own steps, catalog actions with their parameters (the
    /// original API's `execution_spec`): planned as given instead of by
    /// the planner, and judged by the policy like any plan. With steps,
    /// the intent may be empty.
    pub steps: Vec<crate::scheduler::SpecStep>,
    /// The original API's constraints object: a plan riskier than
    /// `max_risk` is refused, steps of the actions in
    /// `requires_approval_for` wait for a human, `time_budget_min` is the
    /// job's limit unless `timeout` is set, and its text goes to the
    /// planner with `constraints`.
    pub limits: PlanConstraints,
    /// Files the job produces to keep as artifacts (paths or glob patterns
    /// relative to the root), collected after the plan's last step.
    pub artifacts: Vec<String>,
}

impl SubmitRequest {
    /// A request for `intent` with defaults.
    pub fn new(intent: impl Into<String>) -> Self {
        SubmitRequest {
            intent: intent.into(),
            ..Default::default()
        }
    }
    /// Set the sandbox root.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }
    /// Set the source.
    pub fn source(mut self, source: JobSource) -> Self {
        self.source = source;
        self
    }

    /// The intent as recorded: the words given, else the caller's steps
    /// by action name (`run: git_status, run_tests`).
    pub fn intent_text(&self) -> String {
        let intent = self.intent.trim();
        if intent.is_empty() && !self.steps.is_empty() {
            let names: Vec<&str> = self.steps.iter().map(|s| s.action.as_str()).collect();
            return format!("run: {}", names.join(", "));
        }
        intent.to_string()
    }

    /// The whole job's limit the request asks for: its own `timeout`, else
    /// its constraints' time budget.
    pub fn job_timeout(&self) -> Option<Duration> {
        self.timeout.or(self.limits.time_budget)
    }

    /// The provider the request names: `mock` for a dry run.
    pub fn requested_provider(&self) -> Option<&str> {
        if self.dry_run {
            Some("mock")
        } else {
            self.provider.as_deref()
        }
    }
}

pub(crate) struct Inner {
    pub(crate) store: SharedStore,
    pub(crate) planner: Arc<dyn Planner>,
    /// The model behind `chat`, if one is configured.
    pub(crate) llm: Option<Arc<crate::planner::LlmPlanner>>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) providers: BTreeMap<String, Arc<dyn Provider>>,
    pub(crate) default_provider: String,
    /// Places jobs that name no provider.
    pub(crate) scheduler: crate::scheduler::Scheduler,
    pub(crate) config: EngineConfig,
    pub(crate) bus: broadcast::Sender<JobEvent>,
    pub(crate) redactor: Redactor,
    /// Provider and system health over time.
    pub(crate) sentinel: Arc<crate::sentinel::Sentinel>,
    /// Jobs running in this process, for immediate cancellation.
    pub(crate) running: Mutex<HashMap<JobId, CancellationToken>>,
    /// Remembers ended jobs; embeds memories.
    pub(crate) memory: memory::EngineMemory,
    /// Providers left out because their configuration is broken, and why.
    pub(crate) unusable: BTreeMap<String, String>,
    /// Recent step medians for plan estimates.
    pub(crate) estimates: estimates::EstimateCache,
    /// The initiative engine's settings and strategies.
    pub(crate) initiative: crate::initiative::Initiative,
    /// Webhook delivery: settings and pinned clients.
    pub(crate) webhooks: webhooks::Webhooks,
    /// Where collected artifacts are kept (`None`: they are not).
    pub(crate) artifact_store: Option<crate::artifact::SharedArtifactStore>,
}

/// The SKYNET engine. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Skynet {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Skynet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Skynet")
            .field("store", &self.inner.store.backend())
            .field("planner", &self.inner.planner.name())
            .field(
                "providers",
                &self.inner.providers.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Skynet {
    /// Start building an engine.
    pub fn builder() -> SkynetBuilder {
        SkynetBuilder::default()
    }

    /// The ledger.
    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The engine's tunables.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Registered provider names.
    pub fn provider_names(&self) -> Vec<String> {
        self.inner.providers.keys().cloned().collect()
    }

    /// The error for a provider that is not registered here: a known one
    /// that is not configured names the setting that configures it.
    pub(crate) fn unregistered_provider(&self, name: &str) -> Error {
        let canonical = crate::provider::canonical_name(name);
        if let Some(why) = self.inner.unusable.get(canonical) {
            return Error::Config(format!("provider {canonical:?} cannot be used: {why}"));
        }
        let registered = self.provider_names().join(", ");
        match crate::scheduler::configured_by(crate::provider::canonical_name(name)) {
            Some(var) => Error::InvalidInput(format!(
                "provider {name:?} is not configured: set {var} to use it (configured: {registered})"
            )),
            None => Error::InvalidInput(format!(
                "unknown provider {name:?}; registered: {registered}"
            )),
        }
    }

    /// The registered providers, by name.
    pub fn providers(&self) -> Vec<Arc<dyn Provider>> {
        self.inner.providers.values().cloned().collect()
    }

    /// The health sentinel (run it with [`crate::Sentinel::spawn`]).
    pub fn sentinel(&self) -> &Arc<crate::sentinel::Sentinel> {
        &self.inner.sentinel
    }

    /// Live events from this process (status changes, output lines).
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.bus.subscribe()
    }

    /// Classify one argv under `root` (default: current directory).
    pub fn check_command(&self, argv: &[String], root: Option<PathBuf>) -> Result<Decision> {
        let root = crate::policy::resolve_root(root)?;
        Ok(self.inner.policy.check(argv, &PolicyContext::rooted(root)))
    }

    /// Plan and judge `req` without storing anything (a dry run).
    /// A forbidden step is [`crate::Error::Forbidden`].
    pub async fn plan(&self, req: &SubmitRequest) -> Result<Plan> {
        judge::plan_and_judge(self, req).await.map(|(plan, _)| plan)
    }

    /// One job.
    pub async fn get(&self, id: &JobId) -> Result<Job> {
        self.inner.store.get_job(id).await
    }

    /// Jobs, newest first.
    pub async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        self.inner.store.list_jobs(filter).await
    }

    /// A job's step checkpoints.
    pub async fn steps(&self, id: &JobId) -> Result<Vec<StepRecord>> {
        self.inner.store.steps(id).await
    }

    /// A job's log lines.
    pub async fn logs(&self, id: &JobId, query: &LogQuery) -> Result<Vec<LogLine>> {
        self.inner.store.logs(id, query).await
    }

    /// A job's audit events, oldest first.
    pub async fn events(&self, id: &JobId) -> Result<Vec<Event>> {
        self.inner.store.events(id).await
    }

    /// A page of the global event log (the local operator sees it all).
    pub async fn event_log(
        &self,
        query: crate::store::event_log::EventLogQuery,
    ) -> Result<crate::store::event_log::EventPage> {
        let query = crate::store::event_log::EventLogQuery {
            view: crate::store::event_log::LogView::all(),
            ..query
        };
        self.inner.store.read_event_log(&query).await
    }

    /// Record a system event in the global log.
    pub async fn record_event(&self, event: &crate::events::NewSystemEvent) -> Result<()> {
        self.inner.store.record_event(event).await
    }

    /// Record an event whose loss must not undo the work it reports (the
    /// work has committed): a failure is logged for the operator instead.
    pub(crate) async fn note_event(&self, event: &crate::events::NewSystemEvent) {
        if let Err(e) = self.record_event(event).await {
            tracing::warn!(event = event.event_type().as_str(), error = %e,
                "could not record a system event");
        }
    }

    /// Verify a job's event hash chain.
    pub async fn verify_events(&self, id: &JobId) -> Result<ChainReport> {
        self.inner.store.verify_events(id).await
    }

    /// Recover jobs whose worker vanished (expired leases). Run at start-up
    /// and periodically by every worker.
    pub async fn recover(&self) -> Result<Vec<Reaped>> {
        let reaped = self.inner.store.reap_expired(chrono::Utc::now()).await?;
        for r in &reaped {
            self.publish_status(&r.job, r.status);
        }
        Ok(reaped)
    }

    /// Tell this process's listeners (workers, `wait`) a job changed status.
    pub(crate) fn publish_status(&self, job: &JobId, status: crate::JobStatus) {
        if status.is_terminal() {
            self.remember_job(job);
        }
        self.publish(JobEvent::Status {
            job: job.clone(),
            status,
        });
    }

    pub(crate) fn publish(&self, event: JobEvent) {
        // No receivers is fine: nobody is watching live.
        let _ = self.inner.bus.send(event);
    }
}
