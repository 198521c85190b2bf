//! Running one claimed job, step by step, under its lease.

use super::committer::CheckpointWriter;
use super::judge::step_label;
use super::slots::Ticket;
use super::{JobEvent, Skynet};
use crate::job::{FailureKind, Job, JobFailure, JobId, Lease};
use crate::plan::Step;
use crate::provider::{ExecContext, ExitKind, Output, OutputLine, Provider, Stream};
use crate::risk::RiskLevel;
use crate::store::{Completion, FinishedStep, NewLogLine, RunCheckpoint, StepOutcome, StepStatus};
use crate::timeouts::{TimeLimit, TimeoutLevel};
use crate::{Error, Result};
use chrono::Utc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Log lines are written in batches of this many (or when a step ends).
const LOG_BATCH: usize = 256;
/// ... or at least this often while a step is producing output.
const LOG_FLUSH_EVERY: Duration = Duration::from_millis(250);
/// A READ_ONLY step's start checkpoint is written only if the step is
/// still running after this long; a quicker step's start is recorded with
/// its end, in one transaction instead of two. Safe because recovery treats
/// a READ_ONLY step the same whether its start was recorded or not (the job
/// is re-queued and resumes at its first unfinished step); WRITE/ADMIN
/// starts are always committed before the step runs (an in-flight record
/// is what sends the job to review).
const READ_ONLY_START_RECORD_AFTER: Duration = Duration::from_millis(100);

/// How one step ended, as far as the job is concerned.
enum StepEnd {
    /// Go on with the next step.
    Next,
    /// Stop here and finish the job this way.
    Finish(Completion),
}

/// What running one step produced.
enum StepRun {
    /// It ended: its checkpoint (not written yet) and what comes next.
    Ended(FinishedStep, StepEnd),
    /// The lease is gone (cancelled elsewhere, reaped): stop, write nothing.
    LeaseLost,
}

/// What became of a checkpoint.
enum Recorded {
    /// The run ended: the job as it now is.
    Completed(Box<Job>),
    /// Written; the run goes on.
    Continued,
    /// The lease was lost: nothing was written.
    LeaseLost,
}

/// How a run ends: the last step's checkpoint, if a step ran and it is not
/// written yet, and the completion; written together in one transaction.
struct RunEnd {
    step: Option<FinishedStep>,
    completion: Completion,
}

/// Removes the job's cancel token from the in-process registry on drop.
struct RunningGuard<'a> {
    sk: &'a Skynet,
    id: JobId,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.sk.inner.running.lock() {
            running.remove(&self.id);
        }
    }
}

impl Skynet {
    /// Claim this specific queued job and run it here, so it runs exactly
    /// once even if workers are also watching the queue. If another worker
    /// got it first, returns its current state without running anything.
    pub async fn run_job(&self, id: &JobId, worker: &str) -> Result<Job> {
        match self
            .inner
            .store
            .claim_job(id, worker, self.inner.config.lease)
            .await?
        {
            Some(job) => {
                let release = CancellationToken::new();
                self.run_claimed(job, &release, &CheckpointWriter::Direct, None)
                    .await
            }
            None => self.inner.store.get_job(id).await,
        }
    }

