//! The engine's approximate vector index: built from the store when the
//! embedded memories of the configured model reach the threshold, kept
//! fresh by this process's own writes, by the store's change feed
//! (PostgreSQL `NOTIFY`: other processes' writes) and by a catch-up read
//! at most once a second (new ids by creation time; a full id comparison
//! when the counts disagree), so a missed notification is repaired.
//!
//! The index only proposes candidates: searches read the rows back from
//! the store with the caller's visibility and filter in SQL, so a stale
//! entry can cost a result, never leak one.

use crate::Result;
use crate::memory::Memory;
use crate::memory::index::{IndexReport, IndexSettings, IndexedVector, Neighbour, VectorIndex};
use crate::store::SharedStore;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

/// The shortest time between two catch-up reads.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How far before the start of the last complete read a catch-up looks
/// (a memory is stamped before it is embedded and committed).
const LOOKBACK_MICROS: i64 = 10_000_000;
/// Vectors read per page while loading.
const LOAD_PAGE: u32 = 5_000;
/// Ids a catch-up reads at most before it gives up and compares all.
const CATCH_UP_IDS: u32 = 20_000;

/// Where the index stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Turned off: searches are exact.
    Off,
    /// Not looked at yet.
    Unknown,
    /// Fewer embedded memories than the threshold (at the last look).
    Small,
    /// Being built; searches are exact meanwhile.
    Loading,
    /// In use.
    Ready,
    /// More vectors than it may hold: searches are exact.
    Full,
}

/// Changes heard from the store's feed, applied at the next sync.
#[derive(Debug, Default)]
struct Heard {
    /// Stored (fetched unless already held).
    inserts: HashSet<String>,
    /// Re-embedded (fetched and replaced).
    updates: HashSet<String>,
    deletes: HashSet<String>,
    /// Something was missed: compare every id.
    reconcile: bool,
}

/// Where a search walks the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkOn {
    /// A blocking thread, while the caller's full-text SQL runs.
    BlockingThread,
    /// The calling thread (a blocking section on a multi-thread runtime;
    /// a blocking thread on a current-thread one): nothing would overlap.
    ThisThread,
}

/// The index and what keeps it fresh.
pub(crate) struct MemoryIndex {
    settings: IndexSettings,
    model: String,
    dimension: usize,
    index: RwLock<Option<VectorIndex>>,
    status: Mutex<Status>,
    heard: Arc<Mutex<Heard>>,
    last_sync: Mutex<Option<Instant>>,
    /// When (unix microseconds, this clock) the last complete read of the
    /// store began: every memory stamped `LOOKBACK_MICROS` before then was
    /// in it, so a catch-up reads from there (not from the newest memory,
    /// which after a bulk import would make every catch-up read the whole
    /// import again).
    read_from: Mutex<Option<i64>>,
    /// One load, sync or rebuild at a time.
    work: Arc<tokio::sync::Mutex<()>>,
    listening: std::sync::OnceLock<()>,
}

impl MemoryIndex {
    /// An index of `model`'s vectors of `dimension`, not loaded yet.
    pub(crate) fn new(settings: IndexSettings, model: &str, dimension: usize) -> Self {
        MemoryIndex {
            settings,
            model: model.to_string(),
            dimension,
            index: RwLock::new(None),
            status: Mutex::new(if settings.threshold.is_some() {
                Status::Unknown
            } else {
                Status::Off
            }),
            heard: Arc::default(),
            last_sync: Mutex::new(None),
            read_from: Mutex::new(None),
            work: Arc::default(),
            listening: std::sync::OnceLock::new(),
        }
    }

