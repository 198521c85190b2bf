//! Embed SKYNET: plan an intent, look at the policy's verdict, run it on a
//! throwaway SQLite ledger and print what was recorded.
//!
//! `cargo run -p skynet-examples --example embed`

use skynet_core::store::LogQuery;
use skynet_core::{Skynet, SubmitRequest, WorkerOptions};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("notes.txt"), "hello from skynet\n")?;
    let sk = Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("skynet.db").display()
        ))
        .build()
        .await?;

    // READ_ONLY plans are auto-approved and queued.
    let job = sk
        .submit(SubmitRequest::new("list the files, then read notes.txt").root(dir.path()))
        .await?;
    println!("job {} is {} (risk {})", job.id, job.status, job.risk);

    // Drain the queue in this process.
    let opts = WorkerOptions {
        once: true,
        ..Default::default()
    };
    sk.worker(opts, CancellationToken::new()).await?;

    let job = sk.get(&job.id).await?;
    println!("job {} finished: {}", job.id, job.status);
    for line in sk.logs(&job.id, &LogQuery::default()).await? {
        println!("  [step {}] {}", line.step + 1, line.text);
    }
    let chain = sk.verify_events(&job.id).await?;
    println!(
        "audit chain intact: {} ({} events)",
        chain.intact, chain.events
    );
    Ok(())
}
