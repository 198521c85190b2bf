-- Principals: every job belongs to the principal that submitted it, and
-- idempotency keys are scoped to that principal.
--
-- Jobs recorded before this migration belong to the local operator. The
-- idempotency key moves to `request_key`, unique per principal; the old
-- `idempotency_key` column keeps its table-level UNIQUE (SQLite cannot drop
-- it without rebuilding the table) and is left NULL from now on.
ALTER TABLE jobs ADD COLUMN principal TEXT NOT NULL DEFAULT 'local';
ALTER TABLE jobs ADD COLUMN request_key TEXT;
-- SHA-256 of the whole request that made the job: a repeated key with a
-- different request is refused.
ALTER TABLE jobs ADD COLUMN request_hash TEXT;
UPDATE jobs SET request_key = idempotency_key, idempotency_key = NULL
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX jobs_request_key ON jobs (principal, request_key)
    WHERE request_key IS NOT NULL;
-- A principal's listing, newest first.
CREATE INDEX jobs_by_principal ON jobs (principal, created_at DESC, id DESC);

-- Every API key belongs to a principal; each existing key becomes its own.
ALTER TABLE api_keys ADD COLUMN principal TEXT;
UPDATE api_keys SET principal = 'key:' || id WHERE principal IS NULL;
