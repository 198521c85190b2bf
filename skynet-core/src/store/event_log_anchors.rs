//! Retention of the global event log (`event_log`): gc removes its old
//! prefix in commit order and leaves an anchor row in its place
//! (`event_log_anchors`), in one transaction, for every dialect.
//!
//! The global log carries no hashes (each job's chain does, and a pruned
//! job's tombstone keeps its head), so removing a prefix leaves every
//! remaining chain verifiable; the anchor says what went (count, id and
//! time range) and `through`, the position of the last event removed, so
//! a reader whose position lies before it is told where its gap is
//! ([`crate::store::event_log::EventPage::pruned`]).
//!
//! What is a prefix: every event in commit order up to the last one that
//! is older than the limit and comes before the first event that is not,
//! and only among the events a reader may already see
//! ([`Dialect::EVENT_LOG_AFTER`]): on PostgreSQL no running transaction
//! can still add an event at or before the cut, so a dry run and the real
//! run after it find the same prefix.

use crate::events::EventPosition;
use crate::store::codec::{LedgerRow, db, micros, time, to_i64};
use crate::store::dialect::Dialect;
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::query;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A pruned prefix of the global event log: what gc left in its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventLogAnchor {
    /// How many events were removed.
    pub count: u64,
    /// The smallest id removed.
    pub first_id: i64,
    /// The largest id removed.
    pub last_id: i64,
    /// The position (`XID-ID`) of the last event removed, in commit order:
    /// a reader after it has missed nothing.
    pub through: String,
    /// When the oldest removed event happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub first_at: DateTime<Utc>,
    /// When the newest removed event happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_at: DateTime<Utc>,
    /// When gc removed them.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub pruned_at: DateTime<Utc>,
}

impl EventLogAnchor {
    /// The position of the last event removed.
    pub fn through(&self) -> Result<EventPosition> {
        self.through.parse()
    }

    /// One line for a person: `pruned N events (ids A..B, from T1 to T2)
    /// at T`.
    pub fn summary(&self) -> String {
        format!(
            "pruned {} events (ids {}..{}, from {} to {}) at {}",
            self.count,
            self.first_id,
            self.last_id,
            self.first_at.to_rfc3339(),
            self.last_at.to_rfc3339(),
            self.pruned_at.to_rfc3339()
        )
    }
}

/// The old prefix of the global log as gc plans its removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLogPrefix {
    /// The position of its last event in commit order.
    pub through: EventPosition,
    /// How many events.
    pub count: u64,
    /// The smallest id.
    pub first_id: i64,
    /// The largest id.
    pub last_id: i64,
    /// The oldest event's time.
    pub first_at: DateTime<Utc>,
    /// The newest event's time.
    pub last_at: DateTime<Utc>,
}

/// The global event log's retention.
#[async_trait]
pub trait EventLogRetention: Send + Sync {
    /// The prefix of the log (commit order) whose events all happened
    /// before `before`, if there is one (see the module docs).
    async fn old_event_prefix(&self, before: DateTime<Utc>) -> Result<Option<EventLogPrefix>>;
    /// Remove every event at or before `through` and leave an anchor row
    /// saying what went, in one transaction; `None` when nothing was left
    /// to remove.
    async fn prune_event_prefix(
        &self,
        through: EventPosition,
        at: DateTime<Utc>,
    ) -> Result<Option<EventLogAnchor>>;
    /// The anchors of pruned ranges that end after `after`, oldest first:
    /// what a reader at `after` has missed.
    async fn event_log_anchors_after(&self, after: EventPosition) -> Result<Vec<EventLogAnchor>>;
}

const ANCHOR_COLUMNS: &str =
    "through_xid, through_id, count, first_id, last_id, first_at, last_at, pruned_at";

fn anchor_from_row(row: &impl LedgerRow) -> Result<EventLogAnchor> {
    let through = EventPosition {
        xid: row.int("through_xid")?,
        id: row.int("through_id")?,
    };
    Ok(EventLogAnchor {
        count: u64::try_from(row.int("count")?)
            .map_err(|_| Error::Store("an event log anchor's count is negative".into()))?,
        first_id: row.int("first_id")?,
        last_id: row.int("last_id")?,
        through: through.to_string(),
        first_at: time(row.int("first_at")?)?,
        last_at: time(row.int("last_at")?)?,
        pruned_at: time(row.int("pruned_at")?)?,
    })
}

/// The count, id range and time range of the events at or before
/// `($1, $2)`.
fn measure_sql<D: Dialect>() -> String {
    format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS count, MIN(e.id) AS first_id, \
         MAX(e.id) AS last_id, MIN(e.at) AS first_at, MAX(e.at) AS last_at \
         FROM event_log e WHERE {}",
        D::EVENT_LOG_THROUGH
    )
}

