-- The global event log: every event of the catalogue (docs/events.md),
-- job lifecycle and system events alike, written in the transaction of
-- the change it reports. Transactions commit in any order, so readers go
-- by `(xid, id)` (the writing transaction's id, then the event's) and
-- only read events of transactions older than every running one
-- (`pg_snapshot_xmin`): no event can appear later behind a position read.
CREATE TABLE event_log (
    id BIGSERIAL PRIMARY KEY,
    xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    type TEXT NOT NULL,
    at BIGINT NOT NULL,
    source TEXT NOT NULL,
    job_id TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX event_log_order ON event_log (xid, id);
CREATE INDEX event_log_by_job ON event_log (job_id, id) WHERE job_id IS NOT NULL;

-- Durable consumers: each one's position in the log, `(xid, id)` of the
-- last event it has handled.
CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY,
    xid BIGINT NOT NULL,
    id BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
