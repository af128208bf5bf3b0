-- 009: wake long-polls across escrowd instances (server/srv_longpoll_pg.c).
--
-- A helpdesk client waits on GET /v1/retrievals/{id}?wait= at one escrowd
-- while a custodian's part may arrive through another.  Each instance
-- LISTENs on the channel keyescrow_longpoll; these triggers NOTIFY it with
-- the retrieval id whenever a part is added or a request changes state.
-- NOTIFY is transactional: it is delivered at commit and never for a
-- rollback, so a woken waiter always finds the change.  The payload is an
-- id, nothing secret.
CREATE FUNCTION keyescrow_longpoll_notify() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
BEGIN
  IF TG_TABLE_NAME = 'retrieval_parts' THEN
    PERFORM pg_notify('keyescrow_longpoll', NEW.retrieval_id);
  ELSE
    PERFORM pg_notify('keyescrow_longpoll', NEW.id);
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_longpoll_notify() FROM PUBLIC;
CREATE TRIGGER retrieval_parts_longpoll
  AFTER INSERT ON retrieval_parts
  FOR EACH ROW EXECUTE FUNCTION keyescrow_longpoll_notify();
CREATE TRIGGER retrievals_longpoll
  AFTER UPDATE OF state ON retrievals
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION keyescrow_longpoll_notify();
