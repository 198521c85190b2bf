//! The hash-chained event log: append, read, verify.

use super::tx::{append_event, require_job};
use super::{SqliteStore, commit};
use crate::job::JobId;
use crate::store::codec::{EVENT_COLUMNS, db, event_from_row, now};
use crate::store::rules::{check_event_kind, verify_chain};
use crate::store::{ChainReport, Event, EventStore};
use crate::{Error, Result};
use async_trait::async_trait;

#[async_trait]
impl EventStore for SqliteStore {
    async fn append_event(&self, id: &JobId, kind: &str, data: serde_json::Value) -> Result<Event> {
        let kind = check_event_kind(kind)?;
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
