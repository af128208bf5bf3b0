/*
 * srv_client_key.c - reading a person's registered client key, the one
 * way the retrieval, drill and statement endpoints do it (srv_retrieval.h).
 */
#include <stdio.h>
#include <string.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_retrieval.h"
#include "srv_rows.h"

struct srv_ck_row {
  const char *public_key, *fingerprint;
};
static const struct srv_col srv_ck_cols[] = {SRV_COL_TEXT(struct srv_ck_row, public_key),
                                             SRV_COL_TEXT(struct srv_ck_row, fingerprint),
                                             SRV_COL_END};

enum srv_db_status srv_client_key_get(struct srv_db *db, const char *user_id,
                                      struct srv_client_key *k, int *found)
{
  const char *p1[1] = {user_id};
  enum srv_db_status st;
  struct srv_ck_row row;
  PGresult *r = srv_db_exec(db, SRV_STMT_RET_CLIENT_KEY_GET, p1, &st);

  *found = 0;
  if (!r)
    return st;
  st = SRV_DB_OK;
  if (PQntuples(r) == 1) {
    if (srv_row_read(r, 0, srv_ck_cols, &row) != 0 ||
        ke_hex_decode(k->pub, sizeof k->pub, row.public_key) != KE_OK ||
        strlen(row.fingerprint) >= sizeof k->fingerprint) {
      ke_logf(KE_LOG_ERROR, "a stored client key does not decode (edited in the database?)");
      st = SRV_DB_ERROR;
    } else {
      snprintf(k->pub_hex, sizeof k->pub_hex, "%s", row.public_key);
      snprintf(k->fingerprint, sizeof k->fingerprint, "%s", row.fingerprint);
      *found = 1;
    }
  }
  PQclear(r);
  return st;
}
