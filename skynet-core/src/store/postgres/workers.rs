//! The worker registry on PostgreSQL.

crate::store::worker_store::worker_store!(super::PostgresStore, pool, pool);
