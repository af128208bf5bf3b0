/*
 * ke_retrieval.c - the signed statement of a retrieval request, and the
 * "requester" member of a request file that carries it (ke_files.c calls
 * kf_requester_parse / kf_requester_json).
 */
#include "ke_retrieval.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_files_int.h"
#include "ke_util.h"

static int ke_retrieval_field_ok(const char *s)
{
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 0;
  return 1;
}

size_t ke_retrieval_statement(char out[KE_RETRIEVAL_STMT_MAX], const ke_retrieval_fields *f)
{
  const char *v[9] = {f->id,     f->device, f->volume, f->key_id, f->E,
                      f->reason, f->ticket, f->nonce,  f->record};
  int rec = f->record && f->record[0], n;

  for (size_t i = 0; i < 9; i++)
    if (!ke_retrieval_field_ok(v[i]))
      return 0;
  n = snprintf(out, KE_RETRIEVAL_STMT_MAX,
               "keyescrow-v1-retrieval-request\nid=%s\ndevice=%s\nvolume=%s\nkey_id=%s\n"
               "%s%s%sE=%s\nreason=%s\nticket=%s\nnonce=%s\n",
               f->id ? f->id : "", f->device ? f->device : "", f->volume ? f->volume : "",
               f->key_id ? f->key_id : "", rec ? "record=" : "", rec ? f->record : "",
               rec ? "\n" : "", f->E ? f->E : "", f->reason ? f->reason : "",
               f->ticket ? f->ticket : "", f->nonce ? f->nonce : "");
  if (n <= 0 || n >= KE_RETRIEVAL_STMT_MAX)
    return 0;
  return (size_t)n;
}

/* ---- the "requester" member of a request file ------------------------------ */

int ke_retrieval_fingerprint(uint8_t out[32], const uint8_t pub[KE_RETRIEVAL_PUB_LEN])
{
  unsigned n = 0;
  return EVP_Digest(pub, KE_RETRIEVAL_PUB_LEN, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0
                                                                                            : -1;
}

int ke_retrieval_verify(const ke_retrieval_signed *s, const char *id, const uint8_t E[33])
{
  char stmt[KE_RETRIEVAL_STMT_MAX], *e64 = ke_b64url_encode(E, 33);
  size_t n;
  int ok;

  /* The statement as `escrowctl retrieve` signed it: E in the canonical
   * unpadded base64url of its 33 bytes, absent names as empty. */
  ke_retrieval_fields f = {id,        s->device, s->volume, s->key_id, e64,
                           s->reason, s->ticket, s->nonce,  s->record};
  ok = e64 && (n = ke_retrieval_statement(stmt, &f)) &&
       ke_ed25519_verify(s->public_key, stmt, n, s->signature) == KE_OK;
  free(e64);
  return ok;
}

/* "record" is there only when the request names one record by its id. */
static const char *const requester_fields[] = {"user",   "public_key", "fingerprint", "device",
                                               "volume", "key_id",     "reason",      "ticket",
                                               "nonce",  "signature",  NULL};
static const char *const requester_fields_record[] = {
  "user",   "public_key", "fingerprint", "device", "volume",    "key_id",
  "record", "reason",     "ticket",      "nonce",  "signature", NULL};

static int user_ok(const char *s)
{
  size_t n = strlen(s);
  return n >= 1 && n <= KE_RETRIEVAL_USER_MAX && s[0] >= 'a' && s[0] <= 'z' &&
         strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int ascii_ok(const char *s, size_t min)
{
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] > 0x7e)
      return 0;
  return n >= min;
}

/* "" or text of 1..max bytes (the buffer has room for max). */
static ke_rc opt_label(char *out, json_t *o, const char *key, size_t max, const char *ctx,
                       ke_ferr *err)
{
  ke_rc rc = kf_str(out, max + 1, o, key, ctx, err);
  if (!rc && out[0] && !ke_label_valid(out, max))
    rc = kf_err(err, KE_ERR_FORMAT,
                "%s: field \"%s\": must be empty or 1..%zu bytes of "
                "text without control characters",
                ctx, key, max);
  return rc;
}

