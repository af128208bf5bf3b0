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

#include "ke_json.h"
#include "ke_mail.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_routes.h"

/* Outcomes a transaction body reports with SRV_DB_ABORT. */
enum srv_users_outcome { SRV_USERS_OK, SRV_USERS_NOT_FOUND, SRV_USERS_LAST_ADMIN,
                         SRV_USERS_EXISTS, SRV_USERS_SERVICE };

static enum MHD_Result srv_users_fail(struct srv_request *req, enum srv_db_status st,
                                      enum srv_users_outcome out)
{
  if (st == SRV_DB_ABORT && out == SRV_USERS_NOT_FOUND)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such user");
  if (st == SRV_DB_ABORT && out == SRV_USERS_SERVICE)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "a service account cannot be a custodian (a share is a person's)");
  if (st == SRV_DB_ABORT && out == SRV_USERS_LAST_ADMIN)
    return srv_reply_error(req, SRV_ERR_CONFLICT,
                           "This is the last active admin: make another admin first");
  if (st == SRV_DB_CONSTRAINT || (st == SRV_DB_ABORT && out == SRV_USERS_EXISTS))
    return srv_reply_error(req, SRV_ERR_CONFLICT,
                           "A user with this name or custodian index already exists");
  return srv_ep_db_error(req, st);
}

/* role (+ custodian_index) from a body; 0 if valid, else answered. */
static int srv_users_role_fields(struct srv_request *req, const json_t *body,
                                 const char **role, int *cidx, enum MHD_Result *ret)
{
  unsigned bit;
  int64_t v;
  ke_json_rc rc;

  if (ke_json_get_str(body, "role", role) != KE_JSON_OK ||
      !(bit = srv_auth_role_parse(*role)) || bit == SRV_ROLE_AGENT) {
    *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "role: one of admin, helpdesk, custodian, auditor is required");
    return -1;
  }
  rc = ke_json_get_int(body, "custodian_index", 1, 255, &v);
  if (rc != KE_JSON_OK && rc != KE_JSON_MISSING) {
    *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "custodian_index must be an integer from 1 to 255");
    return -1;
  }
  *cidx = rc == KE_JSON_OK ? (int)v : 0;
  /* The index is what binds a custodian account to one share: a custodian
   * needs one, nobody else may have one. */
  if ((bit == SRV_ROLE_CUSTODIAN) != (*cidx != 0)) {
    *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           bit == SRV_ROLE_CUSTODIAN
                               ? "custodian_index is required for the custodian role"
                               : "custodian_index is only for the custodian role");
    return -1;
  }
  return 0;
}

/* ---- POST /v1/users ------------------------------------------------------ */

struct srv_user_new {
  struct srv_request *req;
  const char *name, *role, *person;
  int cidx, generated, service;
  struct srv_pwhash pw;
  char created[40];
  enum srv_users_outcome out;
};

/* users.person: [A-Za-z0-9][A-Za-z0-9._:@-]{0,127} (schema 005). */
static int srv_users_person_ok(const char *s)
{
  size_t n = strlen(s);

  return n >= 1 && n <= 128 &&
         strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-") == n &&
         strchr("._:@-", s[0]) == NULL;
}

static enum srv_db_status srv_user_new_txn(struct srv_db *db, void *cls)
{
  struct srv_user_new *u = cls;
  const char *p1[1] = {u->name};
  enum srv_db_status st;
  PGresult *res;
  json_t *d;
  char object[SRV_NAME_MAX + 8];
  struct srv_audit_event ev;

