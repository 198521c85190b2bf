-- API keys for the HTTP control plane. Only a SHA-256 of each key's secret
-- is kept; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,   -- public part of the key
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,      -- comma-separated: read,submit,approve,admin
    secret_hash TEXT NOT NULL,      -- hex SHA-256 of the secret part
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
