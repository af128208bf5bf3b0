-- 003_audit.sql - the audit log proper: the queue that request transactions
-- write to, the sequencer that turns queued events into contiguous Merkle
-- leaves, the stored subtree hashes and head of the tree, and the signed
-- checkpoints.  See docs/audit.md ("Sequencing") and server/srv_audit.c.
--
-- Why a queue: an event must commit with the change it records, but giving
-- it its leaf index there would hold one global lock across every request.
-- So a request only INSERTs its event into audit_queue (no lock, no
-- conflict); right after commit, keyescrow_audit_sequence*() takes the one
-- row lock of audit_head for the duration of one batch, and moves every
-- committed queued event into audit_log with the next indices.  Whoever gets
-- the lock first moves everyone's events: natural batching, and correct with
-- any number of escrowd instances on the database.  Queued rows are durable,
-- so a crash between commit and sequencing delays an event, never loses it.

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM audit_log) THEN
    RAISE EXCEPTION 'audit_log already has rows; 003 expects the empty log of 001';
  END IF;
END
$$;

-- Which queued event became which leaf, so that a request can learn the
-- index of its own event even when another instance sequenced it.
ALTER TABLE audit_log ADD COLUMN queue_id bigint UNIQUE;
-- Leaves are written only by the sequencer functions below (owner rights):
-- the application role can neither insert a leaf out of order nor leave a
-- gap.
REVOKE INSERT ON audit_log FROM keyescrow_app;

-- An event whose leaf index is not known yet.  A leaf is the canonical JSON
-- of the event with its index as "seq" (docs/audit.md 1.1).  Every member
-- of an event sorts either before "seq" (action, actor, details, object,
-- outcome, request_id) or after it (src, time), so escrowd renders the two
-- halves canonically at append time, and the leaf is exactly
--     leaf_head || ',"seq":' || seq || ',' || leaf_tail
-- with leaf_head = '{"action":...' (no closing brace) and
-- leaf_tail = '"src":...}' (no opening brace).
CREATE TABLE audit_queue (
  id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  leaf_head bytea       NOT NULL CHECK (substr(leaf_head, 1, 10) = '\x7b22616374696f6e223a'::bytea),
  leaf_tail bytea       NOT NULL CHECK (substr(leaf_tail, 1, 6) = '\x22737263223a'::bytea
                                        AND substr(leaf_tail, length(leaf_tail), 1) = '\x7d'::bytea),
  created   timestamptz NOT NULL DEFAULT now(),
  CHECK (length(leaf_head) + length(leaf_tail) <= 65536)
);
COMMENT ON TABLE audit_queue IS
  'Audit events committed but not yet given a leaf index (moved by keyescrow_audit_sequence)';
REVOKE ALL ON audit_queue FROM PUBLIC;
-- INSERT ... RETURNING id needs SELECT; there is no UPDATE or DELETE.
GRANT SELECT, INSERT ON audit_queue TO keyescrow_app;

-- Hashes of the complete subtrees of the tree: (level, idx) is the root of
-- leaves [idx * 2^level, (idx + 1) * 2^level); level 0 holds the leaf
-- hashes again.  A complete subtree never changes, so any proof is O(log n)
-- rows (docs/audit.md 2.3).  Proofs come from this table only, never from
-- audit_log: a leaf row edited behind the server's back (leaf and
-- leaf_hash alike) then leaves every proof intact, so a verifier that
-- recomputes the leaves names exactly the edited one.
CREATE TABLE audit_tree (
  level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
  idx   bigint   NOT NULL CHECK (idx >= 0),
  hash  bytea    NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);
COMMENT ON TABLE audit_tree IS
  'Append-only: hashes of complete Merkle subtrees of audit_log';
CREATE TRIGGER audit_tree_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_tree
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE TRIGGER audit_tree_no_truncate
  BEFORE TRUNCATE ON audit_tree
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_append_only();
REVOKE ALL ON audit_tree FROM PUBLIC;
GRANT SELECT ON audit_tree TO keyescrow_app;

