-- Deliveries are claimed per endpoint (each endpoint has its own cap on
-- requests in flight), so the index of due deliveries leads with it.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due_by_endpoint ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE state = 'pending';
