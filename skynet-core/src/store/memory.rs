//! The memory table family: `impl<D: Dialect> MemoryStore for Ledger<D>`.
//! The caller's [`Visibility`] is a `principal = $n` condition in every
//! read and delete, so another principal's memories never leave the
//! database.

use crate::memory::index::IndexedVector;
use crate::memory::{Memory, MemoryCounts, MemoryFilter, MemoryStore};
use crate::principal::Visibility;
use crate::store::codec::{db, memory_from_row, micros, to_i64};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::Ledger;
use crate::store::sql::{On, SqlBuilder, Stmt, query, query_with};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The columns every memory read selects.
pub(crate) const MEMORY_COLUMNS: &str = "id, principal, memory_type, content, metadata, tags, \
     job_id, outcome, created_at, last_accessed_at, access_count, importance_micros, embedding, \
     embedding_model, pinned";

/// [`MEMORY_COLUMNS`] with a NULL embedding: for rows whose similarity
/// the vector index already gave (3 KB of hex less a row to read and
/// decode).
const MEMORY_COLUMNS_BUT_EMBEDDING: &str = "id, principal, memory_type, content, metadata, \
     tags, job_id, outcome, created_at, last_accessed_at, access_count, importance_micros, \
     CAST(NULL AS TEXT) AS embedding, embedding_model, pinned";

/// The terms of a query full-text search ranks at most (the first ones).
const MAX_TEXT_TERMS: usize = 32;

/// Ids per statement when deleting by a list (well under every backend's
/// limit on bound values).
const IDS_PER_STATEMENT: usize = 500;
/// Memories one insert statement holds (15 values each: well within
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters).
const INSERT_ROWS: usize = 100;

/// Importance as stored: millionths.
pub(crate) fn importance_micros(importance: f64) -> i64 {
    (importance.clamp(0.0, 1.0) * 1e6).round() as i64
}

/// An embedding as stored: little-endian f32 bytes, hex.
pub(crate) fn embedding_hex(v: &[f32]) -> Option<String> {
    (!v.is_empty()).then(|| hex::encode(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>()))
}

/// The vector stored as [`embedding_hex`].
pub(crate) fn embedding_from_hex(text: &str) -> Result<Vec<f32>> {
    // Into a buffer of the right size: `hex::decode`'s iterator was a
    // fifth of a vector search's time at 100,000 memories.
    let mut bytes = vec![0u8; text.len() / 2];
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|e| Error::store("column embedding: bad hex", e))?;
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::Store("column embedding: not whole f32s".into()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn push_visibility<D: Dialect>(qb: &mut SqlBuilder<'_, D>, visibility: &Visibility) {
    if let Some(me) = visibility.only() {
        qb.push(" AND principal = ")
            .push_bind(me.as_str().to_string());
    }
}

/// `filter`'s conditions, each as ` AND ...`.
fn push_filter<D: Dialect>(qb: &mut SqlBuilder<'_, D>, filter: &MemoryFilter) -> Result<()> {
    if let Some(t) = filter.memory_type {
        qb.push(" AND memory_type = ").push_bind(t.as_str());
    }
    if let Some(o) = filter.outcome {
        qb.push(" AND outcome = ").push_bind(o.as_str());
    }
    if let Some(job) = &filter.job_id {
        qb.push(" AND job_id = ").push_bind(job.clone());
    }
    if let Some(since) = filter.since {
        qb.push(" AND created_at >= ").push_bind(micros(since));
    }
    if let Some(until) = filter.until {
        qb.push(" AND created_at < ").push_bind(micros(until));
    }
    for tag in &filter.tags {
        // The tag as it appears in the stored JSON array, quotes
        // included, found by position (no LIKE wildcards to escape).
        let quoted = crate::store::codec::to_json(tag, "a tag")?;
        qb.push(" AND ")
            .push(D::SUBSTR_POS)
            .push("(tags, ")
            .push_bind(quoted)
            .push(") > 0");
    }
    Ok(())
}

/// The insert of `memories` (one row each; an id already stored is
/// left as it is, and counts as not inserted).
fn insert_statement<'a, D: Dialect>(memories: &'a [Memory]) -> Result<(String, D::Args<'a>)> {
    use crate::store::codec::to_json;
    let encoded = memories
        .iter()
        .map(|m| {
            Ok((
                to_json(&m.metadata, "memory metadata")?,
                to_json(&m.tags, "memory tags")?,
            ))
        })
        .collect::<Result<Vec<(String, String)>>>()?;
    let mut qb = SqlBuilder::<D>::new(
        "INSERT INTO memories (id, principal, memory_type, content, metadata, tags, job_id, \
         outcome, created_at, last_accessed_at, access_count, importance_micros, embedding, \
         embedding_model, pinned) ",
    );
    qb.push_values(
        memories.iter().zip(encoded),
        |row, (m, (metadata, tags))| {
            row.push_bind(m.id.as_str())
                .push_bind(m.principal.as_str())
                .push_bind(m.memory_type.as_str())
                .push_bind(m.content.as_str())
                .push_bind(metadata)
                .push_bind(tags)
                .push_bind(m.job_id.as_deref())
                .push_bind(m.outcome.map(|o| o.as_str()))
                .push_bind(micros(m.created_at))
                .push_bind(micros(m.last_accessed_at))
                .push_bind(to_i64(m.access_count))
                .push_bind(importance_micros(m.importance))
                .push_bind(embedding_hex(&m.embedding))
                .push_bind(m.embedding_model.as_deref())
                .push_bind(i64::from(m.pinned));
        },
    );
    qb.push(" ON CONFLICT (id) DO NOTHING");
    qb.into_parts()
}

