//! The hash-chained event log on PostgreSQL: append, read, verify.

use super::tx::{append_event, require_job};
use super::{PostgresStore, commit};
use crate::job::JobId;
use crate::store::codec::{EVENT_COLUMNS, db, event_from_row, now};
use crate::store::rules::{check_event_kind, verify_chain};
use crate::store::{ChainReport, Event, EventStore};
use crate::{Error, Result};
use async_trait::async_trait;

#[async_trait]
impl EventStore for PostgresStore {
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
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE job_id = $1 ORDER BY seq");
        let rows = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading events"))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn verify_events(&self, id: &JobId) -> Result<ChainReport> {
        // One REPEATABLE READ transaction: the events and the head from one
        // snapshot.
        let mut tx = self.pool.begin().await.map_err(db("starting a read"))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db("starting a read"))?;
        let head: Option<Option<String>> =
            sqlx::query_scalar("SELECT event_head FROM jobs WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading the event chain head"))?;
        let Some(head) = head else {
            return Err(Error::JobNotFound(id.to_string()));
        };
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE job_id = $1 ORDER BY seq");
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
