-- 017_retrieval_declines.sql - a custodian's "no" to a retrieval request,
-- with the rule and the reason (POST /v1/retrievals/{id}/declines).
--
-- A policy custodian declines what its written policy does not allow, and
-- says which rule; a human custodian may decline too.  A decline is not a
-- veto: other custodians may still contribute, and the requester and the
-- console see who declined and why.  One per custodian index and request,
-- never changed (the history must keep its meaning); a custodian who later
-- contributes a part after all is visible as both.
CREATE TABLE retrieval_declines (
  retrieval_id     text        NOT NULL REFERENCES retrievals (id),
  custodian_index  smallint    NOT NULL CHECK (custodian_index BETWEEN 1 AND 255),
  user_id          bigint      NOT NULL REFERENCES users (id),
  rule             text        NOT NULL CHECK (rule ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  reason           text        NOT NULL CHECK (octet_length(reason) BETWEEN 1 AND 500
                                               AND reason !~ '[[:cntrl:]]'),
  created          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (retrieval_id, custodian_index)
);
COMMENT ON TABLE retrieval_declines IS 'Custodians'' declines of retrieval requests (rule, reason)';
CREATE TRIGGER retrieval_declines_no_update
  BEFORE UPDATE OR DELETE ON retrieval_declines
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
REVOKE ALL ON retrieval_declines FROM PUBLIC;
GRANT SELECT, INSERT ON retrieval_declines TO keyescrow_app;
