//! Memory: store, search, compare, count, read and forget what SKYNET
//! remembers, within the caller's principal (everyone's with `read:all`).
//! Scopes: `submit` to store, `read` to search and read, `admin` to delete.

use super::core_err;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::problems::{JsonBody, Keyed, NoMemory};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use skynet_core::memory::{Memory, MemoryFilter, NewMemory, ScoreParts, Scored, SearchQuery};
use skynet_core::store::keys::Scope;
use skynet_core::{Error, SimilarTo};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /v1/memory/store`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryStoreBody {
    /// The text to remember (1 byte to 64 KiB; secrets are redacted).
    pub content: String,
    /// `task_execution`, `failure`, `success_pattern`, `user_preference`,
    /// `system_state` or `note` (default).
    #[serde(default)]
    pub memory_type: Option<String>,
    /// A JSON object.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The job it is about.
    #[serde(default)]
    pub job_id: Option<String>,
    /// `success`, `failure` or `neutral`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Base importance, 0 to 1 (default 0.5).
    #[serde(default)]
    pub importance: Option<f64>,
    /// Keep it: never evicted by the cap on records, kept when its job is
    /// pruned (default false).
    #[serde(default)]
    pub pinned: bool,
}

/// `POST /v1/memory/forget`: every condition given applies; at least one
/// is required. Pinned memories are kept.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryForgetBody {
    /// Only this type.
    #[serde(default)]
    pub memory_type: Option<String>,
    /// Only memories with all these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only this outcome.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Created at or after.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<DateTime<Utc>>,
    /// Only memories of this job.
    #[serde(default)]
    pub job_id: Option<String>,
}

/// How many memories a forget removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemoryForgotten {
    /// Memories removed.
    pub forgotten: u64,
}

/// `PUT /v1/memory/{id}/pin`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryPinBody {
    /// Pin (true) or unpin (false).
    pub pinned: bool,
}

/// `POST /v1/memory/search`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySearchBody {
    /// What to look for.
    pub query: String,
    /// Results (1 to 100, default 10).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only this type.
    #[serde(default)]
    pub memory_type: Option<String>,
    /// Only memories with all these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only this outcome.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Created at or after.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<DateTime<Utc>>,
    /// Only memories of this job.
    #[serde(default)]
    pub job_id: Option<String>,
}

/// `POST /v1/memory/similar`: give `content` or `memory_id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySimilarBody {
    /// Text to compare with.
    #[serde(default)]
    pub content: Option<String>,
    /// A memory to compare with.
    #[serde(default)]
    pub memory_id: Option<String>,
    /// Results (1 to 100, default 10).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A memory.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemoryView {
    /// Id.
    pub id: String,
    /// Owner.
    pub principal: String,
    /// Type.
    pub memory_type: String,
    /// Text.
    pub content: String,
    /// JSON object.
    pub metadata: serde_json::Value,
    /// Labels.
    pub tags: Vec<String>,
    /// Job.
    pub job_id: Option<String>,
    /// Outcome.
    pub outcome: Option<String>,
    /// Stored.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Last returned.
    #[schema(value_type = String, format = DateTime)]
    pub last_accessed_at: DateTime<Utc>,
    /// Times returned.
    pub access_count: u64,
    /// Base importance.
    pub importance: f64,
    /// The model of its vector.
    pub embedding_model: Option<String>,
    /// Kept from eviction and job pruning.
    pub pinned: bool,
}

impl From<Memory> for MemoryView {
    fn from(m: Memory) -> Self {
        MemoryView {
            id: m.id,
            principal: m.principal.to_string(),
            memory_type: m.memory_type.to_string(),
            content: m.content,
            metadata: m.metadata,
            tags: m.tags,
            job_id: m.job_id,
            outcome: m.outcome.map(|o| o.as_str().to_string()),
            created_at: m.created_at,
            last_accessed_at: m.last_accessed_at,
            access_count: m.access_count,
            importance: m.importance,
            embedding_model: m.embedding_model,
            pinned: m.pinned,
        }
    }
}

/// One result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemoryHit {
    /// The memory.
    pub memory: MemoryView,
    /// Its score.
    pub score: f64,
    /// The score's parts.
    pub parts: ScoreParts,
}

