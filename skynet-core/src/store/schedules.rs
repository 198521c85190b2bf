//! Schedules and their fired ticks, for every dialect: `schedules` (one
//! row per schedule, with the next tick to fire) and `schedule_ticks` (one
//! row per fired tick, keyed by `(schedule_id, tick_at)`, inserted in the
//! same transaction as the tick's job: a tick another process fired
//! first conflicts and writes nothing).

use crate::job::{JobId, JobStatus};
use crate::principal::Principal;
use crate::schedules::{Fired, Firing, MissedTicks, Schedule};
use crate::store::codec::{LedgerRow, db, micros, time, to_i64};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// The schedule tables.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Store a new schedule.
    async fn insert_schedule(&self, schedule: &Schedule) -> Result<()>;
    /// Schedules, oldest first: `owner`'s only when given.
    async fn schedules(&self, owner: Option<&Principal>) -> Result<Vec<Schedule>>;
    /// One schedule, or [`Error::ScheduleNotFound`] (also when `owner` is
    /// given and is not its owner).
    async fn schedule(&self, id: &str, owner: Option<&Principal>) -> Result<Schedule>;
    /// Pause or resume a schedule (resuming sets its next tick to
    /// `next_tick_at`); [`Error::ScheduleNotFound`] as for
    /// [`ScheduleStore::schedule`].
    async fn set_schedule_paused(
        &self,
        id: &str,
        owner: Option<&Principal>,
        paused: bool,
        next_tick_at: Option<DateTime<Utc>>,
    ) -> Result<Schedule>;
    /// Delete a schedule and its tick rows (its jobs stay);
    /// [`Error::ScheduleNotFound`] as for [`ScheduleStore::schedule`].
    async fn remove_schedule(&self, id: &str, owner: Option<&Principal>) -> Result<()>;
    /// Up to `limit` unpaused schedules whose next tick is at or before
    /// `now`, most overdue first.
    async fn due_schedules(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Schedule>>;
    /// The earliest next tick of any unpaused schedule (when the loop
    /// should wake next).
    async fn next_schedule_tick(&self) -> Result<Option<DateTime<Utc>>>;
    /// Record a tick in one transaction: its row, its job (if any), and
    /// the schedule's next tick. [`Fired::Already`] (nothing written) when
    /// the tick was fired before, the schedule has moved past it, is
    /// paused, or is gone.
    async fn fire_schedule_tick(&self, firing: &Firing) -> Result<Fired>;
    /// Move a schedule's next tick from `from` to `to` without firing
    /// (missed ticks skipped); `false` if it was no longer at `from`.
    async fn skip_schedule_ticks(
        &self,
        id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool>;
}

pub(crate) const SCHEDULE_COLUMNS: &str = "id, principal, intent, cron, every_ms, time_zone, catch_up, \
     paused, root, created_at, next_tick_at, last_tick_at, last_job_id, fired";

fn schedule_from_row(row: &impl LedgerRow) -> Result<Schedule> {
    let every_ms = row.opt_int("every_ms")?;
    Ok(Schedule {
        id: row.text("id")?,
        principal: Principal::new(row.text("principal")?)
            .map_err(|e| Error::store("malformed principal of a schedule", e))?,
        intent: row.text("intent")?,
        cron: row.opt_text("cron")?,
        every_ms: every_ms
            .map(|ms| u64::try_from(ms).map_err(|_| Error::Store(format!("every_ms {ms}"))))
            .transpose()?,
        time_zone: row.text("time_zone")?,
        missed: if row.flag("catch_up")? {
            MissedTicks::CatchUp
        } else {
            MissedTicks::Skip
        },
        paused: row.flag("paused")?,
        root: PathBuf::from(row.text("root")?),
        created_at: time(row.int("created_at")?)?,
        next_tick_at: time(row.int("next_tick_at")?)?,
        last_tick_at: row.opt_int("last_tick_at")?.map(time).transpose()?,
        last_job: row
            .opt_text("last_job_id")?
            .map(|id| JobId::parse(&id))
            .transpose()
            .map_err(|_| Error::Store("malformed last_job_id of a schedule".into()))?,
        fired: u64::try_from(row.int("fired")?).unwrap_or(0),
    })
}

/// `$2` is the owner the caller is limited to, or NULL for everyone.
pub(crate) const OWNED: &str = "(CAST($2 AS TEXT) IS NULL OR principal = $2)";

impl<D: Dialect> Ledger<D> {
    /// One schedule (of `owner`, when given), its row locked when `lock`.
    async fn owned_schedule(
        &self,
        conn: &mut D::Connection,
        id: &str,
        owner: Option<&Principal>,
        lock: bool,
    ) -> Result<Schedule> {
        let sql = D::sql();
        let row = query::<D>(if lock {
            &sql.schedule_locked
        } else {
            &sql.schedule
        })
        .bind(id)
        .bind(owner.map(Principal::as_str))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("loading a schedule"))?;
        match row {
            Some(row) => schedule_from_row(&row),
            None => Err(Error::ScheduleNotFound(id.to_string())),
        }
    }
}

