/*
 * srv_ep_users.c - user management (admin role only, by the route table):
 *   POST /v1/users                  {name, role, password?, custodian_index?, person?,
 *                                    service?}
 *   GET  /v1/users
 *   POST /v1/users/{name}/disable   POST /v1/users/{name}/enable
 *   POST /v1/users/{name}/role      {role, custodian_index?}
 *   POST /v1/users/{name}/person    {person}
 *   POST /v1/users/{name}/email     {email} ("" removes it)
 * Every change is audited in its own transaction.  Accounts are never
 * deleted (their history must keep its meaning); the last active admin
 * cannot be disabled or demoted, so nobody locks the organisation out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_mail.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

static const char srv_users_person_rule[] =
  "person: 1 to 128 characters A-Z a-z 0-9 . _ : @ -, starting with a letter or digit";

/* A role a user may have (agents are devices, not users). */
static int srv_users_role_ok(const char *s)
{
  unsigned bit = srv_auth_role_parse(s);

  return bit && bit != SRV_ROLE_AGENT;
}

/* users.person: [A-Za-z0-9][A-Za-z0-9._:@-]{0,127} (schema 005). */
static int srv_users_person_ok(const char *s)
{
  size_t n = strlen(s);

  return n >= 1 && n <= 128 &&
         strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-") == n &&
         strchr("._:@-", s[0]) == NULL;
}

/* The members of a body that sets a role (POST /v1/users, .../role). */
struct srv_users_body {
  const char *role;
  int64_t custodian_index;
  const char *name, *person, *password;
  int service;
};
#define SRV_USERS_ROLE_FIELDS                                                \
  KE_JF_STR(struct srv_users_body, role, 1, 16, srv_users_role_ok,           \
            "role: one of admin, helpdesk, custodian, auditor is required"), \
    KE_JF_INT_OPT(struct srv_users_body, custodian_index, 1, 255, 0,         \
                  "custodian_index must be an integer from 1 to 255")
static const struct ke_jfield srv_users_create_fields[] = {
  KE_JF_STR(struct srv_users_body, name, 1, SRV_NAME_MAX, srv_account_name_ok,
            "name: 1 to 63 characters a-z 0-9 . _ -, starting with a letter"),
  SRV_USERS_ROLE_FIELDS,
  KE_JF_STR_OPT(struct srv_users_body, person, 1, 128, srv_users_person_ok, srv_users_person_rule),
  KE_JF_BOOL_OPT(struct srv_users_body, service, 0, "service must be true or false"),
  /* Its rules are checked by srv_account_body_password. */
  KE_JF_STR_OPT(struct srv_users_body, password, 0, INT64_MAX, NULL, "password must be a string"),
  KE_JF_END};
const struct ke_jspec srv_ep_users_create_body =
  KE_JSPEC(struct srv_users_body, srv_users_create_fields, 0);
static const struct ke_jfield srv_users_role_fields[] = {SRV_USERS_ROLE_FIELDS, KE_JF_END};
const struct ke_jspec srv_ep_users_role_body =
  KE_JSPEC(struct srv_users_body, srv_users_role_fields, 0);

/* The index is what binds a custodian account to one share: a custodian
 * needs one, nobody else may have one.  NULL, or the 400 message. */
static const char *srv_users_cidx_problem(const struct srv_users_body *b)
{
  if ((strcmp(b->role, "custodian") == 0) == (b->custodian_index != 0))
    return NULL;
  return b->custodian_index ? "custodian_index is only for the custodian role"
                            : "custodian_index is required for the custodian role";
}

static const char srv_users_exists[] = "A user with this name or custodian index already exists";

/* ---- POST /v1/users ------------------------------------------------------ */

