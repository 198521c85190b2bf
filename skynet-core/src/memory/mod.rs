//! Memory: what SKYNET remembers of its runs and what callers tell it.
//!
//! A [`Memory`] is a typed text record (content, metadata, tags, the job it
//! came from, its outcome) with an importance, access statistics and an
//! embedding made by an [`Embedder`]. Every memory belongs to the
//! [`Principal`] whose job or request made it; the store filters by
//! [`Visibility`] in its queries. [`MemoryStore`] is the table family on the
//! ledger (both backends); [`HashEmbedder`] is the offline default, so memory
//! works on a fresh machine.

mod embed;
// The HNSW graph copied flat for searching.
mod graph;
// The approximate vector index (HNSW) searches use above a threshold.
pub mod index;
// The local all-MiniLM-L6-v2 model (candle + tokenizers).
#[cfg(feature = "minilm")]
mod minilm;
// The hosted embedders reuse the LLM clients' HTTP transport.
pub mod recall;
#[cfg(feature = "llm")]
mod remote;
mod search;

pub use embed::{Embedder, HashEmbedder, cosine};
#[cfg(feature = "minilm")]
pub use minilm::MiniLmEmbedder;
pub use recall::{PastRun, PastRuns, PlanWarning};
#[cfg(feature = "llm")]
pub use remote::{GeminiEmbedder, OpenAiEmbedder};
pub use search::{
    ScoreParts, Scored, SearchQuery, TEXT_BUDGET, TextRanking, Weights, rank, rank_by,
    similarity_to, terms, text_levels, text_ranking,
};

use crate::principal::{Principal, Visibility};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The largest memory content accepted (bytes).
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// What a memory records. New kinds are new variants (the stored form is
/// the snake_case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryType {
    /// A job that ended (written by the engine).
    TaskExecution,
    /// A failure worth remembering.
    Failure,
    /// Something that worked and should be repeated.
    SuccessPattern,
    /// What a user prefers.
    UserPreference,
    /// A fact about the system.
    SystemState,
    /// A free-form note.
    Note,
}

/// Every memory type.
pub const ALL_MEMORY_TYPES: [MemoryType; 6] = [
    MemoryType::TaskExecution,
    MemoryType::Failure,
    MemoryType::SuccessPattern,
    MemoryType::UserPreference,
    MemoryType::SystemState,
    MemoryType::Note,
];

impl MemoryType {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryType::TaskExecution => "task_execution",
            MemoryType::Failure => "failure",
            MemoryType::SuccessPattern => "success_pattern",
            MemoryType::UserPreference => "user_preference",
            MemoryType::SystemState => "system_state",
            MemoryType::Note => "note",
        }
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemoryType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ALL_MEMORY_TYPES
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown memory type {s:?}; one of: {}",
                    ALL_MEMORY_TYPES.map(MemoryType::as_str).join(", ")
                ))
            })
    }
}

/// How the remembered thing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryOutcome {
    /// It worked.
    Success,
    /// It failed.
    Failure,
    /// Neither (cancelled, denied, unknown).
    Neutral,
}

impl MemoryOutcome {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryOutcome::Success => "success",
            MemoryOutcome::Failure => "failure",
            MemoryOutcome::Neutral => "neutral",
        }
    }
}

impl FromStr for MemoryOutcome {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "success" => Ok(MemoryOutcome::Success),
            "failure" => Ok(MemoryOutcome::Failure),
            "neutral" => Ok(MemoryOutcome::Neutral),
            other => Err(Error::InvalidInput(format!(
                "unknown outcome {other:?}; one of: success, failure, neutral"
            ))),
        }
    }
}

/// One stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Its id (a UUIDv7, so ids sort by creation).
    pub id: String,
    /// Whose it is.
    pub principal: Principal,
    /// What it records.
    pub memory_type: MemoryType,
    /// The (redacted) text.
    pub content: String,
    /// Free-form JSON object.
    pub metadata: serde_json::Value,
    /// Labels to filter by.
    pub tags: Vec<String>,
    /// The job it came from.
    pub job_id: Option<String>,
    /// How that ended.
    pub outcome: Option<MemoryOutcome>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it was last returned by a search or read.
    pub last_accessed_at: DateTime<Utc>,
    /// How often it was returned.
    pub access_count: u64,
    /// Its base importance, 0 to 1.
    pub importance: f64,
    /// Its vector (empty when not embedded).
    #[serde(skip)]
    pub embedding: Vec<f32>,
    /// The model that made `embedding`.
    pub embedding_model: Option<String>,
    /// Kept: never evicted by the cap on records nor removed with its
    /// pruned job (a forget by id still removes it).
    #[serde(default)]
    pub pinned: bool,
}

