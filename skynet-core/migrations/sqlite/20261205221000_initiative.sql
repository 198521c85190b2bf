-- The initiative engine's kill switch, one row. Its row is also the lock
-- that serializes every initiative job's budget check with its insert.
CREATE TABLE initiative_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    paused INTEGER NOT NULL DEFAULT 0,
    changed_by TEXT,
    changed_at INTEGER
);
INSERT INTO initiative_state (id, paused) VALUES (1, 0);

-- Budgets count jobs by source over the last hour and day.
CREATE INDEX jobs_source_created ON jobs (source, created_at);
