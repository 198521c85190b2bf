//! "Run it now", once for every front-end: plan once, gate, record, run
//! here, return the job with its output. Also the plan review (which
//! steps need a human, and why) the gate and the front-ends share.

use super::judge::plan_and_judge;
use super::{Skynet, SubmitRequest};
use crate::job::{Job, JobId, JobStatus};
use crate::plan::Plan;
use crate::policy::{Decision, Verdict};
use crate::risk::RiskLevel;
use crate::store::{LogLine, LogQuery, StepRecord};
use crate::{Action, Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// How often a run waits before looking again at a job another worker
/// holds.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// What [`Skynet::start`] does with a plan that needs a human.
#[derive(Debug, Clone)]
pub enum Gate {
    /// Refuse it with [`Error::PlanNeedsApproval`]; nothing is recorded.
    AutoOnly,
    /// Approve it as this approver (who said yes in advance).
    Approve(String),
    /// Record it; it waits in `planned` for [`Skynet::approve`].
    Hold,
}

/// How [`Skynet::run_here`] runs a job.
#[derive(Debug, Clone)]
pub struct RunHere {
    /// The worker id the run is recorded under.
    pub worker: String,
    /// Stop waiting after this long ([`Error::Timeout`]); the job goes on
    /// in the background.
    pub timeout: Option<Duration>,
    /// Return the last this many log lines (none when `None`).
    pub log_tail: Option<u32>,
}

/// A job run to its end here, with its step checkpoints and output.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The job as it ended (or, held by [`Gate::Hold`], awaiting approval).
    pub job: Job,
    /// Its step checkpoints.
    pub steps: Vec<StepRecord>,
    /// Its last log lines, as [`RunHere::log_tail`] asked.
    pub logs: Vec<LogLine>,
}

/// A step that needs a human before it runs, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalGate {
    /// Step index (0-based).
    pub step: usize,
    /// Its description.
    pub description: String,
    /// Its risk.
    pub risk: RiskLevel,
    /// Why it needs approval.
    pub reason: String,
}

/// A judged plan and what running it takes.
#[derive(Debug, Clone)]
pub struct PlanReview {
    /// The plan.
    pub plan: Plan,
    /// Whether a human must approve it ([`Skynet::needs_approval`]).
    pub requires_approval: bool,
    /// The steps that need a human, and why.
    pub gates: Vec<ApprovalGate>,
    /// Paths the plan writes, creates or deletes.
    pub artifacts: Vec<String>,
    /// The files its steps declare to keep as artifacts (paths or
    /// patterns), in step order.
    pub expected_artifacts: Vec<String>,
}

impl PlanReview {
    /// The review of `plan` placed on `provider`: `unconfined` when the
    /// plan alone could run unasked but its provider cannot confine
    /// READ_ONLY steps, so a human must approve it all the same.
    fn new(sk: &Skynet, plan: Plan, provider: &str, unconfined: bool) -> Self {
        let mut gates = approval_gates(&plan);
        if unconfined {
            let reason = sk.unconfined_reason(provider);
            gates.extend(plan.steps.iter().enumerate().map(|(i, s)| ApprovalGate {
                step: i,
                description: s.description.clone(),
                risk: s.risk,
                reason: reason.clone(),
            }));
        }
        PlanReview {
            requires_approval: unconfined || sk.needs_approval(&plan),
            gates,
            artifacts: artifacts(&plan),
            expected_artifacts: plan
                .steps
                .iter()
                .flat_map(|s| s.artifacts.iter().cloned())
                .collect(),
            plan,
        }
    }
}

/// Why each step that needs a human needs one.
fn approval_gates(plan: &Plan) -> Vec<ApprovalGate> {
    plan.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.risk > RiskLevel::ReadOnly || !allowed(s.decision.as_ref()))
        .map(|(i, s)| ApprovalGate {
            step: i,
            description: s.description.clone(),
            risk: s.risk,
            reason: s
                .decision
                .as_ref()
                .map(|d| d.explain())
                .unwrap_or_else(|| format!("{} steps need approval", s.risk)),
        })
        .collect()
}

fn allowed(decision: Option<&Decision>) -> bool {
    decision.is_none_or(|d| d.verdict == Verdict::Allow)
}