/// What a caller gives to store a memory; [`NewMemory::into_memory`]
/// checks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewMemory {
    /// The text (1 byte to [`MAX_CONTENT_BYTES`]).
    pub content: String,
    /// Its type (default `note`).
    pub memory_type: Option<MemoryType>,
    /// A JSON object (default `{}`).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The job it is about.
    pub job_id: Option<String>,
    /// How that ended.
    pub outcome: Option<MemoryOutcome>,
    /// Base importance, 0 to 1 (default 0.5).
    pub importance: Option<f64>,
    /// Keep it (see [`Memory::pinned`]).
    #[serde(default)]
    pub pinned: bool,
}

impl NewMemory {
    /// A checked memory owned by `principal`, stamped `now`, not yet
    /// embedded. Empty or oversized content, a non-object metadata, an
    /// importance outside 0..=1 or an empty tag is [`Error::InvalidInput`].
    pub fn into_memory(self, principal: Principal, now: DateTime<Utc>) -> Result<Memory> {
        if self.content.trim().is_empty() {
            return Err(Error::InvalidInput(
                "memory content is empty; give the text to remember".into(),
            ));
        }
        if self.content.len() > MAX_CONTENT_BYTES {
            return Err(Error::InvalidInput(format!(
                "memory content is {} bytes; the limit is {MAX_CONTENT_BYTES}: store a summary",
                self.content.len()
            )));
        }
        let metadata = self
            .metadata
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        if !metadata.is_object() {
            return Err(Error::InvalidInput(
                "memory metadata must be a JSON object".into(),
            ));
        }
        let importance = self.importance.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&importance) {
            return Err(Error::InvalidInput(format!(
                "importance {importance} is outside 0 to 1"
            )));
        }
        let mut tags = Vec::with_capacity(self.tags.len());
        for tag in self.tags {
            let tag = tag.trim().to_string();
            if tag.is_empty() || tag.len() > 64 {
                return Err(Error::InvalidInput("a tag is 1 to 64 characters".into()));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let now = crate::store::chain::truncate_to_micros(now);
        Ok(Memory {
            id: uuid::Uuid::now_v7().to_string(),
            principal,
            memory_type: self.memory_type.unwrap_or(MemoryType::Note),
            content: self.content,
            metadata,
            tags,
            job_id: self.job_id,
            outcome: self.outcome,
            created_at: now,
            last_accessed_at: now,
            access_count: 0,
            importance,
            embedding: Vec::new(),
            embedding_model: None,
            pinned: self.pinned,
        })
    }
}

/// Which memories a listing or search considers (all given filters apply).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryFilter {
    /// Only this type.
    pub memory_type: Option<MemoryType>,
    /// Only memories carrying every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only this outcome.
    pub outcome: Option<MemoryOutcome>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Only memories of this job.
    pub job_id: Option<String>,
}

/// A point in time a person gives: RFC 3339 (`2026-12-01T00:00:00Z`), or
/// an age before `now` (`7d`, `12h`, `30m`). `what` names the setting in
/// the error.
pub fn parse_when(what: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = humantime::parse_duration(text)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{what}: {text:?} is neither a time (RFC 3339, e.g. 2026-12-01T00:00:00Z) \
                 nor an age (e.g. 7d, 12h)"
            ))
        })?;
    now.checked_sub_signed(age)
        .ok_or_else(|| Error::InvalidInput(format!("{what}: {text:?} is too long ago")))
}

impl MemoryFilter {
    /// Whether it sets no condition at all (it would match everything).
    pub fn is_empty(&self) -> bool {
        self == &MemoryFilter::default()
    }
}

/// Counts for `stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryCounts {
    /// Memories visible.
    pub total: u64,
    /// Per type (stored form → count).
    pub by_type: std::collections::BTreeMap<String, u64>,
    /// Mean base importance (0 when there are none).
    pub average_importance: f64,
    /// Pinned memories.
    #[serde(default)]
    pub pinned: u64,
}

