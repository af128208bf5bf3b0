/*
 * ctl_open.h - the requester's side of an opening, shared by `escrowctl
 * open` (part files) and `escrowctl retrieve` (parts fetched from the
 * server): check each part (it opens with the one-time key, its proof
 * verifies against Q_i), then combine T good ones and open the envelope.
 */
#ifndef CTL_OPEN_H
#define CTL_OPEN_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_util.h"

/* The good parts so far: P_i and i, in locked memory (any T of the P_i
 * open the envelope).  Allocate with ke_secure_alloc. */
typedef struct ctl_good_parts {
  uint8_t indices[KE_MAX_SHARES];
  ke_point P[KE_MAX_SHARES];
  size_t count;
} ctl_good_parts;

/* Check one part (`where` names it in messages: a file, "the server");
 * on success add it to g.  A bad part is named by its custodian index on
 * stderr.  Returns 1 if it was good. */
int ctl_open_take(ctl_good_parts *g, const ke_partfile *pf, const char *where, const ke_request *r,
                  const ke_reqkey *key);

/* Combine the first t good parts and open the envelope; *secret is in
 * secure memory (ke_secure_free(*secret, *len)). */
int ctl_open_envelope(uint8_t **secret, size_t *len, const ctl_good_parts *g, const ke_request *r);

/* The custodian's side: unseal share s (passphrase from passfile, or the
 * terminal) and make the sealed part for request r (checked already:
 * ctl_check_share). */
int ctl_part_make(ke_partfile *pf, const ke_request *r, const ke_sharefile *s,
                  const char *passfile);

/* The part of custodian `index` with its unsealed share d (a policy
 * custodian keeps d for its lifetime); ctl_part_make is this after the
 * unsealing. */
int ctl_part_compute(ke_partfile *pf, const ke_request *r, unsigned index, const ke_scalar *d);

/* The helpdesk client key file (escrowctl key register): `given`, or
 * client-key in the configuration directory (created 0700). */
int ctl_client_key_path(char *out, size_t outlen, const char *given);

#endif
