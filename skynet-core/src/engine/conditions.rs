//! The default handlers: conditions SKYNET reports by itself, each raised
//! once until it clears, in the ledger (`raised_conditions`, with its event
//! in the same transaction), so any number of processes report it once.
//!
//! - `queue.backlog`: as many queued jobs as [`ConditionLimits::backlog_queued`],
//!   or the oldest due job waiting [`ConditionLimits::backlog_wait`]; clears
//!   when neither holds.
//! - `system.idle`: nothing queued or running and no job activity for
//!   [`ConditionLimits::idle_after`]; clears when work comes.
//! - `failure.pattern`: the same step (one `store::step_signature`) failed
//!   [`ConditionLimits::failure_count`] times within
//!   [`ConditionLimits::failure_window`]; one event per pattern per window,
//!   about the newest failed job (so a pattern of a trigger's, a
//!   schedule's or the initiative's jobs fires no trigger).
//! - `optimization.opportunity`: a step whose median duration over its last
//!   [`ConditionLimits::recent_runs`] successful runs grew to
//!   [`ConditionLimits::slowdown_factor`] times its earlier median (and by
//!   at least [`ConditionLimits::slowdown_min`]); clears when it no longer
//!   holds.
//!
//! The first two are read by [`Skynet::check_conditions`] (a round of the
//! condition loop, every [`CONDITION_POLL`]); the step patterns by
//! [`Skynet::watch_steps`], the durable consumer [`STEP_WATCH_CONSUMER`]
//! of `step.finished` events.

use super::Skynet;
use crate::clock::SharedClock;
use crate::events::{
    Consumer, EventHandler, EventPayload, EventType, FailurePattern, NewSystemEvent, Notice,
    QueueBacklog, SystemEvent, SystemIdle,
};
use crate::job::{JobId, JobStatus};
use crate::store::conditions::StepRun;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the condition loop checks the queue by default.
pub const CONDITION_POLL: Duration = Duration::from_secs(30);
/// The durable consumer name of the step watcher.
pub const STEP_WATCH_CONSUMER: &str = "step-watch";
/// The source of the default handlers' events.
pub const CONDITIONS_SOURCE: &str = "handler:conditions";

const BACKLOG_KEY: &str = "queue.backlog";
const IDLE_KEY: &str = "system.idle";
const PATTERN_PREFIX: &str = "failure.pattern:";
const SLOWDOWN_PREFIX: &str = "optimization.opportunity:";

/// When the default handlers raise their conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionLimits {
    /// Queued jobs that make a backlog (100).
    pub backlog_queued: u64,
    /// The oldest due job's wait that makes a backlog (5 min).
    pub backlog_wait: Duration,
    /// Time without any job activity, nothing queued or running, that makes
    /// the system idle (10 min).
    pub idle_after: Duration,
    /// Failures of one step that make a pattern (3).
    pub failure_count: u32,
    /// The window those failures fall in, and in which a pattern is
    /// reported once (24 h).
    pub failure_window: Duration,
    /// Recent successful runs whose median is compared (3).
    pub recent_runs: usize,
    /// Earlier successful runs needed for a baseline (5; up to 20 are read).
    pub baseline_runs: usize,
    /// How many times slower the recent median must be (2.0).
    pub slowdown_factor: f64,
    /// How much slower, at least (1 s).
    pub slowdown_min: Duration,
}

impl Default for ConditionLimits {
    fn default() -> Self {
        ConditionLimits {
            backlog_queued: 100,
            backlog_wait: Duration::from_secs(300),
            idle_after: Duration::from_secs(600),
            failure_count: 3,
            failure_window: Duration::from_secs(24 * 3600),
            recent_runs: 3,
            baseline_runs: 5,
            slowdown_factor: 2.0,
            slowdown_min: Duration::from_secs(1),
        }
    }
}

/// What a round raised and cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionRound {
    /// Events raised (one per condition newly raised).
    pub raised: Vec<EventType>,
    /// Conditions cleared (their keys).
    pub cleared: Vec<String>,
    /// Whether the step watcher read a full page: the log may have more
    /// now, to be read at once (a short page waits for the next poll).
    pub more: bool,
}

