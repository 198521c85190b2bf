//! Secret scanning throughput: 1 MiB of typical step output, scanned as
//! one text and line by line (as the runner does), with a configured key.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use skynet_core::redact::Redactor;

/// About 1 MiB of build/grep-like output with a few secrets in it.
fn output() -> Vec<String> {
    let shapes = [
        "src/engine/runner.rs:740:        let text = sk.inner.redactor.redact(&line.text);",
        "   Compiling skynet-core v0.1.0 (/work/skynet/skynet-core)",
        "drwxr-xr-x  5 user group 4096 Dec  4 22:17 target",
        "test redact::tests::builtin_patterns_hide_well_known_credentials ... ok",
        "2026-12-04T22:17:03Z INFO worker: job 01a24326 finished in 1.2s tokens: 1234",
        "résumé: naïve ünïcode output — with some “quotes” and emoji 🚀",
        "{\"level\":\"info\",\"msg\":\"request done\",\"status\":200,\"path\":\"/v1/jobs\"}",
    ];
    let mut lines = Vec::new();
    let mut size = 0;
    let mut i = 0usize;
    while size < 1 << 20 {
        let line = match i % 997 {
            0 => "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE".to_string(),
            500 => "curl -H 'Authorization: Bearer abcdefghijklmnop123' x".to_string(),
            _ => shapes[i % shapes.len()].to_string(),
        };
        size += line.len() + 1;
        lines.push(line);
        i += 1;
    }
    lines
}

fn scan(c: &mut Criterion) {
    let lines = output();
    let text = lines.join("\n");
    let r = Redactor::new(["sk-test-FAKE-0123456789abcdef".to_string()]);
    let mut group = c.benchmark_group("redact_1mib");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("one_text", |b| {
        b.iter(|| r.redact_cow(black_box(&text)).len())
    });
    group.bench_function("line_by_line", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|l| r.redact_cow(black_box(l)).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
