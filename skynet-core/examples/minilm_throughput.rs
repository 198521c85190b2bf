//! Sentences per second of the local all-MiniLM-L6-v2 embedder (issue 18):
//! the same 256 short operations notes embedded in batches of 32 (one
//! `embed` call) and one at a time, after one warm-up call.
//!
//! `cargo run -p skynet-core --example minilm_throughput [--release] -- DIR`
//! (DIR defaults to `$SKYNET_EMBED_MODEL_DIR`; `scripts/services.d/25-minilm.sh`
//! fetches the model into `target/models/all-minilm-l6-v2`).

use skynet_core::memory::{Embedder, MiniLmEmbedder};
use std::time::Instant;

const VERBS: [&str; 8] = [
    "check", "restart", "build", "deploy", "inspect", "rotate", "clean", "test",
];
const OBJECTS: [&str; 8] = [
    "git status",
    "nginx on the web servers",
    "the postgres replica",
    "disk usage of /var",
    "the api container",
    "kernel logs since boot",
    "tls certificates",
    "the worker pool",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SKYNET_EMBED_MODEL_DIR").ok())
        .ok_or("give the model directory (or set SKYNET_EMBED_MODEL_DIR)")?;
    let began = Instant::now();
    let model = MiniLmEmbedder::load(&dir)?;
    println!("load: {:.2} s", began.elapsed().as_secs_f64());
    let texts: Vec<String> = (0..256)
        .map(|i| {
            format!(
                "{} {} on host-{}: it {}",
                VERBS[i % VERBS.len()],
                OBJECTS[(i / 8) % OBJECTS.len()],
                i % 17,
                if i % 3 == 0 { "failed" } else { "succeeded" }
            )
        })
        .collect();
    model.embed(&texts[..8]).await?;
    let began = Instant::now();
    let v = model.embed(&texts).await?;
    let batched = texts.len() as f64 / began.elapsed().as_secs_f64();
    assert_eq!(v.len(), texts.len());
    let began = Instant::now();
    for t in &texts[..64] {
        model.embed(std::slice::from_ref(t)).await?;
    }
    let single = 64.0 / began.elapsed().as_secs_f64();
    println!("batched (32 a call): {batched:.0} sentences/s");
    println!("one at a time:       {single:.0} sentences/s");
    Ok(())
}
