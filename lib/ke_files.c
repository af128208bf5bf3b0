/*
 * ke_files.c - parsers and writers of the version-1 JSON files
 * (docs/protocol.md, "Files").  Generic field access and the value rules
 * live in ke_files_json.c; this file holds one parser/writer pair per file.
 */
#include "ke_files.h"

#include <stdio.h>
#include <string.h>

#include "ke_files_int.h"

/* ---- escrow manifest ------------------------------------------------------ */
static const char *const manifest_fields[] = {"version",     "curve",       "threshold",  "shares",
                                              "public_key",  "commitments", "custodians", "created",
                                              "fingerprint", NULL};
static const char *const custodian_fields[] = {"index", "name", "public_share", NULL};

static ke_rc manifest_custodians(ke_manifest *m, json_t *arr, ke_ferr *err)
{
  if (!json_is_array(arr) || json_array_size(arr) != m->pub.n)
    return kf_err(err, KE_ERR_FORMAT,
                  "manifest: field \"custodians\": must be an array "
                  "of %u entries",
                  m->pub.n);
  for (unsigned i = 0; i < m->pub.n; i++) {
    json_t *c = json_array_get(arr, i);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "manifest: field \"custodians\"[%u]", i);
    if (!json_is_object(c))
      return kf_err(err, KE_ERR_FORMAT, "%s: must be an object", ctx);
    ke_rc rc = kf_fields(c, ctx, custodian_fields, err);
    unsigned index = 0;
    ke_point qi;
    if (!rc)
      rc = kf_uint(&index, c, "index", 1, m->pub.n, ctx, err);
    if (!rc && index != i + 1)
      rc = kf_err(err, KE_ERR_INVALID_INDEX,
                  "%s: index must be %u (custodians are "
                  "listed in index order)",
                  ctx, i + 1);
    if (!rc)
      rc = kf_label(m->names[i], c, "name", KE_NAME_MAX, ctx, err);
    if (!rc)
      rc = kf_point(&qi, c, "public_share", ctx, err);
    if (!rc && memcmp(qi.b, m->pub.public_shares[i].b, KE_POINT_LEN) != 0)
      rc = kf_err(err, KE_ERR_FINGERPRINT,
                  "%s: public_share does not follow from the "
                  "commitments",
                  ctx);
    for (unsigned j = 0; !rc && j < i; j++)
      if (strcmp(m->names[j], m->names[i]) == 0)
        rc = kf_err(err, KE_ERR_FORMAT, "%s: name repeats custodian %u's", ctx, j + 1);
    if (rc)
      return rc;
  }
  return KE_OK;
}

/* "threshold", "shares" and "commitments" (manifests and requests), with
 * everything else of the key recomputed from them into pub. */
static ke_rc escrow_pub_from_json(ke_escrow_pub *pub, json_t *root, const char *ctx, ke_ferr *err)
{
  ke_point commitments[KE_MAX_SHARES];
  unsigned t = 0, n = 0;
  ke_rc rc = kf_uint(&t, root, "threshold", 1, KE_MAX_SHARES, ctx, err);
  if (!rc)
    rc = kf_uint(&n, root, "shares", 1, KE_MAX_SHARES, ctx, err);
  if (!rc && t > n)
    rc = kf_err(err, KE_ERR_THRESHOLD, "%s: threshold %u is larger than shares %u", ctx, t, n);
  if (rc)
    return rc;
  json_t *arr = json_object_get(root, "commitments");
  if (!json_is_array(arr) || json_array_size(arr) != t)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"commitments\": must be an array of "
                  "threshold (%u) points",
                  ctx, t);
  for (unsigned j = 0; j < t; j++) {
    char name[48];
    snprintf(name, sizeof name, "field \"commitments\"[%u]", j);
    if ((rc = kf_val_point(&commitments[j], json_array_get(arr, j), name, ctx, err)))
      return rc;
  }
  if ((rc = ke_escrow_pub_from_commitments(pub, t, n, commitments)))
    return kf_err(err, rc, "%s: field \"commitments\": %s", ctx, ke_rc_str(rc));
  return KE_OK;
}

