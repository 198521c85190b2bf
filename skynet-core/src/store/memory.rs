//! The memory table family: `impl<D: Dialect> MemoryStore for Ledger<D>`.
//! The caller's [`Visibility`] is a `principal = $n` condition in every
//! read and delete, so another principal's memories never leave the
//! database.

use crate::memory::{Memory, MemoryCounts, MemoryFilter, MemoryStore};
use crate::principal::Visibility;
use crate::store::codec::{db, memory_from_row, micros, to_i64};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::Ledger;
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The columns every memory read selects.
pub(crate) const MEMORY_COLUMNS: &str = "id, principal, memory_type, content, metadata, tags, \
     job_id, outcome, created_at, last_accessed_at, access_count, importance_micros, embedding, \
     embedding_model";

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
    let bytes = hex::decode(text).map_err(|e| Error::store("column embedding: bad hex", e))?;
    if bytes.len() % 4 != 0 {
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

#[async_trait]
impl<D: Dialect> MemoryStore for Ledger<D> {
    async fn insert_memory(&self, m: &Memory) -> Result<()> {
        let metadata = crate::store::codec::to_json(&m.metadata, "memory metadata")?;
        let tags = crate::store::codec::to_json(&m.tags, "memory tags")?;
        let embedding = embedding_hex(&m.embedding);
        let done = query::<D>(
            "INSERT INTO memories (id, principal, memory_type, content, metadata, tags, job_id, \
             outcome, created_at, last_accessed_at, access_count, importance_micros, embedding, \
             embedding_model) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&m.id)
        .bind(m.principal.as_str())
        .bind(m.memory_type.as_str())
        .bind(&m.content)
        .bind(metadata)
        .bind(tags)
        .bind(m.job_id.as_deref())
        .bind(m.outcome.map(|o| o.as_str()))
        .bind(micros(m.created_at))
        .bind(micros(m.last_accessed_at))
        .bind(to_i64(m.access_count))
        .bind(importance_micros(m.importance))
        .bind(embedding.as_deref())
        .bind(m.embedding_model.as_deref())
        .execute(&self.write)
        .await
        .map_err(db("storing a memory"))?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!("memory {} exists", m.id)));
        }
        Ok(())
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
        qb.push_bind(micros(at)).push(" WHERE id IN (");
        qb.push_list(ids.iter(), |qb, id| {
            qb.push_bind(id.clone());
        });
        qb.push(")");
        let (sql, args) = qb.into_parts()?;
        query_with::<D>(&sql, args)
            .execute(&self.write)
            .await
            .map_err(db("counting memory accesses"))?;
        Ok(())
    }

    async fn memory_counts(&self, visibility: &Visibility) -> Result<MemoryCounts> {
        let mut qb = SqlBuilder::<D>::new(
            "SELECT memory_type, COUNT(*) AS n, CAST(SUM(importance_micros) AS BIGINT) AS importance \
             FROM memories WHERE TRUE",
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
            counts.by_type.insert(row.text("memory_type")?, n);
        }
        if counts.total > 0 {
            counts.average_importance = importance_sum as f64 / 1e6 / counts.total as f64;
        }
        Ok(counts)
    }

    async fn text_search_memories(
        &self,
        terms: &[String],
        visibility: &Visibility,
        limit: u32,
    ) -> Result<Vec<String>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let rows = query::<D>(D::MEMORY_FTS)
            .bind(terms.join(D::FTS_OR))
            .bind(visibility.only().map(|p| p.as_str()))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db("searching memories"))?;
        use crate::store::codec::LedgerRow;
        rows.iter().map(|r| r.text("id")).collect()
    }
}
