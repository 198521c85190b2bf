-- A delivery's latest attempt lives in its own row (the time it was made
-- and how long it took, beside `last_status` and `last_error`); the
-- attempt before it moves to `webhook_attempts` when the next one is
-- recorded. A delivery that succeeds at once, the usual case, so writes
-- no log row. NULL: the row's latest attempt is in `webhook_attempts`
-- (rows recorded before this migration) or none was made.
ALTER TABLE webhook_deliveries ADD COLUMN last_attempt_at BIGINT;
ALTER TABLE webhook_deliveries ADD COLUMN last_duration_ms BIGINT;
-- Listings by state only ever need the dead letters fast; the index of
-- every row by state cost three entry changes per delivery.
DROP INDEX webhook_deliveries_by_state;
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (created_at) WHERE state = 'dead';