/* The writers' side, in the documented field order ("public_key", which
 * only manifests repeat, comes before the commitments). */
static int escrow_pub_to_json(json_t *root, const ke_escrow_pub *p, int public_key)
{
  json_t *cs = json_array();
  int bad = !cs;
  for (unsigned j = 0; !bad && j < p->t; j++)
    bad |= json_array_append_new(cs, kf_b64(p->commitments[j].b, KE_POINT_LEN)) != 0;
  bad |= kf_set(root, "threshold", json_integer(p->t));
  bad |= kf_set(root, "shares", json_integer(p->n));
  if (public_key)
    bad |= kf_set(root, "public_key", kf_b64(p->commitments[0].b, KE_POINT_LEN));
  bad |= kf_set(root, "commitments", cs);
  return bad;
}

static ke_rc manifest_from_json(ke_manifest *m, json_t *root, ke_ferr *err)
{
  const char *ctx = "manifest";
  ke_point q;
  uint8_t fpr[KE_FPR_LEN];
  ke_rc rc = kf_header(root, ctx, manifest_fields, err);
  if (!rc)
    rc = kf_const_str(root, "curve", "P-256", ctx, err);
  /* Everything else is recomputed from t, N and the commitments, then the
   * stored copies must agree: the fingerprint covers only the commitments,
   * so a manifest whose other values disagree with them is refused. */
  if (!rc)
    rc = escrow_pub_from_json(&m->pub, root, ctx, err);
  if (rc)
    return rc;
  if ((rc = kf_point(&q, root, "public_key", ctx, err)))
    return rc;
  if (memcmp(q.b, m->pub.commitments[0].b, KE_POINT_LEN) != 0)
    return kf_err(err, KE_ERR_FINGERPRINT,
                  "%s: field \"public_key\": is not "
                  "commitments[0]",
                  ctx);
  if ((rc = kf_hex(fpr, sizeof fpr, root, "fingerprint", ctx, err)))
    return rc;
  if (memcmp(fpr, m->pub.fingerprint, KE_FPR_LEN) != 0)
    return kf_err(err, KE_ERR_FINGERPRINT,
                  "%s: field \"fingerprint\": does not match "
                  "the commitments",
                  ctx);
  if ((rc = kf_time(m->created, root, "created", ctx, err)))
    return rc;
  return manifest_custodians(m, json_object_get(root, "custodians"), err);
}

ke_rc ke_manifest_parse(ke_manifest *m, const char *json, size_t len, ke_ferr *err)
{
  json_t *root = NULL;
  ke_rc rc = kf_load(&root, json, len, "manifest", err);
  if (!rc)
    rc = manifest_from_json(m, root, err);
  json_decref(root);
  return rc;
}

ke_rc ke_manifest_write(char **out, size_t *outlen, const ke_manifest *m)
{
  const ke_escrow_pub *p = &m->pub;
  char fpr[2 * KE_FPR_LEN + 1];
  if (p->t < 1 || p->t > p->n || !ke_time_valid(m->created))
    return KE_ERR_FORMAT;
  ke_hex_encode(fpr, p->fingerprint, KE_FPR_LEN);
  json_t *root = json_object(), *cust = json_array();
  int bad = !root || !cust;
  bad |= kf_set(root, "version", json_integer(KE_FILE_VERSION));
  bad |= kf_set(root, "curve", json_string("P-256"));
  bad |= escrow_pub_to_json(root, p, 1);
  for (unsigned i = 0; !bad && i < p->n; i++) {
    json_t *c = json_object();
    if (!c || !ke_label_valid(m->names[i], KE_NAME_MAX)) {
      json_decref(c);
      bad = 1;
      break;
    }
    bad |= kf_set(c, "index", json_integer(i + 1));
    bad |= kf_set(c, "name", json_string(m->names[i]));
    bad |= kf_set(c, "public_share", kf_b64(p->public_shares[i].b, KE_POINT_LEN));
    bad |= json_array_append_new(cust, c) != 0;
  }
  bad |= kf_set(root, "custodians", cust);
  bad |= kf_set(root, "created", json_string(m->created));
  bad |= kf_set(root, "fingerprint", json_string(fpr));
  ke_rc rc = bad ? KE_ERR_NOMEM : kf_dump(root, out, outlen);
  json_decref(root);
  return rc;
}

