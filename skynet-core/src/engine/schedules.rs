//! Schedules in the engine: creating, listing, pausing and removing them
//! (owned by a principal, filtered in the store's queries), and the loop
//! that fires their ticks as ordinary jobs ([`Skynet::run_schedules`]).

use super::{Acting, Skynet, SubmitRequest};
use crate::clock::SharedClock;
use crate::job::{JobOrigin, JobSource};
use crate::principal::{Principal, Visibility};
use crate::schedules::{
    Cadence, Fired, Firing, MISSED_AFTER, MissedTicks, NewSchedule, Schedule, parse_zone,
};
use crate::store::keys::Scope;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the schedule loop looks for due ticks by default.
pub const SCHEDULE_POLL: Duration = Duration::from_secs(1);
/// Schedules fired per round at most (the rest wait for the next round).
const ROUND_LIMIT: u32 = 100;

/// What one round of the schedule loop did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleRound {
    /// Ticks this process fired (with or without a job).
    pub fired: usize,
    /// Jobs those ticks made.
    pub jobs: usize,
    /// Ticks another process fired first.
    pub already: usize,
    /// Schedules whose missed ticks were skipped.
    pub skipped: usize,
    /// Ticks whose intent planning or the policy refused (recorded, no job).
    pub refused: usize,
}

impl Skynet {
    /// The global log's event of one fired tick (recorded with the tick
    /// and its job, in their transaction): the one place a "schedule
    /// fired" event is made.
    fn schedule_fired_event(
        schedule: &Schedule,
        tick: DateTime<Utc>,
        job: Option<&crate::Job>,
    ) -> crate::events::NewSystemEvent {
        use crate::events::{EventPayload, NewSystemEvent, ScheduleFired};
        let mut event = NewSystemEvent::now(
            "schedule",
            EventPayload::ScheduleFired(ScheduleFired {
                schedule: schedule.id.to_string(),
                tick: tick.to_rfc3339(),
            }),
        );
        event.job = job.map(|j| j.id.clone());
        event
    }

    /// One fired tick in the operator's log (after its commit).
    fn log_schedule_fired(schedule: &Schedule, tick: DateTime<Utc>, job: Option<&crate::Job>) {
        tracing::info!(
            event = "schedule_fired",
            schedule = %schedule.id,
            principal = %schedule.principal,
            tick = %tick.to_rfc3339(),
            job = job.map(|j| j.id.to_string()).unwrap_or_default(),
            status = job.map(|j| j.status.as_str()).unwrap_or("refused"),
            "schedule fired"
        );
    }

    /// Create a schedule owned by `principal`. The cadence, the time zone
    /// and the root are checked and the intent is planned and judged once
    /// (a dry run) so bad input is refused now; nothing is stored then.
    pub async fn add_schedule(&self, principal: &Principal, new: NewSchedule) -> Result<Schedule> {
        self.add_schedule_at(principal, new, Utc::now()).await
    }

    /// [`Skynet::add_schedule`] as of `now` (its first tick is the first
    /// after `now`).
    pub async fn add_schedule_at(
        &self,
        principal: &Principal,
        new: NewSchedule,
        now: DateTime<Utc>,
    ) -> Result<Schedule> {
        let now = crate::store::chain::truncate_to_micros(now);
        let zone_name = new.time_zone.as_deref().unwrap_or("UTC").trim().to_string();
        let zone = parse_zone(&zone_name)?;
        let cadence = match (&new.cron, new.every) {
            (Some(expr), None) => Cadence::cron(expr, zone)?,
            (None, Some(every)) => Cadence::every(every, now)?,
            _ => {
                return Err(Error::InvalidInput(
                    "give a schedule exactly one of a cron expression and an interval".into(),
                ));
            }
        };
        let next_tick_at = cadence
            .next_after(now)
            .ok_or_else(|| Error::InvalidInput("the schedule never fires".into()))?;
        let root = match &new.base {
            Some(base) => super::roots::confined_root(base, new.root.as_deref())?,
            None => crate::policy::resolve_root(new.root.clone())?,
        };
        let req = tick_request(&new.intent, &root, principal);
        self.plan(&req).await?;
        let schedule = Schedule {
            id: uuid::Uuid::now_v7().to_string(),
            principal: principal.clone(),
            intent: req.intent_text(),
            cron: match &cadence {
                Cadence::Cron { expression, .. } => Some(expression.clone()),
                Cadence::Every { .. } => None,
            },
            every_ms: new.every.map(|d| d.as_millis() as u64),
            time_zone: zone.name().to_string(),
            missed: new.missed,
            paused: false,
            root,
            created_at: now,
            next_tick_at,
            last_tick_at: None,
            last_job: None,
            fired: 0,
        };
        self.inner.store.insert_schedule(&schedule).await?;
        Ok(schedule)
    }

