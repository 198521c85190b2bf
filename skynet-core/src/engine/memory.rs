//! The engine's memory: every job that ends becomes a `task_execution`
//! memory of its principal, written by a background task fed through a
//! bounded channel, so a job's end never waits on (or fails because of)
//! memory. Content passes the engine's [`Redactor`](crate::redact::Redactor)
//! before it is stored.

use super::memory_index::{MemoryIndex, WalkOn};
use super::{Inner, Skynet};
use crate::job::{Job, JobId, JobStatus};
use crate::memory::index::IndexSettings;
use crate::memory::{
    Embedder, HashEmbedder, Memory, MemoryFilter, MemoryOutcome, MemoryType, NewMemory,
};
use crate::memory::{
    MemoryCounts, Scored, SearchQuery, TEXT_BUDGET, Weights, rank, rank_by, similarity_to, terms,
};
use crate::principal::Visibility;
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::mpsc;

/// Jobs waiting to be remembered; when full, a job is not remembered (and
/// that is logged) rather than slowing the engine.
const BACKLOG: usize = 1024;

/// The longest error excerpt kept in a memory (characters).
const ERROR_EXCERPT: usize = 500;

/// The engine's memory settings and its writer's channel.
pub(crate) struct EngineMemory {
    /// Makes every stored vector.
    pub(crate) embedder: Arc<dyn Embedder>,
    /// Started on the first job's end (it needs a runtime).
    writer: OnceLock<mpsc::Sender<JobId>>,
    /// Jobs queued or being written.
    pending: Arc<std::sync::atomic::AtomicUsize>,
    /// The approximate vector index of the embedder's vectors.
    pub(crate) index: Arc<MemoryIndex>,
}

impl EngineMemory {
    /// Memory embedded by `embedder`, indexed as `index` says.
    pub(crate) fn new(embedder: Option<Arc<dyn Embedder>>, index: IndexSettings) -> Self {
        let embedder: Arc<dyn Embedder> = embedder.unwrap_or_else(|| Arc::new(HashEmbedder::new()));
        let index = Arc::new(MemoryIndex::new(
            index,
            embedder.model_id(),
            embedder.dimension(),
        ));
        EngineMemory {
            embedder,
            writer: OnceLock::new(),
            pending: Arc::default(),
            index,
        }
    }
}