/// Paths the plan writes, creates or deletes.
fn artifacts(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::WriteFile { path, .. }
            | Action::CreateDirectory { path }
            | Action::DeletePath { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// The refusal of a plan that needs a human under [`Gate::AutoOnly`]:
/// the first step decision that asks for one, or, for a plan the policy
/// allows on a provider that cannot confine it, that reason.
fn needs_approval_error(sk: &Skynet, plan: &Plan, provider: &str) -> Error {
    let gate = plan
        .steps
        .iter()
        .find_map(|s| s.decision.clone().filter(|d| d.verdict != Verdict::Allow))
        .unwrap_or_else(|| Decision {
            risk: plan.risk,
            verdict: Verdict::Prompt,
            reasons: vec![sk.unconfined_reason(provider)],
            rule: Some("unconfined-provider".into()),
        });
    Error::PlanNeedsApproval {
        hash: plan.hash.clone(),
        risk: plan.risk,
        gate: Some(Box::new(gate)),
    }
}

impl Skynet {
    /// Plan and judge `req` without storing anything, and say what running
    /// it takes: whether a human must approve, which steps, and why.
    pub async fn review(&self, req: &SubmitRequest) -> Result<PlanReview> {
        let (plan, _) = plan_and_judge(self, req).await?;
        let placed = self.place(&plan, req.requested_provider()).await?;
        let unconfined = !self.needs_approval(&plan) && !self.runs_unasked(&plan, &placed).await;
        Ok(PlanReview::new(self, plan, &placed.provider, unconfined))
    }

    /// Plan `req` once, judge it, pass it through `gate` and record it.
    /// The job comes back queued, or (with [`Gate::Hold`]) maybe awaiting
    /// approval.
    pub async fn start(&self, req: &SubmitRequest, gate: &Gate) -> Result<Job> {
        let (plan, root) = plan_and_judge(self, req).await?;
        let placed = self.place(&plan, req.requested_provider()).await?;
        if self.runs_unasked(&plan, &placed).await {
            return self.record(req, plan, root, placed, true).await;
        }
        match gate {
            Gate::AutoOnly => Err(needs_approval_error(self, &plan, &placed.provider)),
            Gate::Hold => self.record(req, plan, root, placed, false).await,
            Gate::Approve(approver) => {
                let hash = plan.hash.clone();
                let job = self.record(req, plan, root, placed, false).await?;
                if job.status != JobStatus::Planned {
                    // An idempotent repeat of a job already approved.
                    return Ok(job);
                }
                self.approve(&job.id, &hash, approver).await
            }
        }
    }

    /// Plan, gate, record and run `req` here, now: the one "run it now"
    /// of every front-end. A job [`Gate::Hold`] left awaiting approval is
    /// returned as it is, without running.
    pub async fn execute(
        &self,
        req: &SubmitRequest,
        gate: &Gate,
        run: &RunHere,
    ) -> Result<Execution> {
        let job = self.start(req, gate).await?;
        if job.status == JobStatus::Planned {
            let steps = self.steps(&job.id).await?;
            return Ok(Execution {
                job,
                steps,
                logs: Vec::new(),
            });
        }
        self.run_here(&job.id, run).await
    }

    /// Run an approved job in this process until it ends: claimed like a
    /// worker would (so it runs exactly once), a retry run here when it is
    /// due, a job another worker holds waited for. The run itself is a task
    /// of its own, so a timeout (or the caller going away) never stops a
    /// step half-way: the job goes on in the background.
    pub async fn run_here(&self, id: &JobId, opts: &RunHere) -> Result<Execution> {
        // A run killed mid-job left a lease nobody renews.
        self.recover().await?;
        let deadline = opts.timeout.map(|t| Instant::now() + t);
        let still_running = || {
            Error::Timeout(format!(
                "job {id} is still running; it goes on in the background"
            ))
        };
        let job = loop {
            let (runner, job_id, worker) = (self.clone(), id.clone(), opts.worker.clone());
            let task = tokio::spawn(async move { runner.run_job(&job_id, &worker).await });
            let joined = match deadline {
                Some(d) => tokio::time::timeout_at(d, task)
                    .await
                    .map_err(|_| still_running())?,
                None => task.await,
            };
            let job = joined.map_err(|e| {
                Error::Io(std::io::Error::other(format!(
                    "the run of job {id} crashed: {e}"
                )))
            })??;
            if job.status.is_terminal() {
                break job;
            }
            let pause = match job.status {
                JobStatus::Created | JobStatus::Planned => {
                    return Err(Error::ApprovalRequired(job.id));
                }
                // A retry: run it here when it is due.
                JobStatus::Queued => (job.run_at - chrono::Utc::now())
                    .to_std()
                    .unwrap_or_default(),
                // Another worker holds it: look again soon.
                _ => WATCH_INTERVAL,
            };
            let wake = Instant::now() + pause;
            match deadline {
                Some(d) if d < wake => {
                    tokio::time::sleep_until(d).await;
                    return Err(still_running());
                }
                _ => tokio::time::sleep_until(wake).await,
            }
        };
        let steps = self.steps(id).await?;
        let logs = match opts.log_tail {
            Some(tail) => {
                let query = LogQuery {
                    tail: Some(tail),
                    ..Default::default()
                };
                self.logs(id, &query).await?
            }
            None => Vec::new(),
        };
        Ok(Execution { job, steps, logs })
    }
}
