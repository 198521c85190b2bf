//! `sk.memory`: what the engine remembers, for Python. `Memories` (from
//! `Skynet.memory`) blocks; `AsyncMemories` (from `AsyncSkynet.memory`)
//! returns awaitables. Both call the same core methods as the CLI and the
//! HTTP routes; results are `MemoryRecord` and `MemoryHit`.

use crate::convert::{Json, datetime, json_to_py, to_py_dict};
use crate::errors::Failure;
use pyo3::prelude::*;
use skynet_core::memory::{
    Memory as CoreMemory, MemoryFilter, MemoryOutcome, MemoryType, NewMemory, Scored, SearchQuery,
};
use skynet_core::{Error, SimilarTo, Skynet as Core};
use std::str::FromStr;

/// One stored memory (the record; its vector stays in the store).
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct MemoryRecord {
    inner: CoreMemory,
}

#[pymethods]
impl MemoryRecord {
    /// Its id.
    #[getter]
    fn id(&self) -> String {
        self.inner.id.clone()
    }
    /// `"task_execution"`, `"failure"`, `"success_pattern"`,
    /// `"user_preference"`, `"system_state"` or `"note"`.
    #[getter]
    fn memory_type(&self) -> &'static str {
        self.inner.memory_type.as_str()
    }
    /// The (redacted) text.
    #[getter]
    fn content(&self) -> String {
        self.inner.content.clone()
    }
    /// The metadata object.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.metadata)
    }
    /// Its labels.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.inner.tags.clone()
    }
    /// The job it is about.
    #[getter]
    fn job_id(&self) -> Option<String> {
        self.inner.job_id.clone()
    }
    /// `"success"`, `"failure"` or `"neutral"`, when known.
    #[getter]
    fn outcome(&self) -> Option<&'static str> {
        self.inner.outcome.map(MemoryOutcome::as_str)
    }
    /// Base importance, 0 to 1.
    #[getter]
    fn importance(&self) -> f64 {
        self.inner.importance
    }
    /// Kept from eviction and job pruning.
    #[getter]
    fn pinned(&self) -> bool {
        self.inner.pinned
    }
    /// How often searches and reads returned it.
    #[getter]
    fn access_count(&self) -> u64 {
        self.inner.access_count
    }
    /// When it was stored.
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.inner.created_at)
    }
    /// The record as plain Python objects (the HTTP API's shape).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "<MemoryRecord {} {}: {:?}>",
            self.inner.id,
            self.inner.memory_type.as_str(),
            self.inner.content.chars().take(60).collect::<String>()
        )
    }
}

/// A search result: the memory, its score and the score's parts.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct MemoryHit {
    found: Scored,
}

#[pymethods]
impl MemoryHit {
    /// The memory.
    #[getter]
    fn memory(&self) -> MemoryRecord {
        MemoryRecord {
            inner: self.found.memory.clone(),
        }
    }
    /// Its score (higher is better).
    #[getter]
    fn score(&self) -> f64 {
        self.found.score
    }
    /// The score's parts (`similarity`, `relevance`, `recency`, ...).
    #[getter]
    fn parts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.found.parts)
    }
    /// The result as plain Python objects (the HTTP API's shape).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.found)
    }
    fn __repr__(&self) -> String {
        format!(
            "<MemoryHit {:.3} {}>",
            self.found.score, self.found.memory.id
        )
    }
}

fn parsed<T: FromStr<Err = Error>>(value: Option<String>) -> Result<Option<T>, Failure> {
    Ok(value.map(|v| v.parse()).transpose()?)
}

/// A new memory from Python's arguments (checked by core when stored):
/// one argument per keyword of `store`, like the method itself.
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_memory(
    content: String,
    memory_type: Option<String>,
    metadata: Option<serde_json::Value>,
    tags: Option<Vec<String>>,
    job_id: Option<String>,
    outcome: Option<String>,
    importance: Option<f64>,
    pinned: bool,
) -> Result<NewMemory, Failure> {
    Ok(NewMemory {
        content,
        memory_type: parsed::<MemoryType>(memory_type)?,
        metadata,
        tags: tags.unwrap_or_default(),
        job_id,
        outcome: parsed::<MemoryOutcome>(outcome)?,
        importance,
        pinned,
    })
}

