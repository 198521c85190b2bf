//! After a run: resolving a job a lost worker left in `needs_review`
//! ([`Skynet::resolve_review`]) and submitting a finished job's plan again
//! ([`Skynet::retry`]).

use super::judge::{approval_of, judge_plan};
use super::{Acting, Skynet, SubmitRequest};
use crate::job::{Job, JobId, JobSource, JobStatus, ReviewResolution};
use crate::store::Review;
use crate::{Error, Principal, Result};
use std::path::PathBuf;
use std::time::Duration;

/// Longest review reason accepted, in bytes.
const MAX_REASON_BYTES: usize = 2048;

/// How a human resolves a job in `needs_review`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRequest {
    /// Requeue, fail or mark succeeded.
    pub resolution: ReviewResolution,
    /// Why, in the reviewer's words (kept in the job's events).
    pub reason: Option<String>,
    /// The plan hash the reviewer saw (full, or a prefix of at least
    /// [`crate::plan::MIN_HASH_PREFIX`] hex digits). A requeue needs it:
    /// queueing needs a fresh approval bound to the plan. Other
    /// resolutions check it when given.
    pub plan_hash: Option<String>,
}

impl ReviewRequest {
    /// A request for `resolution`, with no reason and no plan hash.
    pub fn new(resolution: ReviewResolution) -> Self {
        ReviewRequest {
            resolution,
            reason: None,
            plan_hash: None,
        }
    }
}

/// How a finished job is submitted again; everything else (intent, plan,
/// root, provider, priority, time budget) comes from the original.
#[derive(Debug, Clone, Default)]
pub struct RetryRequest {
    /// Who submits the retry.
    pub source: JobSource,
    /// Confine the original's root to this directory again, as
    /// [`SubmitRequest::base`] does (a server's callers).
    pub base: Option<PathBuf>,
    /// Who owns the new job (default: the local operator; an
    /// [`Acting`] caller's own principal).
    pub principal: Principal,
    /// Who asked, for the original job's audit trail.
    pub actor: String,
}

impl Skynet {
    /// Resolve a job a lost worker left in `needs_review`, as `actor` (the
    /// local operator): requeue it (with `req.plan_hash`, a fresh approval
    /// of its plan; it resumes at the interrupted step), fail it, or mark
    /// it succeeded. Who, why and the resolution go into the job's status
    /// event. A job in any other status is [`Error::NotUnderReview`]; a
    /// wrong or stale hash is [`Error::StaleApproval`]; a refusal changes
    /// nothing.
    pub async fn resolve_review(
        &self,
        id: &JobId,
        req: &ReviewRequest,
        actor: &str,
    ) -> Result<Job> {
        self.resolve_review_as(id, req, actor, &Principal::local())
            .await
    }

    async fn resolve_review_as(
        &self,
        id: &JobId,
        req: &ReviewRequest,
        actor: &str,
        principal: &Principal,
    ) -> Result<Job> {
        if actor.trim().is_empty() {
            return Err(Error::InvalidInput("the reviewer's name is empty".into()));
        }
        let reason = self.review_reason(req.reason.as_deref())?;
        let job = self.inner.store.get_job(id).await?;
        if job.status != JobStatus::NeedsReview {
            return Err(Error::NotUnderReview {
                job: id.clone(),
                status: job.status,
            });
        }
        let plan_hash = match &req.plan_hash {
            Some(given) => Some(approval_of(&job, given, actor)?.plan_hash),
            None => None,
        };
        let review = Review {
            resolution: req.resolution,
            reviewer: actor.trim().to_string(),
            principal: principal.clone(),
            reason,
            plan_hash,
        };
        let job = self.inner.store.resolve_review(id, &review).await?;
        self.publish_status(&job.id, job.status);
        Ok(job)
    }

