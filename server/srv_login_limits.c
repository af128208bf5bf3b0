/*
 * srv_login_limits.c - failed-login limits per (account, source), per
 * source and per account, reserved before scrypt (see srv_login_limits.h).
 */
#include "srv_login_limits.h"

#include <stdio.h>

#include "srv_account.h"
#include "srv_rows.h"

/* Counters stop growing here (the column is an int4; the wait is capped
 * long before). */
#define SRV_LIMIT_COUNT_MAX 1000000

struct srv_limit_row {
  int64_t failures, quiet, wait;
  int known;
};
/* A source's row (LOGIN_SRC_LOCK) has `known`; the others' rows
 * (LOGIN_FAIL_LOCK) are the rest of the table. */
static const struct srv_col srv_limit_src_cols[] = {
  SRV_COL_BOOL(struct srv_limit_row, known), SRV_COL_INT64(struct srv_limit_row, failures),
  SRV_COL_INT64(struct srv_limit_row, quiet), SRV_COL_INT64(struct srv_limit_row, wait),
  SRV_COL_END};

/* A client whose address is unknown still gets a counter of its own. */
static const char *srv_limit_source(const struct srv_login_limit *lim)
{
  return lim->source && lim->source[0] ? lim->source : "-";
}

static int srv_limit_addr_on(const struct srv_login_limit *lim)
{
  return srv_auth_cfg.max_address_failures && lim->source && lim->source[0];
}

static enum srv_db_status srv_limit_exec(struct srv_db *db, enum srv_stmt stmt,
                                         const char *const *params)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, stmt, params, &st);

  if (!r)
    return st;
  PQclear(r);
  return SRV_DB_OK;
}

/* Make the row exist, then lock it: concurrent logins queue here. */
static enum srv_db_status srv_limit_lock(struct srv_db *db, enum srv_stmt ensure,
                                         enum srv_stmt lock, const char *const *params,
                                         struct srv_limit_row *row)
{
  enum srv_db_status st;
  PGresult *r;

  if ((st = srv_limit_exec(db, ensure, params)) || !(r = srv_db_exec(db, lock, params, &st)))
    return st;
  if (PQntuples(r) != 1) {
    /* Removed between the two statements (the idle-row clean-up): the
     * transaction runs again. */
    PQclear(r);
    return SRV_DB_RETRY;
  }
  st = srv_row_read(r, 0, srv_limit_src_cols + (lock != SRV_STMT_LOGIN_SRC_LOCK), row) == 0
         ? SRV_DB_OK
         : SRV_DB_ERROR;
  PQclear(r);
  return st;
}

/* The count after one more failure: it restarts after a quiet window. */
static long long srv_limit_next(const struct srv_limit_row *row)
{
  long long f = row->quiet > (long long)srv_auth_cfg.failure_window ? 0 : row->failures;

  return f >= SRV_LIMIT_COUNT_MAX ? SRV_LIMIT_COUNT_MAX : f + 1;
}

/* The wait after failure number f of a limit of k: none below k, then
 * login_lockout doubled per further failure, capped at login_max_delay. */
static long long srv_limit_delay(long long f, unsigned k)
{
  long long cap = srv_auth_cfg.max_delay, secs = srv_auth_cfg.lockout;

  if (!k || f < (long long)k)
    return 0;
  for (long long i = k; i < f && secs < cap; i++)
    secs *= 2;
  return secs > cap ? cap : secs;
}

static void srv_limit_started(struct srv_login_limit *lim, long long secs, const char *which)
{
  if (secs > lim->started) {
    lim->started = secs;
    lim->limit = which;
  }
}

static enum srv_db_status srv_limit_put(struct srv_db *db, enum srv_stmt stmt, const char *a,
                                        const char *b, long long failures, long long wait)
{
  char nf[24], w[24];
  const char *p4[4] = {a, b, nf, wait > 0 ? w : NULL};

  snprintf(nf, sizeof nf, "%lld", failures);
  snprintf(w, sizeof w, "%lld", wait);
  return srv_limit_exec(db, stmt, p4);
}

enum srv_db_status srv_login_limit_reserve(struct srv_db *db, struct srv_login_limit *lim)
{
  char life[16];
  const char *src = srv_limit_source(lim);
  const char *ps[3] = {lim->account, src, life}, *pu[2] = {"user", lim->account},
             *pa[2] = {"addr", src};
  struct srv_limit_row rs = {0}, ru = {0}, ra = {0};
  int acct = srv_auth_cfg.account_max_failures > 0, addr = srv_limit_addr_on(lim);
  long long f, wait, retry;
  enum srv_db_status st;