    /// Run a job this process holds the lease on. Returns the job's state
    /// afterwards. Every write is fenced by the lease: if it was lost
    /// (cancel, reaper), the run stops and records nothing more. When
    /// `release` fires (the worker is shutting down) the job is handed
    /// back: see [`Completion::Released`].
    /// `writer` writes the run's checkpoints (grouped with other runs' in a
    /// worker loop); with a `ticket` (a job claimed ahead), the steps wait
    /// for a free slot of the worker, the lease kept alive meanwhile.
    pub(crate) async fn run_claimed(
        &self,
        job: Job,
        release: &CancellationToken,
        writer: &CheckpointWriter,
        ticket: Option<Ticket>,
    ) -> Result<Job> {
        let id = job.id.clone();
        let Some(lease) = job.lease.clone() else {
            return Err(Error::Store(format!(
                "job {id} was handed to a runner without a lease"
            )));
        };
        self.publish_status(&id, job.status);
        // A release stops the running step like a cancel does.
        let cancel = release.child_token();
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(id.clone(), cancel.clone());
        }
        let _guard = RunningGuard {
            sk: self,
            id: id.clone(),
        };
        let lost = Arc::new(AtomicBool::new(false));
        // Aborted on every way out of this function (including a panic or
        // the future being dropped), so a dead run never renews its lease.
        let heartbeat = AbortOnDrop(tokio::spawn(keep_lease(
            self.clone(),
            id.clone(),
            lease.clone(),
            cancel.clone(),
            lost.clone(),
        )));
        let mut job = job;
        let (turn, stopping) = match ticket {
            Some(ticket) => {
                let waiting = Utc::now();
                let turn = ticket.turn().await;
                // Time spent claimed ahead, waiting for a slot, is not
                // taken from the job's time budget.
                let waited = Utc::now() - waiting;
                job.started_at = job.started_at.map(|t| t + waited);
                let stopping = turn.is_none();
                (turn, stopping)
            }
            None => (None, false),
        };
        let end = if stopping {
            Ok(ends(Completion::Released(
                "handed back before it started: the worker is shutting down".into(),
            )))
        } else {
            self.run_steps(&job, &lease, &cancel, &lost, release, writer)
                .await
        };
        // The steps are done: the next job may run while this one's
        // completion is committed.
        drop(turn);
        drop(heartbeat);
        match end {
            Ok(Some(end)) => {
                let cp = RunCheckpoint {
                    job: id.clone(),
                    lease_id: lease.id.clone(),
                    step: end.step,
                    completion: Some(redact_completion(&self.inner.redactor, end.completion)),
                };
                match self.record_step_end(writer, cp).await? {
                    Recorded::Completed(job) => {
                        self.publish_status(&id, job.status);
                        Ok(*job)
                    }
                    Recorded::Continued => {
                        Err(Error::Store(format!("completing job {id} returned no job")))
                    }
                    Recorded::LeaseLost => self.lease_lost(&id, &lease).await,
                }
            }
            Ok(None) | Err(Error::LeaseLost(_)) => self.lease_lost(&id, &lease).await,
            Err(e) => Err(e),
        }
    }

    /// Write a checkpoint with a step's end and/or the run's, then say the
    /// step finished. On a lost lease nothing is written but the step's
    /// last output lines, which are kept.
    async fn record_step_end(
        &self,
        writer: &CheckpointWriter,
        cp: RunCheckpoint,
    ) -> Result<Recorded> {
        let store = &self.inner.store;
        let id = cp.job.clone();
        let step = cp
            .step
            .as_ref()
            .map(|s| (s.index, s.outcome.status, s.outcome.exit_code));
        let tail = cp
            .step
            .as_ref()
            .filter(|s| !s.logs.is_empty())
            .map(|s| s.logs.clone());
        match writer.record(store, cp).await {
            Ok(job) => {
                if let Some((index, status, exit_code)) = step {
                    self.publish(JobEvent::StepFinished {
                        job: id,
                        step: index,
                        status: status.as_str().to_string(),
                        exit_code,
                    });
                }
                Ok(job.map_or(Recorded::Continued, |job| {
                    Recorded::Completed(Box::new(job))
                }))
            }
            Err(Error::LeaseLost(_)) => {
                // Cancelled or reaped meanwhile: the checkpoint is no longer
                // ours to write, but the output it produced is kept.
                if let Some(tail) = tail
                    && let Err(e) = store.append_logs(&id, &tail).await
                {
                    tracing::warn!(job = %id, "could not store output: {e}");
                }
                Ok(Recorded::LeaseLost)
            }
            Err(e) => Err(e),
        }
    }

    /// The store refused this run's writes: the job was cancelled, or this
    /// worker went silent (frozen, cut off) and the job was recovered. Say
    /// so, and return the job as it now is.
    async fn lease_lost(&self, id: &JobId, lease: &Lease) -> Result<Job> {
        let job = self.inner.store.get_job(id).await?;
        if job.status == crate::JobStatus::Cancelled {
            tracing::info!(job = %id, "cancelled while running; the run stopped");
        } else {
            tracing::warn!(
                job = %id,
                worker = %lease.worker,
                status = %job.status,
                "lease {} lost (this worker was silent past it and the job was recovered): \
                 result discarded",
                lease.id
            );
        }
        Ok(job)
    }

    /// Run the plan's unfinished steps in order. `Ok(None)` = lease lost.
    async fn run_steps(
        &self,
        job: &Job,
        lease: &Lease,
        cancel: &CancellationToken,
        lost: &AtomicBool,
        release: &CancellationToken,
        writer: &CheckpointWriter,
    ) -> Result<Option<RunEnd>> {
        let Some(plan) = &job.plan else {
            return Ok(ends(Completion::Failed("the job has no plan".into())));
        };
        let Some(provider) = self
            .inner
            .providers
            .get(crate::provider::canonical_name(&job.provider))
            .cloned()
        else {
            let why = match self.unregistered_provider(&job.provider) {
                Error::Config(m) => m,
                other => other.to_string(),
            };
            return Ok(ends(Completion::Failed(format!("{why} (in this worker)"))));
        };
        // On a first claim nothing has run yet: skip reading checkpoints.
        let records = if job.attempts > 1 {
            self.inner.store.steps(&job.id).await?
        } else {
            Vec::new()
        };
        let deadline = job.timeout_ms.and_then(|ms| {
            let started = job.started_at.unwrap_or_else(Utc::now);
            started.checked_add_signed(chrono::Duration::milliseconds(i64::try_from(ms).ok()?))
        });
        let requested_step = plan.step_timeout_ms.map(Duration::from_millis);
        for (index, step) in plan.steps.iter().enumerate() {
            let done = records
                .get(index)
                .is_some_and(|r| r.status == StepStatus::Succeeded);
            if done {
                continue;
            }
            if lost.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if release.is_cancelled() {
                return Ok(ends(Completion::Released(format!(
                    "handed back before step {}: the worker shut down",
                    index + 1
                ))));
            }
            let budget = match deadline {
                Some(d) => {
                    let left = (d - Utc::now()).to_std().unwrap_or_default();
                    if left.is_zero() {
                        return Ok(ends(Completion::TimedOut(out_of_time(job, index))));
                    }
                    Some(left)
                }
                None => None,
            };
            if let Some(refusal) = self.recheck(job, index, step) {
                return Ok(ends(Completion::Failed(refusal)));
            }
            let limit = self
                .inner
                .config
                .timeouts
                .step_limits(step, requested_step, provider.name(), budget)
                .resolve();
            let end = self
                .run_step(
                    job,
                    lease,
                    index as u32,
                    step,
                    provider.clone(),
                    limit,
                    cancel,
                    lost,
                    release,
                )
                .await?;
            let (finished, end) = match end {
                StepRun::Ended(finished, end) => (finished, end),
                StepRun::LeaseLost => return Ok(None),
            };
            // The last step's checkpoint goes in with the completion.
            let completion = match end {
                StepEnd::Finish(c) => c,
                StepEnd::Next if index + 1 == plan.steps.len() => Completion::Succeeded,
                StepEnd::Next => {
                    let cp = RunCheckpoint {
                        job: job.id.clone(),
                        lease_id: lease.id.clone(),
                        step: Some(finished),
                        completion: None,
                    };
                    match self.record_step_end(writer, cp).await? {
                        Recorded::LeaseLost => return Ok(None),
                        Recorded::Continued | Recorded::Completed(_) => continue,
                    }
                }
            };
            return Ok(Some(RunEnd {
                step: Some(finished),
                completion,
            }));
        }
        Ok(ends(Completion::Succeeded))
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        job: &Job,
        lease: &Lease,
        index: u32,
        step: &Step,
        provider: Arc<dyn Provider>,
        limit: Option<TimeLimit>,
        cancel: &CancellationToken,
        lost: &AtomicBool,
        release: &CancellationToken,
    ) -> Result<StepRun> {
        let started_at = Utc::now();
        let defer_start = step.risk == RiskLevel::ReadOnly;
        if !defer_start {
            match self.inner.store.start_step(&job.id, &lease.id, index).await {
                Ok(()) => {}
                Err(Error::LeaseLost(_)) => return Ok(StepRun::LeaseLost),
                Err(e) => return Err(e),
            }
        }
        self.publish(JobEvent::StepStarted {
            job: job.id.clone(),
            step: index,
            description: step.description.clone(),
        });
        let (tx, rx) = mpsc::channel(1024);
        let ctx = ExecContext {
            job_id: job.id.clone(),
            step: index as usize,
            root: job.root.clone(),
            timeout: limit.map(|l| l.duration()),
            cancel: cancel.child_token(),
            output: tx,
            max_output_bytes: self.inner.config.max_output_bytes,
            risk: step.risk,
            action: Some(step.action.clone()),
        };
        let forwarder = tokio::spawn(forward_output(self.clone(), job.id.clone(), index, rx));
        let (result, start_recorded) = {
            // Counted as load on the provider until the step has ended.
            let _running = self.inner.scheduler.load().start(provider.name());
            // A probe step runs in process; any other goes to the provider.
            let probes = &self.inner.config.probes;
            let execution = crate::probe::dispatch(probes, provider.as_ref(), step, ctx);
            if defer_start {
                tokio::pin!(execution);
                tokio::select! {
                    result = &mut execution => (result, false),
                    _ = tokio::time::sleep(READ_ONLY_START_RECORD_AFTER) => {
                        // Still running: record the start beside it (and wait
                        // for that write, so it is never recorded twice).
                        let record = self.record_running_start(job, lease, index, cancel, lost);
                        tokio::join!(execution, record)
                    }
                }
            } else {
                (execution.await, true)
            }
        };
        // The provider dropped its sender; the forwarder drains and flushes.
        // The last lines are written with the step's checkpoint.
        let mut tail_logs = match forwarder.await {
            Ok(Ok(rest)) => rest,
            Ok(Err(e)) => {
                tracing::warn!(job = %job.id, "could not store output: {e}");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(job = %job.id, "output forwarder failed: {e}");
                Vec::new()
            }
        };
        if lost.load(Ordering::SeqCst) {
            return Ok(StepRun::LeaseLost);
        }
        let label = step_label(index as usize, step);
        // What a timeout says: the limit and the level that set it (worded
        // only for a step that timed out).
        let cut = match &result {
            Ok(out) if out.exit == ExitKind::TimedOut => limit.map(|l| {
                let job_limit = job.timeout_ms.map(Duration::from_millis);
                (l, l.explain(provider.name(), step.action.name(), job_limit))
            }),
            _ => None,
        };
        // A step that ran to its end (whatever its exit) leaves its outputs;
        // one cut short by a cancel or hand-back does not.
        let ran = matches!(&result, Ok(out) if out.exit != ExitKind::Cancelled);
        let (mut outcome, end) = match result {
            Ok(out) if out.exit == ExitKind::Cancelled && release.is_cancelled() => {
                released_step(&label, step.risk, &out)
            }
            Ok(out) => {
                // A pipeline's failure names the stage that failed it.
                let failed = match out.failed_stage {
                    Some(i) if step.command.is_pipeline() => {
                        format!("{label}: {}", step.command.stage_label(i))
                    }
                    _ => label.clone(),
                };
                judge_output(index, &failed, &out, cut)
            }
            Err(e) => {
                // Redacted below (the checkpoint) and in run_claimed (the job).
                let (kind, provider) = match &e {
                    Error::Provider { provider, .. } => {
                        (FailureKind::Provider, Some(provider.clone()))
                    }
                    Error::Config(_) | Error::HostKeyRejected { .. } => {
                        (FailureKind::Provider, Some(job.provider.clone()))
                    }
                    Error::PipelineUnsupported { provider, .. } => {
                        (FailureKind::Provider, Some(provider.clone()))
                    }
                    _ => (FailureKind::Other, None),
                };
                // The provider's configuration (no image, no known_hosts, no
                // daemon, a rejected host key) fails the same way every try:
                // fail at once instead of retrying.
                // So does a probe target closed to probes (Forbidden).
                let permanent = matches!(
                    e,
                    Error::Config(_)
                        | Error::HostKeyRejected { .. }
                        | Error::Forbidden { .. }
                        | Error::PipelineUnsupported { .. }
                );
                let msg = JobFailure {
                    kind,
                    step: Some(index),
                    exit_code: None,
                    provider,
                    timeout: None,
                    message: format!("{label}: {e}"),
                }
                .encode();
                let end = if step.risk == RiskLevel::ReadOnly && !permanent {
                    // Nothing was changed: try again later, elsewhere maybe.
                    Completion::Retry {
                        error: msg.clone(),
                        run_at: Utc::now() + retry_delay(&self.inner.config, job.attempts),
                    }
                } else {
                    Completion::Failed(msg.clone())
                };
                (
                    StepOutcome {
                        status: StepStatus::Failed,
                        exit_code: None,
                        output_bytes: 0,
                        truncated: false,
                        error: Some(msg),
                    },
                    StepEnd::Finish(end),
                )
            }
        };
        if ran {
            let kept = self
                .collect_artifacts(job, lease, index, step, provider.as_ref())
                .await;
            tail_logs.extend(kept);
        }
        outcome.error = outcome.error.map(|e| self.inner.redactor.redact(&e));
        if outcome.status == StepStatus::Succeeded {
            self.inner.estimates.step_succeeded();
        }
        let finished = FinishedStep {
            index,
            started_at: (!start_recorded).then_some(started_at),
            outcome,
            logs: tail_logs,
        };
        Ok(StepRun::Ended(finished, end))
    }

    /// The start checkpoint of a READ_ONLY step that has been running for
    /// [`READ_ONLY_START_RECORD_AFTER`]. Returns whether it was written; if
    /// not, the start is recorded with the step's end. A lost lease stops
    /// the step, as the heartbeat would.
    async fn record_running_start(
        &self,
        job: &Job,
        lease: &Lease,
        index: u32,
        cancel: &CancellationToken,
        lost: &AtomicBool,
    ) -> bool {
        match self.inner.store.start_step(&job.id, &lease.id, index).await {
            Ok(()) => true,
            Err(Error::LeaseLost(_)) => {
                lost.store(true, Ordering::SeqCst);
                cancel.cancel();
                false
            }
            Err(e) => {
                tracing::warn!(
                    job = %job.id,
                    "recording the start of step {} failed (it is recorded with its end): {e}",
                    index + 1
                );
                false
            }
        }
    }
}

