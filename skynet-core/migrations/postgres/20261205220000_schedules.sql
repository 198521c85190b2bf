-- Recurring intents. A schedule fires each tick as a normal job; a tick's
-- row is inserted in the same transaction as its job, so a tick another
-- process already fired conflicts on the key and fires nothing.
ALTER TABLE jobs ADD COLUMN origin TEXT;

CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    intent TEXT NOT NULL,
    -- Exactly one of a cron expression (read in time_zone) and an interval.
    cron TEXT,
    every_ms BIGINT,
    time_zone TEXT NOT NULL,
    catch_up BOOLEAN NOT NULL DEFAULT FALSE,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    root TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The next tick to fire (unix microseconds).
    next_tick_at BIGINT NOT NULL,
    last_tick_at BIGINT,
    last_job_id TEXT,
    fired BIGINT NOT NULL DEFAULT 0,
    CHECK ((cron IS NULL) <> (every_ms IS NULL))
);
CREATE INDEX schedules_due ON schedules (next_tick_at) WHERE NOT paused;
CREATE INDEX schedules_principal ON schedules (principal, created_at);

CREATE TABLE schedule_ticks (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    tick_at BIGINT NOT NULL,
    -- The job it fired; NULL when planning or the policy refused the intent.
    job_id TEXT,
    fired_at BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (schedule_id, tick_at)
);