impl Skynet {
    /// Queue an ended job to be remembered (never blocks, never fails).
    pub(crate) fn remember_job(&self, job: &JobId) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let writer = self.inner.memory.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel(BACKLOG);
            runtime.spawn(write_memories(Arc::downgrade(&self.inner), rx));
            tx
        });
        let pending = &self.inner.memory.pending;
        pending.fetch_add(1, Ordering::SeqCst);
        if writer.try_send(job.clone()).is_err() {
            pending.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(job = %job, "memory backlog full: this job is not remembered");
        }
    }

    /// Wait (at most `limit`) until every ended job queued so far is
    /// remembered: a short-lived process (the CLI's `run`) calls it before
    /// it exits, so its runs' memories are not cut off.
    pub async fn flush_memories(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.inner.memory.pending.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Store `new` as a memory of the local operator (embedded and
    /// redacted like every memory).
    pub async fn remember(&self, new: NewMemory) -> Result<Memory> {
        self.store_memory(new, crate::Principal::local()).await
    }

    /// Store `new` for `principal`: checked, redacted, embedded.
    pub(crate) async fn store_memory(
        &self,
        mut new: NewMemory,
        principal: crate::Principal,
    ) -> Result<Memory> {
        redact_new(&self.inner.redactor, &mut new);
        let mut memory = new.into_memory(principal, chrono::Utc::now())?;
        embed_into(&*self.inner.memory.embedder, &mut memory).await?;
        self.inner.store.insert_memory(&memory).await?;
        self.inner
            .memory
            .index
            .stored(std::slice::from_ref(&memory));
        keep_within_cap(&self.inner, &memory.principal).await;
        Ok(memory)
    }

    /// Store many memories of the local operator at once: checked,
    /// redacted, embedded in one call and inserted in one transaction
    /// (all or none). For bulk ingest and imports.
    pub async fn remember_many(&self, news: Vec<NewMemory>) -> Result<Vec<Memory>> {
        self.store_memories(news, crate::Principal::local()).await
    }

    /// [`Skynet::remember_many`] for `principal`.
    pub(crate) async fn store_memories(
        &self,
        news: Vec<NewMemory>,
        principal: crate::Principal,
    ) -> Result<Vec<Memory>> {
        let now = chrono::Utc::now();
        let mut memories = Vec::with_capacity(news.len());
        for mut new in news {
            redact_new(&self.inner.redactor, &mut new);
            memories.push(new.into_memory(principal.clone(), now)?);
        }
        let embedder = &*self.inner.memory.embedder;
        let texts: Vec<String> = memories.iter().map(|m| m.content.clone()).collect();
        let vectors = embedder.embed(&texts).await?;
        if vectors.len() != memories.len() {
            return Err(Error::Planning(format!(
                "embedding: the embedder {} returned {} vectors for {} texts",
                embedder.model_id(),
                vectors.len(),
                texts.len()
            )));
        }
        for (m, v) in memories.iter_mut().zip(vectors) {
            check_dimension(embedder, &v)?;
            m.embedding = v;
            m.embedding_model = Some(embedder.model_id().to_string());
        }
        self.inner.store.insert_memories(&memories).await?;
        self.inner.memory.index.stored(&memories);
        keep_within_cap(&self.inner, &principal).await;
        Ok(memories)
    }

    /// Build (or bring up to date) the approximate vector index now, and
    /// wait for it, rather than at the first search (which is exact until
    /// the index is built in the background). Nothing happens below the
    /// threshold or with the index turned off.
    pub async fn load_memory_index(&self) -> Result<()> {
        self.inner.memory.index.load(&self.inner.store).await
    }

    /// The memory with this id (the local operator sees every one).
    pub async fn memory(&self, id: &str) -> Result<Option<Memory>> {
        self.inner.store.get_memory(id, &Visibility::All).await
    }

    /// Memories matching `filter`, newest first.
    pub async fn memories(&self, filter: &MemoryFilter, limit: u32) -> Result<Vec<Memory>> {
        self.inner
            .store
            .list_memories(filter, &Visibility::All, limit)
            .await
    }
}

/// Hide secrets in everything text a memory stores: content, metadata
/// strings (keys and values, at any depth) and tags.
fn redact_new(redactor: &crate::redact::Redactor, new: &mut NewMemory) {
    fn walk(r: &crate::redact::Redactor, v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(r.redact(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|i| walk(r, i)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (r.redact(&k), walk(r, v)))
                    .collect(),
            ),
            other => other,
        }
    }
    new.content = redactor.redact(&new.content);
    new.metadata = new.metadata.take().map(|m| walk(redactor, m));
    for tag in &mut new.tags {
        *tag = redactor.redact(tag);
    }
}

/// Memories an exact search considers at most (the newest matching its
/// filter): the vector ranking is exact, in process, over these.
pub const SEARCH_CANDIDATES: u32 = 10_000;

/// Nearest memories (and full-text matches) an indexed search takes at
/// least, before the filter.
pub const INDEX_CANDIDATES: usize = 50;

/// How many times `limit` an indexed search fetches from the index, so
/// that a filter still leaves enough.
pub const OVERFETCH: usize = 5;

/// A search's candidates found through the vector index.
#[derive(Debug, Default)]
struct Indexed {
    /// The nearest (without their vectors) and the full-text matches.
    candidates: Vec<Memory>,
    /// The full-text ranking, best first.
    text: Vec<String>,
    /// The nearest's similarity to the query, by id.
    similarity: HashMap<String, f64>,
}

/// What a similarity search starts from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimilarTo {
    /// This text.
    Content(String),
    /// The memory with this id (left out of its own results).
    MemoryId(String),
}

