//! Remote providers beside their command-line equivalents, same run:
//!
//! - N one-step runs of `true` through `DockerProvider` (Engine API) beside
//!   N `docker run --rm` of the same image from the CLI;
//! - N steps of `true` through `SshProvider` (one reused connection) beside
//!   N separate `ssh host true` invocations.
//!
//! Needs the services of `scripts/services.d` (`SKYNET_TEST_DOCKER_IMAGE`,
//! `SKYNET_TEST_SSH_*`); a missing service is skipped and said so. Both SSH
//! runners log in as `SKYNET_BENCH_SSH_USER` when set (the plain `/bin/sh`
//! account of `40-sshd.sh`, so a session costs SSH and not the shell's rc
//! files), else as `SKYNET_TEST_SSH_USER`.
//! `SKYNET_BENCH_STEPS` sets N (default 200). Run with
//! `cargo bench -p skynet-benches --bench remote_steps`.

use skynet_benches::{command, step};
use skynet_core::provider::{DockerConfig, DockerProvider, Provider, SshConfig, SshProvider};
use std::path::Path;
use std::time::{Duration, Instant};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn through(provider: &dyn Provider, root: &Path, steps: usize) -> Duration {
    let cmd = command(&[&["true"]], root);
    let started = Instant::now();
    for n in 0..steps {
        step(provider, &cmd, root, n).await;
    }
    started.elapsed()
}

fn cli(steps: usize, program: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    for _ in 0..steps {
        let out = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("spawn");
        assert!(out.status.success(), "{program}: {out:?}");
    }
    started.elapsed()
}

/// A titled table of runners with their total and per-step times.
fn table(title: &str, steps: usize, rows: [(&str, Duration); 2]) {
    println!("\n{title}\n");
    println!("| runner | total | per step |\n|---|---|---|");
    for (what, d) in rows {
        let ms = d.as_secs_f64() * 1000.0;
        println!("| {what} | {ms:.0} ms | {:.2} ms/step |", ms / steps as f64);
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either: this harness takes no arguments.
    let steps: usize = var("SKYNET_BENCH_STEPS").map_or(200, |v| v.parse().expect("a number"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let root = tempfile::tempdir().expect("root");
    let root = root.path().canonicalize().expect("canonical root");

    match var("SKYNET_TEST_DOCKER_IMAGE") {
        Some(image) => {
            let docker = DockerProvider::new(DockerConfig::new(&image));
            let api = rt.block_on(through(&docker, &root, steps));
            let cli = cli(
                steps,
                "docker",
                &["run", "--rm", "--network", "none", &image, "true"],
            );
            table(
                &format!("{steps} one-step containers, image {image}"),
                steps,
                [
                    ("DockerProvider (Engine API)", api),
                    ("`docker run --rm` (CLI)", cli),
                ],
            );
            println!(
                "\nratio API/CLI: {:.2}x",
                api.as_secs_f64() / cli.as_secs_f64()
            );
        }
        None => println!("SKIPPED docker: SKYNET_TEST_DOCKER_IMAGE is not set"),
    }

    let ssh = (
        var("SKYNET_TEST_SSH_HOST"),
        var("SKYNET_TEST_SSH_PORT"),
        var("SKYNET_BENCH_SSH_USER").or_else(|| var("SKYNET_TEST_SSH_USER")),
        var("SKYNET_TEST_SSH_KEY"),
        var("SKYNET_TEST_SSH_KNOWN_HOSTS"),
    );
    match ssh {
        (Some(host), Some(port), Some(user), Some(key), Some(known)) => {
            let mut config = SshConfig::new(&host, &user, &key, &known);
            config.port = port.parse().expect("port");
            config.remote_root = "/".into();
            let provider = SshProvider::new(config);
            let reused = rt.block_on(through(&provider, &root, steps));
            let known_opt = format!("UserKnownHostsFile={known}");
            let target = format!("{user}@{host}");
            let separate = cli(
                steps,
                "ssh",
                &[
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    &known_opt,
                    "-i",
                    &key,
                    "-p",
                    &port,
                    &target,
                    "true",
                ],
            );
            table(
                &format!("{steps} steps of `true` over SSH as {user}"),
                steps,
                [
                    ("SshProvider (one reused connection)", reused),
                    ("`ssh host true` per step", separate),
                ],
            );
            println!(
                "\nspeed-up: {:.1}x",
                separate.as_secs_f64() / reused.as_secs_f64()
            );
        }
        _ => println!("SKIPPED ssh: SKYNET_TEST_SSH_* are not set"),
    }
}