  u->out = SRV_USERS_OK;
  if (!(res = srv_db_exec(db, SRV_STMT_USER_GET, p1, &st)))
    return st;
  if (PQntuples(res) > 0) {
    PQclear(res);
    u->out = SRV_USERS_EXISTS;
    return SRV_DB_ABORT;
  }
  PQclear(res);
  if (!(res = srv_account_user_insert(db, u->name, u->role, u->cidx, &u->pw, u->generated,
                                      &st)))
    return st;
  snprintf(u->created, sizeof u->created, "%s", PQgetvalue(res, 0, 1));
  PQclear(res);
  /* Who the account belongs to (a person may hold several accounts; see
   * the retrieval rules, srv_ep_retrievals_parts.c). */
  if (u->person) {
    const char *pp[2] = {u->name, u->person};
    if (!(res = srv_db_exec(db, SRV_STMT_RET_USER_PERSON, pp, &st)))
      return st;
    PQclear(res);
  }
  if (u->service) {
    if (!(res = srv_db_exec(db, SRV_STMT_USER_SET_SERVICE, p1, &st)))
      return st;
    PQclear(res);
  }
  d = u->service ? json_pack("{s:s,s:s,s:b}", "role", u->role, "password", "none", "service", 1)
                 : json_pack("{s:s,s:s}", "role", u->role, "password",
                             u->generated ? "generated" : "given");
  if (d && u->cidx)
    json_object_set_new(d, "custodian_index", json_integer(u->cidx));
  if (d && u->person)
    json_object_set_new(d, "person", json_string(u->person));
  if (!d)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "user:%s", u->name);
  ev = (struct srv_audit_event){"user.create", object, "success", d, NULL};
  st = srv_audit_append(db, u->req, &ev);
  json_decref(d);
  return st;
}

/* A service account (schema 013) authenticates with API tokens only: it
 * gets a random password nobody ever sees (so it cannot log in), and it is
 * never a custodian (a share belongs to a person).  0, or 1 when answered. */
static int srv_users_service_password(struct srv_request *req, const json_t *body,
                                      struct srv_user_new *u, enum MHD_Result *ret)
{
  char pw[SRV_GEN_PASSWORD_LEN + 1];
  int bad;

  if (json_object_get(body, "password")) {
    *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "a service account has no password: it uses API tokens only");
    return 1;
  }
  if (strcmp(u->role, "custodian") == 0) {
    *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "a custodian is a person: it cannot be a service account");
    return 1;
  }
  bad = srv_account_generate_password(pw) != 0 || srv_account_hash_password(&u->pw, pw) != 0;
  ke_wipe(pw, sizeof pw);
  if (bad)
    *ret = srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return bad;
}

enum MHD_Result srv_ep_users_create(struct srv_request *req)
{
  static const char *const allowed[] = {"name", "role", "password", "custodian_index",
                                        "person", "service", NULL};
  const json_t *body = srv_request_json(req);
  struct srv_user_new u;
  char gen[SRV_GEN_PASSWORD_LEN + 1];
  enum srv_db_status st;
  enum MHD_Result ret;
  json_t *out;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  memset(&u, 0, sizeof u);
  u.req = req;
  if (ke_json_get_str(body, "name", &u.name) != KE_JSON_OK || !srv_account_name_ok(u.name))
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "name: 1 to 63 characters a-z 0-9 . _ -, starting with a letter");
  if (srv_users_role_fields(req, body, &u.role, &u.cidx, &ret))
    return ret;
  if (json_object_get(body, "person") &&
      (ke_json_get_str(body, "person", &u.person) != KE_JSON_OK ||
       !srv_users_person_ok(u.person)))
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "person: 1 to 128 characters A-Z a-z 0-9 . _ : @ -, starting with "
                           "a letter or digit");
  if (json_object_get(body, "service") &&
      ke_json_get_bool(body, "service", &u.service) != KE_JSON_OK)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "service must be true or false");
  if (u.service && srv_users_service_password(req, body, &u, &ret))
    return ret;
  if (!u.service && srv_account_body_password(req, body, gen, &u.pw, &u.generated, &ret))
    return ret;
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_user_new_txn, &u);
  ke_wipe(&u.pw, sizeof u.pw);
  if (st != SRV_DB_OK) {
    ke_wipe(gen, sizeof gen);
    return srv_users_fail(req, st, u.out);
  }
  out = json_pack("{s:s,s:s,s:s,s:b,s:b}", "name", u.name, "role", u.role, "created",
                  u.created, "password_must_change", u.generated, "service", u.service);
  if (out && u.cidx)
    json_object_set_new(out, "custodian_index", json_integer(u.cidx));
  if (out && u.person)
    json_object_set_new(out, "person", json_string(u.person));
  if (out && u.generated)
    json_object_set_new(out, "one_time_password", json_string(gen));
  ke_wipe(gen, sizeof gen);
  return srv_reply_json(req, MHD_HTTP_CREATED, out);
}