fn ms(d: chrono::Duration) -> u64 {
    u64::try_from(d.num_milliseconds()).unwrap_or(0)
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Skynet {
    async fn raise(
        &self,
        key: &str,
        now: DateTime<Utc>,
        renew_before: Option<DateTime<Utc>>,
        event: NewSystemEvent,
        round: &mut ConditionRound,
    ) -> Result<()> {
        let t = event.event_type();
        let raised = self
            .inner
            .store
            .raise_condition(key, now, renew_before, &event)
            .await?;
        if raised {
            tracing::info!(event = t.as_str(), condition = key, "condition raised");
            round.raised.push(t);
        }
        Ok(())
    }

    async fn clear(&self, key: &str, round: &mut ConditionRound) -> Result<()> {
        if self.inner.store.clear_condition(key).await? {
            tracing::info!(condition = key, "condition cleared");
            round.cleared.push(key.to_string());
        }
        Ok(())
    }

    /// Check the queue as of `now`: raise `queue.backlog` or `system.idle`
    /// once when they start to hold, clear them when they stop.
    pub async fn check_conditions(
        &self,
        now: DateTime<Utc>,
        limits: &ConditionLimits,
    ) -> Result<ConditionRound> {
        let store = &self.inner.store;
        let mut round = ConditionRound::default();
        let counts = store.count_jobs_by_status().await?;
        let count = |s: JobStatus| crate::store::jobs_in(&counts, s);
        let (queued, running) = (count(JobStatus::Queued), count(JobStatus::Running));
        let oldest_wait = store
            .oldest_queued_since(now)
            .await?
            .map_or(chrono::Duration::zero(), |since| now - since);
        if queued > 0
            && (queued >= limits.backlog_queued || oldest_wait >= chrono_of(limits.backlog_wait))
        {
            let event = NewSystemEvent {
                at: now,
                ..NewSystemEvent::now(
                    CONDITIONS_SOURCE,
                    EventPayload::QueueBacklog(QueueBacklog {
                        queued,
                        oldest_wait_ms: ms(oldest_wait),
                    }),
                )
            };
            self.raise(BACKLOG_KEY, now, None, event, &mut round)
                .await?;
        } else {
            self.clear(BACKLOG_KEY, &mut round).await?;
        }
        let idle_for = match (queued + running, store.last_job_activity().await?) {
            (0, Some(last)) => Some(now - last),
            _ => None,
        };
        match idle_for {
            Some(idle) if idle >= chrono_of(limits.idle_after) => {
                let event = NewSystemEvent {
                    at: now,
                    ..NewSystemEvent::now(
                        CONDITIONS_SOURCE,
                        EventPayload::SystemIdle(SystemIdle {
                            idle_for_ms: ms(idle),
                        }),
                    )
                };
                self.raise(IDLE_KEY, now, None, event, &mut round).await?;
            }
            // Idle, but not for long enough yet: leave it as it is.
            Some(_) => {}
            None => self.clear(IDLE_KEY, &mut round).await?,
        }
        Ok(round)
    }

    /// Read one page of `step.finished` events as the durable consumer
    /// [`STEP_WATCH_CONSUMER`] and raise, as of `now`, `failure.pattern`
    /// and `optimization.opportunity` where a step's recent runs show them.
    pub async fn watch_steps(
        &self,
        now: DateTime<Utc>,
        limits: &ConditionLimits,
    ) -> Result<ConditionRound> {
        // Full pages: a busy queue's finished steps take few reads and
        // few position writes (handling one again is harmless: conditions
        // are raised once, in the ledger).
        let consumer = Consumer::new(self.inner.store.clone(), STEP_WATCH_CONSUMER).page_size(1000);
        // The slowdowns raised now, read once per page: a step that did not
        // slow down clears its condition only if it is raised, so a busy
        // queue's finished steps cost the ledger no write each.
        let slowdowns = self
            .inner
            .store
            .raised_conditions(SLOWDOWN_PREFIX)
            .await?
            .into_iter()
            .collect();
        let watcher = StepWatcher {
            sk: self,
            now,
            limits,
            round: Mutex::new(ConditionRound::default()),
            slowdowns: Mutex::new(slowdowns),
            checked: Mutex::new(HashSet::new()),
            signatures: Mutex::new(HashMap::new()),
        };
        let polled = consumer
            .poll_page(&[EventType::StepFinished], &watcher)
            .await;
        let mut round = watcher
            .round
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        round.more = polled?.more;
        Ok(round)
    }

    /// What one finished step's recent runs show. `checked` holds the
    /// (signature, failed) pairs this page already looked at: a busy
    /// queue's page holds many runs of the same steps, and the runs read
    /// as of `now` are the same for each of them.
    async fn watch_step(
        &self,
        event: &SystemEvent,
        watcher: &StepWatcher<'_>,
        round: &mut ConditionRound,
    ) -> Result<()> {
        let (Some(job), EventPayload::StepFinished(change)) = (&event.job, &event.payload) else {
            return Ok(());
        };
        let failed = match change.status.as_deref() {
            Some(status) if is_failure(status) => true,
            Some("succeeded") => false,
            _ => return Ok(()),
        };
        let store = &self.inner.store;
        let signature = watcher
            .signatures
            .lock()
            .map_err(|_| poisoned("signatures"))?
            .get(&(job.clone(), change.step))
            .cloned();
        let Some(signature) = signature else {
            return Ok(());
        };
        let first = watcher
            .checked
            .lock()
            .map_err(|_| poisoned("checked steps"))?
            .insert((signature.clone(), failed));
        if !first {
            return Ok(());
        }
        let (now, limits) = (watcher.now, watcher.limits);
        // A week of history: the failure window and the duration baseline.
        let since = now - chrono_of(limits.failure_window).max(chrono::Duration::days(7));
        let runs = store.step_runs(&signature, since, 50).await?;
        if failed {
            self.failure_pattern(&signature, &runs, now, limits, round)
                .await
        } else {
            let slowdowns = &watcher.slowdowns;
            self.slowdown((&signature, &runs), event, now, limits, slowdowns, round)
                .await
        }
    }

    async fn failure_pattern(
        &self,
        signature: &str,
        runs: &[StepRun],
        now: DateTime<Utc>,
        limits: &ConditionLimits,
        round: &mut ConditionRound,
    ) -> Result<()> {
        let window_start = now - chrono_of(limits.failure_window);
        let failed: Vec<&StepRun> = runs
            .iter()
            .filter(|r| is_failure(&r.status) && r.finished_at >= window_start)
            .collect();
        if failed.len() < limits.failure_count as usize {
            return Ok(());
        }
        let mut jobs: Vec<String> = Vec::new();
        for run in &failed {
            let id = run.job.to_string();
            if !jobs.contains(&id) && jobs.len() < 10 {
                jobs.push(id);
            }
        }
        let newest = failed[0];
        let mut note = NewSystemEvent::now(
            CONDITIONS_SOURCE,
            EventPayload::FailurePattern(FailurePattern {
                signature: signature.to_string(),
                failures: u32::try_from(failed.len()).unwrap_or(u32::MAX),
                jobs,
                error: newest.error.clone(),
            }),
        )
        .about(newest.job.clone());
        note.at = now;
        let key = format!("{PATTERN_PREFIX}{signature}");
        self.raise(&key, now, Some(window_start), note, round).await
    }

    /// `found`: the step's signature and its recent runs.
    async fn slowdown(
        &self,
        (signature, runs): (&str, &[StepRun]),
        event: &SystemEvent,
        now: DateTime<Utc>,
        limits: &ConditionLimits,
        slowdowns: &Mutex<HashSet<String>>,
        round: &mut ConditionRound,
    ) -> Result<()> {
        let durations: Vec<u64> = runs
            .iter()
            .filter(|r| r.status == "succeeded")
            .filter_map(|r| r.duration_ms)
            .collect();
        let key = format!("{SLOWDOWN_PREFIX}{signature}");
        let recent_n = limits.recent_runs.max(1);
        if durations.len() < recent_n + limits.baseline_runs.max(1) {
            return Ok(());
        }
        let recent = median(&durations[..recent_n]);
        let baseline = median(&durations[recent_n..durations.len().min(recent_n + 20)]);
        let grew = recent as f64 >= baseline as f64 * limits.slowdown_factor
            && recent.saturating_sub(baseline) >= limits.slowdown_min.as_millis() as u64;
        if !grew {
            if !slowdowns
                .lock()
                .map_err(|_| poisoned("slowdowns"))?
                .remove(&key)
            {
                return Ok(());
            }
            return self.clear(&key, round).await;
        }
        slowdowns
            .lock()
            .map_err(|_| poisoned("slowdowns"))?
            .insert(key.clone());
        let mut note = NewSystemEvent::now(
            CONDITIONS_SOURCE,
            EventPayload::OptimizationOpportunity(Notice {
                subject: format!("step:{signature}"),
                message: format!(
                    "a step now takes {recent} ms (median of its last {recent_n} runs), up \
                     from {baseline} ms before; look at what changed (inputs, provider, cache)"
                ),
            }),
        );
        if let Some(job) = &event.job {
            note = note.about(job.clone());
        }
        note.at = now;
        self.raise(&key, now, None, note, round).await
    }

    /// Check the queue every `every` and watch finished steps on `clock`'s
    /// time until `shutdown`, with the default [`ConditionLimits`]. Run by
    /// `skynet serve` and `skynet worker`; the step watcher starts at the
    /// log's head the first time it runs.
    pub async fn run_conditions(
        &self,
        clock: SharedClock,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let limits = ConditionLimits::default();
        if let Err(e) = self.start_consumer_at_head(STEP_WATCH_CONSUMER).await {
            tracing::warn!(error = %e, "the step watcher could not read the log's head");
        }
        let mut next_check = clock.now();
        loop {
            let now = clock.now();
            if now >= next_check {
                if let Err(e) = self.check_conditions(now, &limits).await {
                    tracing::warn!(error = %e, "the condition check failed; retrying");
                }
                next_check = now + chrono_of(every);
            }
            match self.watch_steps(now, &limits).await {
                // More pages wait: read them at once.
                Ok(round) if round.more && !shutdown.is_cancelled() => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the step watcher failed a page; retrying"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(super::triggers::TRIGGER_POLL) => {}
            }
        }
    }
}

/// Whether a step's status is a failure of its own (not a cancel).
fn is_failure(status: &str) -> bool {
    matches!(status, "failed" | "timed_out")
}

fn median(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// The step watcher's handler for one page.
struct StepWatcher<'a> {
    sk: &'a Skynet,
    now: DateTime<Utc>,
    limits: &'a ConditionLimits,
    round: Mutex<ConditionRound>,
    /// The slowdown conditions raised (read at the page's start, kept
    /// up to date by the page's own raises and clears).
    slowdowns: Mutex<HashSet<String>>,
    /// The (signature, failed) pairs the page already looked at.
    checked: Mutex<HashSet<(String, bool)>>,
    /// The page's finished steps' signatures, read in one go
    /// ([`EventHandler::prepare`]).
    signatures: Mutex<HashMap<(JobId, u32), String>>,
}

fn poisoned(what: &str) -> Error {
    Error::Store(format!("the step watcher's {what} were poisoned"))
}

#[async_trait]
impl EventHandler for StepWatcher<'_> {
    fn name(&self) -> &str {
        STEP_WATCH_CONSUMER
    }

    async fn prepare(&self, events: &[SystemEvent]) -> Result<()> {
        let steps: Vec<(JobId, u32)> = events
            .iter()
            .filter_map(|e| match (&e.job, &e.payload) {
                (Some(job), EventPayload::StepFinished(change)) => Some((job.clone(), change.step)),
                _ => None,
            })
            .collect();
        let found = self.sk.inner.store.step_signatures(&steps).await?;
        *self.signatures.lock().map_err(|_| poisoned("signatures"))? = found;
        Ok(())
    }

    async fn handle(&self, event: &SystemEvent) -> Result<()> {
        let mut round = ConditionRound::default();
        self.sk.watch_step(event, self, &mut round).await?;
        let mut shared = self.round.lock().map_err(|_| poisoned("rounds"))?;
        shared.raised.extend(round.raised);
        shared.cleared.extend(round.cleared);
        Ok(())
    }
}
