-- Full text splits content into words the way a search splits its query
-- (and SQLite's FTS5 splits content): at every character that is not a
-- letter or digit. PostgreSQL's own parser read "host-17" as `host` and
-- `-17`, so a search for "host 17" never matched it.
--
-- The GIN index keeps a small pending list: every search scans the whole
-- list of entries not yet merged, and at the default 4 MB limit (with no
-- vacuum to merge it) that scan cost 3-4 ms of each full-text statement
-- at 100,000 memories. 256 kB merges more often, for about the same
-- insert rate.
DROP INDEX memories_fts;
ALTER TABLE memories DROP COLUMN content_tsv;
ALTER TABLE memories
    ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS
        (to_tsvector('english', regexp_replace(content, '[^[:alnum:]]+', ' ', 'g'))) STORED;
CREATE INDEX memories_fts ON memories USING GIN (content_tsv) WITH (gin_pending_list_limit = 256);