/* ---- GET /v1/users ------------------------------------------------------- */

static enum srv_db_status srv_users_list_txn(struct srv_db *db, void *cls)
{
  json_t **list = cls;
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_USER_LIST, NULL, &st);

  if (!r)
    return st;
  json_decref(*list);
  *list = json_array();
  for (int i = 0; *list && i < PQntuples(r); i++) {
    json_t *u = json_pack("{s:s,s:s,s:o,s:b,s:b,s:s,s:s,s:b,s:s?}", "name", PQgetvalue(r, i, 0),
                          "role", PQgetvalue(r, i, 1), "custodian_index",
                          PQgetisnull(r, i, 2) ? json_null()
                                               : json_integer(atoi(PQgetvalue(r, i, 2))),
                          "disabled", strcmp(PQgetvalue(r, i, 3), "t") == 0,
                          "password_must_change", strcmp(PQgetvalue(r, i, 4), "t") == 0,
                          "created", PQgetvalue(r, i, 5), "updated", PQgetvalue(r, i, 6),
                          "service", strcmp(PQgetvalue(r, i, 7), "t") == 0, "email",
                          PQgetisnull(r, i, 8) ? NULL : PQgetvalue(r, i, 8));
    if (!u || json_array_append_new(*list, u)) {
      json_decref(*list);
      *list = NULL;
    }
  }
  PQclear(r);
  return *list ? SRV_DB_OK : SRV_DB_ERROR;
}

enum MHD_Result srv_ep_users_list(struct srv_request *req)
{
  json_t *list = NULL;
  enum srv_db_status st = srv_db_txn(SRV_DB_READ_ONLY, srv_users_list_txn, &list);

  if (st != SRV_DB_OK) {
    json_decref(list);
    return srv_ep_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "users", list));
}

/* ---- POST /v1/users/{name}/disable|enable|role|person --------------------- */

struct srv_user_change {
  struct srv_request *req;
  const char *name;
  const char *action;   /* "user.disable", "user.enable", "user.role", "user.person" */
  int disable;          /* for disable/enable */
  const char *role;     /* for role */
  /* for a text attribute (person, email): its member name, statement and
   * value ("" clears an email) */
  const char *attr;
  enum srv_stmt attr_stmt;
  const char *value;
  int cidx;
  char old_role[16];
  int changed;
  enum srv_users_outcome out;
};

static enum srv_db_status srv_user_change_txn(struct srv_db *db, void *cls)
{
  struct srv_user_change *c = cls;
  const char *p1[1] = {c->name};
  enum srv_db_status st;
  PGresult *r;
  int was_disabled, is_admin, leaves_admins;
  char object[SRV_NAME_MAX + 8], cidx[8];
  json_t *d;
  struct srv_audit_event ev;

