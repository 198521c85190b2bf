//! The worker registry, for every dialect: writes through the write pool,
//! the listing through the read pool.

use crate::events::{AlertRaised, EventPayload, NewSystemEvent, WorkerChange};
use crate::store::codec::{LedgerRow, WORKER_COLUMNS, db, micros, now, to_json, worker_from_row};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::store::{WorkerInfo, WorkerRecord, WorkerStore};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::LazyLock;

/// Every worker, most recently seen first.
static WORKERS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY heartbeat_at DESC, id")
});

/// A registry event about worker `id`, reported by the worker registry.
fn worker_event(id: &str, payload: EventPayload) -> NewSystemEvent {
    NewSystemEvent::now(format!("worker:{id}"), payload)
}

/// What a worker found silent reports: `worker.offline`, and an alert when
/// it held jobs (their leases expire and the reaper recovers them).
fn silent_worker_events(id: &str, running: u32) -> Vec<NewSystemEvent> {
    let mut events = vec![worker_event(
        id,
        EventPayload::WorkerOffline(WorkerChange {
            worker: id.to_string(),
            running,
        }),
    )];
    if running > 0 {
        events.push(worker_event(
            id,
            EventPayload::AlertRaised(AlertRaised {
                severity: "warning".into(),
                subject: format!("worker:{id}"),
                message: format!(
                    "worker {id} went silent with {running} job(s) running; their leases \
                     expire and the reaper recovers them"
                ),
            }),
        ));
    }
    events
}

#[async_trait]
impl<D: Dialect> WorkerStore for Ledger<D> {
    async fn register_worker(&self, info: &WorkerInfo) -> Result<()> {
        let now = micros(now());
        let mut tx = self.begin().await?;
        query::<D>(
            "INSERT INTO workers (id, host, pid, version, providers, capacity, running, \
             started_at, heartbeat_at, state, stopped_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, 'online', NULL) \
             ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
             version = excluded.version, providers = excluded.providers, \
             capacity = excluded.capacity, running = 0, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, state = 'online', stopped_at = NULL",
        )
        .bind(&info.id)
        .bind(&info.host)
        .bind(i64::from(info.pid))
        .bind(&info.version)
        .bind(to_json(&info.providers, "providers")?)
        .bind(i64::from(info.capacity))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("registering a worker"))?;
        let online = worker_event(
            &info.id,
            EventPayload::WorkerOnline(WorkerChange {
                worker: info.id.clone(),
                running: 0,
            }),
        );
        Tx::<D>::record_events_in(&mut tx, &[online]).await?;
        commit(tx).await
    }

    async fn worker_heartbeat(&self, id: &str, running: u32) -> Result<()> {
        let changed = query::<D>(
            "UPDATE workers SET heartbeat_at = $1, running = $2, state = 'online', \
             stopped_at = NULL WHERE id = $3",
        )
        .bind(micros(now()))
        .bind(i64::from(running))
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(db("recording a worker heartbeat"))?
        .rows_affected();
        if changed == 0 {
            return Err(Error::InvalidInput(format!(
                "worker {id:?} is not registered; register it first"
            )));
        }
        Ok(())
    }

    async fn worker_stopped(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let stopped = query::<D>(
            "UPDATE workers SET state = 'offline', running = 0, stopped_at = $1 WHERE id = $2",
        )
        .bind(micros(now()))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("recording a worker's stop"))?
        .rows_affected();
        if stopped > 0 {
            let offline = worker_event(
                id,
                EventPayload::WorkerOffline(WorkerChange {
                    worker: id.to_string(),
                    running: 0,
                }),
            );
            Tx::<D>::record_events_in(&mut tx, &[offline]).await?;
        }
        commit(tx).await
    }

    async fn mark_stale_workers(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.begin().await?;
        let rows = query::<D>(
            "UPDATE workers SET state = 'offline', stopped_at = $1 \
             WHERE state = 'online' AND heartbeat_at < $2 RETURNING id, running",
        )
        .bind(micros(now()))
        .bind(micros(before))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("marking silent workers offline"))?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = row.text("id")?;
            let running = u32::try_from(row.int("running")?).unwrap_or(u32::MAX);
            events.extend(silent_worker_events(&id, running));
        }
        Tx::<D>::record_events_in(&mut tx, &events).await?;
        commit(tx).await?;
        Ok(rows.len() as u64)
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        let rows = query::<D>(&WORKERS)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing workers"))?;
        rows.iter().map(worker_from_row).collect()
    }
}
