//! The engine as one caller sees it: [`Skynet::acting_as`].
//!
//! Front-ends that serve remote callers (HTTP, Telegram) verify who is
//! calling, build a [`Grant`], and call the engine through an [`Acting`]
//! handle. Ownership rules live here, once: a caller sees, approves,
//! cancels and reports on the jobs its principal owns (all of them with
//! `read:all` or `admin`); a job it may not see is "not found", never
//! "forbidden", so ids do not leak; with separation of duties on (the
//! default) nobody approves their own principal's work but an `admin`; the
//! `mock` provider, which runs nothing, is for `admin` only.
//!
//! The plain [`Skynet`] methods act as the local operator, who sees
//! everything.

use super::{Execution, Gate, Report, ReportReceipt, RunHere, Skynet, SubmitRequest};
use crate::job::{Job, JobId};
use crate::store::keys::{Grant, Scope};
use crate::store::reports::ReportRecord;
use crate::store::{ChainReport, Event, JobFilter, LogLine, LogQuery, StepRecord};
use crate::{Error, Principal, Result, Visibility};

/// The engine acting for one caller. Cheap: it borrows the engine.
#[derive(Debug, Clone)]
pub struct Acting<'a> {
    pub(super) sk: &'a Skynet,
    grant: Grant,
    separation_of_duties: bool,
}

impl Skynet {
    /// The engine acting for `grant`, with separation of duties on.
    pub fn acting_as(&self, grant: Grant) -> Acting<'_> {
        Acting {
            sk: self,
            grant,
            separation_of_duties: true,
        }
    }
}

