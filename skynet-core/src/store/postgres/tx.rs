//! The shared transaction helpers, for PostgreSQL: the job row is locked
//! with `FOR UPDATE`.

crate::store::ledger_tx::ledger_tx!(sqlx::Postgres, sqlx::PgConnection, " FOR UPDATE");
