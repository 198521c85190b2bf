-- Retention (gc). A pruned job leaves a tombstone: who owned it, how it
-- ended, and the head hash and length of its event chain, so what was
-- removed can still be named and its chain's last hash compared with any
-- copy kept elsewhere. Times are microseconds.
CREATE TABLE job_tombstones (
    job_id TEXT PRIMARY KEY NOT NULL,
    principal TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    pruned_at BIGINT NOT NULL,
    event_head TEXT,
    event_count BIGINT NOT NULL
);
CREATE INDEX job_tombstones_by_principal ON job_tombstones (principal, pruned_at);

-- What gc removed from a job that is kept: its log lines before a time
-- (`what` = 'logs') or one artifact record (`what` = 'artifact', `detail`
-- its name). They go with the job when it is pruned itself.
CREATE TABLE prune_marks (
    id BIGSERIAL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    what TEXT NOT NULL,
    detail TEXT NOT NULL,
    count BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    before_at BIGINT NOT NULL,
    pruned_at BIGINT NOT NULL
);
CREATE INDEX prune_marks_by_job ON prune_marks (job_id, id);

-- One gc at a time across processes: a lease on this one row.
CREATE TABLE gc_lease (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT,
    expires_at BIGINT NOT NULL
);
INSERT INTO gc_lease (name, holder, expires_at) VALUES ('gc', NULL, 0);

-- Log retention and time-range reads go by time.
CREATE INDEX logs_by_time ON logs (at);
-- Job retention: finished jobs by age.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
