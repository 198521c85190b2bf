//! The one error type of `skynet-core`; every front-end maps it the same way.

use crate::job::{JobId, JobStatus};
use crate::policy::Decision;

/// A cause kept as an error's source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in SKYNET, by kind.
///
/// Front-ends map each variant to one exit code / HTTP status / Python
/// exception via [`Error::kind`], so they cannot disagree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input is unusable (empty intent, bad flag value, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A request named an action the catalog does not have.
    #[error(
        "unknown action {name:?}; the closest catalog actions are {}; list the catalog actions to see them all",
        .closest.join(", ")
    )]
    UnknownAction {
        /// The name asked for.
        name: String,
        /// The closest catalog names, best first.
        closest: Vec<String>,
    },
    /// The planner could not turn the intent into a plan.
    #[error("planning failed: {0}")]
    Planning(String),
    /// The policy engine forbids a step; it never runs, whoever approves.
    #[error("forbidden by policy: {}", .decision.explain())]
    Forbidden {
        /// The decision that forbade it.
        decision: Box<Decision>,
    },
    /// A rules file could not be loaded.
    #[error("policy rules: {0}")]
    PolicyRules(String),
    /// The job needs a human approval first.
    #[error("job {0} needs a human approval of its plan before it runs")]
    ApprovalRequired(JobId),
    /// A plan that needs a human was asked to run without one
    /// ([`crate::engine::Gate::AutoOnly`]); nothing was recorded.
    #[error(
        "plan {} is {risk}: it needs a human approval, so it cannot run without one",
        short(.hash)
    )]
    PlanNeedsApproval {
        /// The plan's hash.
        hash: String,
        /// Its overall risk.
        risk: crate::RiskLevel,
        /// The first step decision that asks for a human, if one does.
        gate: Option<Box<Decision>>,
    },
    /// An approval named a plan hash that is not the job's current plan.
    // The message never shows the current hash: a caller that may approve
    // but not read the job must not learn it from the refusal.
    #[error(
        "stale approval for job {job}: plan {given} is not the job's current plan; read the \
         job again and approve the plan it shows now"
    )]
    StaleApproval {
        /// The job.
        job: JobId,
        /// The hash the approver saw.
        given: String,
        /// The job's current plan hash.
        actual: String,
    },
    /// The job's request for approval lapsed: its plan can no longer be
    /// approved (deny it, or submit the intent again for a fresh plan).
    #[error(
        "the approval request for job {job} expired at {expired_at}: approve a plan within \
         approval_ttl of its planning; deny this job and submit the intent again for a fresh plan"
    )]
    ApprovalExpired {
        /// The job.
        job: JobId,
        /// When the request lapsed.
        expired_at: chrono::DateTime<chrono::Utc>,
    },
    /// The caller may not do this to this job (separation of duties, the
    /// `mock` provider without `admin`, a report on someone else's job).
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// No job with this id.
    #[error("job {0} not found")]
    JobNotFound(String),
    /// No schedule with this id (or none the caller may see).
    #[error("schedule {0} not found")]
    ScheduleNotFound(String),
    /// No trigger with this id (or none the caller may see).
    #[error("trigger {0} not found")]
    TriggerNotFound(String),
    /// No webhook endpoint with this id (or none the caller may see).
    #[error("webhook {0} not found")]
    WebhookNotFound(String),
    /// No webhook delivery with this id (or none the caller may see).
    #[error("webhook delivery {0} not found")]
    DeliveryNotFound(String),
    /// A state change the transition table does not allow.
    #[error("{}", transition_words(job, *from, *to))]
    InvalidTransition {
        /// The job.
        job: JobId,
        /// Its current status.
        from: JobStatus,
        /// The refused target status.
        to: JobStatus,
    },
    /// A review was asked of a job that is not waiting for one.
    #[error(
        "job {job} is {status}, not needs_review: only a job whose worker was lost during a \
         WRITE/ADMIN step waits for a review"
    )]
    NotUnderReview {
        /// The job.
        job: JobId,
        /// Its current status.
        status: JobStatus,
    },
    /// A retry was asked of a job that has not finished.
    #[error("{}", not_finished(.job, *.status))]
    NotFinished {
        /// The job.
        job: JobId,
        /// Its current status.
        status: JobStatus,
    },
    /// The worker's lease on the job is gone (expired, reaped or cancelled):
    /// its result is refused.
    #[error("lease lost on job {0}: another worker or the reaper owns it now")]
    LeaseLost(JobId),
    /// A duplicate id or similar conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An idempotency key already used for a different request: the
    /// request is refused (the same request again returns the first job).
    #[error(
        "idempotency key {key:?} was already used for a different request (job {job}); use a fresh key"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The job the key's first request made.
        job: JobId,
    },
    /// The execution provider failed (not the command: the provider itself).
    #[error("provider {provider}: {message}")]
    Provider {
        /// Provider name.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// A provider was handed a pipeline (programs connected by pipes,
    /// [`crate::plan::Command::pipe`]) but does not run pipelines; nothing
    /// ran. The scheduler places pipelines only on providers that run them
    /// ([`crate::provider::Provider::runs_pipelines`]).
    #[error(
        "provider {provider} does not run pipelines (`a | b`): {why}; run the step on a provider that does, such as local"
    )]
    PipelineUnsupported {
        /// Provider name.
        provider: String,
        /// Why it cannot.
        why: String,
    },
    /// The memory embedder (a vendor's embedding API, a local model)
    /// failed or answered something unusable; nothing was stored. The
    /// message never carries an API key.
    #[error("embedder {embedder}: {message}")]
    Embedder {
        /// Which embedder (`openai`, `gemini`, `minilm`).
        embedder: String,
        /// What went wrong, and what to change.
        message: String,
    },
    /// No provider can run the work now: every candidate lacks a required
    /// action or is unhealthy, and there is no usable fallback.
    #[error("no eligible provider: {0}")]
    NoEligibleProvider(String),
    /// An SSH host did not present the key recorded for it in the
    /// known_hosts file (unknown host or changed key); nothing was sent.
    #[error("host key of {host} rejected: {problem}")]
    HostKeyRejected {
        /// `host:port`.
        host: String,
        /// What was wrong with the key.
        problem: crate::provider::ssh::HostKeyProblem,
    },
    /// A wait or a step ran out of time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The job or step was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A configuration file could not be read or parsed; the cause is the
    /// source.
    #[error("configuration: {what}: {source}")]
    ConfigFile {
        /// Which file (`/etc/skynet.toml`, `telegram token file ...`).
        what: String,
        /// The I/O or parse error.
        #[source]
        source: BoxError,
    },
    /// No artifact of this name on the job (or the job is not the caller's).
    #[error("job {job} has no artifact named {name:?}")]
    ArtifactNotFound {
        /// The job.
        job: JobId,
        /// The name asked for.
        name: String,
    },
    /// A stored artifact object no longer matches the SHA-256 it was
    /// stored under: it is not served.
    #[error(
        "artifact object {sha256} fails its checksum ({problem}): it is not served; restore \
         the artifact store from a backup or delete the artifact"
    )]
    ArtifactCorrupt {
        /// The digest it was stored under.
        sha256: String,
        /// What does not match.
        problem: String,
    },
    /// The artifact store itself failed (disk, object storage) while
    /// `doing` something; the cause is the source.
    #[error("artifact store: {doing}: {source}")]
    ArtifactStorage {
        /// What the store was doing.
        doing: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The artifact store's service refused SKYNET (a bucket that does not
    /// exist, credentials it does not accept) while `doing` something:
    /// nothing was stored or served, and the operator must fix the settings.
    #[error("artifact store: {doing}: {problem}")]
    ArtifactAccess {
        /// What the store was doing.
        doing: String,
        /// What is wrong, and what to change.
        problem: ArtifactAccessProblem,
        /// The service's answer.
        #[source]
        source: BoxError,
    },
    /// The ledger failed.
    #[error("store: {0}")]
    Store(String),
    /// The ledger failed while `doing` something; the cause (driver, JSON,
    /// migration) is the source.
    #[error("store: {doing}: {source}")]
    StoreCause {
        /// What the store was doing (`opening /var/lib/skynet/ledger.db`).
        doing: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A ledger query failed while doing `context`; the driver's error is
    /// the source, so callers can inspect it (`std::error::Error::source`).
    #[error("store: {context}: {source}")]
    Query {
        /// What the store was doing (`inserting a job`).
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database driver failed (the driver's error is the source).
    #[error("store: {0}")]
    Database(#[source] sqlx::Error),
    /// The store's schema could not be migrated.
    #[error("store: migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// Local I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a job cannot be retried yet, in words.
fn not_finished(job: &JobId, status: JobStatus) -> String {
    if status == JobStatus::NeedsReview {
        format!(
            "job {job} waits for a review, so it has not finished: resolve the review (requeue, \
             fail or mark succeeded) before submitting it again"
        )
    } else {
        format!(
            "job {job} is {status} and has not finished: only a finished job can be submitted \
             again (wait for it, or cancel it first)"
        )
    }
}

/// A plan hash as messages show it: its first 12 hex digits.
fn short(hash: &str) -> &str {
    hash.get(..crate::plan::MIN_HASH_PREFIX).unwrap_or(hash)
}

/// Why an artifact store's service refused SKYNET.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArtifactAccessProblem {
    /// The bucket does not exist.
    NoSuchBucket {
        /// The bucket configured.
        bucket: String,
    },
    /// The service did not accept the credentials, or they may not do this.
    CredentialsRefused,
}

impl std::fmt::Display for ArtifactAccessProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactAccessProblem::NoSuchBucket { bucket } => write!(
                f,
                "bucket {bucket:?} does not exist; create it, or set SKYNET_ARTIFACT_S3_BUCKET \
                 to one that does"
            ),
            ArtifactAccessProblem::CredentialsRefused => f.write_str(
                "the service refused the credentials; check AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and the bucket's permissions",
            ),
        }
    }
}

/// Coarse error kinds with stable string codes, for front-ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input or configuration.
    InvalidInput,
    /// Planning failed.
    Planning,
    /// Forbidden by policy.
    Forbidden,
    /// Needs approval or approval refused.
    ApprovalRequired,
    /// Approval named the wrong plan.
    StaleApproval,
    /// The caller may not do this (ownership, separation of duties).
    NotPermitted,
    /// Unknown job.
    NotFound,
    /// Illegal state change or conflict.
    Conflict,
    /// Lease lost.
    LeaseLost,
    /// Provider failure.
    Provider,
    /// Timeout.
    Timeout,
    /// Cancelled.
    Cancelled,
    /// Storage or I/O failure.
    Internal,
}

