//! One artifact stored through the real `ArtifactStore`, timed, with the
//! resident memory of this process sampled throughout. Driven by
//! `benches/artifacts/run.sh`, which runs it beside `sha256sum` + `cp`
//! (local) and `aws s3 cp` (an S3-compatible server), alternating.
//!
//! ```text
//! artifact-upload local FILE DIR
//! artifact-upload s3 FILE ENDPOINT BUCKET
//! ```
//!
//! S3 credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`,
//! the part size from `SKYNET_ARTIFACT_S3_PART_SIZE` (bytes; default the
//! store's). Prints one JSON line: backend, bytes, seconds, the address,
//! the highest `VmRSS` sampled every 2 ms and the kernel's `VmHWM`.

use anyhow::{Context, Result, bail};
use skynet_core::artifact::{ArtifactStore, LocalArtifactStore, S3ArtifactStore, S3Settings};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Samples `VmRSS` every 2 ms on its own thread until dropped; keeps the
/// highest.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start() -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kb) = status_kb("VmRSS") {
                        peak.fetch_max(kb, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

fn store(args: &[String]) -> Result<(Arc<dyn ArtifactStore>, String)> {
    match args.first().map(String::as_str) {
        Some("local") if args.len() == 3 => {
            Ok((Arc::new(LocalArtifactStore::new(&args[2])), args[1].clone()))
        }
        Some("s3") if args.len() == 4 => {
            let mut settings = S3Settings::new(&args[3]);
            settings.endpoint = Some(args[2].clone());
            settings.access_key_id = std::env::var("AWS_ACCESS_KEY_ID").ok();
            settings.secret_access_key = std::env::var("AWS_SECRET_ACCESS_KEY")
                .ok()
                .map(skynet_core::artifact::s3::S3Secret::new);
            if let Ok(size) = std::env::var("SKYNET_ARTIFACT_S3_PART_SIZE") {
                settings.part_size = size.parse().context("SKYNET_ARTIFACT_S3_PART_SIZE")?;
            }
            Ok((Arc::new(S3ArtifactStore::new(settings)?), args[1].clone()))
        }
        _ => bail!("usage: artifact-upload local FILE DIR | s3 FILE ENDPOINT BUCKET"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (store, file) = store(&args)?;
    let sampler = RssSampler::start();
    let started = Instant::now();
    let mut source = tokio::fs::File::open(&file)
        .await
        .with_context(|| format!("opening {file}"))?;
    let stored = store.put(&mut source, u64::MAX).await?;
    let secs = started.elapsed().as_secs_f64();
    let peak = sampler.finish();
    println!(
        "{}",
        serde_json::json!({
            "backend": store.backend(),
            "bytes": stored.size,
            "secs": secs,
            "sha256": stored.sha256,
            "peak_rss_kb": peak,
            "hwm_kb": status_kb("VmHWM"),
        })
    );
    Ok(())
}
