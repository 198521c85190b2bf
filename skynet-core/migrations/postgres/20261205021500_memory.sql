-- Memory: what SKYNET remembers of its runs and what callers tell it.
-- Times are microseconds; metadata and tags are JSON text; the embedding is
-- little-endian f32 bytes, hex-encoded, with the id of the model that made it.
CREATE TABLE memories (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    memory_type TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    tags TEXT NOT NULL,
    job_id TEXT,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    last_accessed_at BIGINT NOT NULL,
    access_count BIGINT NOT NULL DEFAULT 0,
    -- importance in millionths (0 to 1 000 000), so it binds as an integer
    importance_micros BIGINT NOT NULL,
    embedding TEXT,
    embedding_model TEXT
);
-- A principal's memories, newest first.
CREATE INDEX memories_by_principal ON memories (principal, created_at DESC);
CREATE INDEX memories_by_job ON memories (job_id) WHERE job_id IS NOT NULL;
-- Full-text search over content.
CREATE INDEX memories_fts ON memories USING GIN (to_tsvector('english', content));