/// Memory counts with the embedder in use.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemoryStats {
    /// The counts.
    #[serde(flatten)]
    pub counts: MemoryCounts,
    /// The embedder's model id.
    pub embedder: String,
    /// The vector index in use: `hnsw` (approximate, in process) or
    /// `exact` (cosine over every candidate); see `index_detail`.
    pub index: String,
    /// The vector index's state, size and bounds.
    #[serde(default)]
    pub index_detail: crate::memory::index::IndexReport,
    /// Memories whose vector another model made (or that have none):
    /// `skynet memory reindex` re-embeds them. Only for a caller who sees
    /// every principal's memories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_reindex: Option<u64>,
}

fn limit_of(limit: Option<u32>) -> Result<usize> {
    match limit.unwrap_or(10) {
        0 | 101.. => Err(Error::InvalidInput("limit is 1 to 100".into())),
        n => Ok(n as usize),
    }
}

impl Skynet {
    /// Hybrid search over the memories `visibility` admits; the results'
    /// accesses are counted.
    pub(crate) async fn search_memories_as(
        &self,
        q: &SearchQuery,
        visibility: &Visibility,
    ) -> Result<Vec<Scored>> {
        let limit = limit_of(q.limit)?;
        if q.query.trim().is_empty() {
            return Err(Error::InvalidInput("give a search query".into()));
        }
        let weights = Weights::from_env()?;
        let store = &self.inner.store;
        let vector = self.embed_one(&q.query).await?;
        let terms = terms(&q.query);
        let now = chrono::Utc::now();
        let found = match self
            .indexed_candidates(&vector, &terms, limit, &q.filter, visibility)
            .await?
        {
            Some(found) => {
                let similarity = similarity_to(&vector, &found.similarity);
                rank_by(
                    found.candidates,
                    &found.text,
                    similarity,
                    now,
                    &weights,
                    limit,
                )
            }
            None => {
                let candidates = self.comparable(
                    store
                        .list_memories(&q.filter, visibility, SEARCH_CANDIDATES)
                        .await?,
                );
                let text = store
                    .text_search_memories(&terms, visibility, SEARCH_CANDIDATES, TEXT_BUDGET)
                    .await?;
                rank(candidates, &text, &vector, now, &weights, limit)
            }
        };
        let ids: Vec<String> = found.iter().map(|s| s.memory.id.clone()).collect();
        store.touch_memories(&ids, now).await?;
        Ok(found)
    }

