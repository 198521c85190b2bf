//! The shared writers of a worker (batch claims, step starts and ends,
//! completions, group commits), for SQLite: `BEGIN IMMEDIATE` already holds the write lock.

crate::store::checkpoint_tx::checkpoint_tx!(sqlx::Sqlite, sqlx::SqliteConnection, "", "");
