//! The shared transaction helpers, for SQLite: every write transaction
//! starts with `BEGIN IMMEDIATE`, which already holds the database's write
//! lock, so the job row needs no lock of its own.

crate::store::ledger_tx::ledger_tx!(sqlx::Sqlite, sqlx::SqliteConnection, "");
