-- Every writer of events now moves jobs.event_head itself, in the same
-- transaction and usually in the UPDATE that changes the job anyway: the
-- per-row trigger rewrote the job row once per event.
DROP TRIGGER events_move_head;
