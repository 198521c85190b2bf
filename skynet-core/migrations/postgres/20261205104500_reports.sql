-- Reports: what an executor tells SKYNET about work it ran (the original
-- API's POST /v1/report), kept under the reporter's own request id. A
-- report naming one of the caller's jobs is linked to it (`job_id`) and is
-- also the `report` event `event_seq` in that job's chain. Times are
-- microseconds; `body` (step reports and metadata) is JSON text.
CREATE TABLE reports (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL,
    job_id TEXT,
    event_seq BIGINT,
    principal TEXT NOT NULL,
    reporter TEXT NOT NULL,
    overall_status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- A principal's reports on one request, in order.
CREATE INDEX reports_by_request ON reports (principal, request_id, id);
CREATE INDEX reports_by_job ON reports (job_id) WHERE job_id IS NOT NULL;