/// Search or similarity results, best first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemoryResults {
    /// The results.
    pub results: Vec<MemoryHit>,
}

impl From<Vec<Scored>> for MemoryResults {
    fn from(found: Vec<Scored>) -> Self {
        MemoryResults {
            results: found
                .into_iter()
                .map(|s| MemoryHit {
                    score: s.score,
                    parts: s.parts,
                    memory: s.memory.into(),
                })
                .collect(),
        }
    }
}

/// `GET /v1/memory/stats`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemoryStatsView {
    /// Memories the caller sees.
    pub total: u64,
    /// Per type.
    pub by_type: BTreeMap<String, u64>,
    /// Mean base importance.
    pub average_importance: f64,
    /// The embedder's model id.
    pub embedder: String,
    /// The vector index in use: `hnsw` (approximate, in process) or
    /// `exact`.
    pub index: String,
    /// The vector index's state (`hnsw`, `exact`, `loading`, `full`),
    /// size, estimated memory and bounds.
    pub index_detail: skynet_core::memory::index::IndexReport,
    /// Pinned memories the caller sees.
    pub pinned: u64,
    /// Memories whose vector another model made (`skynet memory reindex`
    /// re-embeds them); only for a caller who sees every principal's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_reindex: Option<u64>,
}

fn parsed<T: std::str::FromStr<Err = Error>>(v: Option<String>) -> Result<Option<T>, Error> {
    v.map(|s| s.parse()).transpose()
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no memory {id:?}; search to find one"),
    )
}