impl Skynet {
    /// Judge the step again just before it runs: files can change between
    /// approval and execution (a path may now be a symlink out of the root),
    /// and this worker's policy is the one that counts. Returns why the step
    /// must not run.
    fn recheck(&self, job: &Job, index: usize, step: &Step) -> Option<String> {
        let decision =
            crate::probe::judge(&self.inner.policy, &step.action, &step.command, &job.root);
        let label = step_label(index, step);
        if decision.verdict == crate::policy::Verdict::Forbid {
            return Some(format!("{label} is forbidden now: {}", decision.explain()));
        }
        (decision.risk > step.risk).then(|| {
            format!(
                "{label} is {} now but was approved as {}: {}",
                decision.risk,
                step.risk,
                decision.explain()
            )
        })
    }
}

/// A run that ends without a step checkpoint to write.
fn ends(completion: Completion) -> Option<RunEnd> {
    Some(RunEnd {
        step: None,
        completion,
    })
}

/// Aborts a task when dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Errors may quote commands and output: redact them before they are stored.
fn redact_completion(r: &crate::redact::Redactor, c: Completion) -> Completion {
    match c {
        Completion::Failed(e) => Completion::Failed(r.redact(&e)),
        Completion::TimedOut(e) => Completion::TimedOut(r.redact(&e)),
        Completion::Retry { error, run_at } => Completion::Retry {
            error: r.redact(&error),
            run_at,
        },
        Completion::Released(e) => Completion::Released(r.redact(&e)),
        Completion::NeedsReview(e) => Completion::NeedsReview(r.redact(&e)),
        other => other,
    }
}

