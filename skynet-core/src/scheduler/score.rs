//! The five scores of one candidate, their weighted total, the ranking
//! and the pick. Pure functions: everything measured comes in as facts.

use super::{ProviderScore, Weights};
use crate::risk::RiskLevel;
use crate::store::ProviderStats;

/// A candidate counts as healthy from this health score up.
pub const HEALTHY_FROM: f64 = 0.5;
/// Capability score of a provider that runs every required action but is
/// not isolated, for a WRITE/ADMIN plan: a small nudge towards containing
/// changes (an isolated one scores 1.0, so does anyone for READ_ONLY).
pub const NOT_ISOLATED_FOR_WRITES: f64 = 0.9;
/// Success and latency scores when there is no history.
pub const NEUTRAL: f64 = 0.5;

/// What is known about one candidate when it is scored.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    /// Provider name.
    pub name: &'a str,
    /// How many actions the plan needs.
    pub required: usize,
    /// The required actions it cannot run.
    pub missing: Vec<String>,
    /// Runs commands isolated from the host.
    pub isolated: bool,
    /// Health ratio, `0..=1`.
    pub health: f64,
    /// Steps running on it in this engine.
    pub running: usize,
    /// Steps it accepts at once.
    pub max_concurrency: usize,
    /// Its recent history, if any.
    pub stats: Option<&'a ProviderStats>,
}

/// A candidate's scores and, when it cannot be chosen, why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scored {
    /// The scores as reported.
    pub score: ProviderScore,
    /// Why it cannot be chosen (`None` = eligible and healthy).
    pub problem: Option<String>,
}

/// Score one candidate. Every score is in `0..=1`; the total is the
/// weighted mean, or 0 for a candidate that cannot be chosen.
pub(crate) fn score(weights: &Weights, risk: RiskLevel, f: &Facts<'_>) -> Scored {
    let health = clamp(f.health);
    let load = clamp(1.0 - f.running as f64 / f.max_concurrency.max(1) as f64);
    let capability = if f.required == 0 {
        1.0
    } else if !f.missing.is_empty() {
        (f.required - f.missing.len().min(f.required)) as f64 / f.required as f64
    } else if risk > RiskLevel::ReadOnly && !f.isolated {
        NOT_ISOLATED_FOR_WRITES
    } else {
        1.0
    };
    // Laplace's rule: 0.5 with no history, and one lucky job is not 100 %.
    let success = f.stats.map_or(NEUTRAL, |s| {
        (s.succeeded as f64 + 1.0) / (s.finished as f64 + 2.0)
    });
    let latency = f
        .stats
        .and_then(|s| s.median_duration_ms)
        .map_or(NEUTRAL, |ms| 1.0 / (1.0 + ms as f64 / 1000.0));
    let problem = if !f.missing.is_empty() {
        Some(format!("{} cannot run {}", f.name, f.missing.join(", ")))
    } else if health < HEALTHY_FROM {
        Some(format!("{} is unhealthy (health {health:.2})", f.name))
    } else {
        None
    };
    let weighted = weights.health * health
        + weights.load * load
        + weights.capability * capability
        + weights.success * success
        + weights.latency * latency;
    let total = if problem.is_none() {
        weighted / weights.sum()
    } else {
        0.0
    };
    Scored {
        score: ProviderScore {
            provider: f.name.to_string(),
            total_score: round(total),
            health_score: round(health),
            load_score: round(load),
            capability_score: round(capability),
            success_score: round(success),
            latency_score: round(latency),
        },
        problem,
    }
}

/// Best first; equal totals keep the candidates' configured order.
pub(crate) fn rank(mut scored: Vec<Scored>) -> Vec<Scored> {
    scored.sort_by(|a, b| b.score.total_score.total_cmp(&a.score.total_score));
    scored
}

/// The best candidate that can be chosen, from a ranked list.
pub(crate) fn best(ranked: &[Scored]) -> Option<&Scored> {
    ranked.iter().find(|s| s.problem.is_none())
}

