-- A pinned memory is kept: never evicted by the cap on records, never
-- removed with its pruned job (an explicit forget by id still removes it).
-- 0 or 1.
ALTER TABLE memories ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
-- Eviction takes a principal's least important unpinned memories first.
CREATE INDEX memories_eviction ON memories (principal, pinned, importance_micros, last_accessed_at);