/// A forget or search filter from Python's arguments (`since`/`until`:
/// RFC 3339 or an age such as `"7d"`).
pub(crate) fn memory_filter(
    memory_type: Option<String>,
    tags: Option<Vec<String>>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    job_id: Option<String>,
) -> Result<MemoryFilter, Failure> {
    let now = chrono::Utc::now();
    let when = |what: &str, t: Option<String>| {
        t.map(|t| skynet_core::memory::parse_when(what, &t, now))
            .transpose()
    };
    Ok(MemoryFilter {
        memory_type: parsed::<MemoryType>(memory_type)?,
        tags: tags.unwrap_or_default(),
        outcome: parsed::<MemoryOutcome>(outcome)?,
        since: when("since", since)?,
        until: when("until", until)?,
        job_id,
    })
}

pub(crate) async fn forget_matching(
    core: Core,
    filter: Result<MemoryFilter, Failure>,
) -> Result<u64, Failure> {
    Ok(core.forget_memories(&filter?).await?)
}

pub(crate) async fn pin(core: Core, id: String, pinned: bool) -> Result<bool, Failure> {
    Ok(core.pin_memory(&id, pinned).await?)
}

/// A search from Python's arguments.
pub(crate) fn search_query(
    query: String,
    limit: Option<u32>,
    memory_type: Option<String>,
    tags: Option<Vec<String>>,
    outcome: Option<String>,
    job_id: Option<String>,
) -> Result<SearchQuery, Failure> {
    Ok(SearchQuery {
        query,
        limit,
        filter: memory_filter(memory_type, tags, outcome, None, None, job_id)?,
    })
}

/// `similar(content=...)` or `similar(memory_id=...)`: exactly one.
pub(crate) fn similar_to(
    content: Option<String>,
    memory_id: Option<String>,
) -> Result<SimilarTo, Failure> {
    match (content, memory_id) {
        (Some(c), None) => Ok(SimilarTo::Content(c)),
        (None, Some(id)) => Ok(SimilarTo::MemoryId(id)),
        _ => Err(Failure::Core(Error::InvalidInput(
            "give either content or memory_id to compare with".into(),
        ))),
    }
}

pub(crate) async fn store(
    core: Core,
    new: Result<NewMemory, Failure>,
) -> Result<MemoryRecord, Failure> {
    Ok(MemoryRecord {
        inner: core.remember(new?).await?,
    })
}

pub(crate) async fn search(
    core: Core,
    q: Result<SearchQuery, Failure>,
) -> Result<Vec<MemoryHit>, Failure> {
    Ok(hits(core.search_memories(&q?).await?))
}

pub(crate) async fn similar(
    core: Core,
    to: Result<SimilarTo, Failure>,
    limit: Option<u32>,
) -> Result<Vec<MemoryHit>, Failure> {
    Ok(hits(core.similar_memories(&to?, limit).await?))
}

pub(crate) async fn get(core: Core, id: String) -> Result<Option<MemoryRecord>, Failure> {
    Ok(core.memory(&id).await?.map(|inner| MemoryRecord { inner }))
}

pub(crate) async fn forget(core: Core, id: String) -> Result<bool, Failure> {
    Ok(core.forget_memory(&id).await?)
}

pub(crate) async fn stats(core: Core) -> Result<Json, Failure> {
    let stats = core.memory_stats().await?;
    serde_json::to_value(stats)
        .map(Json)
        .map_err(|e| Failure::Core(Error::InvalidInput(format!("memory stats: {e}"))))
}