    /// The schedules `visibility` admits, oldest first.
    pub async fn schedules(&self, visibility: &Visibility) -> Result<Vec<Schedule>> {
        self.inner.store.schedules(visibility.only()).await
    }

    /// One schedule `visibility` admits ([`Error::ScheduleNotFound`] otherwise).
    pub async fn schedule(&self, id: &str, visibility: &Visibility) -> Result<Schedule> {
        self.inner.store.schedule(id, visibility.only()).await
    }

    /// Pause a schedule: it fires nothing until resumed.
    pub async fn pause_schedule(&self, id: &str, visibility: &Visibility) -> Result<Schedule> {
        self.inner
            .store
            .set_schedule_paused(id, visibility.only(), true, None)
            .await
    }

    /// Resume a paused schedule from its next tick after now (ticks that
    /// passed while it was paused are not fired).
    pub async fn resume_schedule(&self, id: &str, visibility: &Visibility) -> Result<Schedule> {
        self.resume_schedule_at(id, visibility, Utc::now()).await
    }

    /// [`Skynet::resume_schedule`] as of `now`.
    pub async fn resume_schedule_at(
        &self,
        id: &str,
        visibility: &Visibility,
        now: DateTime<Utc>,
    ) -> Result<Schedule> {
        let schedule = self.schedule(id, visibility).await?;
        let next = schedule
            .cadence()?
            .next_after(now)
            .unwrap_or(schedule.next_tick_at);
        self.inner
            .store
            .set_schedule_paused(id, visibility.only(), false, Some(next))
            .await
    }

    /// Remove a schedule (the jobs it made stay).
    pub async fn remove_schedule(&self, id: &str, visibility: &Visibility) -> Result<()> {
        self.inner
            .store
            .remove_schedule(id, visibility.only())
            .await
    }

    /// Fire, for every due schedule, its earliest due tick, once across
    /// every process sharing the ledger. Ticks [`MISSED_AFTER`] late or
    /// more (the loop was down) are missed: [`MissedTicks::Skip`] jumps
    /// past them without firing, [`MissedTicks::CatchUp`] fires once, for
    /// the latest of them. A schedule with more ticks due fires the next
    /// one in the next round.
    pub async fn fire_due_schedules(&self, now: DateTime<Utc>) -> Result<ScheduleRound> {
        let mut round = ScheduleRound::default();
        for schedule in self.inner.store.due_schedules(now, ROUND_LIMIT).await? {
            if let Err(e) = self.fire_schedule(&schedule, now, &mut round).await {
                tracing::warn!(schedule = %schedule.id, error = %e, "a schedule's tick failed; retried next round");
            }
        }
        Ok(round)
    }

