-- The vector index's catch-up counts and lists the memories of one model
-- (by creation time) about once a second: without this index each of
-- those read every row, embeddings and all (330 MB at 100,000 memories);
-- with `id` in it they read the index alone.
CREATE INDEX memories_by_model ON memories (embedding_model, created_at, id);
