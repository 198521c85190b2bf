//! The shared writers of a worker (batch claims, step starts and ends,
//! completions, group commits), for PostgreSQL: the job row is locked with `FOR UPDATE`.

crate::store::checkpoint_tx::checkpoint_tx!(
    sqlx::Postgres,
    sqlx::PgConnection,
    " FOR UPDATE",
    " FOR UPDATE SKIP LOCKED"
);
