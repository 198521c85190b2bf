//! Group commit of the checkpoints a worker's runs write (step ends,
//! completions): while one transaction commits, the checkpoints that arrive
//! queue up and go in together in the next one, each still fenced by its
//! own lease. No timer: a lone checkpoint is written at once, so an idle
//! worker adds no latency, and a busy one pays one commit (one fsync) for
//! many jobs.

use crate::job::Job;
use crate::store::{RunCheckpoint, SharedStore};
use crate::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// Checkpoints per transaction at most (keeps a transaction, and the row
/// locks it holds, short).
const MAX_BATCH: usize = 256;

type Request = (RunCheckpoint, oneshot::Sender<Result<Option<Job>>>);

/// Where a run writes its checkpoints.
#[derive(Clone)]
pub(crate) enum CheckpointWriter {
    /// Each in its own transaction (a job run outside a worker loop).
    Direct,
    /// Through a worker's group committer.
    Grouped(mpsc::UnboundedSender<Request>),
}

impl CheckpointWriter {
    /// A group committer writing to `store`; it stops once every clone of
    /// the returned writer is dropped.
    pub(crate) fn grouped(store: SharedStore) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(commit_loop(store, rx));
        (CheckpointWriter::Grouped(tx), task)
    }

    /// Record `cp`: the completed job (`None` when the run goes on), or why
    /// it was refused ([`Error::LeaseLost`] ...).
    pub(crate) async fn record(
        &self,
        store: &SharedStore,
        cp: RunCheckpoint,
    ) -> Result<Option<Job>> {
        match self {
            CheckpointWriter::Direct => record_alone(store, cp).await,
            CheckpointWriter::Grouped(queue) => {
                let (reply, answer) = oneshot::channel();
                queue
                    .send((cp, reply))
                    .map_err(|_| Error::Store("the checkpoint committer has stopped".into()))?;
                answer.await.map_err(|_| {
                    Error::Store("the checkpoint committer stopped before answering".into())
                })?
            }
        }
    }
}

async fn record_alone(store: &SharedStore, cp: RunCheckpoint) -> Result<Option<Job>> {
    store
        .record_checkpoints(std::slice::from_ref(&cp))
        .await?
        .pop()
        .unwrap_or_else(|| Err(Error::Store("the store answered no checkpoint".into())))
}

/// Take what has queued up, write it in one transaction, answer, repeat.
async fn commit_loop(store: SharedStore, mut queue: mpsc::UnboundedReceiver<Request>) {
    let mut batch: Vec<Request> = Vec::new();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (cps, replies): (Vec<RunCheckpoint>, Vec<_>) = batch.drain(..).unzip();
        match store.record_checkpoints(&cps).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A run that went away (aborted) no longer needs its answer.
                    let _ = reply.send(result);
                }
            }
            Err(e) if replies.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            // The whole transaction failed (a store error, or one checkpoint
            // the store refused half-way): write each alone, so one bad
            // checkpoint cannot fail the others.
            Err(e) => {
                tracing::debug!("a group commit of {} checkpoints failed: {e}", cps.len());
                for (cp, reply) in cps.into_iter().zip(replies) {
                    let _ = reply.send(record_alone(&store, cp).await);
                }
            }
        }
    }
}