/* ---- share file ------------------------------------------------------------ */
static const char *const share_fields[] = {"version", "index", "name",   "fingerprint",
                                           "kdf",     "nonce", "sealed", NULL};
static const char *const kdf_fields[] = {"alg", "N", "r", "p", "salt", NULL};

static ke_rc sharefile_kdf(ke_sharefile *s, json_t *kdf, ke_ferr *err)
{
  const char *ctx = "share file: field \"kdf\"";
  unsigned n = 0, r = 0, p = 0;
  if (!json_is_object(kdf))
    return kf_err(err, KE_ERR_FORMAT, "%s: must be an object", ctx);
  ke_rc rc = kf_fields(kdf, ctx, kdf_fields, err);
  if (!rc)
    rc = kf_const_str(kdf, "alg", "scrypt", ctx, err);
  if (!rc)
    rc = kf_uint(&n, kdf, "N", KE_SCRYPT_N_MIN, KE_SCRYPT_N_MAX, ctx, err);
  if (!rc && (n & (n - 1)) != 0)
    rc = kf_err(err, KE_ERR_FORMAT, "%s: N must be a power of two", ctx);
  if (!rc)
    rc = kf_uint(&r, kdf, "r", 1, KE_SCRYPT_R_MAX, ctx, err);
  if (!rc)
    rc = kf_uint(&p, kdf, "p", 1, KE_SCRYPT_P_MAX, ctx, err);
  if (!rc && 128ull * r * ((unsigned long long)n + p) > KE_SCRYPT_MEM_MAX)
    rc = kf_err(err, KE_ERR_FORMAT, "%s: parameters need more than %u MiB", ctx,
                KE_SCRYPT_MEM_MAX >> 20);
  if (!rc)
    rc = kf_b64_fixed(s->salt, KE_SALT_LEN, kdf, "salt", ctx, err);
  s->kdf = (ke_scrypt_params){n, r, p};
  return rc;
}

ke_rc ke_sharefile_parse(ke_sharefile *s, const char *json, size_t len, ke_ferr *err)
{
  const char *ctx = "share file";
  json_t *root = NULL;
  ke_rc rc = kf_load(&root, json, len, ctx, err);
  if (!rc)
    rc = kf_header(root, ctx, share_fields, err);
  if (!rc)
    rc = kf_uint(&s->index, root, "index", 1, KE_MAX_SHARES, ctx, err);
  if (!rc)
    rc = kf_label(s->name, root, "name", KE_NAME_MAX, ctx, err);
  if (!rc)
    rc = kf_hex(s->fingerprint, KE_FPR_LEN, root, "fingerprint", ctx, err);
  if (!rc)
    rc = sharefile_kdf(s, json_object_get(root, "kdf"), err);
  if (!rc)
    rc = kf_b64_fixed(s->nonce, KE_NONCE_LEN, root, "nonce", ctx, err);
  if (!rc)
    rc = kf_b64_fixed(s->sealed, KE_SHARE_SEALED_LEN, root, "sealed", ctx, err);
  json_decref(root);
  return rc;
}

