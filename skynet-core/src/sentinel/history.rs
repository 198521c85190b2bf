//! One provider's health over time: a bounded ring of checks and the
//! status derived from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Checks kept per provider.
pub const HISTORY_LEN: usize = 100;
/// The recent window `status` and `health_ratio` look at.
pub const WINDOW: usize = 10;
/// Failures within the window that make a provider degraded.
pub const DEGRADED_FAILURES: usize = 3;
/// Failures in a row that make a provider unhealthy.
pub const UNHEALTHY_STREAK: u32 = 3;

/// A health verdict, for a provider or a system component. Ordered from
/// best to worst, so the worst of several is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Not checked yet (or not checkable because something else failed).
    Unknown,
    /// Working, but failing now and then or just failed once.
    Degraded,
    /// Not working.
    Unhealthy,
}

impl HealthStatus {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unknown => "unknown",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One health check of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// When the check started.
    pub at: DateTime<Utc>,
    /// Whether the provider said it can run steps (false on a timeout).
    pub healthy: bool,
    /// The provider's explanation (or that the check timed out).
    pub message: String,
    /// How long the check took.
    pub latency_ms: u64,
}

/// The checks of one provider, newest last, at most [`HISTORY_LEN`].
#[derive(Debug, Clone, Default)]
pub struct ProviderHistory {
    checks: VecDeque<CheckRecord>,
    consecutive_failures: u32,
}

impl ProviderHistory {
    /// Record a check, dropping the oldest past [`HISTORY_LEN`].
    pub fn record(&mut self, check: CheckRecord) {
        self.consecutive_failures = if check.healthy {
            0
        } else {
            self.consecutive_failures.saturating_add(1)
        };
        if self.checks.len() == HISTORY_LEN {
            self.checks.pop_front();
        }
        self.checks.push_back(check);
    }

    /// The checks, oldest first.
    pub fn checks(&self) -> impl Iterator<Item = &CheckRecord> {
        self.checks.iter()
    }

    /// The newest check.
    pub fn last(&self) -> Option<&CheckRecord> {
        self.checks.back()
    }

    /// Failed checks in a row, up to and including the newest.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    fn window(&self) -> impl Iterator<Item = &CheckRecord> {
        self.checks.iter().rev().take(WINDOW)
    }

    /// The healthy fraction of the last [`WINDOW`] checks; `None` before
    /// the first check.
    pub fn health_ratio(&self) -> Option<f64> {
        let (n, ok) = self.window().fold((0u32, 0u32), |(n, ok), c| {
            (n + 1, ok + u32::from(c.healthy))
        });
        (n > 0).then(|| f64::from(ok) / f64::from(n))
    }

    /// The status, from the last [`WINDOW`] checks:
    ///
    /// - `unknown`: no check yet;
    /// - `unhealthy`: the newest check failed, and either the last
    ///   [`UNHEALTHY_STREAK`] checks all failed or none in the window
    ///   succeeded (a provider that has not been seen working);
    /// - `degraded`: not unhealthy, but the newest check failed or at least
    ///   [`DEGRADED_FAILURES`] checks in the window did;
    /// - `healthy`: the newest check passed and fewer than
    ///   [`DEGRADED_FAILURES`] in the window failed.
    pub fn status(&self) -> HealthStatus {
        let Some(last) = self.last() else {
            return HealthStatus::Unknown;
        };
        let failures = self.window().filter(|c| !c.healthy).count();
        let seen_working = self.window().any(|c| c.healthy);
        if !last.healthy && (self.consecutive_failures >= UNHEALTHY_STREAK || !seen_working) {
            HealthStatus::Unhealthy
        } else if !last.healthy || failures >= DEGRADED_FAILURES {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(healthy: bool) -> CheckRecord {
        CheckRecord {
            at: Utc::now(),
            healthy,
            message: String::new(),
            latency_ms: 1,
        }
    }

    fn history(pattern: &str) -> ProviderHistory {
        let mut h = ProviderHistory::default();
        for c in pattern.chars() {
            h.record(check(c == '+'));
        }
        h
    }

    #[test]
    fn status_follows_the_documented_rules() {
        for (pattern, want) in [
            ("", HealthStatus::Unknown),
            ("+", HealthStatus::Healthy),
            ("-", HealthStatus::Unhealthy),
            ("+-", HealthStatus::Degraded),
            ("+--", HealthStatus::Degraded),
            ("+---", HealthStatus::Unhealthy),
            ("+---+", HealthStatus::Degraded),
            ("+-+-+", HealthStatus::Healthy),
            ("+-+-+-+", HealthStatus::Degraded),
            // The three failures leave the window of ten.
            ("+---++++++++++", HealthStatus::Healthy),
        ] {
            assert_eq!(history(pattern).status(), want, "{pattern:?}");
        }
    }

    #[test]
    fn ratio_covers_the_window_and_the_ring_is_bounded() {
        assert_eq!(history("").health_ratio(), None);
        assert_eq!(history("+-").health_ratio(), Some(0.5));
        assert_eq!(history("----------++++++++++").health_ratio(), Some(1.0));
        let h = history(&"-".repeat(HISTORY_LEN + 5));
        assert_eq!(h.checks().count(), HISTORY_LEN);
        assert_eq!(h.consecutive_failures(), (HISTORY_LEN + 5) as u32);
        assert_eq!(history("--+").consecutive_failures(), 0);
    }
}
