-- Approval requests expire: a plan awaiting approval may be approved until
-- `expires_at` (microseconds since the epoch, like every instant in the
-- ledger), never after. Jobs recorded before this migration have none and
-- keep the old behaviour (no expiry).
ALTER TABLE jobs ADD COLUMN expires_at INTEGER;

-- Cursors: named positions a front-end resumes from after a restart (the
-- Telegram bot's update offset). A cursor only moves forward.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