ke_rc ke_sharefile_write(char **out, size_t *outlen, const ke_sharefile *s)
{
  char fpr[2 * KE_FPR_LEN + 1];
  if (s->index < 1 || s->index > KE_MAX_SHARES || !ke_label_valid(s->name, KE_NAME_MAX))
    return KE_ERR_FORMAT;
  ke_hex_encode(fpr, s->fingerprint, KE_FPR_LEN);
  json_t *root = json_object(), *kdf = json_object();
  int bad = !root || !kdf;
  bad |= kf_set(kdf, "alg", json_string("scrypt"));
  bad |= kf_set(kdf, "N", json_integer((json_int_t)s->kdf.N));
  bad |= kf_set(kdf, "r", json_integer(s->kdf.r));
  bad |= kf_set(kdf, "p", json_integer(s->kdf.p));
  bad |= kf_set(kdf, "salt", kf_b64(s->salt, KE_SALT_LEN));
  bad |= kf_set(root, "version", json_integer(KE_FILE_VERSION));
  bad |= kf_set(root, "index", json_integer(s->index));
  bad |= kf_set(root, "name", json_string(s->name));
  bad |= kf_set(root, "fingerprint", json_string(fpr));
  bad |= kf_set(root, "kdf", kdf);
  bad |= kf_set(root, "nonce", kf_b64(s->nonce, KE_NONCE_LEN));
  bad |= kf_set(root, "sealed", kf_b64(s->sealed, KE_SHARE_SEALED_LEN));
  ke_rc rc = bad ? KE_ERR_NOMEM : kf_dump(root, out, outlen);
  json_decref(root);
  return rc;
}

ke_rc ke_sharefile_seal(ke_sharefile *s, const char *pass, size_t passlen, ke_scrypt_params kdf,
                        const uint8_t fpr[KE_FPR_LEN], unsigned index, const char *name,
                        const ke_scalar *d)
{
  if (!ke_label_valid(name, KE_NAME_MAX))
    return KE_ERR_FORMAT;
  memset(s, 0, sizeof *s);
  s->index = index;
  memcpy(s->name, name, strlen(name) + 1);
  memcpy(s->fingerprint, fpr, KE_FPR_LEN);
  s->kdf = kdf;
  ke_rc rc = ke_random(s->salt, KE_SALT_LEN);
  if (!rc)
    rc = ke_random(s->nonce, KE_NONCE_LEN);
  if (!rc)
    rc = ke_share_seal(s->sealed, pass, passlen, s->salt, s->nonce, kdf, fpr, index, d);
  return rc;
}

ke_rc ke_sharefile_unseal(ke_scalar *d, const ke_sharefile *s, const char *pass, size_t passlen)
{
  return ke_share_unseal(d, s->sealed, KE_SHARE_SEALED_LEN, pass, passlen, s->salt, s->nonce,
                         s->kdf, s->fingerprint, s->index);
}

/* ---- request file ------------------------------------------------------------ */
/* A signed request has "requester" too; a file without it is a request
 * made offline, or by a version before it (the same list from its second
 * entry). */
static const char *const request_fields_signed[] = {"requester",
                                                    "version",
                                                    "request_id",
                                                    "device",
                                                    "volume",
                                                    "fingerprint",
                                                    "threshold",
                                                    "shares",
                                                    "commitments",
                                                    "R",
                                                    "E",
                                                    "envelope",
                                                    "envelope_sha256",
                                                    "confirmation_code",
                                                    "created",
                                                    NULL};
static const char *const *const request_fields = request_fields_signed + 1;

/* The values a request repeats from its envelope, the key they follow from
 * and the code derived from them must agree; a custodian answers for the
 * envelope's R only.  The requester's statement (signature, volume) is
 * checked by the parser (check_sig), not by the writer: a server writes
 * what it stored, and it is the reader who must not be fooled. */
