-- 021_oidc.sql - single sign-on with OpenID Connect (server/srv_oidc*.c).
--
-- An account made at a first SSO login (just in time) is that identity's
-- for good: (oidc_issuer, oidc_subject) finds it at every later login, and
-- its person is derived from them ("oidc:" + 40 hex digits of
-- SHA-256(issuer || 0x00 || subject)), so that "no part for your own
-- request" holds across an SSO helpdesk account and a local custodian
-- account an administrator links to the same person.  Such an account has
-- no password anybody knows and cannot use local login.
ALTER TABLE users
  ADD COLUMN oidc_issuer  text CHECK (octet_length(oidc_issuer) BETWEEN 8 AND 512),
  ADD COLUMN oidc_subject text CHECK (octet_length(oidc_subject) BETWEEN 1 AND 255),
  ADD CONSTRAINT users_oidc_both CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL)),
  ADD CONSTRAINT users_oidc_identity UNIQUE (oidc_issuer, oidc_subject);
COMMENT ON COLUMN users.oidc_subject IS 'The IdP subject (sub) of an SSO account, with oidc_issuer';

-- A login in progress (the authorization code flow with PKCE): made at
-- /v1/login/oidc/start, consumed once by the callback on any instance.
-- The state and the console's binding secret are stored as SHA-256 only;
-- the nonce and the PKCE verifier are good for this one login and die
-- with it (10 minutes).
CREATE TABLE oidc_logins (
  state_hash     bytea       PRIMARY KEY CHECK (length(state_hash) = 32),
  binding_hash   bytea       NOT NULL CHECK (length(binding_hash) = 32),
  nonce          text        NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{43}$'),
  code_verifier  text        NOT NULL CHECK (code_verifier ~ '^[A-Za-z0-9_-]{43}$'),
  created        timestamptz NOT NULL DEFAULT now(),
  expires        timestamptz NOT NULL
);
CREATE INDEX oidc_logins_expires ON oidc_logins (expires);
COMMENT ON TABLE oidc_logins IS 'SSO logins in progress (state, nonce, PKCE verifier)';

-- After the callback verified the ID token and found or made the account:
-- the one-time code (SHA-256 only) that the console, holding the login's
-- binding secret, trades for a session token within two minutes.  The
-- token is made then, so that no token is ever stored or put in a URL.
-- `details` is what the login's audit event says (subject, amr, acr).
CREATE TABLE oidc_handoffs (
  handoff_hash     bytea       PRIMARY KEY CHECK (length(handoff_hash) = 32),
  binding_hash     bytea       NOT NULL CHECK (length(binding_hash) = 32),
  user_id          bigint      NOT NULL REFERENCES users (id),
  session_lifetime integer     NOT NULL CHECK (session_lifetime > 0),
  details          jsonb       NOT NULL,
  created          timestamptz NOT NULL DEFAULT now(),
  expires          timestamptz NOT NULL
);
CREATE INDEX oidc_handoffs_expires ON oidc_handoffs (expires);
COMMENT ON TABLE oidc_handoffs IS 'SSO logins verified, awaiting the console (one-time code hashes)';

-- The device authorization grant of `escrowctl login --sso` (RFC 8628):
-- escrowd asks the IdP for a device code and polls for the client, which
-- holds `handle`.  Only the handle's SHA-256 is stored, and the device
-- code (with a public client, all it takes to get the tokens) only sealed
-- with AES-256-GCM under a key derived from the handle: the database alone
-- cannot finish anybody's login.
CREATE TABLE oidc_devices (
  handle_hash    bytea       PRIMARY KEY CHECK (length(handle_hash) = 32),
  device_code    bytea       NOT NULL CHECK (length(device_code) BETWEEN 29 AND 1100),
  interval_s     integer     NOT NULL CHECK (interval_s BETWEEN 1 AND 60),
  next_poll      timestamptz NOT NULL DEFAULT now(),
  created        timestamptz NOT NULL DEFAULT now(),
  expires        timestamptz NOT NULL
);
CREATE INDEX oidc_devices_expires ON oidc_devices (expires);
COMMENT ON TABLE oidc_devices IS 'SSO device-flow logins in progress';

REVOKE ALL ON oidc_logins, oidc_handoffs, oidc_devices FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON oidc_logins, oidc_handoffs, oidc_devices TO keyescrow_app;
-- (No UPDATE of oidc_issuer and oidc_subject: an identity is bound to an
-- account when the account is made, never later.)

-- Scoped roles: an account may be limited to devices whose enrolment group
-- matches one of its patterns ('*' matches any run of characters, nothing
-- else is special): a helpdesk on 'emea-*' sees, searches and retrieves
-- only those devices, an auditor's reports cover only them.  NULL = every
-- group.  Set by an administrator (POST /v1/users/{name}/scope) or, for
-- an SSO account, by the claim value that gave its role (oidc_role_map).
-- The route table still decides who may call what; the scope is applied
-- in the queries (ke_group_in), never to their results afterwards.
ALTER TABLE users
  ADD COLUMN scope text[] CHECK (scope IS NULL OR (cardinality(scope) BETWEEN 1 AND 32
    AND array_to_string(scope, ',') ~ '^[A-Za-z0-9._*-]{1,64}(,[A-Za-z0-9._*-]{1,64})*$'));
GRANT UPDATE (scope) ON users TO keyescrow_app;

CREATE OR REPLACE FUNCTION ke_group_in(g text, scope text[]) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog
AS $$
  SELECT scope IS NULL OR EXISTS (
    SELECT 1 FROM unnest(scope) AS p
    WHERE g LIKE replace(replace(replace(replace(p, '\', '\\'), '%', '\%'), '_', '\_'), '*', '%'))
$$;