    /// A review's reason as recorded: trimmed, bounded, secrets redacted
    /// (it goes into the audit trail and, on a failure, the job's error).
    fn review_reason(&self, reason: Option<&str>) -> Result<Option<String>> {
        let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        if reason.len() > MAX_REASON_BYTES {
            return Err(Error::InvalidInput(format!(
                "the review reason is {} bytes; the limit is {MAX_REASON_BYTES}",
                reason.len()
            )));
        }
        Ok(Some(self.inner.redactor.redact(reason)))
    }

    /// Submit finished job `id`'s plan again as a new job that names it
    /// (`retry_of`). The plan is judged again by the policy in force now:
    /// a step it forbids refuses the retry ([`Error::Forbidden`], nothing
    /// stored), and a step's risk is never lower than it was. A READ_ONLY
    /// plan is queued at once as on submit; anything riskier waits for an
    /// approval of the new plan. A job that has not finished (or waits for
    /// a review) is [`Error::NotFinished`].
    pub async fn retry(&self, id: &JobId, req: &RetryRequest) -> Result<Job> {
        let original = self.inner.store.get_job(id).await?;
        if !original.status.is_terminal() || original.status == JobStatus::NeedsReview {
            return Err(Error::NotFinished {
                job: id.clone(),
                status: original.status,
            });
        }
        let Some(mut plan) = original.plan.clone() else {
            return Err(Error::InvalidInput(format!(
                "job {id} ended before it had a plan, so there is nothing to run again; submit \
                 its intent instead"
            )));
        };
        let root = match &req.base {
            Some(base) => super::roots::confined_root(base, Some(&original.root))?,
            None => crate::policy::resolve_root(Some(original.root.clone()))?,
        };
        // Judged afresh: the old decisions are dropped and each step's
        // risk is at least what the policy says now. Time limits stay as
        // the original's request set them.
        for step in &mut plan.steps {
            step.decision = None;
        }
        judge_plan(self, &mut plan, &root)?;
        let submit = SubmitRequest {
            intent: original.intent.clone(),
            root: Some(root.clone()),
            provider: Some(original.provider.clone()),
            priority: original.priority,
            source: req.source,
            timeout: original.timeout_ms.map(Duration::from_millis),
            principal: req.principal.clone(),
            ..SubmitRequest::default()
        };
        let placed = self.place(&plan, Some(&original.provider)).await?;
        let auto = self.runs_unasked(&plan, &placed).await;
        let mut job = self.new_job(&submit, plan, root, placed.provider.clone(), auto);
        job.retry_of = Some(original.id.clone());
        let job = self.insert_new(job, &submit, placed).await?;
        // The new job names its original in its first event; the
        // original's trail names the retry too (best effort: the link
        // that counts is already committed).
        let note = serde_json::json!({
            "retry": job.id.as_str(),
            "actor": req.actor,
            "principal": req.principal.as_str(),
        });
        if let Err(e) = self.inner.store.append_event(id, "retried", note).await {
            tracing::warn!(job = %id, retry = %job.id, error = %e, "could not note the retry on the original job");
        }
        Ok(job)
    }
}

impl Acting<'_> {
    /// [`Skynet::resolve_review`] of a visible job, recorded as the
    /// caller. A requeue is an approval, so separation of duties applies to
    /// it as to [`Acting::approve`].
    pub async fn resolve_review(&self, id: &JobId, req: &ReviewRequest) -> Result<Job> {
        let job = self.get(id).await?;
        if req.resolution == ReviewResolution::Requeue {
            self.may_approve(&job)?;
        }
        let grant = self.grant();
        self.sk
            .resolve_review_as(id, req, &grant.actor, &grant.principal)
            .await
    }

    /// [`Skynet::retry`] of a visible job: the new job is the caller's.
    pub async fn retry(&self, id: &JobId, req: &RetryRequest) -> Result<Job> {
        self.get(id).await?;
        let req = RetryRequest {
            principal: self.grant().principal.clone(),
            actor: self.grant().actor.clone(),
            ..req.clone()
        };
        self.sk.retry(id, &req).await
    }
}
