//! Placeholder: the SQLite ledger (being written).
use crate::Result;

/// The SQLite ledger.
#[derive(Debug)]
pub struct SqliteStore {}

impl SqliteStore {
    /// Open (creating if needed) and migrate.
    pub async fn connect(_url: &str) -> Result<Self> {
        Err(crate::Error::Store("not yet".into()))
    }
}

/// Open the SQLite store at `url` as a shared handle.
pub async fn open(url: &str) -> Result<super::SharedStore> {
    let _ = SqliteStore::connect(url).await?;
    Err(crate::Error::Store("not yet".into()))
}
