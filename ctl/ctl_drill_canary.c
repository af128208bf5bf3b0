/*
 * ctl_drill_canary.c - canary drills on the auditor's side (lib/ke_canary.h,
 * docs/protocol.md section 9): `escrowctl drill start --canary N` seals N
 * canaries to the pinned current escrow key, each derived from the drill's
 * one-time key e; `escrowctl drill run` of a canary drill refuses to open a
 * record that is not one of its own canaries (its R must be r*G for the r
 * derived from e) and checks that each opens to the secret derived from e.
 * Nothing of a canary secret is ever printed or written.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ctl_drill.h"
#include "ke_canary.h"

/* The current escrow key with the pinned fingerprint, from the server. */
static int ctl_canary_key(ctl_http *h, const uint8_t pin[KE_FPR_LEN], ke_manifest *m)
{
  char path[160], fpr[2 * KE_FPR_LEN + 1], *text = NULL;
  json_t *ans = NULL;
  const char *state;
  ke_ferr ferr;
  int rc;

  ke_hex_encode(fpr, pin, KE_FPR_LEN);
  snprintf(path, sizeof path, "/v1/escrow-key?fingerprint=%s", fpr);
  if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)))
    return rc;
  rc = CTL_FAIL;
  state = ctl_jstr(ans, "state");
  text = json_dumps(json_object_get(ans, "manifest"), JSON_COMPACT);
  if (!text || ke_manifest_parse(m, text, strlen(text), &ferr) != KE_OK ||
      memcmp(m->pub.fingerprint, pin, KE_FPR_LEN) != 0)
    ctl_errf("the server's escrow key is not the one of --fingerprint %.16s...; refusing", fpr);
  else if (!state || strcmp(state, "current") != 0)
    ctl_errf("escrow key %.16s... is %s, not current: canaries are sealed to the current key", fpr,
             state ? state : "of no state");
  else
    rc = CTL_OK;
  free(text);
  json_decref(ans);
  return rc;
}

int ctl_drill_canaries(ctl_http *h, const ke_reqkey *key, unsigned n, const uint8_t pin[KE_FPR_LEN],
                       json_t **out)
{
  ke_manifest *m = calloc(1, sizeof *m);
  json_t *arr = json_array();
  int rc = CTL_FAIL;

  *out = NULL;
  if (!m || !arr || (rc = ctl_canary_key(h, pin, m)))
    goto out;
  for (unsigned i = 0; i < n; i++) {
    char rid[KE_DRILL_ID_LEN + 1], *e64 = NULL, *v64 = NULL, *p64 = NULL;
    uint8_t ver[KE_VERIFIER_LEN], proof[KE_DLEQ_LEN], *env = NULL;
    size_t envlen = 0;

    rc = CTL_FAIL;
    if (ke_b32_id_new(rid, "rec-") != KE_OK)
      goto out;
    if (ke_canary_seal(&env, &envlen, ver, proof, &key->e, m->pub.fingerprint,
                       &m->pub.commitments[0], key->request_id, rid) == KE_OK &&
        (e64 = ke_b64url_encode(env, envlen)) && (v64 = ke_b64url_encode(ver, sizeof ver)) &&
        (p64 = ke_b64url_encode(proof, sizeof proof)) &&
        !json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "record_id", rid, "envelope",
                                              e64, "verifier", v64, "proof", p64)))
      rc = CTL_OK;
    free(env);
    free(e64);
    free(v64);
    free(p64);
    if (rc) {
      ctl_errf("cannot seal canary %u", i + 1);
      goto out;
    }
  }
  *out = arr;
  arr = NULL;
out:
  json_decref(arr);
  free(m);
  return rc;
}

const char *ctl_drill_canary_mine(const ctl_drill_rec *r, const char *drill_id, const ke_scalar *e)
{
  uint8_t *secret = ke_secure_alloc(KE_CANARY_SECRET_LEN);
  ke_scalar *k = ke_secure_alloc(sizeof *k);
  const char *why = "not a canary of this drill";
  ke_point R;

  if (secret && k && strcmp(r->device, KE_CANARY_DEVICE) == 0 && strcmp(r->volume, r->id) == 0 &&
      ke_canary_derive(k, secret, e, drill_id, r->id) == KE_OK &&
      ke_point_mul_base(&R, k) == KE_OK && ke_ct_eq(R.b, r->env.R.b, KE_POINT_LEN))
    why = NULL;
  ke_secure_free(secret, KE_CANARY_SECRET_LEN);
  ke_secure_free(k, sizeof *k);
  return why;
}

const char *ctl_drill_canary_secret(const ctl_drill_rec *r, const char *drill_id,
                                    const ke_scalar *e, const uint8_t *s, size_t len)
{
  uint8_t *secret = ke_secure_alloc(KE_CANARY_SECRET_LEN);
  ke_scalar *k = ke_secure_alloc(sizeof *k);
  const char *why = "not the canary's secret";

  if (secret && k && ke_canary_derive(k, secret, e, drill_id, r->id) == KE_OK &&
      len == KE_CANARY_SECRET_LEN && CRYPTO_memcmp(s, secret, len) == 0)
    why = NULL;
  ke_secure_free(secret, KE_CANARY_SECRET_LEN);
  ke_secure_free(k, sizeof *k);
  return why;
}
