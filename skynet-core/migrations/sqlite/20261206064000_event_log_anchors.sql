-- Retention of the global event log (gc). A pruned prefix of the log
-- leaves one anchor row: how many events went, their id range and time
-- range, and `through` (xid, id), the position of the last one in commit
-- order, so a reader whose position is before it learns exactly where
-- the gap is. Times are microseconds.
CREATE TABLE event_log_anchors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    through_xid INTEGER NOT NULL,
    through_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    pruned_at INTEGER NOT NULL
);