struct srv_user_new {
  struct srv_request *req;
  struct srv_users_body b;
  int generated;
  struct srv_pwhash pw;
  char created[40];
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_user_new_txn(struct srv_db *db, void *cls)
{
  struct srv_user_new *u = cls;
  const struct srv_users_body *b = &u->b;
  const char *p1[1] = {b->name};
  enum srv_db_status st;
  PGresult *res;
  json_t *d;

  if (!(res = srv_db_exec(db, SRV_STMT_USER_GET, p1, &st)))
    return st;
  st = PQntuples(res) > 0 ? srv_ep_fail(&u->fail, SRV_ERR_CONFLICT, srv_users_exists) : SRV_DB_OK;
  PQclear(res);
  if (st || !(res = srv_account_user_insert(db, b->name, b->role, (int)b->custodian_index, &u->pw,
                                            u->generated, &st)))
    return st;
  snprintf(u->created, sizeof u->created, "%s", srv_row_text(res, "created"));
  PQclear(res);
  /* Who the account belongs to (a person may hold several accounts; see
   * the retrieval rules, srv_ep_retrievals_parts.c). */
  if (b->person) {
    const char *pp[2] = {b->name, b->person};
    if (!(res = srv_db_exec(db, SRV_STMT_RET_USER_PERSON, pp, &st)))
      return st;
    PQclear(res);
  }
  if (b->service) {
    if (!(res = srv_db_exec(db, SRV_STMT_USER_SET_SERVICE, p1, &st)))
      return st;
    PQclear(res);
  }
  d = b->service
        ? json_pack("{s:s,s:s,s:b}", "role", b->role, "password", "none", "service", 1)
        : json_pack("{s:s,s:s}", "role", b->role, "password", u->generated ? "generated" : "given");
  if (d && b->custodian_index)
    json_object_set_new(d, "custodian_index", json_integer(b->custodian_index));
  if (d && b->person)
    json_object_set_new(d, "person", json_string(b->person));
  return srv_audit_success(db, u->req, "user.create", "user", b->name, d);
}

/* A service account (schema 013) authenticates with API tokens only: it
 * gets a random password nobody ever sees (so it cannot log in), and it is
 * never a custodian (a share belongs to a person).  NULL, or the 400. */
static const char *srv_users_service_password(struct srv_user_new *u, int *failed)
{
  char pw[SRV_GEN_PASSWORD_LEN + 1];

  if (u->b.password)
    return "a service account has no password: it uses API tokens only";
  if (strcmp(u->b.role, "custodian") == 0)
    return "a custodian is a person: it cannot be a service account";
  *failed = srv_account_generate_password(pw) != 0 || srv_account_hash_password(&u->pw, pw) != 0;
  ke_wipe(pw, sizeof pw);
  return NULL;
}

enum MHD_Result srv_ep_users_create(struct srv_request *req)
{
  struct srv_user_new u = {
    .req = req,
    .fail = {.constraint_message = srv_users_exists, .constraint_code = SRV_ERR_CONFLICT}};
  char gen[SRV_GEN_PASSWORD_LEN + 1] = "";
  struct ke_jerr err;
  const char *why;
  enum MHD_Result ret;
  json_t *out;
  int bad = srv_ep_body_parse(req, &srv_ep_users_create_body, &u.b, &err) != 0;

  /* The role's rules come before those of the members after it. */
  if (bad && (!err.field || err.field <= &srv_users_create_fields[2]))
    return srv_ep_body_reply(req, &err);
  if ((why = srv_users_cidx_problem(&u.b)) || bad)
    return why ? srv_ep_bad(req, why) : srv_ep_body_reply(req, &err);
  if (u.b.service && (why = srv_users_service_password(&u, &bad)))
    return srv_ep_bad(req, why);
  if (bad)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (!u.b.service && srv_account_body_password(req, u.b.password, gen, &u.pw, &u.generated, &ret))
    return ret;
  bad = srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_user_new_txn, &u, &u.fail, &ret);
  ke_wipe(&u.pw, sizeof u.pw);
  if (bad) {
    ke_wipe(gen, sizeof gen);
    return ret;
  }
  out = json_pack("{s:s,s:s,s:s,s:b,s:b}", "name", u.b.name, "role", u.b.role, "created", u.created,
                  "password_must_change", u.generated, "service", u.b.service);
  if (out && u.b.custodian_index)
    json_object_set_new(out, "custodian_index", json_integer(u.b.custodian_index));
  if (out && u.b.person)
    json_object_set_new(out, "person", json_string(u.b.person));
  if (out && u.generated)
    json_object_set_new(out, "one_time_password", json_string(gen));
  ke_wipe(gen, sizeof gen);
  return srv_reply_json(req, MHD_HTTP_CREATED, out);
}

/* ---- GET /v1/users ------------------------------------------------------- */

