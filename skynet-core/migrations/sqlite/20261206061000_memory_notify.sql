-- SQLite has no NOTIFY: the in-process vector index catches up by reading
-- (new ids by creation time, a full id comparison when counts differ).
-- This migration only keeps both backends' versions aligned.
SELECT 1;
