//! The worker loop: claim, run, heartbeat, recover.

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's id (default: host-pid-random).
    pub id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Stop when the queue is empty instead of waiting for more.
    pub once: bool,
}

/// What a worker did.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// Jobs it ran to an end.
    pub jobs_run: usize,
}
