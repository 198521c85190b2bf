-- The SKYNET ledger: jobs + queue, step checkpoints, logs and the
-- hash-chained event log. Times are INTEGER unix microseconds (lossless for
-- the event hash chain). Status values are written by the Rust code from
-- core's transition table; there is deliberately no CHECK list here to
-- drift out of sync with it.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY NOT NULL,
    intent           TEXT NOT NULL,
    status           TEXT NOT NULL,
    plan             TEXT,              -- JSON
    plan_hash        TEXT,
    risk             TEXT NOT NULL,
    root             TEXT NOT NULL,
    provider         TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    approval         TEXT,              -- JSON
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    lease_id         TEXT,
    lease_worker     TEXT,
    lease_expires_at INTEGER,
    run_at           INTEGER NOT NULL,
    timeout_ms       INTEGER,
    created_at       INTEGER NOT NULL,
    queued_at        INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    error            TEXT,
    source           TEXT NOT NULL,
    idempotency_key  TEXT UNIQUE,
    event_head       TEXT
);

-- Claim: queued jobs whose run_at has come, highest priority first. The
-- index follows the claim's ORDER BY so a claim reads the first few
-- entries instead of sorting every queued job (status, run_at, priority
-- needed a temp B-tree sort: O(queue) per claim).
CREATE INDEX jobs_claim ON jobs (status, priority DESC, run_at, created_at, id);
-- Reaper: running jobs by lease expiry.
CREATE INDEX jobs_lease ON jobs (status, lease_expires_at);
-- Listing: newest first.
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);

CREATE TABLE steps (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    status       TEXT NOT NULL,
    risk         TEXT NOT NULL,
    exit_code    INTEGER,
    started_at   INTEGER,
    finished_at  INTEGER,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    truncated    INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE logs (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    stream TEXT NOT NULL,
    text   TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX logs_job ON logs (job_id, seq);

CREATE TABLE events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id    TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL,        -- JSON
    at        INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX events_job ON events (job_id, seq);
