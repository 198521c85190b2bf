//! The gateway provider's added latency per step: N steps of `true`
//! through `GatewayProvider` to an agent (the `skynet agent` router) on
//! loopback, beside N steps of `true` through `LocalProvider` directly,
//! interleaved in the same run. Both sides use the same local provider
//! (sandbox off), so the difference is the protocol: `POST /execute`,
//! then a long-poll `GET /status` that answers when the step ends.
//!
//! `SKYNET_BENCH_STEPS` sets N (default 300). Run with
//! `cargo bench -p skynet-benches --bench gateway_steps`.

use skynet_benches::{command, step};
use skynet_core::llm::ApiKey;
use skynet_core::provider::gateway::agent::{AgentJobs, AgentLimits};
use skynet_core::provider::{GatewayConfig, GatewayProvider, LocalProvider, Provider};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-gateway-token";

async fn one_step(provider: &dyn Provider, root: &Path, n: usize) -> Duration {
    let cmd = command(&[&["true"]], root);
    let started = Instant::now();
    step(provider, &cmd, root, n).await;
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let steps: usize = std::env::var("SKYNET_BENCH_STEPS")
        .ok()
        .map_or(300, |v| v.parse().expect("a number"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("root");
    let root = dir.path().canonicalize().expect("canonical root");
    rt.block_on(async {
        let jobs = AgentJobs::new(&root, LocalProvider::new(), AgentLimits::default())
            .expect("agent jobs");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(skynet_http::agent::serve(
            listener,
            skynet_http::agent::router(jobs, TOKEN),
            std::future::pending(),
        ));
        let gateway = GatewayProvider::new(GatewayConfig::new(
            format!("http://{addr}"),
            ApiKey::new(TOKEN),
        ))
        .expect("gateway");
        let local = LocalProvider::new();
        // Warm up both (connection pool, page cache).
        for i in 0..20 {
            one_step(&gateway, &root, i).await;
            one_step(&local, &root, i).await;
        }
        let (mut g, mut l) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
        for i in 0..steps {
            g.push(one_step(&gateway, &root, i).await);
            l.push(one_step(&local, &root, i).await);
        }
        g.sort();
        l.sort();
        println!("gateway round trip per step on loopback, {steps} steps of `true`, interleaved:");
        println!("| provider | p50 | p90 | p99 |");
        println!("|---|---|---|---|");
        for (name, v) in [("local (direct)", &l), ("gateway (loopback agent)", &g)] {
            println!(
                "| {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
                ms(percentile(v, 0.5)),
                ms(percentile(v, 0.9)),
                ms(percentile(v, 0.99))
            );
        }
        let added = ms(percentile(&g, 0.5)) - ms(percentile(&l, 0.5));
        println!(
            "added p50: {added:.2} ms per step (goal < 2 ms); ratio gateway/local p50: {:.2}",
            ms(percentile(&g, 0.5)) / ms(percentile(&l, 0.5))
        );
    });
}