/// The memory table family. Every read and delete takes the caller's
/// [`Visibility`] and applies it in the query: another principal's memory
/// is neither returned nor deleted (it reads as absent).
#[async_trait]
pub trait MemoryStore: Send + Sync {
    /// Store a memory ([`Error::Conflict`] if its id exists).
    async fn insert_memory(&self, memory: &Memory) -> Result<()>;
    /// The memory with this id, if visible.
    async fn get_memory(&self, id: &str, visibility: &Visibility) -> Result<Option<Memory>>;
    /// Delete a visible memory; whether one was deleted.
    async fn delete_memory(&self, id: &str, visibility: &Visibility) -> Result<bool>;
    /// Visible memories matching `filter`, newest first, at most `limit`.
    async fn list_memories(
        &self,
        filter: &MemoryFilter,
        visibility: &Visibility,
        limit: u32,
    ) -> Result<Vec<Memory>>;
    /// Count one access of each memory in `ids` at `at`.
    async fn touch_memories(&self, ids: &[String], at: DateTime<Utc>) -> Result<()>;
    /// Counts of visible memories.
    async fn memory_counts(&self, visibility: &Visibility) -> Result<MemoryCounts>;
    /// Delete the visible, unpinned memories matching `filter`; how many.
    /// An empty filter is [`Error::InvalidInput`] (it would forget
    /// everything): give at least one condition.
    async fn forget_memories(&self, filter: &MemoryFilter, visibility: &Visibility) -> Result<u64>;
    /// Pin or unpin a visible memory; whether there was one.
    async fn set_memory_pinned(
        &self,
        id: &str,
        pinned: bool,
        visibility: &Visibility,
    ) -> Result<bool>;
    /// Keep at most `max` memories of `principal`: delete its unpinned
    /// ones of lowest base importance (then least recently accessed,
    /// then oldest) beyond that; how many went. Pinned memories are never
    /// evicted (so more than `max` may remain when many are pinned).
    async fn evict_memories(&self, principal: &Principal, max: u64) -> Result<u64>;
    /// Remove the memories of these jobs (pruned from the ledger) unless
    /// pinned; how many went. The garbage collector calls it with the ids
    /// of the jobs it prunes, whoever owns them.
    async fn forget_jobs(&self, jobs: &[crate::job::JobId]) -> Result<u64>;
    /// How many memories [`MemoryStore::forget_jobs`] would remove for
    /// these jobs (the unpinned ones): what a gc dry run reports.
    async fn count_job_memories(&self, jobs: &[crate::job::JobId]) -> Result<u64>;
    /// Visible memories whose vector was not made by `model` (or that
    /// have none), in id order after `after`, at most `limit`: what a
    /// re-embed still has to do.
    async fn memories_to_embed(
        &self,
        model: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Memory>>;
    /// How many memories' vectors were not made by `model`.
    async fn count_memories_to_embed(&self, model: &str) -> Result<u64>;
    /// Replace memories' vectors (id, vector) made by `model`, in one
    /// transaction.
    async fn set_memory_embeddings(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<()>;
    /// Store many memories in one transaction (all or none; a taken id is
    /// [`Error::Conflict`]): bulk ingest and imports.
    async fn insert_memories(&self, memories: &[Memory]) -> Result<()>;
    /// The visible memories with these ids that match `filter` (in no
    /// particular order; unknown ids are left out), with their embeddings
    /// or, when `embeddings` is false, with none (empty).
    async fn memories_by_ids(
        &self,
        ids: &[String],
        filter: &MemoryFilter,
        visibility: &Visibility,
        embeddings: bool,
    ) -> Result<Vec<Memory>>;
    /// Vectors made by `model`, in id order after `after`, at most
    /// `limit`: what the vector index loads.
    async fn memory_vectors(
        &self,
        model: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<index::IndexedVector>>;
    /// The vectors made by `model` of the memories with these ids.
    async fn memory_vectors_of(
        &self,
        model: &str,
        ids: &[String],
    ) -> Result<Vec<index::IndexedVector>>;
    /// Ids (with their `created_at`, unix microseconds) of the memories
    /// with a vector of `model` created at or after `since`, at most
    /// `limit`; with `since` of `None`, all of them.
    async fn memory_vector_ids(
        &self,
        model: &str,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(String, i64)>>;
    /// How many memories have a vector made by `model`.
    async fn count_memory_vectors(&self, model: &str) -> Result<u64>;
    /// Changes to memories made by any process (`i:ID` stored, `u:ID`
    /// re-embedded, `d:ID` deleted; `*` when some were lost), where the
    /// backend announces them (PostgreSQL `LISTEN/NOTIFY`). `None`: the
    /// caller catches up by reading.
    fn memory_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }
    /// Ids of visible memories whose content matches any of `terms` (the
    /// first 32; full text: SQLite FTS5, PostgreSQL `tsvector`), best
    /// first, at most `limit`. When the terms' matches (counted over every
    /// principal's memories) add up to more than `budget`, relevance
    /// ranking, which reads every match, gives way to ranking by how many
    /// of the terms a memory contains ([`TextRanking`]). `u32::MAX`: always
    /// by relevance.
    async fn text_search_memories(
        &self,
        terms: &[String],
        visibility: &Visibility,
        limit: u32,
        budget: u32,
    ) -> Result<Vec<String>>;
}
