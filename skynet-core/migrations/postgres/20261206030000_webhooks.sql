-- Webhook endpoints, their deliveries (one per endpoint and event: the
-- outbox, retried with backoff until delivered or dead) and every attempt
-- made (the delivery log). Times are unix microseconds.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    -- The whole URL, tokens included: only ever shown redacted.
    url TEXT NOT NULL,
    -- Event types or prefixes (`job.failed,provider.*`); empty: every type.
    types TEXT NOT NULL,
    -- The signing secret (`whsec_...`): never selected by a listing.
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_principal ON webhooks (principal, created_at);

CREATE TABLE webhook_deliveries (
    -- The `webhook-id` header: the same for every attempt.
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_xid BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    -- The exact body signed and sent on every attempt.
    body TEXT NOT NULL,
    -- `pending`, `delivered` or `dead`.
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- Attempts made before the last redelivery (each redelivery gets the
    -- full number of attempts again; attempt numbers keep counting).
    round_base BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (webhook_id, event_xid, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (state, created_at);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    webhook_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    status BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, at);