  lim->retry_after = 0;
  lim->started = 0;
  lim->limit = NULL;
  snprintf(life, sizeof life, "%u", srv_auth_cfg.known_source_lifetime);
  /* Always in this order (source, account, address): no lock cycles. */
  if ((st = srv_limit_lock(db, SRV_STMT_LOGIN_SRC_ENSURE, SRV_STMT_LOGIN_SRC_LOCK, ps, &rs)) ||
      (acct &&
       (st = srv_limit_lock(db, SRV_STMT_LOGIN_FAIL_ENSURE, SRV_STMT_LOGIN_FAIL_LOCK, pu, &ru))) ||
      (addr &&
       (st = srv_limit_lock(db, SRV_STMT_LOGIN_FAIL_ENSURE, SRV_STMT_LOGIN_FAIL_LOCK, pa, &ra))))
    return st;
  /* A known source is not slowed by the account's ceiling: a guesser with
   * many addresses must not keep the account's usual places out. */
  retry = rs.wait;
  if (ra.wait > retry)
    retry = ra.wait;
  if (!rs.known && ru.wait > retry)
    retry = ru.wait;
  if (retry > 0) {
    lim->retry_after = retry;
    return SRV_DB_OK;
  }
  f = srv_limit_next(&rs);
  wait = srv_limit_delay(f, srv_auth_cfg.max_failures);
  srv_limit_started(lim, wait, "source");
  if ((st = srv_limit_put(db, SRV_STMT_LOGIN_SRC_PUT, lim->account, src, f, wait)))
    return st;
  if (acct) {
    f = srv_limit_next(&ru);
    wait = f >= (long long)srv_auth_cfg.account_max_failures ? srv_auth_cfg.account_delay : 0;
    srv_limit_started(lim, wait, "account");
    if ((st = srv_limit_put(db, SRV_STMT_LOGIN_FAIL_PUT, "user", lim->account, f, wait)))
      return st;
  }
  if (addr) {
    f = srv_limit_next(&ra);
    wait = srv_limit_delay(f, srv_auth_cfg.max_address_failures);
    srv_limit_started(lim, wait, "address");
    if ((st = srv_limit_put(db, SRV_STMT_LOGIN_FAIL_PUT, "addr", src, f, wait)))
      return st;
  }
  return SRV_DB_OK;
}

enum srv_db_status srv_login_limit_release(struct srv_db *db, const struct srv_login_limit *lim)
{
  char ceil_s[16], addr_s[16];
  const char *src = srv_limit_source(lim);
  const char *ps[2] = {lim->account, src}, *pu[3] = {"user", lim->account, ceil_s},
             *pa[3] = {"addr", src, addr_s};
  enum srv_db_status st;

  snprintf(ceil_s, sizeof ceil_s, "%u", srv_auth_cfg.account_max_failures);
  snprintf(addr_s, sizeof addr_s, "%u", srv_auth_cfg.max_address_failures);
  if ((st = srv_limit_exec(db, SRV_STMT_LOGIN_SRC_SUCCESS, ps)))
    return st;
  if (srv_auth_cfg.account_max_failures &&
      (st = srv_limit_exec(db, SRV_STMT_LOGIN_FAIL_RELEASE, pu)))
    return st;
  if (srv_limit_addr_on(lim) && (st = srv_limit_exec(db, SRV_STMT_LOGIN_FAIL_RELEASE, pa)))
    return st;
  return SRV_DB_OK;
}

enum srv_db_status srv_login_limit_gc(struct srv_db *db)
{
  char win[16], life[16];
  const char *pg[2] = {win, life};
  enum srv_db_status st;

  snprintf(win, sizeof win, "%u", srv_auth_cfg.failure_window);
  snprintf(life, sizeof life, "%u", srv_auth_cfg.known_source_lifetime);
  if ((st = srv_limit_exec(db, SRV_STMT_LOGIN_FAIL_GC, pg)))
    return st;
  return srv_limit_exec(db, SRV_STMT_LOGIN_SRC_GC, pg);
}

enum srv_db_status srv_login_limit_clear_account(struct srv_db *db, const char *account)
{
  const char *p1[1] = {account};

  return srv_limit_exec(db, SRV_STMT_LOGIN_SRC_CLEAR, p1);
}