/// The measure of a prefix ending at `through`, if it holds any event.
fn prefix_from_row(row: &impl LedgerRow, through: EventPosition) -> Result<Option<EventLogPrefix>> {
    let count = row.int("count")?;
    if count == 0 {
        return Ok(None);
    }
    Ok(Some(EventLogPrefix {
        through,
        count: u64::try_from(count).unwrap_or(0),
        first_id: row.int("first_id")?,
        last_id: row.int("last_id")?,
        first_at: time(row.int("first_at")?)?,
        last_at: time(row.int("last_at")?)?,
    }))
}

#[async_trait]
impl<D: Dialect> EventLogRetention for Ledger<D> {
    async fn old_event_prefix(&self, before: DateTime<Utc>) -> Result<Option<EventLogPrefix>> {
        // The first event, readable or not, that is too young: the prefix
        // ends before it.
        let kept = query::<D>(&format!(
            "SELECT e.xid, e.id FROM event_log e WHERE e.at >= $1 ORDER BY {} LIMIT 1",
            D::EVENT_LOG_ORDER
        ))
        .bind(micros(before))
        .fetch_optional(&self.read)
        .await
        .map_err(db("finding the first event gc keeps"))?;
        let kept = match kept {
            Some(r) => EventPosition {
                xid: r.int("xid")?,
                id: r.int("id")?,
            },
            None => EventPosition {
                xid: i64::MAX,
                id: i64::MAX,
            },
        };
        let last = query::<D>(&format!(
            "SELECT e.xid, e.id FROM event_log e WHERE {} AND e.at < $3 \
             AND (e.xid < $4 OR (e.xid = $4 AND e.id < $5)) \
             ORDER BY {} LIMIT 1",
            D::EVENT_LOG_AFTER,
            D::EVENT_LOG_ORDER_DESC
        ))
        .bind(0_i64)
        .bind(0_i64)
        .bind(micros(before))
        .bind(kept.xid)
        .bind(kept.id)
        .fetch_optional(&self.read)
        .await
        .map_err(db("finding the old prefix of the event log"))?;
        let Some(last) = last else {
            return Ok(None);
        };
        let through = EventPosition {
            xid: last.int("xid")?,
            id: last.int("id")?,
        };
        let row = query::<D>(&measure_sql::<D>())
            .bind(through.xid)
            .bind(through.id)
            .fetch_one(&self.read)
            .await
            .map_err(db("measuring the old prefix of the event log"))?;
        prefix_from_row(&row, through)
    }

    async fn prune_event_prefix(
        &self,
        through: EventPosition,
        at: DateTime<Utc>,
    ) -> Result<Option<EventLogAnchor>> {
        let mut tx = self.begin().await?;
        let row = query::<D>(&measure_sql::<D>())
            .bind(through.xid)
            .bind(through.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("measuring the old prefix of the event log"))?;
        let Some(prefix) = prefix_from_row(&row, through)? else {
            return Ok(None);
        };
        let at = crate::store::chain::truncate_to_micros(at);
        query::<D>(&format!(
            "INSERT INTO event_log_anchors ({ANCHOR_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(through.xid)
        .bind(through.id)
        .bind(to_i64(prefix.count))
        .bind(prefix.first_id)
        .bind(prefix.last_id)
        .bind(micros(prefix.first_at))
        .bind(micros(prefix.last_at))
        .bind(micros(at))
        .execute(&mut *tx)
        .await
        .map_err(db("anchoring the pruned prefix of the event log"))?;
        query::<D>(&format!(
            "DELETE FROM event_log WHERE id IN (SELECT e.id FROM event_log e WHERE {})",
            D::EVENT_LOG_THROUGH
        ))
        .bind(through.xid)
        .bind(through.id)
        .execute(&mut *tx)
        .await
        .map_err(db("pruning the event log"))?;
        commit(tx).await?;
        Ok(Some(EventLogAnchor {
            count: prefix.count,
            first_id: prefix.first_id,
            last_id: prefix.last_id,
            through: through.to_string(),
            first_at: prefix.first_at,
            last_at: prefix.last_at,
            pruned_at: at,
        }))
    }

    async fn event_log_anchors_after(&self, after: EventPosition) -> Result<Vec<EventLogAnchor>> {
        let rows = query::<D>(&format!(
            "SELECT {ANCHOR_COLUMNS} FROM event_log_anchors \
             WHERE through_xid > $1 OR (through_xid = $1 AND through_id > $2) ORDER BY id"
        ))
        .bind(after.xid)
        .bind(after.id)
        .fetch_all(&self.read)
        .await
        .map_err(db("reading the event log's anchors"))?;
        rows.iter().map(anchor_from_row).collect()
    }
}