    /// A search's candidates through the vector index: its nearest
    /// memories (over-fetched) with the best full-text matches, read back
    /// with the caller's visibility and `filter` in SQL, and the full-text
    /// ranking. `None` when the search must be exact: the index is not in
    /// use, or the filter left fewer than `limit` of the nearest.
    async fn indexed_candidates(
        &self,
        vector: &[f32],
        terms: &[String],
        limit: usize,
        filter: &MemoryFilter,
        visibility: &Visibility,
    ) -> Result<Option<Indexed>> {
        let store = &self.inner.store;
        // A search by vector alone and without a filter needs only the
        // nearest `limit` (the index keeps to the principal), twice that
        // so a few stale entries do not send it exact; otherwise more,
        // for the fusion with full text and for the filter to leave
        // enough.
        let k = if terms.is_empty() && filter.is_empty() {
            2 * limit
        } else {
            (limit * OVERFETCH).max(INDEX_CANDIDATES)
        };
        let principal = visibility.only().map(|p| p.as_str());
        let index = &self.inner.memory.index;
        let (near, text) = if terms.is_empty() {
            let near = index.nearest(store, vector, k, principal, WalkOn::ThisThread);
            (near.await, Ok(Vec::new()))
        } else {
            // The graph walk (on a blocking thread) and the full-text SQL
            // overlap: each takes milliseconds at 100,000 memories.
            tokio::join!(
                index.nearest(store, vector, k, principal, WalkOn::BlockingThread),
                store.text_search_memories(terms, visibility, INDEX_CANDIDATES as u32, TEXT_BUDGET),
            )
        };
        let Some(near) = near? else {
            return Ok(None);
        };
        let text = text?;
        let mut similarity: HashMap<String, f64> = near
            .iter()
            .map(|n| (n.id.clone(), f64::from(n.similarity)))
            .collect();
        let mut ids: Vec<String> = near.into_iter().map(|n| n.id).collect();
        let nearest = ids.len();
        for id in &text {
            if !similarity.contains_key(id) {
                ids.push(id.clone());
            }
        }
        // The nearest come back without their vectors (the index gave
        // their similarity); only full-text matches beyond them are read
        // with theirs, to place them in the vector ranking. A search by
        // vector alone and without a filter reads the first `limit` of
        // them, and the spares only when some of those are gone.
        let first = if terms.is_empty() && filter.is_empty() {
            limit.min(nearest)
        } else {
            nearest
        };
        let mut candidates = store
            .memories_by_ids(&ids[..first], filter, visibility, false)
            .await?;
        if candidates.len() < first {
            candidates.extend(
                store
                    .memories_by_ids(&ids[first..nearest], filter, visibility, false)
                    .await?,
            );
        }
        // Re-embedded by another model since the index took it: its
        // similarity no longer compares (as `comparable` drops vectors).
        let model = self.inner.memory.embedder.model_id();
        for m in &candidates {
            if m.embedding_model.as_deref() != Some(model) {
                similarity.remove(&m.id);
            }
        }
        let near_kept = candidates.len();
        if near_kept < limit.min(nearest) || (!filter.is_empty() && near_kept < limit) {
            return Ok(None);
        }
        if ids.len() > nearest {
            let rest = store
                .memories_by_ids(&ids[nearest..], filter, visibility, true)
                .await?;
            candidates.extend(self.comparable(rest));
        }
        Ok(Some(Indexed {
            candidates,
            text,
            similarity,
        }))
    }