/// A step stopped because the worker shut down: READ_ONLY changed nothing,
/// so the job is handed back; anything riskier may have changed things
/// half-way, so a human reviews it.
fn released_step(label: &str, risk: RiskLevel, out: &Output) -> (StepOutcome, StepEnd) {
    let why = format!("{label} was stopped: the worker shut down");
    let end = if risk == RiskLevel::ReadOnly {
        Completion::Released(format!("{why}; handed back to run again"))
    } else {
        Completion::NeedsReview(format!(
            "{why} while it ({risk}) was running; it may have changed things, so it is \
             not re-run: review the job"
        ))
    };
    let outcome = StepOutcome {
        status: StepStatus::Cancelled,
        exit_code: out.exit_code,
        output_bytes: out.output_bytes,
        truncated: out.truncated,
        error: Some(why),
    };
    (outcome, StepEnd::Finish(end))
}

/// The job's time limit ran out between steps, before step `index` (0-based).
fn out_of_time(job: &Job, index: usize) -> String {
    let limit_ms = job.timeout_ms.unwrap_or_default();
    JobFailure {
        timeout: Some(TimeLimit {
            level: TimeoutLevel::Global,
            limit_ms,
        }),
        ..JobFailure::new(
            FailureKind::TimedOut,
            format!(
                "the job ran out of time before step {} (global job limit of {})",
                index + 1,
                crate::timeouts::human(Duration::from_millis(limit_ms))
            ),
        )
    }
    .encode()
}

