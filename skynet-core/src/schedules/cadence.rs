//! When a schedule's ticks fall: a cron expression read in a time zone,
//! or a fixed interval from the schedule's creation.

use crate::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::str::FromStr;
use std::time::Duration;

/// The shortest interval accepted: ticks closer than this would be fired
/// late by any loop that polls.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest interval accepted (a year).
pub const MAX_INTERVAL: Duration = Duration::from_secs(366 * 86_400);
/// The longest cron expression accepted, in bytes.
const MAX_CRON_LEN: usize = 256;

/// When the ticks of a schedule fall.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// The instants a five-field cron expression (`minute hour day month
    /// weekday`, POSIX semantics) names, read as wall-clock time in `zone`.
    Cron {
        /// The expression as given.
        expression: String,
        /// Its parsed form.
        cron: Box<croner::Cron>,
        /// The time zone its hours and days are read in.
        zone: Tz,
    },
    /// Every `every`, starting at `anchor` (the schedule's creation).
    Every {
        /// The interval.
        every: Duration,
        /// The first tick is `anchor + every`.
        anchor: DateTime<Utc>,
    },
}

/// A time zone by IANA name (`Europe/Paris`, `UTC`), or
/// [`Error::InvalidInput`] naming it.
pub fn parse_zone(name: &str) -> Result<Tz> {
    Tz::from_str(name.trim()).map_err(|_| {
        Error::InvalidInput(format!(
            "unknown time zone {name:?}: give an IANA name such as UTC or Europe/Paris"
        ))
    })
}

impl Cadence {
    /// A cron cadence, checked: exactly five fields, each valid.
    pub fn cron(expression: &str, zone: Tz) -> Result<Self> {
        let expression = expression.trim();
        let bad = |why: String| {
            Error::InvalidInput(format!(
                "bad cron expression {expression:?}: {why}; give five fields: minute hour \
                 day-of-month month day-of-week, e.g. \"*/5 * * * *\""
            ))
        };
        if expression.len() > MAX_CRON_LEN {
            return Err(bad(format!("longer than {MAX_CRON_LEN} bytes")));
        }
        let fields = expression.split_whitespace().count();
        if fields != 5 {
            return Err(bad(format!("it has {fields} fields")));
        }
        let cron = croner::Cron::from_str(expression).map_err(|e| bad(e.to_string()))?;
        let cadence = Cadence::Cron {
            expression: expression.to_string(),
            cron: Box::new(cron),
            zone,
        };
        // An expression that never matches (`0 0 31 2 *`) is refused now,
        // not found out at the first tick.
        if cadence.next_after(Utc::now()).is_none() {
            return Err(bad("it never matches a date".into()));
        }
        Ok(cadence)
    }

    /// An interval cadence, checked against [`MIN_INTERVAL`] and
    /// [`MAX_INTERVAL`].
    pub fn every(every: Duration, anchor: DateTime<Utc>) -> Result<Self> {
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&every) {
            return Err(Error::InvalidInput(format!(
                "interval {every:?} is out of range: give between {}s and {} days",
                MIN_INTERVAL.as_secs(),
                MAX_INTERVAL.as_secs() / 86_400
            )));
        }
        Ok(Cadence::Every { every, anchor })
    }

    /// The first tick strictly after `t` (`None`: none ever again).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Cadence::Cron { cron, zone, .. } => cron
                .find_next_occurrence(&t.with_timezone(zone), false)
                .ok()
                .map(|at| at.with_timezone(&Utc)),
            Cadence::Every { every, anchor } => {
                let step = i64::try_from(every.as_micros()).ok()?.max(1);
                let since = (t - *anchor).num_microseconds()?;
                let n = if since < 0 { 1 } else { since / step + 1 };
                anchor.checked_add_signed(chrono::Duration::microseconds(n.checked_mul(step)?))
            }
        }
    }

    /// The last tick at or before `t`, if one is after `after`.
    pub fn last_at_or_before(
        &self,
        after: DateTime<Utc>,
        t: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if let Cadence::Every { every, anchor } = self {
            let step = i64::try_from(every.as_micros()).ok()?.max(1);
            let since = (t - *anchor).num_microseconds()?;
            let last =
                anchor.checked_add_signed(chrono::Duration::microseconds((since / step) * step))?;
            return (since >= step && last > after).then_some(last);
        }
        // Walk forward from `after`: a schedule is due rarely, and a long
        // outage of a minutely schedule is a few thousand steps at most
        // before `CATCH_UP_SCAN` stops it.
        let mut last = None;
        let mut at = after;
        for _ in 0..CATCH_UP_SCAN {
            match self.next_after(at) {
                Some(next) if next <= t => {
                    last = Some(next);
                    at = next;
                }
                _ => return last,
            }
        }
        // Too many missed ticks to walk: jump near `t` and take the last.
        let probe = t - chrono::Duration::days(1);
        let mut at = probe.max(at);
        while let Some(next) = self.next_after(at) {
            if next > t {
                break;
            }
            last = Some(next);
            at = next;
        }
        last
    }
}

/// How many ticks [`Cadence::last_at_or_before`] walks one by one.
const CATCH_UP_SCAN: usize = 10_000;