static const struct srv_jcol srv_users_list_cols[] = {
  SRV_JCOL("name", SRV_CT_TEXT),
  SRV_JCOL("role", SRV_CT_TEXT),
  SRV_JCOL_NULL("custodian_index", SRV_CT_INT64),
  SRV_JCOL("disabled", SRV_CT_BOOL),
  {"password_must_change", "pw_must_change", SRV_CT_BOOL, 0},
  SRV_JCOL("created", SRV_CT_TIME),
  SRV_JCOL("updated", SRV_CT_TIME),
  SRV_JCOL("service", SRV_CT_BOOL),
  SRV_JCOL_NULL("email", SRV_CT_TEXT),
  SRV_JCOL_NULL("person", SRV_CT_TEXT),
  SRV_JCOL_NULL("scope", SRV_CT_TEXT),
  SRV_JCOL("sso", SRV_CT_BOOL),
  SRV_JCOL_END};

enum MHD_Result srv_ep_users_list(struct srv_request *req)
{
  return srv_ep_list(req, SRV_STMT_USER_LIST, NULL, srv_users_list_cols, "users");
}

/* ---- POST /v1/users/{name}/disable|enable|role|person --------------------- */

struct srv_user_change {
  struct srv_request *req;
  const char *name;
  const char *action; /* "user.disable", "user.enable", "user.role", "user.person" */
  int disable;        /* for disable/enable */
  const char *role;   /* for role */
  /* for a text attribute (person, email): its member name, statement and
   * value ("" clears an email) */
  const char *attr;
  enum srv_stmt attr_stmt;
  const char *value;
  int cidx;
  char old_role[16];
  int was_disabled;
  char user_id[24];
  struct srv_ep_fail fail;
};

/* The account being changed (USER_GET). */
struct srv_user_row {
  const char *id, *role;
  int disabled, service, sso, scoped;
};
static const struct srv_col srv_user_row_cols[] = {SRV_COL_TEXT(struct srv_user_row, id),
                                                   SRV_COL_TEXT(struct srv_user_row, role),
                                                   SRV_COL_BOOL(struct srv_user_row, disabled),
                                                   SRV_COL_BOOL(struct srv_user_row, service),
                                                   SRV_COL_BOOL(struct srv_user_row, sso),
                                                   SRV_COL_BOOL(struct srv_user_row, scoped),
                                                   SRV_COL_END};

/* A role or scope change that cannot be made (NULL: it can).  Scopes
 * limit what reads devices (helpdesk, auditor): on an admin or a custodian
 * they would promise a limit nothing applies.  An SSO account's role and
 * scope are the identity provider's, set again at each login. */
static const char *srv_user_scope_problem(const struct srv_user_change *c,
                                          const struct srv_user_row *u)
{
  int scope_change = c->attr_stmt == SRV_STMT_USER_SET_SCOPE;
  const char *role = c->role ? c->role : c->old_role; /* u->role is freed by now */

  if ((c->role || scope_change) && u->sso)
    return "This account's role and scope come from the identity provider (oidc_role_map)";
  if (scope_change && c->value[0] && strcmp(role, "helpdesk") != 0 && strcmp(role, "auditor") != 0)
    return "Only helpdesk and auditor accounts can be limited to device groups";
  if (c->role && u->scoped && strcmp(role, "helpdesk") != 0 && strcmp(role, "auditor") != 0)
    return "Lift the account's scope first (escrowctl user set-scope NAME --scope '')";
  return NULL;
}

static enum srv_db_status srv_user_change_txn(struct srv_db *db, void *cls)
{
  struct srv_user_change *c = cls;
  const char *p1[1] = {c->name}, *n;
  enum srv_db_status st;
  PGresult *r;
  struct srv_user_row u;
  char cidx[8];
  json_t *d;