    /// The memories most like `to` by vector alone.
    pub(crate) async fn similar_memories_as(
        &self,
        to: &SimilarTo,
        limit: Option<u32>,
        visibility: &Visibility,
    ) -> Result<Vec<Scored>> {
        let limit = limit_of(limit)?;
        let (vector, skip) = match to {
            SimilarTo::Content(text) if text.trim().is_empty() => {
                return Err(Error::InvalidInput("give the content to compare".into()));
            }
            SimilarTo::Content(text) => (self.embed_one(text).await?, None),
            SimilarTo::MemoryId(id) => {
                let m = self
                    .inner
                    .store
                    .get_memory(id, visibility)
                    .await?
                    .ok_or_else(|| Error::InvalidInput(format!("no memory {id:?}")))?;
                let v = if m.embedding_model.as_deref()
                    == Some(self.inner.memory.embedder.model_id())
                {
                    m.embedding
                } else {
                    self.embed_one(&m.content).await?
                };
                (v, Some(m.id))
            }
        };
        let indexed = self
            .indexed_candidates(
                &vector,
                &[],
                limit + 1,
                &MemoryFilter::default(),
                visibility,
            )
            .await?;
        let Indexed {
            candidates,
            similarity: known,
            ..
        } = match indexed {
            Some(found) => found,
            None => Indexed {
                candidates: self.comparable(
                    self.inner
                        .store
                        .list_memories(&MemoryFilter::default(), visibility, SEARCH_CANDIDATES)
                        .await?,
                ),
                ..Indexed::default()
            },
        };
        let candidates = candidates
            .into_iter()
            .filter(|m| Some(&m.id) != skip.as_ref())
            .collect();
        let weights = Weights::relevance_only();
        let similarity = similarity_to(&vector, &known);
        let now = chrono::Utc::now();
        let mut found = rank_by(candidates, &[], similarity, now, &weights, limit);
        for s in &mut found {
            s.score = s.parts.similarity;
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(found)
    }

    /// `memories` with the vectors of another model than the configured
    /// one dropped (they are not comparable with its vectors, even at the
    /// same dimension): such memories rank by full text alone until
    /// `reindex_memories` re-embeds them.
    fn comparable(&self, mut memories: Vec<Memory>) -> Vec<Memory> {
        let model = self.inner.memory.embedder.model_id();
        for m in &mut memories {
            if m.embedding_model.as_deref() != Some(model) {
                m.embedding.clear();
            }
        }
        memories
    }

    /// Counts of the memories `visibility` admits.
    pub(crate) async fn memory_stats_as(&self, visibility: &Visibility) -> Result<MemoryStats> {
        let model = self.inner.memory.embedder.model_id().to_string();
        let to_reindex = match visibility {
            Visibility::All => Some(self.inner.store.count_memories_to_embed(&model).await?),
            Visibility::Own(_) => None,
        };
        let report = self.inner.memory.index.report();
        Ok(MemoryStats {
            counts: self.inner.store.memory_counts(visibility).await?,
            embedder: model,
            index: match report.kind.as_str() {
                "hnsw" => "hnsw".into(),
                _ => "exact".into(),
            },
            index_detail: report,
            to_reindex,
        })
    }

    /// Hybrid search over every memory (the local operator).
    pub async fn search_memories(&self, q: &SearchQuery) -> Result<Vec<Scored>> {
        self.search_memories_as(q, &Visibility::All).await
    }

    /// The memories most like `to` (the local operator).
    pub async fn similar_memories(
        &self,
        to: &SimilarTo,
        limit: Option<u32>,
    ) -> Result<Vec<Scored>> {
        self.similar_memories_as(to, limit, &Visibility::All).await
    }

    /// Memory counts (the local operator).
    pub async fn memory_stats(&self) -> Result<MemoryStats> {
        self.memory_stats_as(&Visibility::All).await
    }

    /// Forget a memory; whether there was one.
    pub async fn forget_memory(&self, id: &str) -> Result<bool> {
        let gone = self.inner.store.delete_memory(id, &Visibility::All).await?;
        self.inner.memory.index.forgot(id);
        Ok(gone)
    }

    pub(crate) async fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let embedder = &*self.inner.memory.embedder;
        let v = embedder
            .embed(&[text.to_string()])
            .await?
            .pop()
            .unwrap_or_default();
        check_dimension(embedder, &v)?;
        Ok(v)
    }
}

/// Memory for a caller: stored for the grant's principal, read and deleted
/// within its visibility (another principal's memory reads as absent).
/// Front-ends check scopes (`submit` to store, `read` to search, `admin`
/// to delete).
impl super::Acting<'_> {
    /// Store a memory of the caller's principal.
    pub async fn remember(&self, new: NewMemory) -> Result<Memory> {
        let principal = self.grant().principal.clone();
        self.engine().store_memory(new, principal).await
    }

    /// Hybrid search over the memories the caller sees.
    pub async fn search_memories(&self, q: &SearchQuery) -> Result<Vec<Scored>> {
        self.engine()
            .search_memories_as(q, &self.visibility())
            .await
    }

    /// The memories the caller sees most like `to`.
    pub async fn similar_memories(
        &self,
        to: &SimilarTo,
        limit: Option<u32>,
    ) -> Result<Vec<Scored>> {
        self.engine()
            .similar_memories_as(to, limit, &self.visibility())
            .await
    }

    /// A memory the caller sees.
    pub async fn memory(&self, id: &str) -> Result<Option<Memory>> {
        self.engine()
            .inner
            .store
            .get_memory(id, &self.visibility())
            .await
    }

    /// Forget a memory the caller sees; whether there was one.
    pub async fn forget_memory(&self, id: &str) -> Result<bool> {
        let inner = &self.engine().inner;
        let gone = inner.store.delete_memory(id, &self.visibility()).await?;
        if gone {
            inner.memory.index.forgot(id);
        }
        Ok(gone)
    }

    /// Counts of the memories the caller sees.
    pub async fn memory_stats(&self) -> Result<MemoryStats> {
        self.engine().memory_stats_as(&self.visibility()).await
    }
}

