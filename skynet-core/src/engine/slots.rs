//! A worker's slots: it runs steps of at most `concurrency` jobs at once
//! and holds at most `concurrency + prefetch` claimed jobs, so a saturated
//! worker claims jobs in batches instead of one per freed slot. A job
//! claimed ahead keeps its lease alive (its run's heartbeat starts at
//! once) and waits for a slot; on shutdown it is handed back before it
//! starts. A slot is freed as soon as the job's steps are done, before its
//! completion is committed: the next job runs while the group committer
//! writes the last one (a crash in between is recovered like any crash
//! before a completion).

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// The slots of one worker loop.
pub(crate) struct Slots {
    run: Arc<Semaphore>,
    hold: Arc<Semaphore>,
    concurrency: usize,
    stop: CancellationToken,
}

/// A claimed job's place in the worker, waiting for a slot to run in.
pub(crate) struct Ticket {
    held: OwnedSemaphorePermit,
    run: Arc<Semaphore>,
    stop: CancellationToken,
}

/// A slot a job's steps run in; dropping it frees the slot.
pub(crate) struct Turn {
    _held: OwnedSemaphorePermit,
    _run: OwnedSemaphorePermit,
}

impl Slots {
    /// Slots for `concurrency` running and `prefetch` more claimed jobs;
    /// waiting jobs give up their turn once `stop` fires.
    pub(crate) fn new(concurrency: usize, prefetch: usize, stop: CancellationToken) -> Self {
        Slots {
            run: Arc::new(Semaphore::new(concurrency)),
            hold: Arc::new(Semaphore::new(concurrency + prefetch)),
            concurrency,
            stop,
        }
    }

    /// How many more jobs may be claimed now.
    pub(crate) fn claimable(&self) -> usize {
        self.hold.available_permits()
    }

    /// Jobs whose steps are running now.
    pub(crate) fn busy(&self) -> usize {
        self.concurrency - self.run.available_permits()
    }

    /// A ticket for one more claimed job (`None` if none may be held).
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        let held = self.hold.clone().try_acquire_owned().ok()?;
        Some(Ticket {
            held,
            run: self.run.clone(),
            stop: self.stop.clone(),
        })
    }

    /// Wait until another job may be claimed.
    pub(crate) async fn until_claimable(&self) {
        // Closed never: the semaphore lives as long as `self`.
        if let Ok(permit) = self.hold.acquire().await {
            drop(permit);
        }
    }
}

impl Ticket {
    /// Wait for a free slot, in claim order. `None`: the worker is
    /// stopping, and the job should be handed back without running.
    pub(crate) async fn turn(self) -> Option<Turn> {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => None,
            run = self.run.acquire_owned() => run.ok().map(|run| Turn {
                _held: self.held,
                _run: run,
            }),
        }
    }
}
