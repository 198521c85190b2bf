//! The hash-chained event log: append, read, verify.

use super::codec::{EVENT_COLUMNS, db, event_from_row, now};
use super::tx::{append_event, require_job};
use super::{SqliteStore, commit};
use crate::job::JobId;
use crate::store::{ChainReport, Event, EventStore, chain};
use crate::{Error, Result};
use async_trait::async_trait;

/// Event kinds only the status-changing methods may write.
const RESERVED_KINDS: [&str; 2] = ["status", "submitted"];

/// Walk `events` from the job's genesis and compare the end with `head`.
fn verify_chain(id: &JobId, events: &[Event], head: Option<&str>) -> ChainReport {
    let broken = |problem: String| ChainReport {
        events: events.len(),
        intact: false,
        problem: Some(problem),
    };
    let mut prev = chain::genesis(id);
    for e in events {
        if e.prev_hash != prev {
            return broken(format!(
                "event {}: does not link to the event before it (events removed or reordered?)",
                e.seq
            ));
        }
        let expected = chain::event_hash(&prev, id, &e.kind, &e.data, e.at);
        if e.hash != expected {
            return broken(format!("event {}: hash mismatch (data altered?)", e.seq));
        }
        prev = expected;
    }
    // No recorded head is only right for a job without events.
    let recorded = match head {
        Some(head) => head,
        None if events.is_empty() => prev.as_str(),
        None => "",
    };
    if recorded != prev {
        return broken(format!(
            "chain head mismatch: the job records a different last event than the {} found \
             (events were removed or added)",
            events.len()
        ));
    }
    ChainReport {
        events: events.len(),
        intact: true,
        problem: None,
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append_event(&self, id: &JobId, kind: &str, data: serde_json::Value) -> Result<Event> {
        let kind = kind.trim();
        if kind.is_empty() || RESERVED_KINDS.contains(&kind) {
            return Err(Error::InvalidInput(format!(
                "event kind {kind:?} is not allowed here: status events are written by the \
                 status changes themselves"
            )));
        }
        let mut tx = self.begin().await?;
        require_job(&mut tx, id).await?;
        let event = append_event(&mut tx, id, kind, data, now(), None).await?;
        commit(tx).await?;
        Ok(event)
    }

    async fn events(&self, id: &JobId) -> Result<Vec<Event>> {
        self.ensure_job(id).await?;
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE job_id = ? ORDER BY seq");
        let rows = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_all(&self.read)
            .await
            .map_err(db("reading events"))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn events_after(
        &self,
        job: Option<&JobId>,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        // One writer at a time means `seq` order is commit order: nothing
        // with a smaller seq can appear after a larger one was read.
        let limit = i64::from(limit.clamp(1, 10_000));
        let rows = match job {
            Some(id) => {
                self.ensure_job(id).await?;
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE job_id = ? AND seq > ? \
                     ORDER BY seq LIMIT ?"
                );
                sqlx::query(&sql)
                    .bind(id.as_str())
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
                );
                sqlx::query(&sql)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await
            }
        }
        .map_err(db("reading events"))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn verify_events(&self, id: &JobId) -> Result<ChainReport> {
        // One read transaction: the events and the head from one snapshot.
        let mut tx = self.read.begin().await.map_err(db("starting a read"))?;
        let head: Option<Option<String>> =
            sqlx::query_scalar("SELECT event_head FROM jobs WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading the event chain head"))?;
        let Some(head) = head else {
            return Err(Error::JobNotFound(id.to_string()));
        };
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE job_id = ? ORDER BY seq");
        let rows = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db("reading events"))?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
        tx.rollback().await.map_err(db("ending a read"))?;
        Ok(verify_chain(id, &events, head.as_deref()))
    }
}