#[async_trait]
impl<D: Dialect> ScheduleStore for Ledger<D> {
    async fn insert_schedule(&self, s: &Schedule) -> Result<()> {
        query::<D>(
            "INSERT INTO schedules (id, principal, intent, cron, every_ms, time_zone, catch_up, \
             paused, root, created_at, next_tick_at, fired) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
        )
        .bind(s.id.as_str())
        .bind(s.principal.as_str())
        .bind(s.intent.as_str())
        .bind(s.cron.as_deref())
        .bind(s.every_ms.map(to_i64))
        .bind(s.time_zone.as_str())
        .bind(s.missed == MissedTicks::CatchUp)
        .bind(s.paused)
        .bind(s.root.to_string_lossy().into_owned())
        .bind(micros(s.created_at))
        .bind(micros(s.next_tick_at))
        .execute(&self.write)
        .await
        .map_err(db("storing a schedule"))?;
        Ok(())
    }

    async fn schedules(&self, owner: Option<&Principal>) -> Result<Vec<Schedule>> {
        let rows = query::<D>(&D::sql().schedules)
            .bind(owner.map(Principal::as_str))
            .fetch_all(&self.read)
            .await
            .map_err(db("listing schedules"))?;
        rows.iter().map(schedule_from_row).collect()
    }

    async fn schedule(&self, id: &str, owner: Option<&Principal>) -> Result<Schedule> {
        let mut conn = self
            .read
            .acquire()
            .await
            .map_err(db("reading a schedule"))?;
        self.owned_schedule(&mut conn, id, owner, false).await
    }

    async fn set_schedule_paused(
        &self,
        id: &str,
        owner: Option<&Principal>,
        paused: bool,
        next_tick_at: Option<DateTime<Utc>>,
    ) -> Result<Schedule> {
        let mut tx = self.begin().await?;
        let mut schedule = self.owned_schedule(&mut tx, id, owner, true).await?;
        schedule.paused = paused;
        if let Some(next) = next_tick_at {
            schedule.next_tick_at = next;
        }
        query::<D>("UPDATE schedules SET paused = $2, next_tick_at = $3 WHERE id = $1")
            .bind(id)
            .bind(paused)
            .bind(micros(schedule.next_tick_at))
            .execute(&mut *tx)
            .await
            .map_err(db("pausing or resuming a schedule"))?;
        commit(tx).await?;
        Ok(schedule)
    }

    async fn remove_schedule(&self, id: &str, owner: Option<&Principal>) -> Result<()> {
        let mut tx = self.begin().await?;
        self.owned_schedule(&mut tx, id, owner, true).await?;
        query::<D>("DELETE FROM schedule_ticks WHERE schedule_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("removing a schedule's ticks"))?;
        query::<D>("DELETE FROM schedules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("removing a schedule"))?;
        commit(tx).await
    }

    async fn due_schedules(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Schedule>> {
        let rows = query::<D>(&D::sql().due_schedules)
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db("reading due schedules"))?;
        rows.iter().map(schedule_from_row).collect()
    }

    async fn next_schedule_tick(&self) -> Result<Option<DateTime<Utc>>> {
        let row = query::<D>("SELECT MIN(next_tick_at) AS at FROM schedules WHERE NOT paused")
            .fetch_one(&self.read)
            .await
            .map_err(db("reading the next schedule tick"))?;
        row.opt_int("at")?.map(time).transpose()
    }

    async fn fire_schedule_tick(&self, firing: &Firing) -> Result<Fired> {
        let mut tx = self.begin().await?;
        // The schedule's row lock orders concurrent firers (and a pause or
        // a removal) on PostgreSQL; SQLite's write lock already does.
        let schedule = match self
            .owned_schedule(&mut tx, &firing.schedule, None, true)
            .await
        {
            Ok(s) => s,
            Err(Error::ScheduleNotFound(_)) => return Ok(Fired::Already),
            Err(e) => return Err(e),
        };
        if schedule.paused || schedule.next_tick_at > firing.tick_at {
            return Ok(Fired::Already);
        }
        let inserted = query::<D>(
            "INSERT INTO schedule_ticks (schedule_id, tick_at, job_id, fired_at, error) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(firing.schedule.as_str())
        .bind(micros(firing.tick_at))
        .bind(firing.job.as_ref().map(|j| j.id.as_str()))
        .bind(micros(crate::store::codec::now()))
        .bind(firing.error.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db("recording a schedule tick"))?;
        if inserted.rows_affected() == 0 {
            return Ok(Fired::Already);
        }
        let job = match &firing.job {
            Some(job) => {
                crate::store::rules::check_new_job(job)?;
                Some(Box::new(Tx::<D>::insert_new_job(&mut tx, job).await?))
            }
            None => None,
        };
        query::<D>(
            "UPDATE schedules SET next_tick_at = $2, last_tick_at = $3, last_job_id = $4, \
             fired = fired + 1 WHERE id = $1",
        )
        .bind(firing.schedule.as_str())
        .bind(micros(firing.next_tick_at))
        .bind(micros(firing.tick_at))
        .bind(job.as_ref().map(|j| j.id.as_str()))
        .execute(&mut *tx)
        .await
        .map_err(db("advancing a schedule"))?;
        Tx::<D>::record_events_in(&mut tx, &firing.events).await?;
        commit(tx).await?;
        if job.as_ref().is_some_and(|j| j.status == JobStatus::Queued) {
            D::announce_queued(self);
        }
        Ok(Fired::Now(job))
    }

    async fn skip_schedule_ticks(
        &self,
        id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool> {
        let done = query::<D>(
            "UPDATE schedules SET next_tick_at = $3 WHERE id = $1 AND next_tick_at = $2",
        )
        .bind(id)
        .bind(micros(from))
        .bind(micros(to))
        .execute(&self.write)
        .await
        .map_err(db("skipping missed schedule ticks"))?;
        Ok(done.rows_affected() == 1)
    }
}