impl Acting<'_> {
    /// Turn separation of duties on or off (on by default): when on, a job
    /// is approved only by another principal than the one that submitted
    /// it, or by an `admin`.
    pub fn separation_of_duties(mut self, on: bool) -> Self {
        self.separation_of_duties = on;
        self
    }

    /// The caller.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Whose jobs the caller sees.
    pub fn visibility(&self) -> Visibility {
        self.grant.visibility()
    }

    /// Whether the caller sees `job`.
    pub fn sees(&self, job: &Job) -> bool {
        self.visibility().admits(&job.principal)
    }

    fn is_admin(&self) -> bool {
        self.grant.allows(Scope::Admin)
    }

    /// The job, if the caller may see it ([`Error::JobNotFound`] otherwise,
    /// as if it did not exist).
    pub async fn get(&self, id: &JobId) -> Result<Job> {
        let job = self.sk.get(id).await?;
        if self.sees(&job) {
            Ok(job)
        } else {
            Err(Error::JobNotFound(id.to_string()))
        }
    }

    /// The caller's jobs (everyone's with `read:all`), filtered in the
    /// store's query.
    pub async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let mut filter = filter.clone();
        filter.principal = self.visibility().only().cloned();
        self.sk.list(&filter).await
    }

    /// A visible job's step checkpoints.
    pub async fn steps(&self, id: &JobId) -> Result<Vec<StepRecord>> {
        self.get(id).await?;
        self.sk.steps(id).await
    }

    /// A visible job's output.
    pub async fn logs(&self, id: &JobId, query: &LogQuery) -> Result<Vec<LogLine>> {
        self.get(id).await?;
        self.sk.logs(id, query).await
    }

    /// A visible job's events.
    pub async fn events(&self, id: &JobId) -> Result<Vec<Event>> {
        self.get(id).await?;
        self.sk.events(id).await
    }

    /// What part of the global event log the caller sees: its own jobs'
    /// events, and system events only with `read:all` or `admin`.
    pub fn log_view(&self) -> crate::store::event_log::LogView {
        crate::store::event_log::LogView {
            jobs: self.visibility(),
            system: self.grant.allows(Scope::ReadAll),
        }
    }

    /// A page of the global event log as the caller sees it (a job it may
    /// not see is "not found").
    pub async fn event_log(
        &self,
        query: crate::store::event_log::EventLogQuery,
    ) -> Result<crate::store::event_log::EventPage> {
        if let Some(id) = &query.job {
            self.get(id).await?;
        }
        let query = crate::store::event_log::EventLogQuery {
            view: self.log_view(),
            ..query
        };
        self.sk.store().read_event_log(&query).await
    }

    /// Verify a visible job's event chain.
    pub async fn verify_events(&self, id: &JobId) -> Result<ChainReport> {
        self.get(id).await?;
        self.sk.verify_events(id).await
    }

    /// Up to `limit` events after `after_seq` of one visible job or of
    /// every job the caller sees, with the last seq read (the position to
    /// resume from, which moves past other principals' events too).
    pub async fn events_after(
        &self,
        job: Option<&JobId>,
        after_seq: i64,
        limit: u32,
    ) -> Result<(Vec<Event>, i64)> {
        if let Some(id) = job {
            self.get(id).await?;
        }
        let page = self.sk.store().events_after(job, after_seq, limit).await?;
        let last = page.last().map_or(after_seq, |e| e.seq);
        let Some(me) = self.visibility().only().cloned() else {
            return Ok((page, last));
        };
        if job.is_some() {
            return Ok((page, last));
        }
        let mut ids: Vec<JobId> = page.iter().map(|e| e.job_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let mine: std::collections::HashSet<JobId> = self
            .sk
            .store()
            .job_principals(&ids)
            .await?
            .into_iter()
            .filter(|(_, owner)| *owner == me)
            .map(|(id, _)| id)
            .collect();
        let events = page
            .into_iter()
            .filter(|e| mine.contains(&e.job_id))
            .collect();
        Ok((events, last))
    }

    /// The request as the caller may make it: owned by the caller's
    /// principal; the `mock` provider (which runs nothing yet reports
    /// success) only for `admin` or as an explicit dry run.
    fn own(&self, req: &SubmitRequest) -> Result<SubmitRequest> {
        let mut req = req.clone();
        req.principal = self.grant.principal.clone();
        if req.dry_run {
            return Ok(req);
        }
        let mock = req
            .provider
            .as_deref()
            .is_some_and(|p| crate::provider::canonical_name(p) == "mock");
        if mock && !self.is_admin() {
            return Err(Error::NotPermitted(
                "the `mock` provider runs nothing and reports success, so only an `admin` key \
                 may choose it; ask for a dry run (`dry_run: true`) instead, name a real \
                 provider, or leave the choice to the scheduler"
                    .into(),
            ));
        }
        Ok(req)
    }

    /// [`Skynet::submit`] for the caller: the job is the caller's, and an
    /// idempotency key is the caller's alone.
    pub async fn submit(&self, req: &SubmitRequest) -> Result<Job> {
        self.sk.submit(self.own(req)?).await
    }

    /// [`Skynet::review`] for the caller: planned with the caller's own
    /// history (estimates, similar past runs, warnings), nothing stored.
    pub async fn review(&self, req: &SubmitRequest) -> Result<crate::engine::PlanReview> {
        let mut req = req.clone();
        req.principal = self.grant.principal.clone();
        self.sk.review(&req).await
    }

    /// [`Skynet::start`] for the caller.
    pub async fn start(&self, req: &SubmitRequest, gate: &Gate) -> Result<Job> {
        self.sk.start(&self.own(req)?, gate).await
    }

    /// [`Skynet::execute`] for the caller.
    pub async fn execute(
        &self,
        req: &SubmitRequest,
        gate: &Gate,
        run: &RunHere,
    ) -> Result<Execution> {
        self.sk.execute(&self.own(req)?, gate, run).await
    }

    /// Approve a visible job's plan. With separation of duties on, the
    /// principal that submitted the job cannot approve it unless it holds
    /// `admin`.
    pub async fn approve(&self, id: &JobId, plan_hash: &str) -> Result<Job> {
        let job = self.get(id).await?;
        self.may_approve(&job)?;
        self.sk.approve(id, plan_hash, &self.grant.actor).await
    }

    /// Separation of duties: with it on, the principal that submitted
    /// `job` cannot approve it (nor requeue it on review) unless it holds
    /// `admin`.
    pub(super) fn may_approve(&self, job: &Job) -> Result<()> {
        if self.separation_of_duties && job.principal == self.grant.principal && !self.is_admin() {
            return Err(Error::NotPermitted(format!(
                "separation of duties: job {} was submitted by {}, so another principal (or an \
                 admin) must approve it",
                job.id, job.principal
            )));
        }
        Ok(())
    }

    /// Deny a visible job's plan.
    pub async fn deny(&self, id: &JobId, reason: Option<String>) -> Result<Job> {
        self.get(id).await?;
        self.sk.deny(id, reason, &self.grant.actor).await
    }

    /// Cancel a visible job.
    pub async fn cancel(&self, id: &JobId) -> Result<Job> {
        self.get(id).await?;
        self.sk.cancel(id, &self.grant.actor).await
    }

    /// Record a report for the caller, kept under its request id. It is
    /// linked to the job the request id names when the caller may report
    /// on it: its principal's own job, or any job with the `gateway` or
    /// `admin` scope. A visible job of another principal is
    /// [`Error::NotPermitted`]; an id the caller cannot see is treated like
    /// any other request id (kept unlinked), so it tells nothing about
    /// other principals' jobs.
    pub async fn record_report(&self, report: &Report) -> Result<ReportReceipt> {
        let job = match report.job_id() {
            Some(id) if self.grant.allows(Scope::Gateway) => self.sk.find(&id).await?,
            Some(id) => match self.sk.find(&id).await?.filter(|j| self.sees(j)) {
                Some(job) if job.principal != self.grant.principal => {
                    return Err(Error::NotPermitted(format!(
                        "job {id} belongs to another principal: only its own principal or a \
                         `gateway` key may report on it"
                    )));
                }
                found => found,
            },
            None => None,
        };
        self.sk
            .keep_report(
                report,
                job.as_ref(),
                &self.grant.principal,
                &self.grant.actor,
            )
            .await
    }

    /// The caller's reports under `request_id`, oldest first.
    pub async fn reports(&self, request_id: &str) -> Result<Vec<ReportRecord>> {
        self.sk
            .store()
            .reports(&self.grant.principal, request_id)
            .await
    }

    /// The caller's principal.
    pub fn principal(&self) -> &Principal {
        &self.grant.principal
    }
}

// Memory (engine/memory.rs) acts through the engine and the grant.
impl Acting<'_> {
    /// The engine this acts on.
    pub(crate) fn engine(&self) -> &Skynet {
        self.sk
    }
}
