-- Every search counts its results' accesses (`access_count`,
-- `last_accessed_at`). With `last_accessed_at` in an index, each such
-- update wrote a new entry into every index of the table (the GIN one
-- too) and left a dead row version for vacuum: after 1,000 searches at
-- 100,000 memories, full-text statements were a quarter slower. Without
-- it the update can stay on its page (a heap-only tuple), for which pages
-- keep a tenth free. Eviction orders the last few by access time itself.
DROP INDEX memories_eviction;
CREATE INDEX memories_eviction ON memories (principal, pinned, importance_micros);
ALTER TABLE memories SET (fillfactor = 90);