fn clamp(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// Four decimals are plenty to compare and keep the JSON readable.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str) -> Facts<'_> {
        Facts {
            name,
            required: 2,
            missing: Vec::new(),
            isolated: true,
            health: 1.0,
            running: 0,
            max_concurrency: 4,
            stats: None,
        }
    }

    fn stats(finished: u64, succeeded: u64, median_ms: Option<u64>) -> ProviderStats {
        ProviderStats {
            provider: "p".into(),
            finished,
            succeeded,
            median_duration_ms: median_ms,
        }
    }

    #[test]
    fn each_score_and_the_weighted_total() {
        let w = Weights::default();
        let s = score(&w, RiskLevel::ReadOnly, &facts("a")).score;
        // health 1, load 1, capability 1, success and latency neutral.
        assert_eq!(
            (
                s.health_score,
                s.load_score,
                s.capability_score,
                s.success_score,
                s.latency_score
            ),
            (1.0, 1.0, 1.0, 0.5, 0.5)
        );
        assert_eq!(s.total_score, (30.0 + 25.0 + 25.0 + 7.5 + 2.5) / 100.0);

        let history = stats(8, 7, Some(1000));
        let busy = Facts {
            running: 3,
            stats: Some(&history),
            ..facts("b")
        };
        let s = score(&w, RiskLevel::ReadOnly, &busy).score;
        assert_eq!(s.load_score, 0.25);
        assert_eq!(s.success_score, 0.8, "(7+1)/(8+2)");
        assert_eq!(s.latency_score, 0.5, "1/(1+1 s)");
        let over = Facts {
            running: 9,
            ..facts("c")
        };
        assert_eq!(score(&w, RiskLevel::ReadOnly, &over).score.load_score, 0.0);

        // Only the ratios of the weights matter.
        let only_load = Weights {
            health: 0.0,
            load: 7.0,
            capability: 0.0,
            success: 0.0,
            latency: 0.0,
        };
        assert_eq!(
            score(&only_load, RiskLevel::ReadOnly, &busy)
                .score
                .total_score,
            0.25
        );
    }

    #[test]
    fn missing_actions_or_bad_health_make_a_candidate_ineligible_with_total_zero() {
        let w = Weights::default();
        let lacking = Facts {
            missing: vec!["write_file".into()],
            ..facts("docker")
        };
        let s = score(&w, RiskLevel::Write, &lacking);
        assert_eq!(s.score.capability_score, 0.5);
        assert_eq!(s.score.total_score, 0.0);
        assert_eq!(s.problem.as_deref(), Some("docker cannot run write_file"));
        let sick = Facts {
            health: 0.2,
            ..facts("ssh")
        };
        let s = score(&w, RiskLevel::ReadOnly, &sick);
        assert_eq!(s.score.total_score, 0.0);
        assert!(s.problem.expect("problem").contains("unhealthy"));
        let so_so = Facts {
            health: 0.5,
            ..facts("ssh")
        };
        assert!(score(&w, RiskLevel::ReadOnly, &so_so).problem.is_none());
    }

    #[test]
    fn isolation_nudges_write_plans_only() {
        let w = Weights::default();
        let host = Facts {
            isolated: false,
            ..facts("local")
        };
        assert_eq!(
            score(&w, RiskLevel::ReadOnly, &host).score.capability_score,
            1.0
        );
        assert_eq!(
            score(&w, RiskLevel::Admin, &host).score.capability_score,
            NOT_ISOLATED_FOR_WRITES
        );
        assert_eq!(
            score(&w, RiskLevel::Admin, &facts("docker"))
                .score
                .capability_score,
            1.0
        );
    }

    #[test]
    fn ranking_is_best_first_ties_keep_order_and_best_skips_the_ineligible() {
        let w = Weights::default();
        let good = stats(10, 10, Some(100));
        let bad = stats(10, 2, Some(60_000));
        let ranked = rank(vec![
            score(
                &w,
                RiskLevel::ReadOnly,
                &Facts {
                    stats: Some(&bad),
                    ..facts("slow")
                },
            ),
            score(
                &w,
                RiskLevel::ReadOnly,
                &Facts {
                    health: 0.0,
                    ..facts("down")
                },
            ),
            score(&w, RiskLevel::ReadOnly, &facts("first")),
            score(&w, RiskLevel::ReadOnly, &facts("second")),
            score(
                &w,
                RiskLevel::ReadOnly,
                &Facts {
                    stats: Some(&good),
                    ..facts("proven")
                },
            ),
        ]);
        let order: Vec<&str> = ranked.iter().map(|s| s.score.provider.as_str()).collect();
        assert_eq!(order, ["proven", "first", "second", "slow", "down"]);
        assert_eq!(
            best(&ranked).map(|s| s.score.provider.as_str()),
            Some("proven")
        );
        let none = rank(vec![score(
            &w,
            RiskLevel::ReadOnly,
            &Facts {
                health: 0.0,
                ..facts("down")
            },
        )]);
        assert!(best(&none).is_none());
    }
}