/// A refused state change in words: where the job is and why the change
/// does not apply to it (not "queued; it cannot become queued").
fn transition_words(job: &JobId, from: JobStatus, to: JobStatus) -> String {
    use JobStatus::*;
    let asked = match to {
        Queued => "approved",
        Denied => "denied",
        Cancelled => "cancelled",
        Running => "started",
        Planned => "planned again",
        _ => "changed",
    };
    match (from, to) {
        (NeedsReview, _) => format!(
            "job {job} is waiting for a review (a step that may have changed things was interrupted), so it cannot be {asked}; resolve the review first"
        ),
        (Queued | Running, Queued) => {
            format!("job {job} is {from}: its plan was approved already; nothing changed")
        }
        (f, t) if f == t => format!("job {job} is already {f}; nothing changed"),
        (f, _) if f.is_terminal() => {
            format!("job {job} has already ended ({f}); a finished job cannot be {asked}")
        }
        (_, Queued | Denied) => {
            format!("job {job} is {from}: only a job waiting for approval (planned) can be {asked}")
        }
        _ => format!("job {job} is {from} and cannot be {asked} now"),
    }
}

impl ErrorKind {
    /// Stable machine-readable code (used in JSON errors).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Planning => "planning_failed",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::ApprovalRequired => "approval_required",
            ErrorKind::StaleApproval => "stale_approval",
            ErrorKind::NotPermitted => "not_permitted",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::LeaseLost => "lease_lost",
            ErrorKind::Provider => "provider_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput(_)
            | Error::UnknownAction { .. }
            | Error::PolicyRules(_)
            | Error::Config(_)
            | Error::ConfigFile { .. } => ErrorKind::InvalidInput,
            Error::Planning(_) => ErrorKind::Planning,
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::ApprovalRequired(_) | Error::PlanNeedsApproval { .. } => {
                ErrorKind::ApprovalRequired
            }
            Error::StaleApproval { .. } => ErrorKind::StaleApproval,
            Error::NotPermitted(_) => ErrorKind::NotPermitted,
            Error::JobNotFound(_)
            | Error::ScheduleNotFound(_)
            | Error::TriggerNotFound(_)
            | Error::WebhookNotFound(_)
            | Error::DeliveryNotFound(_)
            | Error::ArtifactNotFound { .. } => ErrorKind::NotFound,
            Error::InvalidTransition { .. }
            | Error::NotUnderReview { .. }
            | Error::NotFinished { .. }
            | Error::Conflict(_)
            | Error::IdempotencyConflict { .. }
            | Error::ApprovalExpired { .. } => ErrorKind::Conflict,
            Error::LeaseLost(_) => ErrorKind::LeaseLost,
            Error::Provider { .. }
            | Error::HostKeyRejected { .. }
            | Error::PipelineUnsupported { .. }
            | Error::Embedder { .. }
            | Error::NoEligibleProvider(_) => ErrorKind::Provider,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Store(_)
            | Error::ArtifactCorrupt { .. }
            | Error::ArtifactStorage { .. }
            | Error::ArtifactAccess { .. }
            | Error::StoreCause { .. }
            | Error::Query { .. }
            | Error::Database(_)
            | Error::Migration(_)
            | Error::Io(_) => ErrorKind::Internal,
        }
    }

    /// The policy decision behind a refusal, when there is one.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Error::Forbidden { decision } => Some(decision),
            Error::PlanNeedsApproval { gate, .. } => gate.as_deref(),
            _ => None,
        }
    }

    /// The job an error is about, when it names one.
    pub fn job(&self) -> Option<&JobId> {
        match self {
            Error::ApprovalRequired(id) | Error::LeaseLost(id) => Some(id),
            Error::StaleApproval { job, .. }
            | Error::InvalidTransition { job, .. }
            | Error::NotUnderReview { job, .. }
            | Error::NotFinished { job, .. }
            | Error::IdempotencyConflict { job, .. }
            | Error::ApprovalExpired { job, .. } => Some(job),
            _ => None,
        }
    }

    /// [`Error::StoreCause`]: the ledger failed while `doing`, because of
    /// `source`.
    pub fn store(doing: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::StoreCause {
            doing: doing.into(),
            source: source.into(),
        }
    }

    /// [`Error::ArtifactStorage`]: the artifact store failed while `doing`,
    /// because of `source`.
    pub fn artifact_storage(doing: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::ArtifactStorage {
            doing: doing.into(),
            source: source.into(),
        }
    }

    /// [`Error::ConfigFile`]: `what` could not be read or parsed.
    pub fn config_file(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::ConfigFile {
            what: what.into(),
            source: source.into(),
        }
    }

    /// Internals (storage, I/O) whose text is for the operator's log, not
    /// for a remote caller.
    pub fn is_internal(&self) -> bool {
        self.kind() == ErrorKind::Internal
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migration(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_keeps_its_cause_and_its_words() {
        let cause = std::io::Error::other("disk full");
        let e = Error::store("opening ledger.db", cause);
        assert_eq!(e.to_string(), "store: opening ledger.db: disk full");
        let source = std::error::Error::source(&e).expect("the cause is kept");
        assert_eq!(source.to_string(), "disk full");
        assert!(e.is_internal());
        let e = Error::config_file("/etc/skynet.toml", std::io::Error::other("denied"));
        assert_eq!(e.to_string(), "configuration: /etc/skynet.toml: denied");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn refused_transitions_say_what_happened_in_words() {
        let job = JobId::new();
        let say = |from, to| {
            Error::InvalidTransition {
                job: job.clone(),
                from,
                to,
            }
            .to_string()
        };
        assert_eq!(
            say(JobStatus::Queued, JobStatus::Queued),
            format!("job {job} is queued: its plan was approved already; nothing changed")
        );
        assert_eq!(
            say(JobStatus::Cancelled, JobStatus::Cancelled),
            format!("job {job} is already cancelled; nothing changed")
        );
        assert_eq!(
            say(JobStatus::Succeeded, JobStatus::Cancelled),
            format!("job {job} has already ended (succeeded); a finished job cannot be cancelled")
        );
        assert_eq!(
            say(JobStatus::Queued, JobStatus::Denied),
            format!("job {job} is queued: only a job waiting for approval (planned) can be denied")
        );
        assert!(say(JobStatus::NeedsReview, JobStatus::Queued).contains("waiting for a review"));
        for (from, to) in [
            (JobStatus::Queued, JobStatus::Queued),
            (JobStatus::Failed, JobStatus::Queued),
        ] {
            assert!(!say(from, to).contains("cannot become"), "{from} -> {to}");
        }
    }
}
