//! The Rust half of the Python-bindings benchmark (`benches/python/run.sh`):
//! the same work as `bindings.py`, through `skynet_core` directly, so the
//! two can be compared in one run. Prints one number on stdout.
//!
//! `skynet-python-peer policy N ROOT`: mean ns per `check_command`.
//! `skynet-python-peer drain N CONCURRENCY HOME`: seconds to submit N
//! READ_ONLY jobs on the mock provider and wait for each to finish, with an
//! in-process worker running meanwhile (what `skynet.Skynet` does).

use skynet_core::config::Settings;
use skynet_core::{Skynet, SubmitRequest, WorkerOptions};
use std::path::PathBuf;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

fn usage() -> ! {
    eprintln!("usage: skynet-python-peer policy N ROOT | drain N CONCURRENCY HOME");
    std::process::exit(2)
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map(String::as_str).unwrap_or_else(|| usage())
}

fn number(text: &str) -> usize {
    text.parse().unwrap_or_else(|_| usage())
}

async fn engine(home: PathBuf) -> Skynet {
    let mut settings = Settings::load(Some(home)).expect("settings");
    settings.provider = "mock".into();
    settings
        .builder()
        .expect("builder")
        .build()
        .await
        .expect("engine")
}

fn policy(n: usize, root: PathBuf) -> f64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sk = rt.block_on(engine(root.join(".home")));
    let argv = vec!["git".to_string(), "status".to_string()];
    let start = Instant::now();
    for _ in 0..n {
        let d = sk
            .check_command(std::hint::black_box(&argv), Some(root.clone()))
            .expect("decision");
        std::hint::black_box(d);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn drain(n: usize, concurrency: usize, home: PathBuf) -> f64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let sk = engine(home.clone()).await;
        let stop = CancellationToken::new();
        let worker = {
            let (sk, stop) = (sk.clone(), stop.clone());
            let opts = WorkerOptions {
                concurrency,
                ..WorkerOptions::default()
            };
            tokio::spawn(async move { sk.worker(opts, stop).await })
        };
        let start = Instant::now();
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let job = sk
                .submit(SubmitRequest::new("list the files").root(&home))
                .await
                .expect("submit");
            ids.push(job.id);
        }
        for id in &ids {
            let job = sk.wait(id, None).await.expect("wait");
            assert_eq!(job.status.as_str(), "succeeded");
        }
        let secs = start.elapsed().as_secs_f64();
        stop.cancel();
        worker.await.expect("join").expect("worker");
        secs
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = match arg(&args, 1) {
        "policy" => policy(number(arg(&args, 2)), PathBuf::from(arg(&args, 3))),
        "drain" => drain(
            number(arg(&args, 2)),
            number(arg(&args, 3)),
            PathBuf::from(arg(&args, 4)),
        ),
        _ => usage(),
    };
    println!("{value}");
}