  if (!(r = srv_db_exec(db, SRV_STMT_USER_GET, p1, &st)))
    return st;
  st = PQntuples(r) != 1 ? srv_ep_fail(&c->fail, SRV_ERR_NOT_FOUND, "No such user")
       : srv_row_read(r, 0, srv_user_row_cols, &u) != 0 ? SRV_DB_ERROR
                                                        : SRV_DB_OK;
  if (!st) {
    snprintf(c->old_role, sizeof c->old_role, "%s", u.role);
    snprintf(c->user_id, sizeof c->user_id, "%s", u.id);
  }
  PQclear(r);
  if (st)
    return st;
  c->was_disabled = u.disabled;
  if ((n = srv_user_scope_problem(c, &u)))
    return srv_ep_fail(&c->fail, SRV_ERR_CONFLICT, n);
  if (c->role && strcmp(c->role, "custodian") == 0 && u.service)
    return srv_ep_fail(&c->fail, SRV_ERR_BAD_REQUEST,
                       "a service account cannot be a custodian (a share is a person's)");
  if (strcmp(c->old_role, "admin") == 0 && !c->was_disabled &&
      (c->role ? strcmp(c->role, "admin") != 0 : c->disable)) {
    /* SERIALIZABLE makes two admins demoting each other at once safe:
     * one of the two transactions fails and is retried. */
    if (!(r = srv_db_exec(db, SRV_STMT_USER_ACTIVE_ADMINS, NULL, &st)))
      return st;
    n = srv_row_text(r, "admins");
    st = !n             ? SRV_DB_ERROR
         : atoi(n) <= 1 ? srv_ep_fail(&c->fail, SRV_ERR_CONFLICT,
                                      "This is the last active admin: make another admin first")
                        : SRV_DB_OK;
    PQclear(r);
    if (st)
      return st;
  }
  if (c->role) {
    const char *p3[3] = {c->name, c->role, c->cidx ? cidx : NULL};
    snprintf(cidx, sizeof cidx, "%d", c->cidx);
    if (!(r = srv_db_exec(db, SRV_STMT_USER_SET_ROLE, p3, &st)))
      return st;
    d = json_pack("{s:s,s:s}", "from", c->old_role, "to", c->role);
    if (d && c->cidx)
      json_object_set_new(d, "custodian_index", json_integer(c->cidx));
  } else if (c->attr) {
    const char *p2[2] = {c->name, c->value};
    if (!(r = srv_db_exec(db, c->attr_stmt, p2, &st)))
      return st;
    d = json_pack("{s:o}", c->attr, c->value[0] ? json_string(c->value) : json_null());
  } else {
    const char *p2[2] = {c->name, c->disable ? "true" : "false"}, *pu[1] = {c->user_id};
    int revoked = 0;
    if (!(r = srv_db_exec(db, SRV_STMT_USER_SET_DISABLED, p2, &st)))
      return st;
    /* Disabled: its sessions, and the API tokens it made (an admin's for
     * automation), end now, not when they expire. */
    if (c->disable) {
      PQclear(r);
      if (!(r = srv_db_exec(db, SRV_STMT_USER_TOKENS_REVOKE_ALL, pu, &st)))
        return st;
      revoked = PQntuples(r);
    }
    d = json_pack("{s:b,s:i}", "was_disabled", c->was_disabled, "tokens_revoked", revoked);
  }
  PQclear(r);
  return srv_audit_success(db, c->req, c->action, "user", c->name, d);
}

static enum MHD_Result srv_user_change(struct srv_request *req, struct srv_user_change *c)
{
  enum MHD_Result ret;
  json_t *out;

  c->req = req;
  c->name = srv_request_param(req, "name");
  if (!c->name || !srv_account_name_ok(c->name))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such user");
  c->fail.constraint_code = SRV_ERR_CONFLICT;
  c->fail.constraint_message = srv_users_exists;
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_user_change_txn, c, &c->fail, &ret))
    return ret;
  out = json_pack("{s:s}", "name", c->name);
  if (out && c->role) {
    json_object_set_new(out, "role", json_string(c->role));
    json_object_set_new(out, "previous_role", json_string(c->old_role));
    if (c->cidx)
      json_object_set_new(out, "custodian_index", json_integer(c->cidx));
  } else if (out && c->attr) {
    json_object_set_new(out, c->attr, c->value[0] ? json_string(c->value) : json_null());
  } else if (out) {
    json_object_set_new(out, "disabled", json_boolean(c->disable));
  }
  return srv_reply_json(req, MHD_HTTP_OK, out);
}

enum MHD_Result srv_ep_users_disable(struct srv_request *req)
{
  struct srv_user_change c = {.action = "user.disable", .disable = 1};
  return srv_user_change(req, &c);
}

enum MHD_Result srv_ep_users_enable(struct srv_request *req)
{
  struct srv_user_change c = {.action = "user.enable", .disable = 0};
  return srv_user_change(req, &c);
}

