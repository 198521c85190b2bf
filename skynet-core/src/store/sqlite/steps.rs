//! Step checkpoints (fenced by the worker's lease) and job logs on SQLite
//! (the write transaction holds the database lock: no row lock needed).

crate::store::step_store::step_store!(SqliteStore, sqlx::Sqlite, read, "", "instr");
