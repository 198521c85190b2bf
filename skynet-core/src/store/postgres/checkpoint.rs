//! The shared checkpoint writers (step starts and ends, completions, group
//! commits), for PostgreSQL: the job row is locked with `FOR UPDATE`.

crate::store::checkpoint_tx::checkpoint_tx!(sqlx::Postgres, sqlx::PgConnection, " FOR UPDATE");