/// Map a provider's output to a step checkpoint and what the job does next.
/// `cut` is the step's time limit with its explanation.
fn judge_output(
    index: u32,
    label: &str,
    out: &Output,
    cut: Option<(TimeLimit, String)>,
) -> (StepOutcome, StepEnd) {
    let failure = |kind, message: String, timeout: Option<TimeLimit>| {
        JobFailure {
            kind,
            step: Some(index),
            exit_code: out.exit_code,
            provider: None,
            timeout,
            message,
        }
        .encode()
    };
    let (status, end) = match out.exit {
        ExitKind::Exited if out.exit_code == Some(0) => (StepStatus::Succeeded, StepEnd::Next),
        ExitKind::Exited => {
            let msg = failure(
                FailureKind::StepFailed,
                format!("{label} exited with code {}", out.exit_code.unwrap_or(-1)),
                None,
            );
            (StepStatus::Failed, StepEnd::Finish(Completion::Failed(msg)))
        }
        ExitKind::Signaled => {
            let msg = failure(
                FailureKind::StepFailed,
                format!("{label} was killed by a signal"),
                None,
            );
            (StepStatus::Failed, StepEnd::Finish(Completion::Failed(msg)))
        }
        ExitKind::TimedOut => {
            let (limit, why) = match cut {
                Some((limit, why)) => (Some(limit), why),
                None => (None, format!("timed out after {} ms", out.duration_ms)),
            };
            let msg = failure(FailureKind::TimedOut, format!("{label} {why}"), limit);
            (
                StepStatus::TimedOut,
                StepEnd::Finish(Completion::TimedOut(msg)),
            )
        }
        ExitKind::Cancelled => (
            StepStatus::Cancelled,
            StepEnd::Finish(Completion::Cancelled),
        ),
    };
    let error = match &end {
        StepEnd::Finish(Completion::Failed(m)) | StepEnd::Finish(Completion::TimedOut(m)) => {
            Some(m.clone())
        }
        _ => None,
    };
    (
        StepOutcome {
            status,
            exit_code: out.exit_code,
            output_bytes: out.output_bytes,
            truncated: out.truncated,
            error,
        },
        end,
    )
}