static ke_rc request_consistent(const ke_request *r, int check_sig, ke_ferr *err)
{
  const char *ctx = "request";
  ke_envelope env;
  uint8_t digest[32];
  char code[KE_SAS_LEN + 1];
  ke_rc rc = ke_envelope_parse(&env, r->envelope, r->envelope_len);
  if (rc)
    return kf_err(err, rc, "%s: field \"envelope\": %s", ctx, ke_rc_str(rc));
  if ((rc = ke_envelope_sha256(digest, r->envelope, r->envelope_len)))
    return kf_err(err, rc, "%s: %s", ctx, ke_rc_str(rc));
  if (memcmp(digest, r->envelope_sha256, sizeof digest) != 0)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"envelope_sha256\": is not the "
                  "SHA-256 of the envelope",
                  ctx);
  if (memcmp(r->pub.fingerprint, r->fingerprint, KE_FPR_LEN) != 0)
    return kf_err(err, KE_ERR_FINGERPRINT,
                  "%s: field \"fingerprint\": does not match "
                  "threshold, shares and commitments",
                  ctx);
  if (memcmp(env.R.b, r->R.b, KE_POINT_LEN) != 0)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"R\": is not the R inside the "
                  "envelope",
                  ctx);
  if (memcmp(env.fingerprint, r->fingerprint, KE_FPR_LEN) != 0)
    return kf_err(err, KE_ERR_FINGERPRINT,
                  "%s: field \"fingerprint\": is not the "
                  "envelope's escrow key fingerprint",
                  ctx);
  ke_sas(code, r->request_id, &r->E, &r->R);
  if (strcmp(code, r->code) != 0)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"confirmation_code\": does not "
                  "follow from request_id, E and R",
                  ctx);
  if (r->has_requester && check_sig) {
    if (r->requester.volume[0] && strcmp(r->requester.volume, r->volume) != 0)
      return kf_err(err, KE_ERR_FORMAT,
                    "%s: field \"requester\": the signed volume is not "
                    "the request's",
                    ctx);
    /* The point of the member: E (and the id) cannot change without the
     * requester's key. */
    if (!ke_retrieval_verify(&r->requester, r->request_id, r->E.b))
      return kf_err(err, KE_ERR_AUTH,
                    "%s: field \"requester\": the signature does not "
                    "verify over this request id and E with the requester's public_key",
                    ctx);
  }
  return KE_OK;
}

ke_rc ke_request_parse(ke_request *r, const char *json, size_t len, ke_ferr *err)
{
  const char *ctx = "request";
  json_t *root = NULL;
  memset(r, 0, sizeof *r);
  ke_rc rc = kf_load(&root, json, len, ctx, err);
  if (!rc) {
    r->has_requester = json_object_get(root, "requester") != NULL;
    rc = kf_header(root, ctx, r->has_requester ? request_fields_signed : request_fields, err);
  }
  if (!rc && r->has_requester)
    rc = kf_requester_parse(&r->requester, json_object_get(root, "requester"), err);
  if (!rc)
    rc = kf_id(r->request_id, root, "request_id", ctx, err);
  if (!rc)
    rc = kf_label(r->device, root, "device", KE_LABEL_MAX, ctx, err);
  if (!rc)
    rc = kf_label(r->volume, root, "volume", KE_LABEL_MAX, ctx, err);
  if (!rc)
    rc = kf_hex(r->fingerprint, KE_FPR_LEN, root, "fingerprint", ctx, err);
  if (!rc)
    rc = escrow_pub_from_json(&r->pub, root, ctx, err);
  if (!rc)
    rc = kf_point(&r->R, root, "R", ctx, err);
  if (!rc)
    rc = kf_point(&r->E, root, "E", ctx, err);
  if (!rc)
    rc = kf_b64_var(r->envelope, &r->envelope_len, KE_ENV_HDR_LEN + KE_SECRET_MIN + KE_TAG_LEN,
                    KE_ENV_MAX_LEN, root, "envelope", ctx, err);
  if (!rc)
    rc = kf_hex(r->envelope_sha256, sizeof r->envelope_sha256, root, "envelope_sha256", ctx, err);
  if (!rc)
    rc = kf_str(r->code, sizeof r->code, root, "confirmation_code", ctx, err);
  if (!rc)
    rc = kf_time(r->created, root, "created", ctx, err);
  if (!rc)
    rc = request_consistent(r, 1, err);
  json_decref(root);
  return rc;
}