/// The select of the vector rows [`vector_from_row`] reads, those made by
/// `model`; the caller narrows it further.
fn push_vectors_of_model<D: Dialect>(qb: &mut SqlBuilder<'_, D>, model: &str) {
    qb.push("SELECT id, principal, created_at, embedding FROM memories WHERE embedding_model = ")
        .push_bind(model.to_string());
}

/// One page of a walk in id order: the ids after `after`, at most
/// `limit` of them.
fn push_page_after<D: Dialect>(qb: &mut SqlBuilder<'_, D>, after: Option<&str>, limit: u32) {
    if let Some(after) = after {
        qb.push(" AND id > ").push_bind(after.to_string());
    }
    qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
}

/// What `count`, a `SELECT COUNT(*) AS n`, counts on `on`; a failure is
/// described as `what`.
async fn counted<'q: 'e, 'e, D: Dialect>(
    count: Stmt<'q, D>,
    on: impl On<'e, D>,
    what: &'static str,
) -> Result<u64> {
    use crate::store::codec::LedgerRow;
    let row = count.fetch_one(on).await.map_err(db(what))?;
    Ok(row.int("n")?.max(0) as u64)
}

/// A vector row (`id, principal, created_at, embedding`).
fn vector_from_row(row: &impl crate::store::codec::LedgerRow) -> Result<IndexedVector> {
    Ok(IndexedVector {
        id: row.text("id")?,
        principal: row.text("principal")?,
        created_at: row.int("created_at")?,
        vector: match row.opt_text("embedding")? {
            Some(hex) => embedding_from_hex(&hex)?,
            None => Vec::new(),
        },
    })
}

impl<D: Dialect> Ledger<D> {
    /// The rows, decoded by `decode`, of the statements `select` writes for
    /// `ids`, [`IDS_PER_STATEMENT`] of them at a time (each statement names
    /// its chunk in an `IN` list); a failure is described as `what`.
    async fn read_by_ids<T: Send>(
        &self,
        ids: &[String],
        select: impl Fn(&mut SqlBuilder<'_, D>, &[String]) -> Result<()> + Send + Sync,
        decode: impl Fn(&D::Row) -> Result<T> + Send + Sync,
        what: &'static str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut qb = SqlBuilder::<D>::new("");
            select(&mut qb, chunk)?;
            let (sql, args) = qb.into_parts()?;
            let rows = query_with::<D>(&sql, args)
                .fetch_all(&self.read)
                .await
                .map_err(db(what))?;
            for row in &rows {
                out.push(decode(row)?);
            }
        }
        Ok(out)
    }

