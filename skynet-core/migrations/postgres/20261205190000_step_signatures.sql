-- A step's signature (a hash of its principal, action and command) lets a
-- plan estimate a step's duration from the median of its past runs. Steps
-- from before have none and count for no estimate.
ALTER TABLE steps ADD COLUMN signature TEXT;
CREATE INDEX steps_signature ON steps (signature, finished_at);