/// A principal's newest `task_execution` memories a plan's recall
/// compares with its intent at most.
pub const RECALL_CANDIDATES: u32 = 2_000;

impl Skynet {
    /// `principal`'s own ended runs most like `intent` (only theirs, even
    /// for an operator who sees all), most similar first, at most
    /// [`RECALL_RUNS`](crate::memory::recall::RECALL_RUNS). Memory being
    /// unreadable costs the plan its history, never the plan.
    pub(crate) async fn recall_runs(
        &self,
        intent: &str,
        principal: &crate::Principal,
    ) -> Vec<Memory> {
        let found = async {
            let filter = MemoryFilter {
                memory_type: Some(MemoryType::TaskExecution),
                ..Default::default()
            };
            let own = Visibility::Own(principal.clone());
            let candidates = self
                .inner
                .store
                .list_memories(&filter, &own, RECALL_CANDIDATES)
                .await?;
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            let query = self.embed_one(intent).await?;
            // Vectors of another model are not comparable: such runs
            // count only by their intent.
            let candidates = self.comparable(candidates);
            Ok::<_, Error>(crate::memory::recall::similar_runs(
                candidates,
                intent,
                &query,
                crate::memory::recall::RECALL_RUNS,
            ))
        };
        match found.await {
            Ok(runs) => runs,
            Err(e) => {
                tracing::debug!(error = %e, "memory unavailable for planning");
                Vec::new()
            }
        }
    }

    /// Annotate a judged `plan` for its approver: how `recalled` (the
    /// similar past runs) ended, and which of its steps failed
    /// repeatedly of late for `principal`. Only annotations: no risk,
    /// step or hash changes.
    pub(crate) async fn annotate_history(
        &self,
        plan: &mut crate::plan::Plan,
        recalled: &[Memory],
        principal: &crate::Principal,
    ) {
        use crate::memory::recall::{FAILURE_WINDOW_HOURS, REPEATED_FAILURES};
        plan.past_runs = crate::memory::PastRuns::of(recalled);
        let signatures: Vec<String> = plan
            .steps
            .iter()
            .map(|s| crate::store::step_signature(principal, s))
            .collect();
        let since = chrono::Utc::now() - chrono::Duration::hours(i64::from(FAILURE_WINDOW_HOURS));
        let failures = match self
            .inner
            .store
            .step_failures_since(&signatures, since)
            .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "step history unavailable for warnings");
                return;
            }
        };
        for (i, (step, sig)) in plan.steps.iter().zip(&signatures).enumerate() {
            let n = failures.get(sig).copied().unwrap_or(0);
            if n >= REPEATED_FAILURES {
                plan.warnings
                    .push(crate::memory::PlanWarning::RepeatedFailure {
                        step: i as u32 + 1,
                        description: step.description.clone(),
                        failures: n,
                        window_hours: FAILURE_WINDOW_HOURS,
                    });
            }
        }
    }
}

async fn embed_into(embedder: &dyn Embedder, memory: &mut Memory) -> Result<()> {
    memory.embedding = embedder
        .embed(std::slice::from_ref(&memory.content))
        .await?
        .pop()
        .unwrap_or_default();
    check_dimension(embedder, &memory.embedding)?;
    memory.embedding_model = Some(embedder.model_id().to_string());
    Ok(())
}

/// [`Error::InvalidInput`] unless `vector` has the dimension `embedder`
/// declares (a model answering in another dimension than configured
/// would make vectors no search can compare).
pub(crate) fn check_dimension(embedder: &dyn Embedder, vector: &[f32]) -> Result<()> {
    if vector.len() != embedder.dimension() {
        return Err(Error::InvalidInput(format!(
            "the embedder {} made a vector of {} dimensions, but is configured for {}: \
             fix its dimension setting, then run `skynet memory reindex`",
            embedder.model_id(),
            vector.len(),
            embedder.dimension()
        )));
    }
    Ok(())
}