ke_rc ke_request_write(char **out, size_t *outlen, const ke_request *r)
{
  char fpr[2 * KE_FPR_LEN + 1], digest[2 * 32 + 1];
  ke_escrow_pub pub;
  /* pub must be what its commitments say, as a parser would rebuild it. */
  if (!ke_id_valid(r->request_id) || !ke_label_valid(r->device, KE_LABEL_MAX) ||
      !ke_label_valid(r->volume, KE_LABEL_MAX) || !ke_time_valid(r->created) ||
      r->envelope_len > KE_ENV_MAX_LEN ||
      ke_escrow_pub_from_commitments(&pub, r->pub.t, r->pub.n, r->pub.commitments) ||
      memcmp(&pub, &r->pub, sizeof pub) != 0 || request_consistent(r, 0, NULL))
    return KE_ERR_FORMAT;
  ke_hex_encode(fpr, r->fingerprint, KE_FPR_LEN);
  ke_hex_encode(digest, r->envelope_sha256, sizeof r->envelope_sha256);
  json_t *root = json_object();
  int bad = !root;
  bad |= kf_set(root, "version", json_integer(KE_FILE_VERSION));
  bad |= kf_set(root, "request_id", json_string(r->request_id));
  bad |= kf_set(root, "device", json_string(r->device));
  bad |= kf_set(root, "volume", json_string(r->volume));
  bad |= kf_set(root, "fingerprint", json_string(fpr));
  bad |= escrow_pub_to_json(root, &r->pub, 0);
  bad |= kf_set(root, "R", kf_b64(r->R.b, KE_POINT_LEN));
  bad |= kf_set(root, "E", kf_b64(r->E.b, KE_POINT_LEN));
  bad |= kf_set(root, "envelope", kf_b64(r->envelope, r->envelope_len));
  bad |= kf_set(root, "envelope_sha256", json_string(digest));
  bad |= kf_set(root, "confirmation_code", json_string(r->code));
  bad |= kf_set(root, "created", json_string(r->created));
  if (r->has_requester)
    bad |= kf_set(root, "requester", kf_requester_json(&r->requester));
  ke_rc rc = bad ? KE_ERR_NOMEM : kf_dump(root, out, outlen);
  json_decref(root);
  return rc;
}

/* ---- requester one-time key --------------------------------------------------- */
static const char *const reqkey_fields[] = {"version", "request_id", "E", "e", NULL};

ke_rc ke_reqkey_parse(ke_reqkey *k, const char *json, size_t len, ke_ferr *err)
{
  const char *ctx = "requester key";
  json_t *root = NULL;
  uint8_t eb[KE_SCALAR_LEN];
  ke_point E2;
  ke_rc rc = kf_load(&root, json, len, ctx, err);
  if (!rc)
    rc = kf_header(root, ctx, reqkey_fields, err);
  if (!rc)
    rc = kf_id(k->request_id, root, "request_id", ctx, err);
  if (!rc)
    rc = kf_point(&k->E, root, "E", ctx, err);
  if (!rc)
    rc = kf_b64_fixed(eb, sizeof eb, root, "e", ctx, err);
  if (!rc && (rc = ke_scalar_parse(&k->e, eb, sizeof eb)))
    kf_err(err, rc, "%s: field \"e\": %s", ctx, ke_rc_str(rc));
  if (!rc && (rc = ke_point_mul_base(&E2, &k->e)))
    kf_err(err, rc, "%s: field \"e\": %s", ctx, ke_rc_str(rc));
  if (!rc && memcmp(E2.b, k->E.b, KE_POINT_LEN) != 0)
    rc = kf_err(err, KE_ERR_FORMAT, "%s: field \"e\": is not the private key of E", ctx);
  ke_wipe(eb, sizeof eb);
  if (rc)
    ke_wipe(&k->e, sizeof k->e);
  kf_wipe_string(json_object_get(root, "e"));
  json_decref(root);
  return rc;
}