enum MHD_Result srv_ep_users_role(struct srv_request *req)
{
  struct srv_users_body b;
  struct srv_user_change c = {.action = "user.role"};
  enum MHD_Result ret;
  const char *why;

  if (srv_ep_body(req, &srv_ep_users_role_body, &b, &ret))
    return ret;
  if ((why = srv_users_cidx_problem(&b)))
    return srv_ep_bad(req, why);
  c.role = b.role;
  c.cidx = (int)b.custodian_index;
  return srv_user_change(req, &c);
}

/* "" (no address) or a plain address. */
static int srv_users_email_ok(const char *s) { return !s[0] || ke_mail_addr_ok(s); }

/* "" (every group) or up to 32 comma-separated device-group patterns of
 * [A-Za-z0-9._*-]{1,64} ('*' matches any run). */
static int srv_users_scope_ok(const char *s)
{
  size_t n = 0;

  if (!s[0])
    return 1;
  for (const char *p = s;; p += strcspn(p, ",") + 1) {
    size_t len = strcspn(p, ",");
    if (len < 1 || len > 64 ||
        strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789._*-") < len ||
        ++n > 32)
      return 0;
    if (!p[len])
      return 1;
  }
}

/* The bodies that set one text attribute: {person}, {email} or {scope}. */
struct srv_users_text {
  const char *person, *email, *scope;
};
static const struct ke_jfield srv_users_person_fields[] = {
  KE_JF_STR(struct srv_users_text, person, 1, 128, srv_users_person_ok, srv_users_person_rule),
  KE_JF_END};
const struct ke_jspec srv_ep_users_person_body =
  KE_JSPEC(struct srv_users_text, srv_users_person_fields, 0);
static const struct ke_jfield srv_users_email_fields[] = {
  KE_JF_STR(struct srv_users_text, email, 0, INT64_MAX, srv_users_email_ok,
            "email: a plain address (local@domain, at most 254 bytes), or \"\" to remove it"),
  KE_JF_END};
const struct ke_jspec srv_ep_users_email_body =
  KE_JSPEC(struct srv_users_text, srv_users_email_fields, 0);
static const struct ke_jfield srv_users_scope_fields[] = {
  KE_JF_STR(struct srv_users_text, scope, 0, 32 * 65, srv_users_scope_ok,
            "scope: device-group patterns ([A-Za-z0-9._*-], '*' any run) separated by commas, "
            "at most 32, or \"\" for every group"),
  KE_JF_END};
const struct ke_jspec srv_ep_users_scope_body =
  KE_JSPEC(struct srv_users_text, srv_users_scope_fields, 0);

/* POST /v1/users/{name}/<attr> {<attr>: value}: one text attribute, set by
 * `stmt`, audited as `action`. */
static enum MHD_Result srv_user_set_text(struct srv_request *req, const struct ke_jspec *spec,
                                         enum srv_stmt stmt, const char *action)
{
  struct srv_users_text b;
  struct srv_user_change c = {.action = action, .attr = spec->fields[0].name, .attr_stmt = stmt};
  enum MHD_Result ret;

  if (srv_ep_body(req, spec, &b, &ret))
    return ret;
  c.value = b.person ? b.person : b.email ? b.email : b.scope;
  return srv_user_change(req, &c);
}

/* The person behind an account (the same ID on a helpdesk and a custodian
 * account keeps that person from approving their own retrieval): for
 * accounts made before the person was known, or when it changes. */
enum MHD_Result srv_ep_users_person(struct srv_request *req)
{
  return srv_user_set_text(req, &srv_ep_users_person_body, SRV_STMT_RET_USER_PERSON, "user.person");
}

/* The device groups an account is limited to (scoped roles); "" lifts
 * the limit.  It applies from the account's next request. */
enum MHD_Result srv_ep_users_scope(struct srv_request *req)
{
  return srv_user_set_text(req, &srv_ep_users_scope_body, SRV_STMT_USER_SET_SCOPE, "user.scope");
}

/* Where a custodian is told about retrieval requests (srv_mail.h); ""
 * removes the address. */
enum MHD_Result srv_ep_users_email(struct srv_request *req)
{
  return srv_user_set_text(req, &srv_ep_users_email_body, SRV_STMT_USER_SET_EMAIL, "user.email");
}
