//! A sandboxed step of `true` through SKYNET beside the same bubblewrap
//! invocation run directly and a bare spawn, interleaved in one run.
//!
//! `cargo run --release -p skynet-benches --bin sandbox-spawn [-- ROUNDS PER_ROUND]`
//! Needs bubblewrap working here (see `scripts/services.d/50-sandbox.sh`).

use skynet_benches::{command, step};
use skynet_core::provider::LocalProvider;
use skynet_core::provider::local::{SandboxMode, bubblewrap_invocation};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

async fn bare(root: &Path) {
    let out = tokio::process::Command::new("/bin/true")
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("spawn");
    assert!(out.status.success());
}

async fn direct_bwrap(root: &Path) {
    // The descriptors are made per spawn, as the provider does: bubblewrap
    // reads each one to its end.
    let (bwrap, args, fds) = bubblewrap_invocation(root, false)
        .await
        .expect("bubblewrap works here");
    let child = tokio::process::Command::new(bwrap)
        .args(args)
        .arg("--")
        .arg("/bin/true")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn bwrap");
    drop(fds);
    let out = child.wait_with_output().await.expect("wait");
    assert!(out.status.success(), "{out:?}");
}

#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn median(&self) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    }
    fn mean(&self) -> Duration {
        let total: Duration = self.0.iter().sum();
        total / u32::try_from(self.0.len().max(1)).unwrap_or(u32::MAX)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let per_round: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let provider = LocalProvider::new().with_sandbox(SandboxMode::Require);
    let cmd = command(&[&["/bin/true"]], &root);
    let (mut b, mut d, mut s) = (Samples::default(), Samples::default(), Samples::default());
    rt.block_on(async {
        // Warm-up: the probe (cached once per process) and the page cache.
        step(&provider, &cmd, &root, 0).await;
        direct_bwrap(&root).await;
        for _ in 0..rounds {
            for _ in 0..per_round {
                let t = Instant::now();
                bare(&root).await;
                b.0.push(t.elapsed());
                let t = Instant::now();
                direct_bwrap(&root).await;
                d.0.push(t.elapsed());
                let t = Instant::now();
                step(&provider, &cmd, &root, 0).await;
                s.0.push(t.elapsed());
            }
        }
    });
    println!("{} spawns each, interleaved", rounds * per_round);
    for (name, x) in [("bare spawn", &b), ("direct bwrap", &d), ("via SKYNET", &s)] {
        println!(
            "{name:<13} mean {:>9.3} ms  median {:>9.3} ms",
            x.mean().as_secs_f64() * 1e3,
            x.median().as_secs_f64() * 1e3
        );
    }
    println!(
        "SKYNET / direct bwrap: mean {:.3}, median {:.3}",
        s.mean().as_secs_f64() / d.mean().as_secs_f64(),
        s.median().as_secs_f64() / d.median().as_secs_f64()
    );
}
