//! The worker registry, for every dialect: writes through the write pool,
//! the listing through the read pool.

use crate::store::codec::{WORKER_COLUMNS, db, micros, now, to_json, worker_from_row};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::Ledger;
use crate::store::sql::query;
use crate::store::{WorkerInfo, WorkerRecord, WorkerStore};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::LazyLock;

/// Every worker, most recently seen first.
static WORKERS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY heartbeat_at DESC, id")
});

#[async_trait]
impl<D: Dialect> WorkerStore for Ledger<D> {
    async fn register_worker(&self, info: &WorkerInfo) -> Result<()> {
        let now = micros(now());
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
        .execute(&self.write)
        .await
        .map_err(db("registering a worker"))?;
        Ok(())
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
        query::<D>(
            "UPDATE workers SET state = 'offline', running = 0, stopped_at = $1 WHERE id = $2",
        )
        .bind(micros(now()))
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(db("recording a worker's stop"))?;
        Ok(())
    }

    async fn mark_stale_workers(&self, before: DateTime<Utc>) -> Result<u64> {
        let marked = query::<D>(
            "UPDATE workers SET state = 'offline', stopped_at = $1 \
             WHERE state = 'online' AND heartbeat_at < $2",
        )
        .bind(micros(now()))
        .bind(micros(before))
        .execute(&self.write)
        .await
        .map_err(db("marking silent workers offline"))?
        .rows_affected();
        Ok(marked)
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        let rows = query::<D>(&WORKERS)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing workers"))?;
        rows.iter().map(worker_from_row).collect()
    }
}
