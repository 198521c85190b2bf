-- The worker registry: who is draining the queue, from where, how busy.
-- providers is a JSON array of provider names.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT NOT NULL,
    providers    TEXT NOT NULL,
    capacity     INTEGER NOT NULL,
    running      INTEGER NOT NULL DEFAULT 0,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    state        TEXT NOT NULL,
    stopped_at   INTEGER
);
