//! Cursors: named positions a front-end resumes from after a restart (the
//! Telegram bot's update offset, a subscriber's last event). One small
//! table, `cursors (name, position, updated_at)`, for every dialect.

use crate::store::codec::{LedgerRow, db, micros, now};
use crate::store::dialect::Dialect;
use crate::store::ledger::Ledger;
use crate::store::sql::query;
use crate::{Error, Result};
use async_trait::async_trait;

/// The longest cursor name accepted.
pub const MAX_CURSOR_NAME: usize = 128;

/// Named resume positions.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The stored position of `name`, if one was ever stored.
    async fn cursor(&self, name: &str) -> Result<Option<i64>>;
    /// Store `position` for `name`. A cursor only moves forward: a smaller
    /// position than the stored one is ignored (two processes racing never
    /// move it back). Returns the position now stored.
    async fn advance_cursor(&self, name: &str, position: i64) -> Result<i64>;
}

fn check(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_CURSOR_NAME || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "cursor name {name:?} must be 1 to {MAX_CURSOR_NAME} printable characters"
        )));
    }
    Ok(())
}

#[async_trait]
impl<D: Dialect> CursorStore for Ledger<D> {
    async fn cursor(&self, name: &str) -> Result<Option<i64>> {
        check(name)?;
        let row = query::<D>("SELECT position FROM cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.write)
            .await
            .map_err(db("reading a cursor"))?;
        row.map(|r| r.int("position")).transpose()
    }

    async fn advance_cursor(&self, name: &str, position: i64) -> Result<i64> {
        check(name)?;
        let row = query::<D>(
            "INSERT INTO cursors (name, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
             updated_at = excluded.updated_at WHERE cursors.position < excluded.position \
             RETURNING position",
        )
        .bind(name)
        .bind(position)
        .bind(micros(now()))
        .fetch_optional(&self.write)
        .await
        .map_err(db("storing a cursor"))?;
        match row {
            Some(r) => r.int("position"),
            None => Ok(self.cursor(name).await?.unwrap_or(position)),
        }
    }
}