-- The head of the tree: its size, root, and the roots of the perfect
-- subtrees that make it up (largest first; RFC 9162's "frontier"), enough
-- to append the next leaf in O(log n).  One row, whose lock serialises the
-- sequencers.
CREATE TABLE audit_head (
  id       smallint    PRIMARY KEY CHECK (id = 1),
  size     bigint      NOT NULL CHECK (size >= 0),
  root     bytea       NOT NULL CHECK (length(root) = 32),
  frontier bytea[]     NOT NULL,
  updated  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_head (id, size, root, frontier)
  VALUES (1, 0, sha256(''::bytea), '{}');
REVOKE ALL ON audit_head FROM PUBLIC;
GRANT SELECT ON audit_head TO keyescrow_app;

-- Signed tree heads: C2SP tlog-checkpoint notes signed with the log key.
-- Several instances may sign the same size; the signature is deterministic
-- (Ed25519) and the first row wins.
CREATE TABLE audit_checkpoints (
  tree_size bigint      PRIMARY KEY CHECK (tree_size >= 0),
  root      bytea       NOT NULL CHECK (length(root) = 32),
  note      text        NOT NULL CHECK (length(note) BETWEEN 1 AND 65536),
  created   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE audit_checkpoints IS
  'Append-only: signed checkpoints (C2SP signed notes) of the audit log';
CREATE TRIGGER audit_checkpoints_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate
  BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_append_only();
REVOKE ALL ON audit_checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON audit_checkpoints TO keyescrow_app;

-- Move up to p_max queued events, oldest id first, into the tree.  Returns
-- the first index written, how many, and the queue ids moved (ascending:
-- ids[i] got index first_seq + i - 1).  Internal: runs with the owner's
-- rights through the two functions below.
CREATE FUNCTION keyescrow_audit_move(p_max integer, OUT first_seq bigint, OUT moved integer,
                                     OUT ids bigint[])
  LANGUAGE plpgsql
  SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  h       public.audit_head%ROWTYPE;
  f       bytea[];
  n       bigint;
  s       bigint;
  lvl     smallint;
  q       record;
  v_leaf  bytea;
  v_cur   bytea;
  v_root  bytea;
  deleted bigint;
  leaves  bytea[] := '{}';
  hashes  bytea[] := '{}';
  t_lvl   smallint[] := '{}';
  t_idx   bigint[] := '{}';
  t_hash  bytea[] := '{}';
BEGIN
  -- In REPEATABLE READ or SERIALIZABLE the lock below would be granted on
  -- a stale snapshot: the indices would collide instead of following on.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'the audit sequencer must run in READ COMMITTED, not %',
                    current_setting('transaction_isolation');
  END IF;
  IF p_max IS NULL OR p_max < 1 OR p_max > 10000 THEN
    RAISE EXCEPTION 'p_max must be in 1..10000';
  END IF;
  -- THE serialisation point.  In READ COMMITTED, a waiter gets the row as
  -- the previous sequencer left it, and every later statement sees that
  -- sequencer's leaves and its deletions from the queue.
  SELECT * INTO STRICT h FROM public.audit_head WHERE id = 1 FOR UPDATE;
  f := h.frontier;
  n := h.size;
  first_seq := h.size;
  ids := '{}';
  FOR q IN SELECT a.id, a.leaf_head, a.leaf_tail FROM public.audit_queue a
           ORDER BY a.id LIMIT p_max LOOP
    v_leaf := q.leaf_head || convert_to(',"seq":' || n::text || ',', 'UTF8') || q.leaf_tail;
    v_cur := sha256('\x00'::bytea || v_leaf);
    ids := ids || q.id;
    leaves := leaves || v_leaf;
    hashes := hashes || v_cur;
    t_lvl := t_lvl || 0::smallint;
    t_idx := t_idx || n;
    t_hash := t_hash || v_cur;
    -- Push the leaf onto the frontier, merging equal-sized subtrees: leaf
    -- n completes one subtree per trailing 1 bit of n.
    s := n;
    lvl := 0;
    WHILE (s & 1) = 1 LOOP
      v_cur := sha256('\x01'::bytea || f[cardinality(f)] || v_cur);
      f := f[1:cardinality(f) - 1];
      lvl := lvl + 1;
      s := s >> 1;
      t_lvl := t_lvl || lvl;
      t_idx := t_idx || (n >> lvl);
      t_hash := t_hash || v_cur;
    END LOOP;
    f := f || v_cur;
    n := n + 1;
  END LOOP;
  moved := (n - h.size)::integer;
  IF moved = 0 THEN
    RETURN;
  END IF;
  INSERT INTO public.audit_log (seq, leaf, leaf_hash, queue_id)
    SELECT h.size + u.o - 1, u.l, u.hs, u.i
      FROM unnest(leaves, hashes, ids) WITH ORDINALITY AS u(l, hs, i, o);
  INSERT INTO public.audit_tree (level, idx, hash)
    SELECT * FROM unnest(t_lvl, t_idx, t_hash);
  DELETE FROM public.audit_queue WHERE id = ANY (ids);
  GET DIAGNOSTICS deleted = ROW_COUNT;
  IF deleted <> moved THEN
    RAISE EXCEPTION 'audit queue changed under the sequencer (% of % rows)', deleted, moved;
  END IF;
  -- Root = the frontier folded from the right (RFC 9162 2.1.1).
  v_root := f[cardinality(f)];
  FOR i IN REVERSE cardinality(f) - 1 .. 1 LOOP
    v_root := sha256('\x01'::bytea || f[i] || v_root);
  END LOOP;
  UPDATE public.audit_head SET size = n, root = v_root, frontier = f, updated = now()
   WHERE id = 1;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_audit_move(integer) FROM PUBLIC;

-- Movers also take this advisory lock (key: "keaudit" as an integer), only
-- to let requests wait for a mover cheaply: the head row lock above is what
-- makes sequencing correct.
--
-- One batch of the background sequencer.
CREATE FUNCTION keyescrow_audit_sequence(p_max integer, OUT first_seq bigint, OUT moved integer,
                                         OUT ids bigint[])
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(30229291763788148);
  SELECT m.first_seq, m.moved, m.ids INTO first_seq, moved, ids
    FROM public.keyescrow_audit_move(p_max) AS m;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_audit_sequence(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keyescrow_audit_sequence(integer) TO keyescrow_app;

-- The leaf index of queued event p_queue_id, sequencing (everyone's events)
-- until it has one.  NULL if there is no such committed event.  first_seq
-- and moved say which leaves this call wrote (moved = 0: none).
--
-- Under load many requests call this at once, and one mover takes all
-- their events along.  So only one of them becomes the mover; the others
-- wait until it is done (a shared lock conflicts with its exclusive one,
-- and is released at once) and find their event sequenced.  Their waiting
-- is parallel, not a queue of lock hand-overs.
CREATE FUNCTION keyescrow_audit_sequence_mine(p_queue_id bigint, OUT seq bigint,
                                              OUT first_seq bigint, OUT moved integer)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  b_first bigint;
  b_moved integer := -1;
  mover boolean := false;
BEGIN
  moved := 0;
  LOOP
    SELECT a.seq INTO seq FROM public.audit_log a WHERE a.queue_id = p_queue_id;
    -- Found; or we moved everything there was and it is not there.
    EXIT WHEN FOUND OR b_moved = 0;
    IF mover OR pg_try_advisory_xact_lock(30229291763788148) THEN
      mover := true;
      SELECT m.first_seq, m.moved INTO b_first, b_moved
        FROM public.keyescrow_audit_move(1000) AS m;
      IF moved = 0 THEN
        first_seq := b_first;
      END IF;
      moved := moved + b_moved;
    ELSE
      PERFORM pg_advisory_lock_shared(30229291763788148);
      PERFORM pg_advisory_unlock_shared(30229291763788148);
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_audit_sequence_mine(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keyescrow_audit_sequence_mine(bigint) TO keyescrow_app;