/// Exponential backoff with "equal jitter" ([`crate::retry`]).
pub(crate) fn retry_delay(config: &super::EngineConfig, attempts: u32) -> chrono::Duration {
    let policy = crate::retry::RetryPolicy {
        max_retries: config.max_attempts,
        base: config.retry_base,
        max_delay: config.retry_max,
    };
    let total = policy.backoff(attempts.saturating_sub(1));
    chrono::Duration::from_std(total).unwrap_or_else(|_| chrono::Duration::seconds(1))
}

/// Renew the lease every heartbeat. If it is lost (cancelled in another
/// process, reaped), cancel the running step at once.
async fn keep_lease(
    sk: Skynet,
    id: JobId,
    lease: Lease,
    cancel: CancellationToken,
    lost: Arc<AtomicBool>,
) {
    let cfg = &sk.inner.config;
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.heartbeat).await;
        let gone = match sk.inner.store.heartbeat(&id, &lease.id, cfg.lease).await {
            Ok(()) => {
                renewed = tokio::time::Instant::now();
                false
            }
            Err(Error::LeaseLost(_)) | Err(Error::JobNotFound(_)) => true,
            // A store error: keep trying while the lease may still hold.
            // Once it cannot (a whole lease without a renewal), another
            // worker may take the job over: stop the step here.
            Err(e) => {
                tracing::warn!(job = %id, "heartbeat failed: {e}");
                renewed.elapsed() >= cfg.lease
            }
        };
        if gone {
            lost.store(true, Ordering::SeqCst);
            cancel.cancel();
            return;
        }
    }
}

