-- The global event log: every event of the catalogue (docs/events.md),
-- job lifecycle and system events alike, written in the transaction of
-- the change it reports. SQLite has one writer at a time, so `id` order is
-- commit order and `xid` is always 0.
CREATE TABLE event_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    xid INTEGER NOT NULL DEFAULT 0,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    job_id TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX event_log_by_job ON event_log (job_id, id) WHERE job_id IS NOT NULL;

-- Durable consumers: each one's position in the log, `(xid, id)` of the
-- last event it has handled.
CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY,
    xid INTEGER NOT NULL,
    id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
