//! The time the autonomous loops (schedules, the initiative engine) read,
//! injected so tests can run a simulated day without sleeping.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// Where a loop reads the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to (tests, simulations).
#[derive(Debug, Clone)]
pub struct ManualClock {
    at: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock {
            at: Arc::new(Mutex::new(at)),
        }
    }

    /// Move to `at` (every clone moves).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Move forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        *at += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The shared handle loops take.
pub type SharedClock = Arc<dyn Clock>;

/// An instant as a caller writes it: RFC 3339 (`2026-12-06T10:00:00Z`),
/// or a duration meaning that long before `now` (`10m`, `2h`, `3days`).
/// Anything else is [`crate::Error::InvalidInput`] naming `what`.
pub fn parse_instant(what: &str, text: &str, now: DateTime<Utc>) -> crate::Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    humantime::parse_duration(t)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| {
            crate::Error::InvalidInput(format!(
                "{what}: {:?} is neither an RFC 3339 time (2026-12-06T10:00:00Z) nor a \
                 duration ago (10m, 2h, 3days)",
                t.chars().take(60).collect::<String>()
            ))
        })
}

#[cfg(test)]
mod instant_tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_or_a_duration_ago() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let at = parse_instant("since", "2026-12-06T09:00:00+01:00", now).expect("rfc");
        assert_eq!(at, now - chrono::Duration::hours(2));
        assert_eq!(
            parse_instant("since", "10m", now).expect("ago"),
            now - chrono::Duration::minutes(10)
        );
        let e = parse_instant("--since", "yesterday-ish", now).expect_err("bad");
        assert!(e.to_string().contains("--since"), "{e}");
    }
}
