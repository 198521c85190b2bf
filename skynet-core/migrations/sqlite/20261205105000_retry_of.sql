-- A retry is a new job that submits an earlier job's plan again (judged
-- again): it names the job it retries. Jobs from before have none.
ALTER TABLE jobs ADD COLUMN retry_of TEXT;
