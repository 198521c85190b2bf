//! Pipelines without a shell (issue 16): a 3-stage pipeline of `true`
//! through `LocalProvider` beside `sh -c 'true | true | true'` through the
//! same provider, sandbox off, same run; and under bubblewrap (when it
//! works here) the pipeline beside a single `true` step, which shows the
//! pipeline costs one sandbox start, not one per stage. Each pair is
//! interleaved (a timed run of one right after an untimed run of the
//! other), so both see the same load.
//!
//! `cargo bench -p skynet-benches --bench pipeline`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{Criterion, criterion_group, criterion_main};
use skynet_benches::{command, step, try_step};
use skynet_core::Command;
use skynet_core::provider::LocalProvider;
use skynet_core::provider::local::SandboxMode;
use std::path::Path;
use std::time::Duration;

/// Each `(label, timed, other)`: the time of `timed`, every run of it
/// right after an untimed run of `other`, so the pair sees the same load
/// (the machine these run on is shared).
fn interleaved<const N: usize>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    provider: &LocalProvider,
    root: &Path,
    cases: [(&str, &Command, &Command); N],
) {
    for (label, timed, other) in cases {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        step(provider, other, root, 0).await;
                        let started = std::time::Instant::now();
                        step(provider, timed, root, 0).await;
                        total += started.elapsed();
                    }
                    total
                })
            })
        });
    }
}

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canon");
    let piped = command(&[&["true"], &["true"], &["true"]], &root);
    let shell = command(&[&["sh", "-c", "true | true | true"]], &root);
    let single = command(&[&["true"]], &root);

    // Sandbox off. READ_ONLY steps get a CPU limit through `prlimit`, one
    // per process SKYNET starts: three for the pipeline, one for sh. Both
    // ways, so the limit's own cost shows.
    for (name, provider) in [
        ("sandbox_off", LocalProvider::new()),
        (
            "sandbox_off_no_cpu_limit",
            LocalProvider::new().with_read_only_cpu(None),
        ),
    ] {
        let mut group = c.benchmark_group(format!("pipeline_3_true/{name}"));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(5));
        interleaved(
            &mut group,
            &rt,
            &provider,
            &root,
            [
                ("skynet_pipeline", &piped, &shell),
                ("sh_c", &shell, &piped),
                ("single_true", &single, &piped),
            ],
        );
        group.finish();
    }

    // Bubblewrap: the pipeline beside one program, both one sandbox start.
    let sandboxed = LocalProvider::new().with_sandbox(SandboxMode::Require);
    let works = rt.block_on(async {
        try_step(&sandboxed, &single, &root, 0)
            .await
            .is_ok_and(|o| o.success())
    });
    if !works {
        eprintln!("bubblewrap does not work here: the sandboxed group is skipped");
        return;
    }
    let before = sandboxed.launches();
    rt.block_on(step(&sandboxed, &piped, &root, 0));
    let after = sandboxed.launches();
    eprintln!(
        "one 3-stage pipeline under bubblewrap started {} process(es) and {} sandbox(es)",
        after.processes - before.processes,
        after.sandboxes - before.sandboxes
    );
    let mut group = c.benchmark_group("pipeline_3_true/bubblewrap");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    interleaved(
        &mut group,
        &rt,
        &sandboxed,
        &root,
        [
            ("skynet_pipeline", &piped, &single),
            ("single_true", &single, &piped),
        ],
    );
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