/// Redact, publish and store a step's output lines in batches. Returns the
/// lines not yet stored, which go in with the step's checkpoint.
async fn forward_output(
    sk: Skynet,
    id: JobId,
    step: u32,
    mut rx: mpsc::Receiver<OutputLine>,
) -> Result<Vec<NewLogLine>> {
    let mut batch: Vec<NewLogLine> = Vec::new();
    let mut flush_at = tokio::time::Instant::now() + LOG_FLUSH_EVERY;
    // One per stream: a private key's lines arrive on one of them.
    let mut stdout = crate::redact::LineRedactor::new(sk.inner.redactor.clone());
    let mut stderr = stdout.clone();
    loop {
        let next = if batch.is_empty() {
            rx.recv().await
        } else {
            // Quiet output still reaches the store (and `logs -f`) promptly.
            tokio::select! {
                line = rx.recv() => line,
                _ = tokio::time::sleep_until(flush_at) => {
                    sk.inner.store.append_logs(&id, &batch).await?;
                    batch.clear();
                    continue;
                }
            }
        };
        let Some(line) = next else { break };
        let text = match line.stream {
            Stream::Stderr => stderr.redact_line(&line.text),
            // SKYNET's own lines come between the step's; they share stdout's.
            Stream::Stdout | Stream::System => stdout.redact_line(&line.text),
        };
        sk.publish(JobEvent::Output {
            job: id.clone(),
            step,
            stream: line.stream,
            text: text.clone(),
        });
        if batch.is_empty() {
            flush_at = tokio::time::Instant::now() + LOG_FLUSH_EVERY;
        }
        batch.push(NewLogLine {
            step,
            stream: line.stream,
            text,
        });
        if batch.len() >= LOG_BATCH {
            sk.inner.store.append_logs(&id, &batch).await?;
            batch.clear();
        }
    }
    Ok(batch)
}
