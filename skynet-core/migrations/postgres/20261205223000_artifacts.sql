-- Artifacts: files a job's steps produced, kept in the artifact store
-- (content-addressed by SHA-256) and recorded here, each also an
-- `artifact` event (`event_seq`) in the job's chain. A name is unique per
-- job (a step run again replaces it); times are microseconds.
CREATE TABLE artifacts (
    id BIGSERIAL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step BIGINT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    principal TEXT NOT NULL,
    event_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (job_id, name)
);
-- Whether an object is still referenced (gc), and the oldest first (retention).
CREATE INDEX artifacts_by_sha256 ON artifacts (sha256);
CREATE INDEX artifacts_by_age ON artifacts (created_at);
