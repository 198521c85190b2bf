-- Retention of the global event log (gc). A pruned prefix of the log
-- leaves one anchor row: how many events went, their id range and time
-- range, and `through` (xid, id), the position of the last one in commit
-- order, so a reader whose position is before it learns exactly where
-- the gap is. Times are microseconds.
CREATE TABLE event_log_anchors (
    id BIGSERIAL PRIMARY KEY,
    through_xid BIGINT NOT NULL,
    through_id BIGINT NOT NULL,
    count BIGINT NOT NULL,
    first_id BIGINT NOT NULL,
    last_id BIGINT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    pruned_at BIGINT NOT NULL
);
