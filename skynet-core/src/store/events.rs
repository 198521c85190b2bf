//! The hash-chained event log, for every dialect: append, read, verify.

use crate::job::JobId;
use crate::store::codec::{LedgerRow, db, event_from_row, now};
use crate::store::dialect::Dialect;
use crate::store::ledger::{Ledger, commit};
use crate::store::rules::{check_event_kind, verify_chain};
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::store::{ChainReport, Event, EventStore};
use crate::{Error, Result};
use async_trait::async_trait;

#[async_trait]
impl<D: Dialect> EventStore for Ledger<D> {
    async fn append_event(&self, id: &JobId, kind: &str, data: serde_json::Value) -> Result<Event> {
        let kind = check_event_kind(kind)?;
        let mut tx = self.begin().await?;
        Tx::<D>::require_job(&mut tx, id).await?;
        let event = Tx::<D>::append_event(&mut tx, id, kind, data, now(), None).await?;
        commit(tx).await?;
        Ok(event)
    }

    async fn events(&self, id: &JobId) -> Result<Vec<Event>> {
        self.ensure_job(id).await?;
        let rows = query::<D>(&D::sql().events)
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
        let limit = i64::from(limit.clamp(1, 10_000));
        if let Some(id) = job {
            // One job's events are appended under its row lock (or the
            // database's write lock), held to commit: its seq order is its
            // commit order.
            self.ensure_job(id).await?;
            let rows = query::<D>(&D::sql().job_events_after)
                .bind(id.as_str())
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.read)
                .await
                .map_err(db("reading events"))?;
            return rows.iter().map(event_from_row).collect();
        }
        let rows = query::<D>(&D::sql().events_after)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading events"))?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
        if D::SEQ_IS_COMMIT_ORDER {
            // One writer at a time: nothing with a smaller seq can appear
            // after a larger one was read.
            return Ok(events);
        }
        // Across jobs, transactions commit in any order, so a larger seq
        // can be visible while a smaller one is still being committed.
        // Hand out events only up to the first gap in seq, unless the gap
        // is old (a rolled-back transaction's seq never fills).
        Ok(up_to_first_fresh_gap(after_seq, events, chrono::Utc::now()))
    }

    async fn verify_events(&self, id: &JobId) -> Result<ChainReport> {
        // One read transaction: the events and the head from one snapshot.
        let mut tx = self.read.begin().await.map_err(db("starting a read"))?;
        if let Some(snapshot) = D::SNAPSHOT_READ {
            query::<D>(snapshot)
                .execute(&mut *tx)
                .await
                .map_err(db("starting a read"))?;
        }
        let row = query::<D>("SELECT event_head FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("reading the event chain head"))?;
        let Some(row) = row else {
            return Err(Error::JobNotFound(id.to_string()));
        };
        let head = row.opt_text("event_head")?;
        let rows = query::<D>(&D::sql().events)
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

/// How long a gap in the global event sequence may be waited on before it
/// is taken for a rolled-back transaction (far longer than any ledger
/// transaction holds an allocated seq before committing).
const GAP_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// `events` (in seq order, all after `after_seq`) cut before the first gap
/// whose next event is younger than [`GAP_GRACE`] at `now`.
fn up_to_first_fresh_gap(
    after_seq: i64,
    events: Vec<Event>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Event> {
    let mut expected = after_seq.saturating_add(1);
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        if e.seq != expected && now - e.at < GAP_GRACE {
            break;
        }
        expected = e.seq.saturating_add(1);
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, Utc};

    fn event(seq: i64, age_secs: i64) -> Event {
        Event {
            seq,
            job_id: JobId::new(),
            kind: "k".into(),
            data: serde_json::Value::Null,
            at: Utc::now() - TimeDelta::seconds(age_secs),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn seqs(events: &[Event]) -> Vec<i64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_fresh_gap_holds_back_what_follows_it() {
        let got = up_to_first_fresh_gap(4, vec![event(5, 0), event(7, 0)], Utc::now());
        assert_eq!(seqs(&got), [5]);
        // A gap right after the cursor holds back everything.
        assert!(up_to_first_fresh_gap(4, vec![event(6, 0)], Utc::now()).is_empty());
    }

    #[test]
    fn an_old_gap_is_a_rollback_and_is_skipped() {
        let got =
            up_to_first_fresh_gap(4, vec![event(5, 60), event(7, 60), event(8, 0)], Utc::now());
        assert_eq!(seqs(&got), [5, 7, 8]);
    }
}