/// Store a memory for the caller's principal.
#[utoipa::path(post, path = "/v1/memory/store", tag = "memory", request_body = MemoryStoreBody,
    responses(
        (status = 201, body = MemoryView),
        Keyed, JsonBody,
        (status = 400, description = "Empty or oversized content, unknown type or outcome, metadata not an object, importance outside 0..1", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn store(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MemoryStoreBody>,
) -> ApiResult<(StatusCode, ApiJson<MemoryView>)> {
    caller.require(Scope::Submit)?;
    let err = core_err(&caller);
    let new = NewMemory {
        content: body.content,
        memory_type: parsed(body.memory_type).map_err(&err)?,
        metadata: body.metadata,
        tags: body.tags,
        job_id: body.job_id,
        outcome: parsed(body.outcome).map_err(&err)?,
        importance: body.importance,
        pinned: body.pinned,
    };
    let memory = state.act(&caller, async |a| a.remember(new).await).await?;
    Ok((StatusCode::CREATED, ApiJson(memory.into())))
}

/// Hybrid search (full text and vectors fused, weighed by importance) over
/// the memories the caller sees.
#[utoipa::path(post, path = "/v1/memory/search", tag = "memory", request_body = MemorySearchBody,
    responses(
        (status = 200, body = MemoryResults),
        Keyed, JsonBody,
        (status = 400, description = "Empty query, limit outside 1..100, unknown type or outcome", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn search(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MemorySearchBody>,
) -> ApiResult<ApiJson<MemoryResults>> {
    caller.require(Scope::Read)?;
    let err = core_err(&caller);
    let q = SearchQuery {
        query: body.query,
        limit: body.limit,
        filter: MemoryFilter {
            memory_type: parsed(body.memory_type).map_err(&err)?,
            tags: body.tags,
            outcome: parsed(body.outcome).map_err(&err)?,
            since: body.since,
            until: body.until,
            job_id: body.job_id,
        },
    };
    let found = state
        .act(&caller, async |a| a.search_memories(&q).await)
        .await?;
    Ok(ApiJson(found.into()))
}

/// The memories the caller sees most like some text or a memory.
#[utoipa::path(post, path = "/v1/memory/similar", tag = "memory", request_body = MemorySimilarBody,
    responses(
        (status = 200, body = MemoryResults),
        Keyed, JsonBody,
        (status = 400, description = "Neither or both of content and memory_id, an unknown memory, limit outside 1..100", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn similar(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MemorySimilarBody>,
) -> ApiResult<ApiJson<MemoryResults>> {
    caller.require(Scope::Read)?;
    let to = match (body.content, body.memory_id) {
        (Some(c), None) => SimilarTo::Content(c),
        (None, Some(id)) => SimilarTo::MemoryId(id),
        _ => {
            return Err(core_err(&caller)(Error::InvalidInput(
                "give exactly one of content and memory_id".into(),
            )));
        }
    };
    let found = state
        .act(&caller, async |a| a.similar_memories(&to, body.limit).await)
        .await?;
    Ok(ApiJson(found.into()))
}

/// Counts of the memories the caller sees, and the embedder in use.
#[utoipa::path(get, path = "/v1/memory/stats", tag = "memory",
    responses((status = 200, body = MemoryStatsView), Keyed),
    security(("api_key" = [])))]
pub(crate) async fn stats(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<MemoryStatsView>> {
    let s = state
        .act_in_scope(&caller, Scope::Read, async |a| a.memory_stats().await)
        .await?;
    Ok(ApiJson(MemoryStatsView {
        total: s.counts.total,
        by_type: s.counts.by_type,
        average_importance: s.counts.average_importance,
        pinned: s.counts.pinned,
        embedder: s.embedder,
        index: s.index,
        index_detail: s.index_detail,
        to_reindex: s.to_reindex,
    }))
}

/// A memory the caller sees.
#[utoipa::path(get, path = "/v1/memory/{id}", tag = "memory",
    params(("id" = String, Path, description = "Memory id")),
    responses(
        (status = 200, body = MemoryView),
        Keyed, NoMemory,
    ),
    security(("api_key" = [])))]
pub(crate) async fn get_memory(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<MemoryView>> {
    let found = state
        .act_in_scope(&caller, Scope::Read, async |a| a.memory(&id).await)
        .await?;
    found
        .map(|m| ApiJson(m.into()))
        .ok_or_else(|| not_found(&id))
}

/// Forget a memory (`admin`).
#[utoipa::path(delete, path = "/v1/memory/{id}", tag = "memory",
    params(("id" = String, Path, description = "Memory id")),
    responses(
        (status = 204, description = "Forgotten"),
        Keyed,
        (status = 404, description = "No memory with that id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn forget(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let gone = state
        .act_in_scope(&caller, Scope::Admin, async |a| a.forget_memory(&id).await)
        .await?;
    if gone {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// Forget every unpinned memory the caller sees that matches all the
/// conditions given (`admin`).
#[utoipa::path(post, path = "/v1/memory/forget", tag = "memory", request_body = MemoryForgetBody,
    responses(
        (status = 200, body = MemoryForgotten),
        Keyed, JsonBody,
        (status = 400, description = "No condition given, unknown type or outcome", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn forget_matching(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MemoryForgetBody>,
) -> ApiResult<ApiJson<MemoryForgotten>> {
    caller.require(Scope::Admin)?;
    let err = core_err(&caller);
    let filter = MemoryFilter {
        memory_type: parsed(body.memory_type).map_err(&err)?,
        tags: body.tags,
        outcome: parsed(body.outcome).map_err(&err)?,
        since: body.since,
        until: body.until,
        job_id: body.job_id,
    };
    let forgotten = state
        .act(&caller, async |a| a.forget_memories(&filter).await)
        .await?;
    Ok(ApiJson(MemoryForgotten { forgotten }))
}

/// Pin or unpin a memory the caller sees (`admin`).
#[utoipa::path(put, path = "/v1/memory/{id}/pin", tag = "memory", request_body = MemoryPinBody,
    params(("id" = String, Path, description = "Memory id")),
    responses(
        (status = 200, body = MemoryView),
        Keyed, JsonBody, NoMemory,
    ),
    security(("api_key" = [])))]
pub(crate) async fn pin(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MemoryPinBody>,
) -> ApiResult<ApiJson<MemoryView>> {
    caller.require(Scope::Admin)?;
    let acting = state.acting(&caller);
    let err = core_err(&caller);
    if !acting.pin_memory(&id, body.pinned).await.map_err(&err)? {
        return Err(not_found(&id));
    }
    acting
        .memory(&id)
        .await
        .map_err(&err)?
        .map(|m| ApiJson(m.into()))
        .ok_or_else(|| not_found(&id))
}
