-- Every stored, re-embedded or deleted memory is announced on
-- `skynet_memory` (`i:ID`, `u:ID`, `d:ID`), so the in-process vector index
-- of every process stays fresh. Notifications go out at commit.
CREATE FUNCTION memories_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('skynet_memory', 'd:' || OLD.id);
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM pg_notify('skynet_memory', 'u:' || NEW.id);
    ELSE
        PERFORM pg_notify('skynet_memory', 'i:' || NEW.id);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER memories_notify
    AFTER INSERT OR DELETE OR UPDATE OF embedding, embedding_model ON memories
    FOR EACH ROW EXECUTE FUNCTION memories_notify();
