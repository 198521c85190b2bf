-- Triggers: when an event of the global log matches, submit an intent.
-- A firing's row is keyed by (trigger, event) and inserted in the job's own
-- transaction under the trigger's row lock, so an event fires a trigger at
-- most once whatever the number of processes, and the rate limit is
-- counted here (durable across restarts and processes).
CREATE TABLE triggers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    principal TEXT NOT NULL,
    -- Event type names or prefixes, as given (job.failed,provider.*).
    event_types TEXT NOT NULL,
    -- Payload fields that must be equal: a JSON object of strings.
    conditions TEXT NOT NULL,
    intent TEXT NOT NULL,
    max_firings INTEGER NOT NULL,
    window_secs INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    root TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    fired INTEGER NOT NULL DEFAULT 0,
    last_fired_at INTEGER,
    CHECK (max_firings > 0 AND window_secs > 0)
);
CREATE INDEX triggers_principal ON triggers (principal, created_at);

CREATE TABLE trigger_firings (
    trigger_id TEXT NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    -- The event's id in event_log.
    event_id INTEGER NOT NULL,
    -- The job it submitted; NULL when skipped or refused.
    job_id TEXT,
    -- fired | rate_limited | refused
    outcome TEXT NOT NULL,
    error TEXT,
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (trigger_id, event_id)
);
CREATE INDEX trigger_firings_window ON trigger_firings (trigger_id, fired_at);

-- Conditions the default handlers raise once until they clear
-- (queue.backlog, system.idle, one per failure pattern or slowed step):
-- a row per raised condition, inserted with its event in one transaction.
CREATE TABLE raised_conditions (
    name TEXT PRIMARY KEY,
    raised_at INTEGER NOT NULL
);
