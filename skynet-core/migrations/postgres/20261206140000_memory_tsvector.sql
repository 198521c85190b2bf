-- Full-text search reads a stored tsvector: ranking a match no longer
-- parses its content again (at 100,000 memories that parsing dominated).
ALTER TABLE memories
    ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED;
DROP INDEX memories_fts;
CREATE INDEX memories_fts ON memories USING GIN (content_tsv);