    /// The conflict of an insert of `batch` whose statement for `chunk`
    /// stored fewer rows than it held: an id twice in the batch (in any
    /// two chunks), or one of the chunk's already stored.
    async fn conflict(&self, batch: &[Memory], chunk: &[Memory]) -> Error {
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = batch.iter().find(|m| !seen.insert(m.id.as_str())) {
            return Error::Conflict(format!("memory {} is twice in the batch", twice.id));
        }
        let ids: Vec<String> = chunk.iter().map(|m| m.id.clone()).collect();
        let all = MemoryFilter::default();
        match self
            .memories_by_ids(&ids, &all, &Visibility::All, false)
            .await
        {
            Ok(found) => match found.first() {
                Some(m) => Error::Conflict(format!("memory {} exists", m.id)),
                None => Error::Conflict("a memory of the batch was stored meanwhile".into()),
            },
            Err(e) => e,
        }
    }
}

#[async_trait]
impl<D: Dialect> MemoryStore for Ledger<D> {
    async fn insert_memory(&self, m: &Memory) -> Result<()> {
        let (sql, args) = insert_statement::<D>(std::slice::from_ref(m))?;
        let done = query_with::<D>(&sql, args)
            .execute(&self.write)
            .await
            .map_err(db("storing a memory"))?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!("memory {} exists", m.id)));
        }
        Ok(())
    }

    async fn insert_memories(&self, memories: &[Memory]) -> Result<()> {
        if memories.is_empty() {
            return Ok(());
        }
        // Many rows a statement: one round trip per chunk, not per row
        // (ingest at 100,000: PostgreSQL 3,853 → 8,334 records/s, SQLite
        // 5,719 → 18,549).
        let mut tx = self.begin().await?;
        for chunk in memories.chunks(INSERT_ROWS) {
            let (sql, args) = insert_statement::<D>(chunk)?;
            let done = query_with::<D>(&sql, args)
                .execute(&mut *tx)
                .await
                .map_err(db("storing memories"))?;
            if done.rows_affected() < chunk.len() as u64 {
                drop(tx); // rolled back: then the ids found were there before
                return Err(self.conflict(memories, chunk).await);
            }
        }
        crate::store::ledger::commit(tx).await
    }

    async fn memories_by_ids(
        &self,
        ids: &[String],
        filter: &MemoryFilter,
        visibility: &Visibility,
        embeddings: bool,
    ) -> Result<Vec<Memory>> {
        let columns = if embeddings {
            MEMORY_COLUMNS
        } else {
            MEMORY_COLUMNS_BUT_EMBEDDING
        };
        let select = |qb: &mut SqlBuilder<'_, D>, chunk: &[String]| {
            qb.push("SELECT ")
                .push(columns)
                .push(" FROM memories WHERE id IN ")
                .push_in(chunk.iter().cloned());
            push_visibility(qb, visibility);
            push_filter(qb, filter)
        };
        self.read_by_ids(ids, select, memory_from_row, "reading memories")
            .await
    }

    async fn memory_vectors(
        &self,
        model: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IndexedVector>> {
        let mut qb = SqlBuilder::<D>::new("");
        push_vectors_of_model(&mut qb, model);
        push_page_after(&mut qb, after, limit);
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading memory vectors"))?;
        rows.iter().map(vector_from_row).collect()
    }

    async fn memory_vectors_of(&self, model: &str, ids: &[String]) -> Result<Vec<IndexedVector>> {
        let select = |qb: &mut SqlBuilder<'_, D>, chunk: &[String]| {
            push_vectors_of_model(qb, model);
            qb.push(" AND id IN ").push_in(chunk.iter().cloned());
            Ok(())
        };
        self.read_by_ids(ids, select, vector_from_row, "reading memory vectors")
            .await
    }

    async fn memory_vector_ids(
        &self,
        model: &str,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(String, i64)>> {
        use crate::store::codec::LedgerRow;
        let mut qb =
            SqlBuilder::<D>::new("SELECT id, created_at FROM memories WHERE embedding_model = ");
        qb.push_bind(model.to_string());
        if let Some(since) = since {
            qb.push(" AND created_at >= ").push_bind(since);
        }
        qb.push(" LIMIT ").push_bind(i64::from(limit));
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading memory ids"))?;
        rows.iter()
            .map(|r| Ok((r.text("id")?, r.int("created_at")?)))
            .collect()
    }

    async fn count_memory_vectors(&self, model: &str) -> Result<u64> {
        let count =
            query::<D>("SELECT COUNT(*) AS n FROM memories WHERE embedding_model = $1").bind(model);
        counted(count, &self.read, "counting memory vectors").await
    }

    fn memory_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        D::memory_changes(self)
    }

    async fn get_memory(&self, id: &str, visibility: &Visibility) -> Result<Option<Memory>> {
        let mut qb = SqlBuilder::<D>::new("SELECT ");
        qb.push(MEMORY_COLUMNS)
            .push(" FROM memories WHERE id = ")
            .push_bind(id.to_string());
        push_visibility(&mut qb, visibility);
        let (sql, args) = qb.into_parts()?;
        let row = query_with::<D>(&sql, args)
            .fetch_optional(&self.read)
            .await
            .map_err(db("reading a memory"))?;
        row.as_ref().map(memory_from_row).transpose()
    }

    async fn delete_memory(&self, id: &str, visibility: &Visibility) -> Result<bool> {
        let mut qb = SqlBuilder::<D>::new("DELETE FROM memories WHERE id = ");
        qb.push_bind(id.to_string());
        push_visibility(&mut qb, visibility);
        let (sql, args) = qb.into_parts()?;
        let done = query_with::<D>(&sql, args)
            .execute(&self.write)
            .await
            .map_err(db("deleting a memory"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_memories(
        &self,
        filter: &MemoryFilter,
        visibility: &Visibility,
        limit: u32,
    ) -> Result<Vec<Memory>> {
        let mut qb = SqlBuilder::<D>::new("SELECT ");
        qb.push(MEMORY_COLUMNS).push(" FROM memories WHERE TRUE");
        push_visibility(&mut qb, visibility);
        push_filter(&mut qb, filter)?;
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing memories"))?;
        rows.iter().map(memory_from_row).collect()
    }

    async fn touch_memories(&self, ids: &[String], at: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut qb = SqlBuilder::<D>::new(
            "UPDATE memories SET access_count = access_count + 1, last_accessed_at = ",
        );
        qb.push_bind(micros(at)).push(" WHERE id IN ");
        qb.push_in(ids.iter().cloned());
        let (sql, args) = qb.into_parts()?;
        // A ranking signal nobody waits on: a crash may lose the last
        // counts, never the database's consistency (see
        // `Dialect::BEGIN_UNFLUSHED`); the flush took a millisecond of
        // every search on PostgreSQL.
        let mut tx = self
            .write
            .begin_with(D::BEGIN_UNFLUSHED)
            .await
            .map_err(db("starting a write transaction"))?;
        query_with::<D>(&sql, args)
            .execute(&mut *tx)
            .await
            .map_err(db("counting memory accesses"))?;
        crate::store::ledger::commit(tx).await
    }

    async fn memory_counts(&self, visibility: &Visibility) -> Result<MemoryCounts> {
        let mut qb = SqlBuilder::<D>::new(
            "SELECT memory_type, COUNT(*) AS n, CAST(SUM(importance_micros) AS BIGINT) AS importance, \
             CAST(SUM(pinned) AS BIGINT) AS pinned FROM memories WHERE TRUE",
        );
        push_visibility(&mut qb, visibility);
        qb.push(" GROUP BY memory_type");
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("counting memories"))?;
        let mut counts = MemoryCounts::default();
        let mut importance_sum = 0i64;
        for row in &rows {
            use crate::store::codec::LedgerRow;
            let n = row.int("n")?.max(0) as u64;
            counts.total += n;
            importance_sum += row.int("importance")?;
            counts.pinned += row.int("pinned")?.max(0) as u64;
            counts.by_type.insert(row.text("memory_type")?, n);
        }
        if counts.total > 0 {
            counts.average_importance = importance_sum as f64 / 1e6 / counts.total as f64;
        }
        Ok(counts)
    }

    async fn forget_memories(&self, filter: &MemoryFilter, visibility: &Visibility) -> Result<u64> {
        if filter.is_empty() {
            return Err(Error::InvalidInput(
                "give at least one condition (type, tag, outcome, time range or job) to \
                 forget by; to forget one memory, give its id"
                    .into(),
            ));
        }
        let mut qb = SqlBuilder::<D>::new("DELETE FROM memories WHERE pinned = 0");
        push_visibility(&mut qb, visibility);
        push_filter(&mut qb, filter)?;
        let (sql, args) = qb.into_parts()?;
        let done = query_with::<D>(&sql, args)
            .execute(&self.write)
            .await
            .map_err(db("forgetting memories"))?;
        Ok(done.rows_affected())
    }

    async fn set_memory_pinned(
        &self,
        id: &str,
        pinned: bool,
        visibility: &Visibility,
    ) -> Result<bool> {
        let mut qb = SqlBuilder::<D>::new("UPDATE memories SET pinned = ");
        qb.push_bind(i64::from(pinned))
            .push(" WHERE id = ")
            .push_bind(id.to_string());
        push_visibility(&mut qb, visibility);
        let (sql, args) = qb.into_parts()?;
        let done = query_with::<D>(&sql, args)
            .execute(&self.write)
            .await
            .map_err(db("pinning a memory"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn evict_memories(&self, principal: &crate::Principal, max: u64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let count =
            query::<D>("SELECT COUNT(*) AS n FROM memories WHERE principal = $1 AND pinned = 0")
                .bind(principal.as_str());
        let unpinned = counted(count, &mut *tx, "counting memories").await?;
        let count =
            query::<D>("SELECT COUNT(*) AS n FROM memories WHERE principal = $1 AND pinned <> 0")
                .bind(principal.as_str());
        let pinned = counted(count, &mut *tx, "counting memories").await?;
        let excess = (unpinned + pinned).saturating_sub(max).min(unpinned);
        if excess == 0 {
            return Ok(0);
        }
        let done = query::<D>(
            "DELETE FROM memories WHERE id IN (SELECT id FROM memories \
             WHERE principal = $1 AND pinned = 0 \
             ORDER BY importance_micros ASC, last_accessed_at ASC, created_at ASC, id ASC \
             LIMIT $2)",
        )
        .bind(principal.as_str())
        .bind(to_i64(excess))
        .execute(&mut *tx)
        .await
        .map_err(db("evicting memories"))?;
        crate::store::ledger::commit(tx).await?;
        Ok(done.rows_affected())
    }

    async fn forget_jobs(&self, jobs: &[crate::job::JobId]) -> Result<u64> {
        let mut gone = 0;
        for chunk in jobs.chunks(IDS_PER_STATEMENT) {
            let mut qb =
                SqlBuilder::<D>::new("DELETE FROM memories WHERE pinned = 0 AND job_id IN ");
            qb.push_in(chunk.iter().map(crate::job::JobId::as_str));
            let (sql, args) = qb.into_parts()?;
            let done = query_with::<D>(&sql, args)
                .execute(&self.write)
                .await
                .map_err(db("forgetting pruned jobs' memories"))?;
            gone += done.rows_affected();
        }
        Ok(gone)
    }

    async fn count_job_memories(&self, jobs: &[crate::job::JobId]) -> Result<u64> {
        use crate::store::codec::LedgerRow;
        let mut n = 0;
        for chunk in jobs.chunks(IDS_PER_STATEMENT) {
            let mut qb = SqlBuilder::<D>::new(
                "SELECT COUNT(*) AS n FROM memories WHERE pinned = 0 AND job_id IN ",
            );
            qb.push_in(chunk.iter().map(crate::job::JobId::as_str));
            let (sql, args) = qb.into_parts()?;
            let row = query_with::<D>(&sql, args)
                .fetch_one(&self.read)
                .await
                .map_err(db("counting pruned jobs' memories"))?;
            n += row.int("n")?.max(0) as u64;
        }
        Ok(n)
    }

    async fn memories_to_embed(
        &self,
        model: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Memory>> {
        let mut qb = SqlBuilder::<D>::new("SELECT ");
        qb.push(MEMORY_COLUMNS)
            .push(" FROM memories WHERE (embedding_model IS NULL OR embedding_model <> ")
            .push_bind(model.to_string())
            .push(")");
        push_page_after(&mut qb, after, limit);
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing memories to embed"))?;
        rows.iter().map(memory_from_row).collect()
    }

    async fn count_memories_to_embed(&self, model: &str) -> Result<u64> {
        let count = query::<D>(
            "SELECT COUNT(*) AS n FROM memories \
             WHERE embedding_model IS NULL OR embedding_model <> $1",
        )
        .bind(model);
        counted(count, &self.read, "counting memories to embed").await
    }

    async fn set_memory_embeddings(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<()> {
        if vectors.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (id, vector) in vectors {
            query::<D>("UPDATE memories SET embedding = $1, embedding_model = $2 WHERE id = $3")
                .bind(embedding_hex(vector).as_deref())
                .bind(model)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db("storing a memory's vector"))?;
        }
        crate::store::ledger::commit(tx).await
    }

    async fn text_search_memories(
        &self,
        terms: &[String],
        visibility: &Visibility,
        limit: u32,
        budget: u32,
    ) -> Result<Vec<String>> {
        use crate::memory::TextRanking;
        let terms = &terms[..terms.len().min(MAX_TEXT_TERMS)];
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        if budget == u32::MAX {
            return self
                .fts(D::MEMORY_FTS, terms, D::FTS_OR, visibility, limit)
                .await;
        }
        match crate::memory::text_ranking(D::term_matches(self, terms, budget).await?, budget) {
            None => Ok(Vec::new()),
            Some(TextRanking::Ranked(terms)) => {
                self.fts(D::MEMORY_FTS, &terms, D::FTS_OR, visibility, limit)
                    .await
            }
            Some(TextRanking::Levels(terms)) => {
                let limit = limit as usize;
                let mut found: Vec<String> = Vec::new();
                // The exact search asks for up to 10,000: no quadratic dedup.
                let mut seen = std::collections::HashSet::new();
                for level in crate::memory::text_levels(&terms) {
                    if found.len() >= limit {
                        break;
                    }
                    // Enough to step over the memories earlier levels found.
                    let take = limit.saturating_add(found.len()) as u32;
                    let ids = self
                        .fts(D::MEMORY_FTS_MATCHES, level, D::FTS_AND, visibility, take)
                        .await?;
                    for id in ids {
                        if found.len() < limit && seen.insert(id.clone()) {
                            found.push(id);
                        }
                    }
                }
                Ok(found)
            }
        }
    }
}

impl<D: Dialect> Ledger<D> {
    /// Ids from full-text query `sql` over `terms` joined by `op`.
    async fn fts(
        &self,
        sql: &'static str,
        terms: &[String],
        op: &str,
        visibility: &Visibility,
        limit: u32,
    ) -> Result<Vec<String>> {
        use crate::store::codec::LedgerRow;
        let stmt = query::<D>(sql)
            .bind(terms.join(op))
            .bind(visibility.only().map(|p| p.as_str()))
            .bind(i64::from(limit));
        // Whether a word is common decides the plan (an index read, or the
        // table read until `limit` rows match).
        let stmt = if D::PLANS_BY_VALUE {
            stmt.planned_per_call()
        } else {
            stmt
        };
        let rows = stmt
            .fetch_all(&self.read)
            .await
            .map_err(db("searching memories"))?;
        rows.iter().map(|r| r.text("id")).collect()
    }

    /// Each of `terms` with its match count, counted up to `budget + 1`.
    pub(crate) async fn fts_counts(
        &self,
        terms: &[String],
        budget: u32,
    ) -> Result<Vec<(String, u64)>> {
        use crate::store::codec::LedgerRow;
        let listed =
            serde_json::to_string(terms).map_err(|e| Error::store("encoding search terms", e))?;
        let rows = query::<D>(D::MEMORY_FTS_COUNTS)
            .bind(listed)
            .bind(i64::from(budget) + 1)
            .fetch_all(&self.read)
            .await
            .map_err(db("counting search terms' matches"))?;
        rows.iter()
            .map(|r| Ok((r.text("term")?, r.int("n")?.max(0) as u64)))
            .collect()
    }
}