    async fn fire_schedule(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
        round: &mut ScheduleRound,
    ) -> Result<()> {
        let cadence = schedule.cadence()?;
        let from = schedule.next_tick_at - chrono::Duration::microseconds(1);
        let missed_before = now - chrono::Duration::from_std(MISSED_AFTER).unwrap_or_default();
        // The latest of the ticks due that are already missed, if any.
        let tick = match cadence.last_at_or_before(from, missed_before) {
            Some(missed) if schedule.missed == MissedTicks::Skip => {
                let next = cadence
                    .next_after(missed)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                if self
                    .inner
                    .store
                    .skip_schedule_ticks(&schedule.id, schedule.next_tick_at, next)
                    .await?
                {
                    tracing::info!(schedule = %schedule.id, next = %next, "missed ticks skipped");
                    round.skipped += 1;
                }
                return Ok(());
            }
            // Catch up: one job stands for every missed tick.
            Some(missed) => missed,
            // On time: the schedule's next tick, the earliest due.
            None => schedule.next_tick_at,
        };
        let next_tick_at = cadence.next_after(tick).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let req = tick_request(&schedule.intent, &schedule.root, &schedule.principal);
        let (job, placed, error) = match self.prepare_job(&req, &*self.inner.planner).await {
            Ok((mut job, placed)) => {
                job.origin = Some(JobOrigin::Schedule {
                    schedule: schedule.id.clone(),
                    tick,
                });
                (Some(job), Some(placed), None)
            }
            // The intent no longer plans, or the policy now forbids it:
            // the tick is recorded with why, so it is not tried again.
            Err(e) if is_refusal(&e) => (None, None, Some(e.to_string())),
            Err(e) => return Err(e),
        };
        let event = Self::schedule_fired_event(schedule, tick, job.as_ref());
        let firing = Firing {
            schedule: schedule.id.clone(),
            tick_at: tick,
            next_tick_at,
            job,
            error,
            events: vec![event],
        };
        match self.inner.store.fire_schedule_tick(&firing).await? {
            Fired::Already => round.already += 1,
            Fired::Now(job) => {
                round.fired += 1;
                Self::log_schedule_fired(schedule, tick, job.as_deref());
                match (job, placed) {
                    (Some(job), Some(placed)) => {
                        round.jobs += 1;
                        self.announce_new(&job, placed).await;
                    }
                    _ => round.refused += 1,
                }
            }
        }
        Ok(())
    }

    /// Fire due ticks on `clock`'s time until `shutdown`: at once, then
    /// at the earliest next tick of any schedule, or after `every` at the
    /// latest (schedules added or resumed by another process are seen
    /// within `every`). Run by `skynet serve` and `skynet worker`; any
    /// number of processes may run it on one ledger.
    pub async fn run_schedules(
        &self,
        clock: SharedClock,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            let progressed = match self.fire_due_schedules(clock.now()).await {
                Ok(round) => round.fired + round.skipped + round.already > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "the schedule loop could not read due schedules");
                    false
                }
            };
            let wait = match self.inner.store.next_schedule_tick().await {
                Ok(Some(at)) => match (at - clock.now()).to_std() {
                    Ok(until) => until.min(every),
                    // Still due: at once after a round that did something
                    // (more ticks came due meanwhile), else (a tick that
                    // keeps failing) after `every`.
                    Err(_) if progressed => Duration::ZERO,
                    Err(_) => every,
                },
                _ => every,
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Whether `e` refuses the intent itself (planning, the policy, bad
/// input), as opposed to a failure worth retrying.
pub(super) fn is_refusal(e: &Error) -> bool {
    use crate::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::InvalidInput | ErrorKind::Planning | ErrorKind::Forbidden
    )
}

/// The submit request of one tick of a schedule.
fn tick_request(intent: &str, root: &std::path::Path, principal: &Principal) -> SubmitRequest {
    SubmitRequest {
        intent: intent.to_string(),
        root: Some(root.to_path_buf()),
        source: JobSource::Schedule,
        principal: principal.clone(),
        ..Default::default()
    }
}

impl Acting<'_> {
    /// Create a schedule owned by the caller (its root confined to `base`
    /// as the caller's submits are).
    pub async fn add_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        self.require(Scope::Admin)?;
        self.sk.add_schedule(&self.grant().principal, new).await
    }

    /// The caller's schedules (everyone's with `read:all` or `admin`).
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.sk.schedules(&self.visibility()).await
    }

    /// Pause one of the caller's schedules.
    pub async fn pause_schedule(&self, id: &str) -> Result<Schedule> {
        self.require(Scope::Admin)?;
        self.sk.pause_schedule(id, &self.visibility()).await
    }

    /// Resume one of the caller's schedules.
    pub async fn resume_schedule(&self, id: &str) -> Result<Schedule> {
        self.require(Scope::Admin)?;
        self.sk.resume_schedule(id, &self.visibility()).await
    }

    /// Remove one of the caller's schedules.
    pub async fn remove_schedule(&self, id: &str) -> Result<()> {
        self.require(Scope::Admin)?;
        self.sk.remove_schedule(id, &self.visibility()).await
    }

    fn require(&self, scope: Scope) -> Result<()> {
        if self.grant().allows(scope) {
            Ok(())
        } else {
            Err(Error::NotPermitted(format!(
                "changing schedules needs the {} scope",
                scope.as_str()
            )))
        }
    }
}
