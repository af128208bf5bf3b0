#!/usr/bin/env bash
# The route x role matrix: EVERY route of escrowd (read from `escrowd routes
# --json`, so routes added later are covered without touching this test) is
# called with no token, an expired token, and a token of each human role.
#   public route                -> never 401/403
#   role allowed by the route   -> never 401/403 (the handler may say 400/404)
#   no token / expired token    -> exactly 401 unauthorized + WWW-Authenticate
#   any other role              -> exactly 403 forbidden
# Every error is the registry's JSON shape.  Each allowed call gets a fresh
# token (a route such as /v1/logout revokes the one it is called with).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t_auth_lib.sh"
load_fixture

S=$$
DSN=$ESCROWD_DB_DSN
mint_user "$DSN" "mx-admin-$S" admin
mint_user "$DSN" "mx-hd-$S" helpdesk
mint_user "$DSN" "mx-cust-$S" custodian auto
mint_user "$DSN" "mx-aud-$S" auditor
ESCROWD_CONFIG=/dev/null "$KE_ESCROWD" routes --json >"$TW/routes.json" || fail "escrowd routes --json"

python3 - "$TW/routes.json" "$S" "$TW/tokens.sql" "$TW/plan.json" <<'PY' || fail "cannot plan the matrix"
import base64, hashlib, json, os, sys
routes, s, sqlf, planf = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
roles = {"admin": f"mx-admin-{s}", "helpdesk": f"mx-hd-{s}",
         "custodian": f"mx-cust-{s}", "auditor": f"mx-aud-{s}"}
sql, plan = [], []
def mint(user, expired=False):
    tok = "kea_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    h = hashlib.sha256(tok.encode()).hexdigest()
    times = ("now() - interval '2 hours'", "now() - interval '1 hour'") if expired else \
            ("now()", "now() + interval '1 hour'")
    sql.append(f"INSERT INTO auth_tokens (user_id, kind, token_hash, name, created, expires) "
               f"SELECT id, 'api', '\\x{h}', 'matrix', {times[0]}, {times[1]} "
               f"FROM users WHERE name = '{user}';")
    return tok
expired = mint(roles["admin"], expired=True)
for r in routes:
    for who in ["none", "expired"] + list(roles):
        tok = None if who == "none" else expired if who == "expired" else mint(roles[who])
        plan.append({"route": r, "who": who, "token": tok})
open(sqlf, "w").write("\n".join(sql) + "\n")
json.dump(plan, open(planf, "w"))
PY
app_psql "$DSN" -f "$TW/tokens.sql" >/dev/null || fail "cannot insert the matrix tokens"

python3 - "$TW/plan.json" "${MAIN#http://}" <<'PY' || fail "route x role matrix"
import http.client, json, re, sys
plan = json.load(open(sys.argv[1]))
host, port = sys.argv[2].split(":")
errors, counts = [], {"allowed": 0, "401": 0, "403": 0, "public": 0}
def is_error_json(body, code=None):
    try:
        b = json.loads(body)
    except ValueError:
        return False
    e = b.get("error") if isinstance(b, dict) else None
    return (isinstance(e, dict) and set(b) == {"error"} and set(e) == {"code", "message"}
            and isinstance(e["message"], str) and e["message"]
            and (code is None or e["code"] == code))
for p in plan:
    r, who, tok = p["route"], p["who"], p["token"]
    path = re.sub(r"\{[^}]+\}", "matrixprobe", r["pattern"])
    headers = {}
    body = None
    if tok:
        headers["Authorization"] = "Bearer " + tok
    if r["json_body"]:
        headers["Content-Type"] = "application/json"
        body = b"{}"
    c = http.client.HTTPConnection(host, int(port), timeout=20)
    c.request(r["method"], path, body=body, headers=headers)
    resp = c.getresponse()
    data = resp.read()
    st = resp.status
    c.close()
    what = f'{r["method"]} {r["pattern"]} as {who}: {st} {data[:200]!r}'
    if st >= 400 and not is_error_json(data):
        errors.append("not a JSON error: " + what)
    if r["public"]:
        counts["public"] += 1
        if who == "none" and st in (401, 403):
            errors.append("public route refused: " + what)
        continue
    if who in ("none", "expired"):
        counts["401"] += 1
        if st != 401 or not is_error_json(data, "unauthorized"):
            errors.append("want 401 unauthorized: " + what)
        elif not resp.getheader("WWW-Authenticate", "").startswith("Bearer"):
            errors.append("401 without WWW-Authenticate: Bearer: " + what)
    elif who in r["roles"]:
        counts["allowed"] += 1
        if st in (401, 403) or st >= 500:
            errors.append("allowed role refused or failed: " + what)
    else:
        counts["403"] += 1
        if st != 403 or not is_error_json(data, "forbidden"):
            errors.append("want 403 forbidden: " + what)
routes = {(p["route"]["method"], p["route"]["pattern"]) for p in plan}
for must in [("GET", "/v1/users"), ("POST", "/v1/tokens"), ("POST", "/v1/login")]:
    if must not in routes:
        errors.append(f"route table lacks {must}")
if counts["allowed"] < 10 or counts["403"] < 20:
    errors.append(f"suspiciously small matrix: {counts}")
for e in errors:
    print("  " + e, file=sys.stderr)
print(f"{len(routes)} routes, {len(plan)} requests: {counts}")
sys.exit(1 if errors else 0)
PY
expect_serving "$MAIN" "the matrix"
ok "every route x {no token, expired, admin, helpdesk, custodian, auditor} gets exactly its allowed set"
