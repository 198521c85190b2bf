//! Schedules: recurring intents, fired tick by tick as ordinary jobs.
//!
//! A schedule belongs to the principal that made it and names an intent,
//! a [`Cadence`] (a cron expression read in a time zone, or an interval)
//! and what to do with [`MissedTicks`]. Every tick becomes a job through
//! the normal submit path (planned, judged by the policy, READ_ONLY work
//! auto-approved, anything riskier waiting for a human) with source
//! `schedule` and an origin naming the schedule and the tick. A tick's row
//! is inserted in the same transaction as its job, keyed by
//! `(schedule, tick)`, so several `serve`/`worker` processes sharing one
//! ledger fire each tick exactly once. The loop that fires them is
//! [`crate::Skynet::run_schedules`].

mod cadence;

pub use cadence::{Cadence, MAX_INTERVAL, MIN_INTERVAL, parse_zone};

use crate::job::JobId;
use crate::principal::Principal;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// A tick fired this late or later counts as missed (the process that
/// should have fired it was down, or the schedule's loop stalled).
pub const MISSED_AFTER: Duration = Duration::from_secs(60);

/// What a schedule does with ticks that passed while nothing fired them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MissedTicks {
    /// Drop them; fire again at the next tick (the default).
    #[default]
    Skip,
    /// Fire once for all of them (the latest), then go on as usual.
    CatchUp,
}

impl MissedTicks {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            MissedTicks::Skip => "skip",
            MissedTicks::CatchUp => "catch_up",
        }
    }
}

/// A schedule to create.
#[derive(Debug, Clone, Default)]
pub struct NewSchedule {
    /// What to do at every tick, in the user's words.
    pub intent: String,
    /// A five-field cron expression (`*/5 * * * *`); exactly one of this
    /// and `every`.
    pub cron: Option<String>,
    /// A fixed interval, the first tick one interval after creation.
    pub every: Option<Duration>,
    /// The IANA time zone a cron expression is read in (default `UTC`).
    pub time_zone: Option<String>,
    /// Missed ticks: skip them, or catch up once.
    pub missed: MissedTicks,
    /// Sandbox root of the jobs (default: the current directory, or `base`).
    pub root: Option<PathBuf>,
    /// Confine `root` to this directory (a server confines its callers).
    pub base: Option<PathBuf>,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    /// Its id (UUIDv7).
    pub id: String,
    /// Who owns it (and its jobs).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub principal: Principal,
    /// What every tick asks for.
    pub intent: String,
    /// The cron expression, if it is one.
    pub cron: Option<String>,
    /// The interval in milliseconds, if it is one.
    pub every_ms: Option<u64>,
    /// The time zone a cron expression is read in.
    pub time_zone: String,
    /// What missed ticks do.
    pub missed: MissedTicks,
    /// Paused: it fires nothing until resumed.
    pub paused: bool,
    /// The jobs' sandbox root.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub root: PathBuf,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
    /// The next tick it fires.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub next_tick_at: DateTime<Utc>,
    /// The last tick fired.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_tick_at: Option<DateTime<Utc>>,
    /// The job of the last tick fired (none if its intent was refused).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_job: Option<JobId>,
    /// Ticks fired so far.
    pub fired: u64,
}

impl Schedule {
    /// Its cadence, parsed again from what is stored.
    pub fn cadence(&self) -> Result<Cadence> {
        match (&self.cron, self.every_ms) {
            (Some(expr), None) => Cadence::cron(expr, parse_zone(&self.time_zone)?),
            (None, Some(ms)) => Cadence::every(Duration::from_millis(ms), self.created_at),
            _ => Err(Error::Store(format!(
                "schedule {} has neither exactly a cron expression nor an interval",
                self.id
            ))),
        }
    }
}

/// One tick as the loop records it: the tick's row, the schedule's next
/// tick, and the job it submits (none when planning or the policy refused
/// the intent: `error` says why).
#[derive(Debug, Clone)]
pub struct Firing {
    /// The schedule.
    pub schedule: String,
    /// The tick fired.
    pub tick_at: DateTime<Utc>,
    /// The schedule's next tick after this one.
    pub next_tick_at: DateTime<Utc>,
    /// The job, inserted in the same transaction as the tick's row.
    pub job: Option<crate::Job>,
    /// Why no job was made.
    pub error: Option<String>,
    /// Events for the global log (`schedule.fired`), recorded in the same
    /// transaction when this call fires the tick, so a tick whose job
    /// could not be written leaves no event either.
    pub events: Vec<crate::events::NewSystemEvent>,
}

/// What recording a [`Firing`] did.
#[derive(Debug, Clone)]
pub enum Fired {
    /// This call fired the tick (with its job, if one was made).
    Now(Option<Box<crate::Job>>),
    /// The tick was already fired (by another process), or the schedule
    /// is gone: nothing was written.
    Already,
}