ke_rc ke_reqkey_write(char **out, size_t *outlen, const ke_reqkey *k)
{
  /* Built by hand rather than through jansson, so that the only copies of
   * the encoded secret are in memory this function wipes or hands over. */
  static const char fmt[] = "{\n  \"version\": %d,\n  \"request_id\": \"%s\",\n"
                            "  \"E\": \"%s\",\n  \"e\": \"%s\"\n}\n";
  if (!ke_id_valid(k->request_id))
    return KE_ERR_FORMAT;
  char *E = ke_b64url_encode(k->E.b, KE_POINT_LEN);
  char *e = ke_b64url_encode(k->e.b, KE_SCALAR_LEN);
  ke_rc rc = KE_ERR_NOMEM;
  size_t cap = sizeof fmt + KE_ID_MAX + 2 * 64;
  char *buf = (E && e) ? ke_secure_alloc(cap) : NULL;
  if (buf) {
    int n = snprintf(buf, cap, fmt, KE_FILE_VERSION, k->request_id, E, e);
    if (n > 0 && (size_t)n < cap) {
      *out = buf;
      *outlen = (size_t)n;
      buf = NULL;
      rc = KE_OK;
    } else {
      rc = KE_ERR_INTERNAL;
    }
  }
  ke_secure_free(buf, cap);
  if (e) {
    ke_wipe(e, strlen(e));
    free(e);
  }
  free(E);
  return rc;
}

/* ---- part file ------------------------------------------------------------------ */
static const char *const part_fields[] = {"version", "request_id", "index", "part", NULL};

ke_rc ke_partfile_parse(ke_partfile *p, const char *json, size_t len, ke_ferr *err)
{
  const char *ctx = "part file";
  json_t *root = NULL;
  ke_point re;
  ke_rc rc = kf_load(&root, json, len, ctx, err);
  if (!rc)
    rc = kf_header(root, ctx, part_fields, err);
  if (!rc)
    rc = kf_id(p->request_id, root, "request_id", ctx, err);
  if (!rc)
    rc = kf_uint(&p->index, root, "index", 1, KE_MAX_SHARES, ctx, err);
  if (!rc)
    rc = kf_b64_fixed(p->part, KE_PART_LEN, root, "part", ctx, err);
  if (!rc && memcmp(p->part, "KP\x01", 3) != 0)
    rc = kf_err(err, KE_ERR_FORMAT, "%s: field \"part\": not a version-1 part", ctx);
  /* The ephemeral point is checked here too, for a clear early error. */
  if (!rc && (rc = ke_point_parse(&re, p->part + 3, KE_POINT_LEN)))
    kf_err(err, rc, "%s: field \"part\": invalid point", ctx);
  json_decref(root);
  return rc;
}

unsigned ke_partfile_index_hint(const char *json, size_t len)
{
  json_t *root = NULL;
  unsigned index = 0;
  if (kf_load(&root, json, len, "part file", NULL) == KE_OK) {
    json_t *v = json_object_get(root, "index");
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= KE_MAX_SHARES)
      index = (unsigned)json_integer_value(v);
  }
  json_decref(root);
  return index;
}

ke_rc ke_partfile_write(char **out, size_t *outlen, const ke_partfile *p)
{
  if (!ke_id_valid(p->request_id) || p->index < 1 || p->index > KE_MAX_SHARES)
    return KE_ERR_FORMAT;
  json_t *root = json_object();
  int bad = !root;
  bad |= kf_set(root, "version", json_integer(KE_FILE_VERSION));
  bad |= kf_set(root, "request_id", json_string(p->request_id));
  bad |= kf_set(root, "index", json_integer(p->index));
  bad |= kf_set(root, "part", kf_b64(p->part, KE_PART_LEN));
  ke_rc rc = bad ? KE_ERR_NOMEM : kf_dump(root, out, outlen);
  json_decref(root);
  return rc;
}
