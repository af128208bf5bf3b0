/*
 * srv_login_limits.h - failed-login limits, reserved before scrypt runs.
 *
 * Three limits, all in the database so that every escrowd instance sharing
 * it enforces them (schema/002 login_failures, schema/010
 * login_source_failures):
 *  - per (account, source address): past login_max_failures, that source
 *    waits login_lockout seconds, doubled per further failure, capped at
 *    login_max_delay.  Other sources of the same account are not affected.
 *  - per source address, any account (login_max_address_failures): the same
 *    growing wait, against one address spraying many accounts.
 *  - per account, any source (login_account_max_failures): a ceiling
 *    against a guesser with many addresses.  Past it every attempt from a
 *    source not known for the account (no successful login from it within
 *    login_known_source_lifetime) must be login_account_delay seconds after
 *    the previous one: it slows, it never locks out.
 * A login first reserves a failure in all three, under row locks in one
 * transaction, and only then runs scrypt: N concurrent guesses queue on the
 * rows and cannot exceed the limits.  A correct password gives the
 * reservation back; a wrong one leaves it counted.
 */
#ifndef SRV_LOGIN_LIMITS_H
#define SRV_LOGIN_LIMITS_H

#include "srv_db.h"

struct srv_login_limit {
  const char *account; /* the name tried (existing or not) */
  const char *source;  /* the client address, as the audit log has it */
  /* Set by srv_login_limit_reserve: */
  long long retry_after; /* > 0: refused (429), nothing was reserved */
  long long started;     /* seconds of the longest wait this failure starts */
  const char *limit;     /* which limit started it: "source", "address", "account" */
};

/* Check the limits and, unless one refuses (lim->retry_after > 0), reserve
 * one failure in each.  Runs in the caller's transaction, which must be
 * SRV_DB_READ_COMMITTED (the row locks serialise it). */
enum srv_db_status srv_login_limit_reserve(struct srv_db *db, struct srv_login_limit *lim);
/* The password was right: the source's counter and wait are cleared and it
 * becomes known for the account; the reservation in the per-address and
 * per-account counters is given back. */
enum srv_db_status srv_login_limit_release(struct srv_db *db, const struct srv_login_limit *lim);
/* Remove idle limit rows (called now and then). */
enum srv_db_status srv_login_limit_gc(struct srv_db *db);
/* A password reset: forget every source's counter and known state. */
enum srv_db_status srv_login_limit_clear_account(struct srv_db *db, const char *account);

#endif