async fn write_memories(inner: Weak<Inner>, mut rx: mpsc::Receiver<JobId>) {
    // The engine holds the sender: when the last handle drops, `recv`
    // ends the loop.
    while let Some(id) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { break };
        if let Err(e) = remember_one(&inner, &id).await {
            tracing::warn!(job = %id, error = %e, "could not remember a job");
        }
        inner.memory.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn remember_one(inner: &Inner, id: &JobId) -> Result<()> {
    let job = inner.store.get_job(id).await?;
    if !job.status.is_terminal() {
        return Ok(());
    }
    let already = MemoryFilter {
        memory_type: Some(MemoryType::TaskExecution),
        job_id: Some(id.to_string()),
        ..Default::default()
    };
    if !inner
        .store
        .list_memories(&already, &Visibility::All, 1)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let (new, principal) = task_execution(&job);
    let mut new = new;
    redact_new(&inner.redactor, &mut new);
    let mut memory = new.into_memory(principal, chrono::Utc::now())?;
    embed_into(&*inner.memory.embedder, &mut memory).await?;
    inner.store.insert_memory(&memory).await?;
    inner.memory.index.stored(std::slice::from_ref(&memory));
    keep_within_cap(inner, &memory.principal).await;
    Ok(())
}

/// Evict `principal`'s least important unpinned memories beyond the
/// configured cap (a failure is logged: the memory is stored either way).
async fn keep_within_cap(inner: &Inner, principal: &crate::Principal) {
    let Some(max) = inner.config.memory_max else {
        return;
    };
    match inner.store.evict_memories(principal, max).await {
        Ok(0) => {}
        Ok(n) => {
            inner.memory.index.changed_many();
            tracing::debug!(principal = %principal, evicted = n, "memory cap reached")
        }
        Err(e) => tracing::warn!(principal = %principal, error = %e, "could not evict memories"),
    }
}

/// The `task_execution` memory of an ended job (not yet redacted).
fn task_execution(job: &Job) -> (NewMemory, crate::Principal) {
    let outcome = match job.status {
        JobStatus::Succeeded => MemoryOutcome::Success,
        JobStatus::Failed => MemoryOutcome::Failure,
        _ => MemoryOutcome::Neutral,
    };
    let duration_ms = match (job.started_at, job.finished_at) {
        (Some(s), Some(f)) => Some((f - s).num_milliseconds().max(0)),
        _ => None,
    };
    let mut lines = vec![
        format!("intent: {}", job.intent),
        format!("outcome: {}", job.status.as_str()),
    ];
    let mut argvs = Vec::new();
    if let Some(plan) = &job.plan {
        lines.push(format!("plan: {}", plan.summary));
        for step in &plan.steps {
            let argv = step.command.display_line();
            lines.push(format!("step: {} ({argv})", step.description));
            argvs.push(step.command.argv.clone());
        }
    }
    lines.push(format!("provider: {}", job.provider));
    if let Some(ms) = duration_ms {
        lines.push(format!("duration: {ms} ms"));
    }
    let error = job
        .error
        .as_deref()
        .map(crate::job::JobFailure::message_of)
        .map(|e| e.chars().take(ERROR_EXCERPT).collect::<String>());
    if let Some(e) = &error {
        lines.push(format!("error: {e}"));
    }
    let new = NewMemory {
        content: lines.join("\n"),
        memory_type: Some(MemoryType::TaskExecution),
        metadata: Some(serde_json::json!({
            "intent": job.intent,
            "status": job.status.as_str(),
            "provider": job.provider,
            "argv": argvs,
            "duration_ms": duration_ms,
            "attempts": job.attempts,
            "error": error,
        })),
        tags: vec![format!("provider:{}", job.provider)],
        job_id: Some(job.id.to_string()),
        outcome: Some(outcome),
        importance: Some(if outcome == MemoryOutcome::Failure {
            0.7
        } else {
            0.5
        }),
        pinned: false,
    };
    (new, job.principal.clone())
}
