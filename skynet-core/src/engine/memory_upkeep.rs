//! Keeping memory in shape: forgetting by filter, pinning, and re-embedding
//! memories whose vectors another model made (resumable: each batch is
//! committed, and a restart continues with what is still to do).

use super::Skynet;
use super::memory::check_dimension;
use crate::memory::{Memory, MemoryFilter};
use crate::principal::Visibility;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Memories re-embedded per batch by default (one embedder call and one
/// transaction each).
pub const REINDEX_BATCH: u32 = 64;

/// Where a re-embed stands (reported after every batch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReindexProgress {
    /// Memories re-embedded by this run so far.
    pub done: u64,
    /// Memories this run found to re-embed when it started.
    pub total: u64,
}

/// What a re-embed did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReindexReport {
    /// The model every re-embedded vector now comes from.
    pub model: String,
    /// Memories re-embedded.
    pub reembedded: u64,
    /// Memories already embedded by `model` (left alone).
    pub current: u64,
}

impl Skynet {
    /// Re-embed, with the configured embedder, every memory whose vector
    /// another model made (or that has none), `batch` at a time (1 to
    /// 1000; default [`REINDEX_BATCH`]). Each batch is stored in one
    /// transaction before the next is embedded, so an interrupted run
    /// (a crash, an embedder error, Ctrl-C) loses at most its current
    /// batch, and running it again continues with what is left.
    /// `progress` hears after every batch. All principals' memories (the
    /// local operator's maintenance).
    pub async fn reindex_memories(
        &self,
        batch: Option<u32>,
        mut progress: impl FnMut(ReindexProgress) + Send,
    ) -> Result<ReindexReport> {
        let batch = match batch.unwrap_or(REINDEX_BATCH) {
            0 | 1001.. => {
                return Err(Error::InvalidInput("the batch size is 1 to 1000".into()));
            }
            n => n,
        };
        let embedder = &*self.inner.memory.embedder;
        let model = embedder.model_id().to_string();
        let store = &self.inner.store;
        let total = store.count_memories_to_embed(&model).await?;
        let all = store.memory_counts(&Visibility::All).await?.total;
        let mut state = ReindexProgress { done: 0, total };
        progress(state);
        // Ids only move forward within a run, so a memory the embedder
        // keeps failing on cannot loop it.
        let mut after: Option<String> = None;
        loop {
            let todo: Vec<Memory> = store
                .memories_to_embed(&model, after.as_deref(), batch)
                .await?;
            let Some(last) = todo.last() else { break };
            after = Some(last.id.clone());
            let texts: Vec<String> = todo.iter().map(|m| m.content.clone()).collect();
            let vectors = embedder.embed(&texts).await?;
            if vectors.len() != texts.len() {
                return Err(Error::Embedder {
                    embedder: model.clone(),
                    message: format!(
                        "returned {} vectors for {} texts",
                        vectors.len(),
                        texts.len()
                    ),
                });
            }
            for v in &vectors {
                check_dimension(embedder, v)?;
            }
            let pairs: Vec<(String, Vec<f32>)> =
                todo.iter().map(|m| m.id.clone()).zip(vectors).collect();
            store.set_memory_embeddings(&model, &pairs).await?;
            self.inner.memory.index.changed_many();
            state.done += pairs.len() as u64;
            state.total = state.total.max(state.done);
            progress(state);
        }
        Ok(ReindexReport {
            model,
            reembedded: state.done,
            current: all.saturating_sub(state.done),
        })
    }

    /// Forget every unpinned memory matching `filter` (at least one
    /// condition); how many. The local operator: every principal's.
    pub async fn forget_memories(&self, filter: &MemoryFilter) -> Result<u64> {
        let n = self
            .inner
            .store
            .forget_memories(filter, &Visibility::All)
            .await?;
        self.inner.memory.index.changed_many();
        Ok(n)
    }

    /// Pin (keep) or unpin a memory; whether there was one.
    pub async fn pin_memory(&self, id: &str, pinned: bool) -> Result<bool> {
        self.inner
            .store
            .set_memory_pinned(id, pinned, &Visibility::All)
            .await
    }
}

/// Retention for a caller (front-ends require `admin`): only within the
/// caller's visibility.
impl super::Acting<'_> {
    /// Forget the caller's visible unpinned memories matching `filter`.
    pub async fn forget_memories(&self, filter: &MemoryFilter) -> Result<u64> {
        let inner = &self.engine().inner;
        let n = inner
            .store
            .forget_memories(filter, &self.visibility())
            .await?;
        inner.memory.index.changed_many();
        Ok(n)
    }

    /// Pin or unpin a memory the caller sees.
    pub async fn pin_memory(&self, id: &str, pinned: bool) -> Result<bool> {
        self.engine()
            .inner
            .store
            .set_memory_pinned(id, pinned, &self.visibility())
            .await
    }
}
