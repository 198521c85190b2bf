-- A transaction that NOTIFYs holds a cluster-wide lock from its pre-commit
-- until its end, through the commit's WAL flush: durable commits of
-- notifying transactions are serialized and group commit is lost (one
-- fsync per submit). Inserts no longer notify from the trigger; the store
-- sends the wake-up in its own short transaction after the insert
-- commits (coalesced under load). Status changes to queued (approvals,
-- retries, recovery) still notify from the trigger.
DROP TRIGGER jobs_notify_queued ON jobs;
CREATE TRIGGER jobs_notify_queued AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION skynet_notify_queued();
