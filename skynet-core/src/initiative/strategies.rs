//! The built-in strategies. Each proposes READ_ONLY inspection intents
//! (the rule planner maps them; the policy still judges every step).

use super::{Proposal, Strategy, SystemState};
use std::sync::Arc;

/// Disk use at or above this share is pressure.
pub const DISK_PRESSURE: f64 = 0.9;
/// Memory use at or above this share is pressure.
pub const MEMORY_PRESSURE: f64 = 0.9;
/// This many failures in the last hour call for a look.
pub const FAILURES_WORTH_A_LOOK: u64 = 3;
/// A due job waiting this long (seconds) is a backlog.
pub const BACKLOG_SECS: u64 = 300;

/// The built-in strategies: maintenance, recovery, optimization.
pub fn default_strategies() -> Vec<Arc<dyn Strategy>> {
    vec![
        Arc::new(Maintenance),
        Arc::new(Recovery),
        Arc::new(Optimization),
    ]
}

/// Looks at disk and memory pressure.
#[derive(Debug, Clone, Copy)]
pub struct Maintenance;

impl Strategy for Maintenance {
    fn name(&self) -> &str {
        "maintenance"
    }
    fn propose(&self, s: &SystemState) -> Vec<Proposal> {
        let mut out = Vec::new();
        if let Some(used) = s.disk_used.filter(|u| *u >= DISK_PRESSURE) {
            out.push(Proposal {
                intent: "show free disk space".into(),
                reason: format!("the disk is {:.0}% full", used * 100.0),
            });
        }
        if let Some(used) = s.memory_used.filter(|u| *u >= MEMORY_PRESSURE) {
            out.push(Proposal {
                intent: "show memory usage".into(),
                reason: format!("memory is {:.0}% used", used * 100.0),
            });
        }
        out
    }
}

/// Looks at recent failures and degraded providers.
#[derive(Debug, Clone, Copy)]
pub struct Recovery;

impl Strategy for Recovery {
    fn name(&self) -> &str {
        "recovery"
    }
    fn propose(&self, s: &SystemState) -> Vec<Proposal> {
        let mut out = Vec::new();
        if s.recent_failures >= FAILURES_WORTH_A_LOOK {
            out.push(Proposal {
                intent: "show free disk space".into(),
                reason: format!("{} jobs failed in the last hour", s.recent_failures),
            });
        }
        if !s.degraded_providers.is_empty() {
            out.push(Proposal {
                intent: "show system load".into(),
                reason: format!("providers degraded: {}", s.degraded_providers.join(", ")),
            });
        }
        out
    }
}

/// Looks at the queue's backlog.
#[derive(Debug, Clone, Copy)]
pub struct Optimization;

impl Strategy for Optimization {
    fn name(&self) -> &str {
        "optimization"
    }
    fn propose(&self, s: &SystemState) -> Vec<Proposal> {
        match s.oldest_queued_secs {
            Some(secs) if secs >= BACKLOG_SECS => vec![Proposal {
                intent: "show system load".into(),
                reason: format!("{} jobs queued, the oldest waiting {secs}s", s.queued),
            }],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_strategy_proposes_only_under_its_condition() {
        let calm = SystemState::default();
        for s in default_strategies() {
            assert!(s.propose(&calm).is_empty(), "{} on a calm system", s.name());
        }
        let full = SystemState {
            disk_used: Some(0.95),
            memory_used: Some(0.5),
            ..Default::default()
        };
        let p = Maintenance.propose(&full);
        assert_eq!(p.len(), 1);
        assert!(p[0].reason.contains("95%"), "{p:?}");
        let failing = SystemState {
            recent_failures: 4,
            degraded_providers: vec!["ssh".into()],
            ..Default::default()
        };
        assert_eq!(Recovery.propose(&failing).len(), 2);
        let backlog = SystemState {
            queued: 40,
            oldest_queued_secs: Some(600),
            ..Default::default()
        };
        assert_eq!(Optimization.propose(&backlog).len(), 1);
    }

    #[test]
    fn memory_use_is_read_from_meminfo() {
        let text = "MemTotal:       1000 kB\nMemFree:  10 kB\nMemAvailable:    250 kB\n";
        assert_eq!(super::super::memory_used_from(text), Some(0.75));
        assert_eq!(super::super::memory_used_from("nothing"), None);
    }
}
