-- The SKYNET ledger on PostgreSQL: the same tables as the SQLite ledger
-- (jobs + queue, step checkpoints, logs, the hash-chained event log and the
-- worker registry). Times are BIGINT unix microseconds, exactly as hashed in
-- the event chain. JSON is kept as TEXT: the chain hashes the exact text, and
-- jsonb would reorder keys. Status values are written by the Rust code from
-- core's transition table; there is deliberately no CHECK list here.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    intent           TEXT NOT NULL,
    status           TEXT NOT NULL,
    plan             TEXT,
    plan_hash        TEXT,
    risk             TEXT NOT NULL,
    root             TEXT NOT NULL,
    provider         TEXT NOT NULL,
    priority         BIGINT NOT NULL DEFAULT 0,
    approval         TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    lease_id         TEXT,
    lease_worker     TEXT,
    lease_expires_at BIGINT,
    run_at           BIGINT NOT NULL,
    timeout_ms       BIGINT,
    created_at       BIGINT NOT NULL,
    queued_at        BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    error            TEXT,
    source           TEXT NOT NULL,
    idempotency_key  TEXT UNIQUE,
    event_head       TEXT
);

-- Claim: only queued rows, in the claim's order, so FOR UPDATE SKIP LOCKED
-- reads the first few entries of a small partial index.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, created_at, id)
    WHERE status = 'queued';
-- Reaper: running jobs by lease expiry.
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE status = 'running';
-- Listing: newest first, optionally by status.
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created ON jobs (status, created_at DESC, id DESC);

CREATE TABLE steps (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          BIGINT NOT NULL,
    status       TEXT NOT NULL,
    risk         TEXT NOT NULL,
    exit_code    BIGINT,
    started_at   BIGINT,
    finished_at  BIGINT,
    output_bytes BIGINT NOT NULL DEFAULT 0,
    truncated    BOOLEAN NOT NULL DEFAULT FALSE,
    error        TEXT,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE logs (
    seq    BIGSERIAL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step   BIGINT NOT NULL,
    stream TEXT NOT NULL,
    text   TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX logs_job ON logs (job_id, seq);

CREATE TABLE events (
    seq       BIGSERIAL PRIMARY KEY,
    job_id    TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX events_job ON events (job_id, seq);

-- Keep jobs.event_head on the newest event of the job's chain inside the
-- INSERT itself. Writers hold the job's row lock while appending, so the
-- chain cannot fork.
CREATE FUNCTION skynet_move_event_head() RETURNS trigger AS $$
BEGIN
    UPDATE jobs SET event_head = NEW.hash WHERE id = NEW.job_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER events_move_head AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION skynet_move_event_head();

-- Wake idle workers (LISTEN skynet_jobs) when work becomes claimable. The
-- notification is sent at commit; identical ones in one transaction are
-- folded into one, so a batch insert wakes each listener once.
CREATE FUNCTION skynet_notify_queued() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('skynet_jobs', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_notify_queued AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION skynet_notify_queued();

-- The worker registry: who is draining the queue, from where, how busy.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    version      TEXT NOT NULL,
    providers    TEXT NOT NULL,
    capacity     BIGINT NOT NULL,
    running      BIGINT NOT NULL DEFAULT 0,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    state        TEXT NOT NULL,
    stopped_at   BIGINT
);
