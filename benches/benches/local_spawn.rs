//! 1,000 steps of `/bin/true` through `LocalProvider` beside raw
//! `tokio::process` spawns of `/bin/true`, same process, same run.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use skynet_benches::{command, step};
use skynet_core::Command;
use skynet_core::provider::LocalProvider;
use std::time::Duration;

const STEPS: u64 = 1_000;

async fn through_provider(p: &LocalProvider, cmd: &Command, root: &std::path::Path) {
    for i in 0..STEPS {
        step(p, cmd, root, i as usize).await;
    }
}

async fn raw_spawns(root: &std::path::Path) {
    for _ in 0..STEPS {
        // Output captured through pipes, as any step runner must.
        let out = tokio::process::Command::new("/bin/true")
            .current_dir(root)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("spawn");
        assert!(out.status.success());
    }
}

fn local_spawn(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canon");
    let provider = LocalProvider::new();
    let cmd = command(&[&["/bin/true"]], &root);
    let mut group = c.benchmark_group("spawn_1000_bin_true");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(STEPS));
    group.bench_function("local_provider", |b| {
        b.iter(|| rt.block_on(through_provider(&provider, &cmd, &root)))
    });
    group.bench_function("raw_tokio_process", |b| {
        b.iter(|| rt.block_on(raw_spawns(&root)))
    });
    group.finish();
}

criterion_group!(benches, local_spawn);
criterion_main!(benches);
