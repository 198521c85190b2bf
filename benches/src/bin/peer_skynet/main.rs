//! SKYNET's side of the peer benchmark (`benches/peers/run.sh`).
//!
//! Every workload goes through the public engine API on the store named by
//! `--url` (`sqlite://PATH` or `postgres://...`): jobs are enqueued with
//! `Skynet::submit` (READ_ONLY plans are approved and queued in the same
//! transaction), drained by `Skynet::worker` (the loop `skynet worker`
//! runs: batch claims, leases, step checkpoints, fenced completions), on the
//! mock provider (no-op) or the local provider (`true`, a real process).
//!
//! It speaks a line protocol on stdout that `benches/peers/bench.py` reads:
//! `READY`, `MARK begin|end` (the timed window, for sampling the database
//! server's CPU), `ENQ <job> <unix s>`, `START <job> <unix s>` and one
//! final `RESULT <json>`.

mod measure;
mod workloads;

use clap::{Parser, Subcommand};

/// SKYNET's side of the peer benchmark.
#[derive(Parser, Debug)]
#[command(name = "peer_skynet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every engine-backed command takes.
#[derive(clap::Args, Debug, Clone)]
struct Engine {
    /// Database URL: `sqlite://PATH` or `postgres://...`.
    #[arg(long)]
    url: String,
    /// Sandbox root of the jobs (must exist).
    #[arg(long, default_value = ".")]
    root: std::path::PathBuf,
    /// Provider the jobs run on: `mock` (no-op) or `local` (runs `true`).
    #[arg(long, default_value = "mock")]
    provider: String,
}

/// The offered load of W3: `rate` jobs per second for `secs` seconds.
#[derive(clap::Args, Debug, Clone, Copy)]
struct Pace {
    /// Jobs per second offered.
    #[arg(long)]
    rate: u32,
    /// Seconds.
    #[arg(long)]
    secs: u32,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// W1: submit `jobs` jobs, one per call, `batch` calls in flight.
    Enqueue {
        #[command(flatten)]
        engine: Engine,
        /// Jobs to submit.
        #[arg(long)]
        jobs: usize,
        /// Submits in flight at once (1 = strictly one after another).
        #[arg(long, default_value_t = 1)]
        batch: usize,
    },
    /// Queue `jobs` jobs as fast as possible (untimed set-up for drains).
    Preload {
        #[command(flatten)]
        engine: Engine,
        /// Jobs to queue.
        #[arg(long)]
        jobs: usize,
    },
    /// Run `Skynet::worker` until the queue is empty (`--once`) or SIGTERM.
    Worker {
        #[command(flatten)]
        engine: Engine,
        /// Jobs run at once in this process.
        #[arg(long)]
        concurrency: usize,
        /// Jobs claimed ahead beyond those running (default: as many as
        /// `concurrency`, the library's default).
        #[arg(long)]
        prefetch: Option<usize>,
        /// Stop when the queue is empty.
        #[arg(long)]
        once: bool,
        /// Print `START <job> <unix s>` when each job's step starts.
        #[arg(long)]
        report_starts: bool,
    },
    /// W3 client: submit `rate` jobs per second for `secs` seconds.
    Paced {
        #[command(flatten)]
        engine: Engine,
        #[command(flatten)]
        pace: Pace,
    },
    /// W3 embedded (SQLite): the paced client and the worker in one process.
    LatencyEmbedded {
        #[command(flatten)]
        engine: Engine,
        #[command(flatten)]
        pace: Pace,
        /// Jobs run at once.
        #[arg(long)]
        concurrency: usize,
    },
    /// W4 ceiling: spawn `/bin/true` `jobs` times, `concurrency` at once.
    SpawnCeiling {
        /// Processes to spawn.
        #[arg(long)]
        jobs: usize,
        /// Spawns in flight at once.
        #[arg(long)]
        concurrency: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(workloads::run(cli.command))
}
