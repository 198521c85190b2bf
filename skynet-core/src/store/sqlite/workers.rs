//! The worker registry on SQLite: writes through the one-connection write
//! pool, the listing through the read pool.

crate::store::worker_store::worker_store!(super::SqliteStore, write, read);
