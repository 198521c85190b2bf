//! The system-wide event catalogue: every event SKYNET reports, typed.
//!
//! An event has a type ([`EventType`], the closed list documented in
//! `docs/events.md`), a time, a source (the part of SKYNET that reported
//! it), the job it is about when there is one, and a typed payload
//! ([`EventPayload`]). Events live in the ledger's global event log
//! (`store::event_log`), written in the transaction of the change they
//! report; job lifecycle events are derived from the job's hash-chained
//! events by [`from_job`], the one place that mapping is written.

mod catalogue;
pub mod consumer;
pub mod from_job;
mod payload;
pub mod webhooks;

pub use catalogue::{ALL_EVENT_TYPES, EventType};
pub use consumer::{Consumer, EventHandler, Polled, run_handler};
pub use payload::*;

use crate::job::JobId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A position in the global event log, in commit order: events are read in
/// `(xid, id)` order, where `xid` is the writing transaction's id on
/// PostgreSQL (0 on SQLite, whose single writer commits in `id` order). A
/// reader resuming after a position misses nothing committed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventPosition {
    /// The writing transaction (0 on SQLite).
    pub xid: i64,
    /// The event's id.
    pub id: i64,
}

impl EventPosition {
    /// The start of the log.
    pub const START: EventPosition = EventPosition { xid: 0, id: 0 };
}

impl std::fmt::Display for EventPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.xid, self.id)
    }
}

impl std::str::FromStr for EventPosition {
    type Err = crate::Error;
    /// `XID-ID` as [`EventPosition`]'s `Display` writes it, or a bare `ID`
    /// (SQLite positions, where the xid is 0).
    fn from_str(s: &str) -> crate::Result<Self> {
        let bad = || {
            crate::Error::InvalidInput(format!(
                "event position {s:?} is not XID-ID or ID (two whole numbers, as events show it)"
            ))
        };
        let (xid, id) = match s.trim().split_once('-') {
            Some((x, i)) => (x.parse().map_err(|_| bad())?, i.parse().map_err(|_| bad())?),
            None => (0, s.trim().parse().map_err(|_| bad())?),
        };
        if xid < 0 || id < 0 {
            return Err(bad());
        }
        Ok(EventPosition { xid, id })
    }
}

/// One event of the global log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "RawEvent")]
pub struct SystemEvent {
    /// Its id in the log (unique, increasing per writer).
    pub id: i64,
    /// Its position in commit order (`XID-ID`), to resume after.
    pub position: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: DateTime<Utc>,
    /// The part of SKYNET that reported it (`ledger`, `sentinel`,
    /// `worker:ID`, `trigger`, `handler:NAME`, ...).
    pub source: String,
    /// The job it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub job: Option<JobId>,
    /// The details, shaped by the type (see `docs/events.md`).
    pub payload: EventPayload,
}

impl SystemEvent {
    /// The event's position in commit order.
    pub fn position(&self) -> crate::Result<EventPosition> {
        self.position.parse()
    }
}

/// The serialized shape of [`SystemEvent`], checked into the typed one.
#[derive(Deserialize)]
struct RawEvent {
    id: i64,
    position: String,
    #[serde(rename = "type")]
    event_type: EventType,
    at: DateTime<Utc>,
    source: String,
    #[serde(default)]
    job: Option<JobId>,
    payload: serde_json::Value,
}

impl TryFrom<RawEvent> for SystemEvent {
    type Error = crate::Error;
    fn try_from(raw: RawEvent) -> crate::Result<Self> {
        Ok(SystemEvent {
            id: raw.id,
            position: raw.position,
            payload: EventPayload::decode(raw.event_type, raw.payload)?,
            event_type: raw.event_type,
            at: raw.at,
            source: raw.source,
            job: raw.job,
        })
    }
}

/// An event to record: everything but the id and position the log gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSystemEvent {
    /// What happened (must match the payload's type).
    pub payload: EventPayload,
    /// Who reports it.
    pub source: String,
    /// The job it is about, if any.
    pub job: Option<JobId>,
    /// When.
    pub at: DateTime<Utc>,
}

impl NewSystemEvent {
    /// An event reported by `source` now.
    pub fn now(source: impl Into<String>, payload: EventPayload) -> Self {
        NewSystemEvent {
            payload,
            source: source.into(),
            job: None,
            at: Utc::now(),
        }
    }

    /// The same event about `job`.
    pub fn about(mut self, job: JobId) -> Self {
        self.job = Some(job);
        self
    }

    /// Its type.
    pub fn event_type(&self) -> EventType {
        self.payload.event_type()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_bad_ones_are_refused() {
        let p = EventPosition { xid: 7, id: 42 };
        assert_eq!(p.to_string().parse::<EventPosition>().unwrap(), p);
        assert_eq!(
            "42".parse::<EventPosition>().unwrap(),
            EventPosition { xid: 0, id: 42 }
        );
        for bad in ["", "x", "1-", "-1", "1-2-3", "1--2"] {
            assert!(bad.parse::<EventPosition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn positions_order_by_transaction_first() {
        let late_low = EventPosition { xid: 9, id: 1 };
        let early_high = EventPosition { xid: 8, id: 5 };
        assert!(early_high < late_low);
    }
}