    fn status(&self) -> Status {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_status(&self, s: Status) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// The nearest `k` memories of `principal` (all, when `None`) to
    /// `query`, or `None` when searches must be exact (index off, small,
    /// loading or full). Brings the index up to date first.
    pub(crate) async fn nearest(
        self: &Arc<Self>,
        store: &SharedStore,
        query: &[f32],
        k: usize,
        principal: Option<&str>,
        on: WalkOn,
    ) -> Result<Option<Vec<Neighbour>>> {
        if self.status() == Status::Off {
            return Ok(None);
        }
        self.refresh(store).await?;
        if self.status() != Status::Ready {
            return Ok(None);
        }
        // Up to milliseconds of graph walk at 100,000 vectors: never on
        // an async worker's time. On a blocking thread when SQL is to
        // overlap it; otherwise here, with the worker's other tasks moved
        // to another thread, sparing a hand-off to a parked thread and
        // back (at 30,000 vectors the engine's search took twice the
        // walk's time).
        let this = Arc::clone(self);
        let query = query.to_vec();
        let principal = principal.map(str::to_string);
        let walk = move || {
            let guard = this.index.read().unwrap_or_else(|e| e.into_inner());
            let ef = this.settings.ef_search.max(k);
            guard
                .as_ref()
                .map(|index| index.search(&query, k, ef, principal.as_deref()))
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on == WalkOn::ThisThread && multi_thread {
            return Ok(tokio::task::block_in_place(walk));
        }
        tokio::task::spawn_blocking(walk)
            .await
            .map_err(|e| crate::Error::Store(format!("searching the memory index: {e}")))
    }

    /// Load (or catch up) now, waiting for it: a server calls it at start
    /// so its first searches are not exact.
    pub(crate) async fn load(&self, store: &SharedStore) -> Result<()> {
        if self.status() == Status::Off {
            return Ok(());
        }
        self.listen(store);
        let _work = self.work.lock().await;
        *self.last_sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        match self.status() {
            Status::Ready => self.sync(store, true).await,
            _ => self.build(store).await,
        }
    }

    /// Take this process's new memories at once.
    pub(crate) fn stored(&self, memories: &[Memory]) {
        if self.status() != Status::Ready {
            return;
        }
        let items: Vec<IndexedVector> = memories
            .iter()
            .filter(|m| m.embedding_model.as_deref() == Some(self.model.as_str()))
            .map(IndexedVector::of)
            .collect();
        let mut guard = self.index.write().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = guard.as_mut() {
            if index.len() + items.len() > self.settings.max_vectors as usize {
                drop(guard);
                self.set_status(Status::Full);
                *self.index.write().unwrap_or_else(|e| e.into_inner()) = None;
                return;
            }
            index.insert(&items);
        }
    }

    /// This process forgot a memory.
    pub(crate) fn forgot(&self, id: &str) {
        if let Some(index) = self
            .index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            index.remove(id);
        }
    }

    /// This process deleted or re-embedded memories it does not name
    /// (forget by filter, eviction, pruning, reindex): compare all ids at
    /// the next search.
    pub(crate) fn changed_many(&self) {
        self.heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reconcile = true;
        *self.last_sync.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// What `stats` reports.
    pub(crate) fn report(&self) -> IndexReport {
        let status = self.status();
        let guard = self.index.read().unwrap_or_else(|e| e.into_inner());
        let (vectors, tombstones, bytes) = guard.as_ref().map_or((0, 0, 0), |i| {
            (i.len() as u64, i.tombstones() as u64, i.bytes())
        });
        let kind = match status {
            Status::Ready => "hnsw",
            Status::Loading => "loading",
            Status::Full => "full",
            Status::Off | Status::Unknown | Status::Small => "exact",
        };
        IndexReport {
            kind: kind.into(),
            vectors,
            tombstones,
            bytes,
            max_vectors: self.settings.max_vectors,
            threshold: self.settings.threshold,
        }
    }

    /// Start listening to the store's change feed (once).
    fn listen(&self, store: &SharedStore) {
        if self.listening.get().is_some() {
            return;
        }
        let _ = self.listening.set(());
        let Some(mut rx) = store.memory_changes() else {
            return;
        };
        let heard: Weak<Mutex<Heard>> = Arc::downgrade(&self.heard);
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let change = rx.recv().await;
                let Some(heard) = heard.upgrade() else { return };
                let mut h = heard.lock().unwrap_or_else(|e| e.into_inner());
                match change {
                    Ok(c) => match c.split_once(':') {
                        Some(("i", id)) => {
                            h.inserts.insert(id.to_string());
                        }
                        Some(("u", id)) => {
                            h.updates.insert(id.to_string());
                        }
                        Some(("d", id)) => {
                            h.inserts.remove(id);
                            h.updates.remove(id);
                            h.deletes.insert(id.to_string());
                        }
                        _ => h.reconcile = true,
                    },
                    Err(RecvError::Lagged(_)) => h.reconcile = true,
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Load when due (in the background: searches are exact meanwhile),
    /// apply what was heard, catch up at most once a second.
    async fn refresh(self: &Arc<Self>, store: &SharedStore) -> Result<()> {
        self.listen(store);
        let heard_something = {
            let h = self.heard.lock().unwrap_or_else(|e| e.into_inner());
            !h.inserts.is_empty() || !h.updates.is_empty() || !h.deletes.is_empty() || h.reconcile
        };
        let due = self
            .last_sync
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| t.elapsed() >= SYNC_INTERVAL);
        if !due && !heard_something {
            return Ok(());
        }
        // Another task is at it: use the index as it is.
        let Ok(work) = self.work.clone().try_lock_owned() else {
            return Ok(());
        };
        if due {
            *self.last_sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        match self.status() {
            Status::Off => Ok(()),
            Status::Ready => self.sync(store, due).await,
            _ if !due => Ok(()),
            _ => {
                let this = Arc::clone(self);
                let store = store.clone();
                tokio::spawn(async move {
                    let _work = work;
                    if let Err(e) = this.build(&store).await {
                        tracing::warn!(error = %e, "could not build the memory index");
                    }
                });
                Ok(())
            }
        }
    }

    /// Build the index from the store if there are enough vectors (and
    /// not too many).
    async fn build(&self, store: &SharedStore) -> Result<()> {
        // What is heard from here on is already in what we read.
        *self.heard.lock().unwrap_or_else(|e| e.into_inner()) = Heard::default();
        let count = store.count_memory_vectors(&self.model).await?;
        let threshold = self.settings.threshold.unwrap_or(u64::MAX);
        if count < threshold {
            self.set_status(Status::Small);
            *self.index.write().unwrap_or_else(|e| e.into_inner()) = None;
            return Ok(());
        }
        if count > self.settings.max_vectors {
            self.set_status(Status::Full);
            *self.index.write().unwrap_or_else(|e| e.into_inner()) = None;
            return Ok(());
        }
        self.set_status(Status::Loading);
        let began = now_micros();
        let fresh = match self.read_all(store, count).await {
            Ok(i) => i,
            Err(e) => {
                self.set_status(Status::Unknown);
                return Err(e);
            }
        };
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh);
        self.set_read_from(began);
        self.set_status(Status::Ready);
        Ok(())
    }

    fn set_read_from(&self, began: i64) {
        *self.read_from.lock().unwrap_or_else(|e| e.into_inner()) = Some(began);
    }

    /// A new index of every vector of the model, built off the runtime's
    /// threads.
    async fn read_all(&self, store: &SharedStore, count: u64) -> Result<VectorIndex> {
        let mut index = VectorIndex::new(
            self.dimension,
            count as usize,
            self.settings.ef_construction,
        );
        let mut after: Option<String> = None;
        loop {
            let page = store
                .memory_vectors(&self.model, after.as_deref(), LOAD_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            index = tokio::task::spawn_blocking(move || {
                index.insert(&page);
                index
            })
            .await
            .map_err(|e| crate::Error::Store(format!("building the memory index: {e}")))?;
        }
        Ok(index)
    }

    /// Apply what was heard; when `due`, read what is new since the
    /// last complete read (`read_from`) and compare counts (all ids when
    /// they differ). Rebuild when tombstones pass a quarter.
    async fn sync(&self, store: &SharedStore, due: bool) -> Result<()> {
        let began = now_micros();
        let heard = std::mem::take(&mut *self.heard.lock().unwrap_or_else(|e| e.into_inner()));
        if self
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return Ok(());
        }
        // Set by the build that made the index Ready; `None` reads all.
        let read_from = *self.read_from.lock().unwrap_or_else(|e| e.into_inner());
        let mut deletes: Vec<String> = heard.deletes.into_iter().collect();
        let mut reconcile = heard.reconcile;
        let mut fetch: Vec<String> = heard.updates.into_iter().collect();
        {
            let guard = self.index.read().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = guard.as_ref() {
                fetch.extend(heard.inserts.into_iter().filter(|id| !index.contains(id)));
            }
        }
        if due && !reconcile {
            let since = read_from.map(|n| n - LOOKBACK_MICROS);
            let recent = store
                .memory_vector_ids(&self.model, since, CATCH_UP_IDS)
                .await?;
            if recent.len() as u32 >= CATCH_UP_IDS {
                reconcile = true;
            } else {
                let guard = self.index.read().unwrap_or_else(|e| e.into_inner());
                if let Some(index) = guard.as_ref() {
                    fetch.extend(
                        recent
                            .into_iter()
                            .filter(|(id, _)| !index.contains(id) && !fetch.contains(id))
                            .map(|(id, _)| id)
                            .collect::<Vec<_>>(),
                    );
                }
            }
            // Counts that disagree after the catch-up mean a change was
            // missed (a delete, or an insert older than the lookback).
            let count = store.count_memory_vectors(&self.model).await?;
            let guard = self.index.read().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = guard.as_ref() {
                let new = fetch.iter().filter(|id| !index.contains(id)).count();
                let gone = deletes.iter().filter(|id| index.contains(id)).count();
                if count as usize != (index.len() + new).saturating_sub(gone) {
                    reconcile = true;
                }
            }
        }
        if reconcile {
            let all = store.memory_vector_ids(&self.model, None, u32::MAX).await?;
            let present: HashSet<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
            let guard = self.index.read().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = guard.as_ref() {
                deletes.extend(
                    index
                        .ids()
                        .filter(|(id, _)| !present.contains(id))
                        .map(|(id, _)| id.to_string()),
                );
                fetch.extend(
                    all.iter()
                        .filter(|(id, _)| !index.contains(id))
                        .map(|(id, _)| id.clone()),
                );
            }
        }
        if !fetch.is_empty() {
            let vectors = store.memory_vectors_of(&self.model, &fetch).await?;
            // A re-embedded memory may have left the model: drop it.
            let got: HashSet<&str> = vectors.iter().map(|v| v.id.as_str()).collect();
            deletes.extend(
                fetch
                    .iter()
                    .filter(|id| !got.contains(id.as_str()))
                    .cloned(),
            );
            let mut guard = self.index.write().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = guard.as_mut() {
                for id in &deletes {
                    index.remove(id);
                }
                deletes.clear();
                if index.len() + vectors.len() > self.settings.max_vectors as usize {
                    *guard = None;
                    drop(guard);
                    self.set_status(Status::Full);
                    return Ok(());
                }
                index.insert(&vectors);
            }
        }
        let rebuild = {
            let mut guard = self.index.write().unwrap_or_else(|e| e.into_inner());
            match guard.as_mut() {
                Some(index) => {
                    for id in &deletes {
                        index.remove(id);
                    }
                    index.tombstones() > index.len() / 4 + 1024
                        || (index.len() as u64) < self.settings.threshold.unwrap_or(0) / 2
                }
                None => false,
            }
        };
        if rebuild {
            // The old index serves until the new one is swapped in.
            let count = store.count_memory_vectors(&self.model).await?;
            if count < self.settings.threshold.unwrap_or(u64::MAX) {
                self.set_status(Status::Small);
                *self.index.write().unwrap_or_else(|e| e.into_inner()) = None;
            } else if count <= self.settings.max_vectors {
                *self.heard.lock().unwrap_or_else(|e| e.into_inner()) = Heard::default();
                let fresh = self.read_all(store, count).await?;
                *self.index.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh);
            }
        }
        if due {
            self.set_read_from(began);
        }
        Ok(())
    }
}

/// Now, in unix microseconds (as memories are stamped).
fn now_micros() -> i64 {
    crate::store::codec::micros(chrono::Utc::now())
}
