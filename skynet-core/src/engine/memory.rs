//! The engine's memory: every job that ends becomes a `task_execution`
//! memory of its principal, written by a background task fed through a
//! bounded channel, so a job's end never waits on (or fails because of)
//! memory. Content passes the engine's [`Redactor`](crate::redact::Redactor)
//! before it is stored.

use super::{Inner, Skynet};
use crate::Result;
use crate::job::{Job, JobId, JobStatus};
use crate::memory::{
    Embedder, HashEmbedder, Memory, MemoryFilter, MemoryOutcome, MemoryType, NewMemory,
};
use crate::principal::Visibility;
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
}

impl EngineMemory {
    /// Memory embedded by `embedder`.
    pub(crate) fn new(embedder: Option<Arc<dyn Embedder>>) -> Self {
        EngineMemory {
            embedder: embedder.unwrap_or_else(|| Arc::new(HashEmbedder::new())),
            writer: OnceLock::new(),
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
        if writer.try_send(job.clone()).is_err() {
            tracing::warn!(job = %job, "memory backlog full: this job is not remembered");
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
        Ok(memory)
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

async fn embed_into(embedder: &dyn Embedder, memory: &mut Memory) -> Result<()> {
    memory.embedding = embedder
        .embed(std::slice::from_ref(&memory.content))
        .await?
        .pop()
        .unwrap_or_default();
    memory.embedding_model = Some(embedder.model_id().to_string());
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
    inner.store.insert_memory(&memory).await
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
            let argv = step.command.argv.join(" ");
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
        })),
        tags: vec![format!("provider:{}", job.provider)],
        job_id: Some(job.id.to_string()),
        outcome: Some(outcome),
        importance: Some(if outcome == MemoryOutcome::Failure {
            0.7
        } else {
            0.5
        }),
    };
    (new, job.principal.clone())
}
