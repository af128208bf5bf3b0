-- 018_queue_longpoll.sql - long-polls on the retrieval queue
-- (GET /v1/retrievals?wait=S&since=CURSOR) and on declines.
--
-- Every change to the queue - a new request, a state change, a part, a
-- decline - also notifies the key 'retrievals', so that custodians (the
-- policy custodian daemon, the console) waiting on the queue through any
-- escrowd instance hear of it at once; declines notify their request's key
-- too, as parts do (schema 009).
CREATE OR REPLACE FUNCTION keyescrow_longpoll_notify() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
BEGIN
  IF TG_TABLE_NAME IN ('retrieval_parts', 'retrieval_declines') THEN
    PERFORM pg_notify('keyescrow_longpoll', NEW.retrieval_id);
  ELSE
    PERFORM pg_notify('keyescrow_longpoll', NEW.id);
  END IF;
  PERFORM pg_notify('keyescrow_longpoll', 'retrievals');
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_longpoll_notify() FROM PUBLIC;
CREATE TRIGGER retrieval_declines_longpoll
  AFTER INSERT ON retrieval_declines
  FOR EACH ROW EXECUTE FUNCTION keyescrow_longpoll_notify();
CREATE TRIGGER retrievals_created_longpoll
  AFTER INSERT ON retrievals
  FOR EACH ROW EXECUTE FUNCTION keyescrow_longpoll_notify();
