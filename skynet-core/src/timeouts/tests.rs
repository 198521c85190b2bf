//! Precedence of the timeout levels and the global clamp, as tables.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::plan::Command;
use TimeoutLevel as L;

fn s(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

fn limit(level: TimeoutLevel, secs: u64) -> Option<TimeLimit> {
    Some(TimeLimit {
        level,
        limit_ms: secs * 1000,
    })
}

/// Named cases: what each level says, and the limit that must win.
#[test]
fn the_most_specific_level_wins_within_the_caps() {
    let none = StepLimits::default();
    let cases: Vec<(&str, StepLimits, Option<TimeLimit>)> = vec![
        ("nothing set: no limit", none, None),
        (
            "the provider's default when nothing else is set",
            StepLimits {
                provider: s(60),
                ..none
            },
            limit(L::Provider, 60),
        ),
        (
            "an action's default over a shorter provider default (a build is not cut at 60 s)",
            StepLimits {
                action: s(1800),
                provider: s(60),
                ..none
            },
            limit(L::Action, 1800),
        ),
        (
            "[limits] step_timeout over the action's and the provider's defaults",
            StepLimits {
                configured_step: s(600),
                action: s(1800),
                provider: s(60),
                ..none
            },
            limit(L::Step, 600),
        ),
        (
            "the request's step budget over [limits] step_timeout",
            StepLimits {
                requested_step: s(300),
                configured_step: s(600),
                provider: s(60),
                ..none
            },
            limit(L::Step, 300),
        ),
        (
            "the command's own timeout over everything else, shorter",
            StepLimits {
                command: s(3),
                requested_step: s(300),
                configured_step: s(600),
                action: s(1800),
                provider: s(60),
                ..none
            },
            limit(L::Command, 3),
        ),
        (
            "the command's own timeout over a shorter provider default",
            StepLimits {
                command: s(600),
                provider: s(60),
                ..none
            },
            limit(L::Command, 600),
        ),
        (
            "the READ_ONLY cap under a longer provider default",
            StepLimits {
                provider: s(300),
                read_only_cap: s(120),
                ..none
            },
            limit(L::ReadOnlyCap, 120),
        ),
        (
            "a shorter provider default under the READ_ONLY cap",
            StepLimits {
                provider: s(60),
                read_only_cap: s(120),
                ..none
            },
            limit(L::Provider, 60),
        ),
        (
            "the READ_ONLY cap under a longer action default",
            StepLimits {
                action: s(1800),
                read_only_cap: s(120),
                ..none
            },
            limit(L::ReadOnlyCap, 120),
        ),
        (
            "the READ_ONLY cap under [limits] step_timeout",
            StepLimits {
                configured_step: s(600),
                read_only_cap: s(120),
                ..none
            },
            limit(L::ReadOnlyCap, 120),
        ),
        (
            "the request's step budget lifts the READ_ONLY cap",
            StepLimits {
                requested_step: s(300),
                read_only_cap: s(120),
                ..none
            },
            limit(L::Step, 300),
        ),
        (
            "the command's own timeout (the planner's choice) does not lift the READ_ONLY cap",
            StepLimits {
                command: s(300),
                read_only_cap: s(120),
                ..none
            },
            limit(L::ReadOnlyCap, 120),
        ),
        (
            "a command's own timeout under the READ_ONLY cap",
            StepLimits {
                command: s(60),
                read_only_cap: s(120),
                ..none
            },
            limit(L::Command, 60),
        ),
        (
            "the request's step budget lifts the cap over a command's own timeout",
            StepLimits {
                command: s(300),
                requested_step: s(600),
                read_only_cap: s(120),
                ..none
            },
            limit(L::Command, 300),
        ),
        (
            "the READ_ONLY cap alone (a provider without a default)",
            StepLimits {
                read_only_cap: s(120),
                ..none
            },
            limit(L::ReadOnlyCap, 120),
        ),
        (
            "the job's limit alone",
            StepLimits {
                job_left: s(10),
                ..none
            },
            limit(L::Global, 10),
        ),
        (
            "the job's limit clamps a longer command timeout",
            StepLimits {
                command: s(600),
                job_left: s(10),
                ..none
            },
            limit(L::Global, 10),
        ),
        (
            "a command timeout shorter than what is left of the job",
            StepLimits {
                command: s(5),
                job_left: s(10),
                ..none
            },
            limit(L::Command, 5),
        ),
        (
            "the job's limit clamps the READ_ONLY cap",
            StepLimits {
                provider: s(300),
                read_only_cap: s(120),
                job_left: s(30),
                ..none
            },
            limit(L::Global, 30),
        ),
        (
            "the job's limit clamps a step budget that lifted the READ_ONLY cap",
            StepLimits {
                requested_step: s(300),
                read_only_cap: s(120),
                job_left: s(200),
                ..none
            },
            limit(L::Global, 200),
        ),
        (
            "a tie with the job's limit names the more specific level",
            StepLimits {
                provider: s(60),
                job_left: s(60),
                ..none
            },
            limit(L::Provider, 60),
        ),
        (
            "a tie with the READ_ONLY cap names the more specific level",
            StepLimits {
                provider: s(120),
                read_only_cap: s(120),
                ..none
            },
            limit(L::Provider, 120),
        ),
    ];
    for (name, limits, want) in cases {
        assert_eq!(limits.resolve(), want, "{name}");
    }
}

/// Every combination of set levels (2^7), each with its own length in
/// both orders of magnitude: the rules hold for all of them.
#[test]
fn every_combination_obeys_the_precedence_and_the_clamp() {
    // Lengths chosen so no two levels tie; `flip` reverses their order.
    for flip in [false, true] {
        let len = |i: u64| s(if flip { 10 + i } else { 100 - i });
        for mask in 0u32..(1 << 7) {
            let set = |bit: u32, i: u64| if mask & (1 << bit) != 0 { len(i) } else { None };
            let l = StepLimits {
                command: set(0, 1),
                requested_step: set(1, 2),
                configured_step: set(2, 3),
                action: set(3, 4),
                provider: set(4, 5),
                read_only_cap: set(5, 6),
                job_left: set(6, 7),
            };
            let got = l.resolve();
            let why = format!("{l:?} -> {got:?}");
            // The base: the first level set, most specific first.
            let base = [
                (l.command, L::Command),
                (l.requested_step, L::Step),
                (l.configured_step, L::Step),
                (l.action, L::Action),
                (l.provider, L::Provider),
            ]
            .into_iter()
            .find_map(|(d, level)| d.map(|d| (d, level)));
            let Some(got) = got else {
                assert!(base.is_none() && l.read_only_cap.is_none() && l.job_left.is_none());
                continue;
            };
            // Never past the job's limit.
            if let Some(left) = l.job_left {
                assert!(got.duration() <= left, "{why}");
            }
            // The READ_ONLY cap holds unless the request lifted it.
            let lifted = l.requested_step.is_some();
            if let Some(cap) = l.read_only_cap
                && !lifted
            {
                assert!(got.duration() <= cap, "{why}");
            }
            // The winner is the base unless a cap is strictly shorter.
            match got.level {
                L::Global => assert_eq!(Some(got.duration()), l.job_left, "{why}"),
                L::ReadOnlyCap => {
                    assert_eq!(Some(got.duration()), l.read_only_cap, "{why}");
                    assert!(!lifted, "{why}");
                }
                level => assert_eq!(Some((got.duration(), level)), base, "{why}"),
            }
            if let Some((d, _)) = base
                && got.duration() < d
            {
                assert!(matches!(got.level, L::Global | L::ReadOnlyCap), "{why}");
            }
        }
    }
}

fn step(action: Action, risk: RiskLevel, timeout_ms: Option<u64>) -> Step {
    Step {
        description: "a step".into(),
        action,
        command: Command {
            timeout_ms,
            ..Command::piped(vec![vec!["true".into()]], "/")
        },
        risk,
        decision: None,
        estimate_ms: None,
        network: None,
        artifacts: Vec::new(),
    }
}

#[test]
fn the_configuration_feeds_each_level() {
    let mut config = TimeoutConfig::default();
    let tests = step(Action::RunTests, RiskLevel::Write, None);
    let read = step(Action::SystemInfo, RiskLevel::ReadOnly, Some(5_000));
    let local = config.step_limits(&tests, None, "local", s(30));
    assert_eq!(
        local,
        StepLimits {
            action: Action::RunTests.default_timeout(),
            provider: s(60),
            job_left: s(30),
            ..StepLimits::default()
        }
    );
    // The cap is there for READ_ONLY steps only; aliases find their provider.
    let remote = config.step_limits(&read, s(7), "openclaw", None);
    assert_eq!(
        remote,
        StepLimits {
            command: s(5),
            requested_step: s(7),
            provider: s(300),
            read_only_cap: s(120),
            ..StepLimits::default()
        }
    );
    assert_eq!(config.provider_default("mock"), None);
    // Configured action defaults replace the catalog's, or remove them.
    config.step = s(900);
    config.actions.insert("run_tests".into(), s(3600));
    config.actions.insert("build_project".into(), None);
    assert_eq!(config.action_default(&Action::RunTests), s(3600));
    assert_eq!(config.action_default(&Action::BuildProject), None);
    assert_eq!(config.action_default(&Action::SystemInfo), None);
    assert_eq!(
        config
            .step_limits(&tests, None, "local", None)
            .configured_step,
        s(900)
    );
}

#[test]
fn the_catalog_gives_builds_and_tests_longer_than_any_provider_default() {
    let longest = PROVIDER_DEFAULTS.iter().map(|(_, d)| *d).max().unwrap();
    for action in [Action::RunTests, Action::BuildProject] {
        assert!(action.default_timeout().unwrap() > longest, "{action:?}");
    }
    assert_eq!(Action::SystemInfo.default_timeout(), None);
}

#[test]
fn a_limit_explains_itself() {
    let cut = |level, secs: u64| TimeLimit {
        level,
        limit_ms: secs * 1000,
    };
    assert_eq!(
        cut(L::Provider, 60).explain("local", "run_tests", None),
        "timed out after 1m (provider local default)"
    );
    assert_eq!(
        cut(L::Action, 1800).explain("local", "run_tests", None),
        "timed out after 30m (action run_tests default)"
    );
    assert_eq!(
        cut(L::Global, 2).explain("local", "x", s(5)),
        "timed out after 2s (global job limit of 5s)"
    );
    assert_eq!(
        cut(L::ReadOnlyCap, 120).explain("local", "x", None),
        "timed out after 2m (READ_ONLY step cap)"
    );
    let json = serde_json::to_value(cut(L::ReadOnlyCap, 1)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"level": "read_only_cap", "limit_ms": 1000})
    );
}