/// Generate `#[pymethods] impl $class` for a memory handle; `$finish`
/// turns an engine future into the Python result.
macro_rules! memory_methods {
    ($class:ident, $finish:path) => {
        #[pymethods]
        impl $class {
            /// Remember ``content``. ``memory_type`` defaults to ``"note"``,
            /// ``importance`` to 0.5; ``metadata`` is a dict.
            #[pyo3(signature = (content, memory_type = None, *, metadata = None, tags = None, job_id = None, outcome = None, importance = None, pinned = false))]
            #[allow(clippy::too_many_arguments)]
            fn store<'py>(
                &self,
                py: Python<'py>,
                content: String,
                memory_type: Option<String>,
                metadata: Option<Bound<'py, PyAny>>,
                tags: Option<Vec<String>>,
                job_id: Option<String>,
                outcome: Option<String>,
                importance: Option<f64>,
                pinned: bool,
            ) -> PyResult<Bound<'py, PyAny>> {
                let metadata = metadata
                    .map(|m| $crate::convert::py_to_json(&m))
                    .transpose()?;
                let new = $crate::memory::new_memory(
                    content,
                    memory_type,
                    metadata,
                    tags,
                    job_id,
                    outcome,
                    importance,
                    pinned,
                );
                $finish(py, $crate::memory::store(self.core.clone(), new))
            }

            /// Hybrid search (full text and vectors), best first.
            #[pyo3(signature = (query, limit = None, *, memory_type = None, tags = None, outcome = None, job_id = None))]
            #[allow(clippy::too_many_arguments)]
            fn search<'py>(
                &self,
                py: Python<'py>,
                query: String,
                limit: Option<u32>,
                memory_type: Option<String>,
                tags: Option<Vec<String>>,
                outcome: Option<String>,
                job_id: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let q = $crate::memory::search_query(query, limit, memory_type, tags, outcome, job_id);
                $finish(py, $crate::memory::search(self.core.clone(), q))
            }

            /// The memories most like ``content`` or the memory ``memory_id``.
            #[pyo3(signature = (content = None, *, memory_id = None, limit = None))]
            fn similar<'py>(
                &self,
                py: Python<'py>,
                content: Option<String>,
                memory_id: Option<String>,
                limit: Option<u32>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let to = $crate::memory::similar_to(content, memory_id);
                $finish(py, $crate::memory::similar(self.core.clone(), to, limit))
            }

            /// The memory with this id, or ``None``.
            fn get<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::memory::get(self.core.clone(), id))
            }

            /// Forget a memory; whether there was one.
            fn forget<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::memory::forget(self.core.clone(), id))
            }

            /// Forget every unpinned memory matching all the conditions given
            /// (at least one); how many. ``since``/``until``: RFC 3339 or an
            /// age such as ``"7d"``.
            #[pyo3(signature = (*, memory_type = None, tags = None, outcome = None, since = None, until = None, job_id = None))]
            #[allow(clippy::too_many_arguments)]
            fn forget_matching<'py>(
                &self,
                py: Python<'py>,
                memory_type: Option<String>,
                tags: Option<Vec<String>>,
                outcome: Option<String>,
                since: Option<String>,
                until: Option<String>,
                job_id: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = $crate::memory::memory_filter(memory_type, tags, outcome, since, until, job_id);
                $finish(py, $crate::memory::forget_matching(self.core.clone(), filter))
            }

            /// Pin a memory (never evicted, kept when its job is pruned) or,
            /// with ``pinned=False``, unpin it; whether there was one.
            #[pyo3(signature = (id, pinned = true))]
            fn pin<'py>(&self, py: Python<'py>, id: String, pinned: bool) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::memory::pin(self.core.clone(), id, pinned))
            }

            /// Counts (``total``, ``by_type``, ``average_importance``) and the
            /// embedder and index in use (``index``; ``index_detail``: its
            /// ``kind``, ``vectors``, ``tombstones``, ``bytes``,
            /// ``max_vectors``, ``threshold``), as a dict.
            fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::memory::stats(self.core.clone()))
            }
        }
    };
}

/// `Skynet.memory`: the blocking handle.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Memories {
    pub(crate) core: Core,
}

/// `AsyncSkynet.memory`: the same methods, each returning an awaitable.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct AsyncMemories {
    pub(crate) core: Core,
}

memory_methods!(Memories, crate::sync::blocking);
memory_methods!(AsyncMemories, crate::aio::awaitable);

fn hits(found: Vec<Scored>) -> Vec<MemoryHit> {
    found.into_iter().map(|found| MemoryHit { found }).collect()
}