  c->out = SRV_USERS_OK;
  if (!(r = srv_db_exec(db, SRV_STMT_USER_GET, p1, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    c->out = SRV_USERS_NOT_FOUND;
    return SRV_DB_ABORT;
  }
  snprintf(c->old_role, sizeof c->old_role, "%s", PQgetvalue(r, 0, 1));
  was_disabled = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
  if (c->role && strcmp(c->role, "custodian") == 0 && strcmp(PQgetvalue(r, 0, 4), "t") == 0) {
    PQclear(r);
    c->out = SRV_USERS_SERVICE;
    return SRV_DB_ABORT;
  }
  PQclear(r);
  is_admin = strcmp(c->old_role, "admin") == 0 && !was_disabled;
  leaves_admins = c->role ? strcmp(c->role, "admin") != 0 : c->disable;
  if (is_admin && leaves_admins) {
    /* SERIALIZABLE makes two admins demoting each other at once safe:
     * one of the two transactions fails and is retried. */
    if (!(r = srv_db_exec(db, SRV_STMT_USER_ACTIVE_ADMINS, NULL, &st)))
      return st;
    if (atoi(PQgetvalue(r, 0, 0)) <= 1) {
      PQclear(r);
      c->out = SRV_USERS_LAST_ADMIN;
      return SRV_DB_ABORT;
    }
    PQclear(r);
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
    const char *p2[2] = {c->name, c->disable ? "true" : "false"};
    if (!(r = srv_db_exec(db, SRV_STMT_USER_SET_DISABLED, p2, &st)))
      return st;
    d = json_pack("{s:b}", "was_disabled", was_disabled);
  }
  PQclear(r);
  if (!d)
    return SRV_DB_ERROR;
  c->changed = 1;
  snprintf(object, sizeof object, "user:%s", c->name);
  ev = (struct srv_audit_event){c->action, object, "success", d, NULL};
  st = srv_audit_append(db, c->req, &ev);
  json_decref(d);
  return st;
}

static enum MHD_Result srv_user_change(struct srv_request *req, struct srv_user_change *c)
{
  enum srv_db_status st;
  json_t *out;

  c->req = req;
  c->name = srv_request_param(req, "name");
  if (!c->name || !srv_account_name_ok(c->name))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such user");
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_user_change_txn, c);
  if (st != SRV_DB_OK)
    return srv_users_fail(req, st, c->out);
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
  static const char *const allowed[] = {"role", "custodian_index", NULL};
  const json_t *body = srv_request_json(req);
  struct srv_user_change c = {.action = "user.role"};
  enum MHD_Result ret;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  if (srv_users_role_fields(req, body, &c.role, &c.cidx, &ret))
    return ret;
  return srv_user_change(req, &c);
}

/* POST /v1/users/{name}/<attr> {<attr>: value}: one text attribute,
 * checked by `ok`, set by `stmt`, audited as `action`. */
static enum MHD_Result srv_user_set_text(struct srv_request *req, const char *attr,
                                         enum srv_stmt stmt, const char *action,
                                         int (*ok)(const char *), const char *rule)
{
  const char *const allowed[] = {attr, NULL};
  const json_t *body = srv_request_json(req);
  struct srv_user_change c = {.action = action, .attr = attr, .attr_stmt = stmt};
  enum MHD_Result ret;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  if (ke_json_get_str(body, attr, &c.value) != KE_JSON_OK || !ok(c.value))
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, rule);
  return srv_user_change(req, &c);
}

/* The person behind an account (the same ID on a helpdesk and a custodian
 * account keeps that person from approving their own retrieval): for
 * accounts made before the person was known, or when it changes. */
enum MHD_Result srv_ep_users_person(struct srv_request *req)
{
  return srv_user_set_text(req, "person", SRV_STMT_RET_USER_PERSON, "user.person",
                           srv_users_person_ok,
                           "person: 1 to 128 characters A-Z a-z 0-9 . _ : @ -, starting with "
                           "a letter or digit");
}

/* "" (no address) or a plain address. */
static int srv_users_email_ok(const char *s)
{
  return !s[0] || ke_mail_addr_ok(s);
}

/* Where a custodian is told about retrieval requests (srv_mail.h); ""
 * removes the address. */
enum MHD_Result srv_ep_users_email(struct srv_request *req)
{
  return srv_user_set_text(req, "email", SRV_STMT_USER_SET_EMAIL, "user.email",
                           srv_users_email_ok,
                           "email: a plain address (local@domain, at most 254 bytes), or \"\" "
                           "to remove it");
}