ke_rc kf_requester_parse(ke_retrieval_signed *s, json_t *o, ke_ferr *err)
{
  const char *ctx = "request: field \"requester\"";
  uint8_t fpr[32];
  ke_rc rc;

  memset(s, 0, sizeof *s);
  if (!json_is_object(o))
    return kf_err(err, KE_ERR_FORMAT, "%s: must be an object", ctx);
  if ((rc = kf_fields(
         o, ctx, json_object_get(o, "record") ? requester_fields_record : requester_fields, err)) ||
      (rc = kf_str(s->user, sizeof s->user, o, "user", ctx, err)))
    return rc;
  if (!user_ok(s->user))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"user\": must be an account name", ctx);
  if ((rc = kf_b64_fixed(s->public_key, sizeof s->public_key, o, "public_key", ctx, err)) ||
      (rc = kf_hex(s->fingerprint, sizeof s->fingerprint, o, "fingerprint", ctx, err)))
    return rc;
  if (ke_retrieval_fingerprint(fpr, s->public_key) != 0 ||
      memcmp(fpr, s->fingerprint, sizeof fpr) != 0)
    return kf_err(err, KE_ERR_FINGERPRINT,
                  "%s: field \"fingerprint\": is not the SHA-256 "
                  "of public_key",
                  ctx);
  if ((rc = opt_label(s->device, o, "device", KE_RETRIEVAL_NAME_MAX, ctx, err)) ||
      (rc = opt_label(s->volume, o, "volume", KE_RETRIEVAL_NAME_MAX, ctx, err)) ||
      (rc = kf_str(s->key_id, sizeof s->key_id, o, "key_id", ctx, err)))
    return rc;
  if (s->key_id[0] && (!ascii_ok(s->key_id, 4)))
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"key_id\": must be empty or 4..%d "
                  "printable ASCII characters",
                  ctx, KE_RETRIEVAL_KEYID_MAX);
  if (json_object_get(o, "record") &&
      (rc = kf_str(s->record, sizeof s->record, o, "record", ctx, err)))
    return rc;
  if (json_object_get(o, "record") && !ke_b32_id_ok(s->record, "rec-"))
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"record\": must be empty or \"rec-\" and 26 characters of a-z2-7",
                  ctx);
  if ((!!s->device[0] + !!s->key_id[0] + !!s->record[0]) != 1 || (s->volume[0] && !s->device[0]))
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: names the record by device (and volume), by "
                  "key_id or by record, exactly one",
                  ctx);
  if ((rc = kf_str(s->reason, sizeof s->reason, o, "reason", ctx, err)))
    return rc;
  if (!ke_label_valid(s->reason, KE_RETRIEVAL_REASON_MAX))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"reason\": must be 1..%d bytes of text", ctx,
                  KE_RETRIEVAL_REASON_MAX);
  if ((rc = kf_str(s->ticket, sizeof s->ticket, o, "ticket", ctx, err)))
    return rc;
  if (!ascii_ok(s->ticket, 1))
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"ticket\": must be 1..%d printable ASCII "
                  "characters",
                  ctx, KE_RETRIEVAL_TICKET_MAX);
  if ((rc = kf_str(s->nonce, sizeof s->nonce, o, "nonce", ctx, err)))
    return rc;
  if (!ke_b64url_chars(s->nonce, KE_RETRIEVAL_NONCE_LEN))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"nonce\": must be %d base64url characters", ctx,
                  KE_RETRIEVAL_NONCE_LEN);
  return kf_b64_fixed(s->signature, sizeof s->signature, o, "signature", ctx, err);
}

json_t *kf_requester_json(const ke_retrieval_signed *s)
{
  char fpr[65];
  json_t *o = json_object();
  int bad = !o;

  ke_hex_encode(fpr, s->fingerprint, sizeof s->fingerprint);
  bad |= kf_set(o, "user", json_string(s->user));
  bad |= kf_set(o, "public_key", kf_b64(s->public_key, sizeof s->public_key));
  bad |= kf_set(o, "fingerprint", json_string(fpr));
  bad |= kf_set(o, "device", json_string(s->device));
  bad |= kf_set(o, "volume", json_string(s->volume));
  bad |= kf_set(o, "key_id", json_string(s->key_id));
  if (s->record[0])
    bad |= kf_set(o, "record", json_string(s->record));
  bad |= kf_set(o, "reason", json_string(s->reason));
  bad |= kf_set(o, "ticket", json_string(s->ticket));
  bad |= kf_set(o, "nonce", json_string(s->nonce));
  bad |= kf_set(o, "signature", kf_b64(s->signature, sizeof s->signature));
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}
