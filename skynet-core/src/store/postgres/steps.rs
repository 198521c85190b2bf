//! Step checkpoints (fenced by the worker's lease) and job logs on
//! PostgreSQL.

crate::store::step_store::step_store!(PostgresStore, sqlx::Postgres, pool, " FOR SHARE", "strpos");
