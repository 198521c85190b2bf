//! The initiative engine in the engine: its loop, one round, one proposal
//! through the normal pipeline, its status and its kill switch.

use super::{Skynet, SubmitRequest};
use crate::clock::SharedClock;
use crate::initiative::{Proposal, SystemState};
use crate::job::{Job, JobOrigin, JobSource, JobStatus};
use crate::principal::Principal;
use crate::sentinel::HealthStatus;
use crate::store::initiative::{InitiativeBudget, InitiativeUsage, Refusal};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The principal that owns initiative jobs (so whoever approves one is
/// never its submitter).
pub const INITIATIVE_PRINCIPAL: &str = "initiative";

/// The initiative engine's state as `skynet initiative status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitiativeStatus {
    /// Whether this process runs the loop (the setting).
    pub enabled: bool,
    /// Time between rounds, in seconds.
    pub interval_secs: u64,
    /// The budgets.
    pub budget: InitiativeBudget,
    /// The kill switch and what the budgets have used.
    pub usage: InitiativeUsage,
}

/// What became of one proposal.
#[derive(Debug, Clone)]
pub enum ProposalOutcome {
    /// A READ_ONLY plan, queued at once.
    Started(Box<Job>),
    /// A riskier plan (or auto-approval is off): waiting for a human.
    Waiting(Box<Job>),
    /// Not made: the kill switch, a budget, or a pending duplicate.
    Skipped(Refusal),
    /// Planning or the policy refused the intent.
    Refused(String),
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitiativeRound {
    /// The kill switch was set: nothing was read or proposed.
    pub paused: bool,
    /// Jobs queued at once (READ_ONLY).
    pub started: usize,
    /// Jobs left waiting for approval.
    pub waiting: usize,
    /// Proposals not made (kill switch, budgets, duplicates), by reason.
    pub skipped: Vec<Refusal>,
    /// Proposals planning or the policy refused.
    pub refused: usize,
}

/// What the initiative decided about one proposal, as announced.
enum InitiativeNews<'a> {
    Proposed(&'a Job),
    Started(&'a Job),
    Skipped(&'a str),
    BudgetExhausted(Refusal, &'a InitiativeBudget),
}

impl Skynet {
    /// The initiative's decisions as events in the global log (and the
    /// operator's log), each in its own write: the skipped ones. A job's
    /// `initiative.proposed` / `initiative.started` are recorded with the
    /// job instead (see [`initiative_event`]).
    async fn announce_initiative(
        &self,
        kind: InitiativeNews<'_>,
        strategy: &str,
        proposal: &Proposal,
    ) {
        trace_initiative(&kind, strategy, proposal);
        self.note_event(&initiative_event(&kind, strategy, proposal))
            .await;
    }

    /// The initiative engine's settings, kill switch and budget use.
    pub async fn initiative_status(&self) -> Result<InitiativeStatus> {
        self.initiative_status_at(Utc::now()).await
    }

    /// [`Skynet::initiative_status`] as of `now`.
    pub async fn initiative_status_at(&self, now: DateTime<Utc>) -> Result<InitiativeStatus> {
        let config = &self.inner.initiative.config;
        Ok(InitiativeStatus {
            enabled: config.enabled,
            interval_secs: config.interval.as_secs(),
            budget: config.budget,
            usage: self.inner.store.initiative_usage(now).await?,
        })
    }

    /// Set (`true`) or clear the kill switch in the ledger: every process's
    /// loop stops proposing at its next round, and no proposal in flight
    /// gets past the switch (it is checked again under the budget's lock).
    pub async fn set_initiative_paused(&self, paused: bool, by: &str) -> Result<InitiativeStatus> {
        if by.trim().is_empty() {
            return Err(Error::InvalidInput(
                "say who pauses or resumes the initiative".into(),
            ));
        }
        self.inner
            .store
            .set_initiative_paused(paused, by.trim())
            .await?;
        tracing::info!(paused, by, "initiative kill switch changed");
        self.initiative_status().await
    }

    /// What the initiative engine sees of the system as of `now`.
    pub async fn system_state(&self, now: DateTime<Utc>) -> Result<SystemState> {
        let store = &self.inner.store;
        let counts = store.count_jobs_by_status().await?;
        let count = |s: JobStatus| crate::store::jobs_in(&counts, s);
        let hour_ago = now - chrono::Duration::hours(1);
        let failures = store
            .list_jobs(&crate::store::JobFilter {
                statuses: vec![JobStatus::Failed, JobStatus::TimedOut],
                limit: Some(100),
                ..Default::default()
            })
            .await?
            .iter()
            .filter(|j| j.finished_at.is_some_and(|at| at >= hour_ago))
            .count() as u64;
        let degraded_providers = self
            .sentinel()
            .provider_reports()
            .into_iter()
            .filter(|r| matches!(r.status, HealthStatus::Degraded | HealthStatus::Unhealthy))
            .map(|r| r.name)
            .collect();
        let oldest_queued_secs = store
            .oldest_queued_since(now)
            .await?
            .map(|since| (now - since).num_seconds().max(0) as u64);
        let root = crate::policy::resolve_root(None).ok();
        Ok(SystemState {
            queued: count(JobStatus::Queued),
            running: count(JobStatus::Running),
            recent_failures: failures,
            degraded_providers,
            oldest_queued_secs,
            disk_used: root.as_deref().and_then(crate::initiative::disk_used),
            memory_used: crate::initiative::memory_used(),
        })
    }

    /// One round as of `now`: unless the kill switch is set, read the
    /// system's state and put every strategy's proposals through
    /// [`Skynet::propose`].
    pub async fn initiative_round(&self, now: DateTime<Utc>) -> Result<InitiativeRound> {
        if self.inner.store.initiative_usage(now).await?.paused {
            return Ok(InitiativeRound {
                paused: true,
                ..Default::default()
            });
        }
        let state = self.system_state(now).await?;
        let mut round = InitiativeRound::default();
        for strategy in self.inner.initiative.strategies.clone() {
            for proposal in strategy.propose(&state) {
                match self.propose(strategy.name(), &proposal, now).await? {
                    ProposalOutcome::Started(_) => round.started += 1,
                    ProposalOutcome::Waiting(_) => round.waiting += 1,
                    ProposalOutcome::Skipped(why) => round.skipped.push(why),
                    ProposalOutcome::Refused(_) => round.refused += 1,
                }
            }
        }
        Ok(round)
    }

    /// Put one proposal of `strategy` through the normal pipeline as of
    /// `now`: planned and judged by the policy, queued only when READ_ONLY
    /// (and auto-approval is on), else left waiting for a human; made only
    /// within the budgets and while the kill switch is off, both checked
    /// in the ledger in the job's own transaction.
    pub async fn propose(
        &self,
        strategy: &str,
        proposal: &Proposal,
        now: DateTime<Utc>,
    ) -> Result<ProposalOutcome> {
        let req = SubmitRequest {
            intent: proposal.intent.clone(),
            source: JobSource::Initiative,
            principal: Principal::new(INITIATIVE_PRINCIPAL)?,
            ..Default::default()
        };
        let (mut job, placed) = match self.prepare_job(&req, &*self.inner.planner).await {
            Ok(made) => made,
            Err(e)
                if matches!(
                    e.kind(),
                    crate::ErrorKind::InvalidInput
                        | crate::ErrorKind::Planning
                        | crate::ErrorKind::Forbidden
                ) =>
            {
                self.announce_initiative(
                    InitiativeNews::Skipped(&e.to_string()),
                    strategy,
                    proposal,
                )
                .await;
                return Ok(ProposalOutcome::Refused(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        // Budgets count by creation time on the loop's clock.
        job.created_at = crate::store::chain::truncate_to_micros(now);
        job.origin = Some(JobOrigin::Initiative {
            strategy: strategy.to_string(),
            reason: proposal.reason.clone(),
        });
        let budget = self.inner.initiative.config.budget;
        // Recorded with the job, in its transaction: a job that is not
        // written leaves no event.
        let mut news = vec![InitiativeNews::Proposed(&job)];
        if job.status == JobStatus::Queued {
            news.push(InitiativeNews::Started(&job));
        }
        let events: Vec<_> = news
            .iter()
            .map(|n| initiative_event(n, strategy, proposal))
            .collect();
        match self
            .inner
            .store
            .insert_initiative_job(&job, &budget, now, &events)
            .await?
        {
            Err(refusal) => {
                if refusal.is_budget() {
                    self.announce_initiative(
                        InitiativeNews::BudgetExhausted(refusal, &budget),
                        strategy,
                        proposal,
                    )
                    .await;
                }
                self.announce_initiative(
                    InitiativeNews::Skipped(refusal.as_str()),
                    strategy,
                    proposal,
                )
                .await;
                Ok(ProposalOutcome::Skipped(refusal))
            }
            Ok(stored) => {
                trace_initiative(&InitiativeNews::Proposed(&stored), strategy, proposal);
                self.announce_new(&stored, placed).await;
                if stored.status == JobStatus::Queued {
                    trace_initiative(&InitiativeNews::Started(&stored), strategy, proposal);
                    Ok(ProposalOutcome::Started(Box::new(stored)))
                } else {
                    Ok(ProposalOutcome::Waiting(Box::new(stored)))
                }
            }
        }
    }

    /// Run rounds every `every` on `clock`'s time until `shutdown` (the
    /// first after one interval). Run by `skynet serve` and `skynet
    /// worker` when the initiative is enabled.
    pub async fn run_initiative(
        &self,
        clock: SharedClock,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let start = tokio::time::Instant::now() + every;
        let mut tick = tokio::time::interval_at(start, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.initiative_round(clock.now()).await {
                Ok(round) => tracing::debug!(?round, "initiative round"),
                Err(e) => tracing::warn!(error = %e, "an initiative round failed"),
            }
        }
    }
}

impl super::Acting<'_> {
    /// The initiative engine's status (its counts are system-wide).
    pub async fn initiative_status(&self) -> Result<InitiativeStatus> {
        self.sk.initiative_status().await
    }

    /// Set or clear the kill switch (`admin` only), recorded under the
    /// caller's audit label.
    pub async fn set_initiative_paused(&self, paused: bool) -> Result<InitiativeStatus> {
        if !self.grant().allows(crate::store::keys::Scope::Admin) {
            return Err(Error::NotPermitted(
                "pausing or resuming the initiative needs the admin scope".into(),
            ));
        }
        let by = self.grant().actor.clone();
        self.sk.set_initiative_paused(paused, &by).await
    }
}

/// The operator's log line of an initiative decision.
fn trace_initiative(kind: &InitiativeNews<'_>, strategy: &str, proposal: &Proposal) {
    match kind {
        InitiativeNews::Proposed(job) => {
            tracing::info!(event = "initiative_proposed", strategy, reason = %proposal.reason,
                intent = %proposal.intent, job = %job.id, status = job.status.as_str(),
                risk = job.risk.as_str(), "initiative proposed a job");
        }
        InitiativeNews::Started(job) => {
            tracing::info!(event = "initiative_started", strategy, job = %job.id,
                "initiative job queued");
        }
        InitiativeNews::Skipped(why) => {
            tracing::info!(event = "initiative_skipped", strategy, reason = %proposal.reason,
                intent = %proposal.intent, why, "initiative proposal skipped");
        }
        InitiativeNews::BudgetExhausted(refusal, budget) => {
            tracing::warn!(
                event = "budget_exhausted",
                strategy,
                budget = refusal.as_str(),
                per_hour = budget.per_hour,
                per_day = budget.per_day,
                max_waiting = budget.max_waiting,
                "initiative budget exhausted"
            );
        }
    }
}

/// The global log's event of an initiative decision: the one place each
/// is made.
fn initiative_event(
    kind: &InitiativeNews<'_>,
    strategy: &str,
    proposal: &Proposal,
) -> crate::events::NewSystemEvent {
    use crate::events::{EventPayload, InitiativeDecision, NewSystemEvent, Notice};
    let decision = |reason: String| InitiativeDecision {
        strategy: strategy.to_string(),
        intent: proposal.intent.clone(),
        reason,
    };
    match kind {
        InitiativeNews::Proposed(job) => NewSystemEvent::now(
            "initiative",
            EventPayload::InitiativeProposed(decision(proposal.reason.clone())),
        )
        .about(job.id.clone()),
        InitiativeNews::Started(job) => NewSystemEvent::now(
            "initiative",
            EventPayload::InitiativeStarted(decision(proposal.reason.clone())),
        )
        .about(job.id.clone()),
        InitiativeNews::Skipped(why) => NewSystemEvent::now(
            "initiative",
            EventPayload::InitiativeSkipped(decision(why.to_string())),
        ),
        InitiativeNews::BudgetExhausted(refusal, budget) => NewSystemEvent::now(
            "initiative",
            EventPayload::BudgetExhausted(Notice {
                subject: "initiative".into(),
                message: format!(
                    "{} (limits: {} an hour, {} a day, {} waiting)",
                    refusal.as_str(),
                    budget.per_hour,
                    budget.per_day,
                    budget.max_waiting
                ),
            }),
        ),
    }
}
