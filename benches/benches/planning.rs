//! Planning latency: a 3-clause operations intent through the rule planner
//! and the policy (issue 16: ≤ 200 µs p50).

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use skynet_core::planner::RulePlanner;
use skynet_core::{Policy, PolicyContext};

/// Map every clause, resolve each action to its argv and judge it.
fn plan_and_judge(
    planner: &RulePlanner,
    policy: &Policy,
    ctx: &PolicyContext,
    intent: &str,
) -> usize {
    let actions = planner.actions(intent).expect("plans");
    let mut judged = 0;
    for (_, action) in &actions {
        let inv = action.resolve(&ctx.cwd).expect("resolves");
        black_box(policy.check(&inv.argv, ctx));
        judged += 1;
    }
    judged
}

fn planning(c: &mut Criterion) {
    let planner = RulePlanner::new();
    let policy = Policy::default();
    let root = tempfile::tempdir().expect("tempdir");
    let ctx = PolicyContext::rooted(root.path().canonicalize().expect("canon"));
    let cases = [
        (
            "ops_3_clauses",
            "check memory, show the top processes and what's using port 8080",
        ),
        (
            "ops_3_clauses_logs",
            "show the last 50 lines of app.log, restart nginx and then show nginx logs",
        ),
        ("one_clause", "check git status"),
    ];
    // Compile the phrase table once, as a running service has.
    assert_eq!(plan_and_judge(&planner, &policy, &ctx, cases[0].1), 3);
    let mut group = c.benchmark_group("rule_plan_and_policy");
    for (name, intent) in cases {
        group.bench_function(name, |b| {
            b.iter(|| plan_and_judge(&planner, &policy, &ctx, black_box(intent)))
        });
    }
    group.finish();
}

criterion_group!(benches, planning);
criterion_main!(benches);
