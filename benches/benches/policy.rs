//! Policy decision latency for typical argvs.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use skynet_core::{Policy, PolicyContext};

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn policy_check(c: &mut Criterion) {
    let policy = Policy::default();
    let root = tempfile::tempdir().expect("tempdir");
    let ctx = PolicyContext::rooted(root.path().canonicalize().expect("canon"));
    let cases = [
        ("git_status", argv(&["git", "status"])),
        ("ls_la", argv(&["ls", "-la"])),
        ("cat_readme", argv(&["cat", "README.md"])),
        ("grep_todo", argv(&["grep", "-rn", "TODO", "src"])),
        ("git_log", argv(&["git", "log", "--oneline", "-n", "5"])),
        ("env_split_string", argv(&["env", "--s=sh -c id", "ls"])),
        ("read_file", argv(&["cat", "--", "src/main.rs"])),
        ("unknown_program", argv(&["frobnicate", "--all"])),
        ("rm_rf_root", argv(&["rm", "-rf", "/"])),
        (
            "shell_c",
            argv(&["sh", "-c", "git status && ls -la src | wc -l"]),
        ),
    ];
    let mut group = c.benchmark_group("policy_check");
    for (name, a) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| policy.check(black_box(a), black_box(&ctx)))
        });
    }
    group.finish();
}

criterion_group!(benches, policy_check);
criterion_main!(benches);
