//! [`Ledger`]: the one store type, generic over its [`Dialect`]. A handle
//! holds its backend's pools (one pool per backend per process: SQLite's
//! single writer connection and its readers, or PostgreSQL's pool for
//! both) and whatever else the backend keeps; every table family
//! (`super::jobs`, `super::steps`, `super::events`, `super::workers`,
//! `super::keys`) implements its trait for `Ledger<D>` once.

use crate::job::{Job, JobId};
use crate::store::codec::db;
use crate::store::dialect::Dialect;
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::store::{RunCheckpoint, Store};
use crate::{Error, Result};
use sqlx::{Pool, Transaction};

/// A ledger on the database of dialect `D` (see the aliases
/// [`SqliteStore`](super::sqlite::SqliteStore) and
/// [`PostgresStore`](super::postgres::PostgresStore)).
pub struct Ledger<D: Dialect> {
    /// Write transactions (SQLite: exactly one connection).
    pub(crate) write: Pool<D>,
    /// Reads (the same pool as `write` where the backend needs no split).
    pub(crate) read: Pool<D>,
    /// What the backend keeps besides its pools.
    pub(crate) state: D::State,
    /// The recent events this handle's pollers of the global log share.
    pub(crate) tail: crate::store::event_log_tail::LogTail,
}

impl<D: Dialect> std::fmt::Debug for Ledger<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("backend", &D::BACKEND)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Commit a write transaction.
pub(crate) async fn commit<D: Dialect>(tx: Transaction<'static, D>) -> Result<()> {
    tx.commit().await.map_err(db("committing"))
}

impl<D: Dialect> Ledger<D> {
    /// Start a write transaction (holding SQLite's write lock from its
    /// first statement). Dropping it without `commit` rolls it back.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, D>> {
        self.write
            .begin_with(D::BEGIN_WRITE)
            .await
            .map_err(db("starting a write transaction"))
    }

    /// [`Error::JobNotFound`] unless the job exists (read pool).
    pub(crate) async fn ensure_job(&self, id: &JobId) -> Result<()> {
        let found = query::<D>("SELECT id FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db("looking up a job"))?;
        found
            .map(|_| ())
            .ok_or_else(|| Error::JobNotFound(id.to_string()))
    }

    /// Record one checkpoint in its own transaction.
    pub(crate) async fn checkpoint(&self, cp: RunCheckpoint) -> Result<Option<Job>> {
        let mut tx = self.begin().await?;
        let mut results =
            Tx::<D>::record_checkpoints_in(&mut tx, std::slice::from_ref(&cp)).await?;
        let job = results
            .pop()
            .unwrap_or_else(|| Err(Error::Store("no checkpoint result".into())))?;
        commit(tx).await?;
        Ok(job)
    }
}

impl<D: Dialect> Store for Ledger<D> {
    fn backend(&self) -> &'static str {
        D::BACKEND
    }
}
