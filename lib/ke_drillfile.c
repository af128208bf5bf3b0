/*
 * ke_drillfile.c - drill and batch files of the offline drill round trip
 * (ke_drillfile.h, docs/protocol.md section 9.7).  The field getters are
 * ke_files' (ke_files_int.h), so the rules and error texts are those of the
 * request file; the escrow key is a whole manifest, parsed by
 * ke_manifest_parse, because a custodian needs its names too.
 */
#include <stdlib.h>
#include <string.h>

#include "ke_drillfile.h"
#include "ke_files_int.h"
#include "ke_json.h"

static const char *const drill_fields[] = {
  "version",    "drill_id", "auditor",   "selection", "mode",        "expires", "E",
  "escrow_key", "records",  "statement", "signature", "auditor_key", NULL};
static const char *const rec_fields[] = {"record_id",       "device", "volume", "envelope",
                                         "envelope_sha256", "R",      NULL};
static const char *const batch_fields[] = {"version", "drill_id", "index", "parts", NULL};
static const char *const part_fields[] = {"record_id", "part", NULL};

static ke_rc df_drill_id(char out[KE_DRILL_ID_LEN + 1], json_t *root, const char *ctx, ke_ferr *err)
{
  ke_rc rc = kf_str(out, KE_DRILL_ID_LEN + 1, root, "drill_id", ctx, err);
  if (!rc && !ke_drill_id_ok(out))
    rc = kf_err(err, KE_ERR_FORMAT, "%s: field \"drill_id\": not a drill id", ctx);
  return rc;
}

static ke_rc df_array(json_t **arr, json_t *root, const char *key, const char *ctx, ke_ferr *err)
{
  *arr = json_object_get(root, key);
  if (!json_is_array(*arr) || json_array_size(*arr) == 0 ||
      json_array_size(*arr) > KE_DRILLFILE_RECORDS_MAX)
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"%s\": must be an array of 1..%d entries", ctx,
                  key, KE_DRILLFILE_RECORDS_MAX);
  return KE_OK;
}

/* Record ids are distinct: the server takes one part per record. */
static int df_cmp_id(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static ke_rc df_distinct(const char *base, size_t stride, size_t n, const char *ctx, ke_ferr *err)
{
  const char **ids = calloc(n, sizeof *ids);
  ke_rc rc = KE_OK;
  if (!ids)
    return KE_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    ids[i] = base + i * stride;
  qsort(ids, n, sizeof *ids, df_cmp_id);
  for (size_t i = 1; i < n && !rc; i++)
    if (strcmp(ids[i - 1], ids[i]) == 0)
      rc = kf_err(err, KE_ERR_FORMAT, "%s: a record_id appears twice", ctx);
  free(ids);
  return rc;
}

/* The envelope parses, its R is the record's, its escrow key is the drill's,
 * its SHA-256 is the listed one. */
static ke_rc df_rec_consistent(const ke_drillfile_rec *r, const uint8_t fpr[KE_FPR_LEN],
                               const char *ctx, ke_ferr *err)
{
  ke_envelope env;
  uint8_t digest[32];
  if (ke_envelope_parse(&env, r->envelope, r->envelope_len) != KE_OK)
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"envelope\": not an envelope", ctx);
  if (!ke_ct_eq(env.R.b, r->R.b, KE_POINT_LEN))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"R\": not the envelope's R", ctx);
  if (!ke_ct_eq(env.fingerprint, fpr, KE_FPR_LEN))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"envelope\": under another escrow key", ctx);
  if (ke_envelope_sha256(digest, r->envelope, r->envelope_len) != KE_OK ||
      !ke_ct_eq(digest, r->envelope_sha256, sizeof digest))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"envelope_sha256\": not the envelope's", ctx);
  return KE_OK;
}

static ke_rc df_record(ke_drillfile_rec *r, json_t *o, const ke_drillfile *d, size_t i,
                       ke_ferr *err)
{
  char ctx[64], pid[KE_DRILL_PART_ID_MAX];
  snprintf(ctx, sizeof ctx, "drill file: \"records\"[%zu]", i);
  if (!json_is_object(o))
    return kf_err(err, KE_ERR_FORMAT, "%s: must be an object", ctx);
  ke_rc rc = kf_fields(o, ctx, rec_fields, err);
  if (!rc)
    rc = kf_id(r->record_id, o, "record_id", ctx, err);
  if (!rc && !ke_drill_part_id(pid, d->drill_id, r->record_id))
    rc = kf_err(err, KE_ERR_FORMAT, "%s: field \"record_id\": too long for a drill", ctx);
  if (!rc)
    rc = kf_label(r->device, o, "device", KE_LABEL_MAX, ctx, err);
  if (!rc)
    rc = kf_label(r->volume, o, "volume", KE_LABEL_MAX, ctx, err);
  if (!rc)
    rc = kf_b64_var(r->envelope, &r->envelope_len, KE_ENV_HDR_LEN + KE_SECRET_MIN + KE_TAG_LEN,
                    KE_ENV_MAX_LEN, o, "envelope", ctx, err);
  if (!rc)
    rc = kf_hex(r->envelope_sha256, sizeof r->envelope_sha256, o, "envelope_sha256", ctx, err);
  if (!rc)
    rc = kf_point(&r->R, o, "R", ctx, err);
  if (!rc)
    rc = df_rec_consistent(r, d->escrow_key.pub.fingerprint, ctx, err);
  return rc;
}

/* The statement is the one the file's fields make, and it is signed by
 * the listed key. */
static ke_rc df_statement(const ke_drillfile *d, const char *ctx, ke_ferr *err)
{
  ke_drill_recref *refs = calloc(d->nrec, sizeof *refs);
  char stmt[KE_DRILL_SIGNED_MAX], hex[65], *e64 = NULL;
  uint8_t h[32];
  size_t n = 0;

  if (!refs)
    return KE_ERR_NOMEM;
  for (size_t i = 0; i < d->nrec; i++) {
    refs[i].record_id = d->rec[i].record_id;
    refs[i].envelope_sha256 = d->rec[i].envelope_sha256;
  }
  if (ke_drill_records_digest(h, refs, d->nrec) == 0 &&
      (e64 = ke_b64url_encode(d->E.b, KE_POINT_LEN))) {
    ke_hex_encode(hex, h, sizeof h);
    n = ke_drill_signed_statement(stmt, d->drill_id, d->selection, d->mode, e64, d->nrec, hex,
                                  d->expires);
  }
  free(refs);
  free(e64);
  if (!n || strcmp(stmt, d->statement) != 0)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"statement\": not the statement of this "
                  "drill's selection, mode, E, expiry and records",
                  ctx);
  if (!ke_drill_signature_ok(d->auditor_key, stmt, n, d->signature))
    return kf_err(err, KE_ERR_AUTH,
                  "%s: field \"signature\": does not verify with "
                  "\"auditor_key\"",
                  ctx);
  return KE_OK;
}

static ke_rc df_manifest(ke_manifest *m, json_t *root, const char *ctx, ke_ferr *err)
{
  json_t *v = json_object_get(root, "escrow_key");
  char *text = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
  ke_rc rc;
  if (!text)
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"escrow_key\": must be a manifest", ctx);
  rc = ke_manifest_parse(m, text, strlen(text), err);
  free(text);
  return rc;
}

ke_rc ke_drillfile_parse(ke_drillfile *d, const char *json, size_t len, ke_ferr *err)
{
  const char *ctx = "drill file";
  json_t *root = NULL, *recs = NULL;
  memset(d, 0, sizeof *d);
  ke_rc rc = kf_load_max(&root, json, len, KE_DRILLFILE_MAX, ctx, err);
  if (!rc)
    rc = kf_header(root, ctx, drill_fields, err);
  if (!rc)
    rc = df_drill_id(d->drill_id, root, ctx, err);
  if (!rc)
    rc = kf_label(d->auditor, root, "auditor", KE_DRILLFILE_AUDITOR_MAX, ctx, err);
  if (!rc)
    rc = kf_str(d->selection, sizeof d->selection, root, "selection", ctx, err);
  if (!rc)
    rc = kf_str(d->mode, sizeof d->mode, root, "mode", ctx, err);
  if (!rc)
    rc = kf_str(d->expires, sizeof d->expires, root, "expires", ctx, err);
  if (!rc)
    rc = kf_str(d->statement, sizeof d->statement, root, "statement", ctx, err);
  if (!rc)
    rc = kf_b64_fixed(d->signature, sizeof d->signature, root, "signature", ctx, err);
  if (!rc)
    rc = kf_b64_fixed(d->auditor_key, sizeof d->auditor_key, root, "auditor_key", ctx, err);
  if (!rc)
    rc = kf_point(&d->E, root, "E", ctx, err);
  if (!rc)
    rc = df_manifest(&d->escrow_key, root, ctx, err);
  if (!rc)
    rc = df_array(&recs, root, "records", ctx, err);
  if (!rc && !(d->rec = calloc(json_array_size(recs), sizeof *d->rec)))
    rc = KE_ERR_NOMEM;
  for (size_t i = 0; !rc && i < json_array_size(recs); i++) {
    d->nrec = i + 1;
    rc = df_record(&d->rec[i], json_array_get(recs, i), d, i, err);
  }
  if (!rc)
    rc = df_distinct(d->rec[0].record_id, sizeof *d->rec, d->nrec, ctx, err);
  if (!rc)
    rc = df_statement(d, ctx, err);
  json_decref(root);
  if (rc)
    ke_drillfile_free(d);
  return rc;
}

void ke_drillfile_free(ke_drillfile *d)
{
  free(d->rec);
  memset(d, 0, sizeof *d);
}

static json_t *df_hexstr(const uint8_t *b, size_t len)
{
  char hex[2 * 32 + 1];
  if (len > 32)
    return NULL;
  ke_hex_encode(hex, b, len);
  return json_string(hex);
}

ke_rc ke_drillfile_write(char **out, size_t *outlen, const ke_drillfile *d)
{
  char *mtext = NULL, pid[KE_DRILL_PART_ID_MAX];
  size_t mlen = 0;
  json_t *root = NULL, *recs = json_array(), *m = NULL;
  ke_rc rc = KE_ERR_FORMAT;

  if (!ke_drill_id_ok(d->drill_id) || !ke_label_valid(d->auditor, KE_DRILLFILE_AUDITOR_MAX) ||
      d->nrec == 0 || d->nrec > KE_DRILLFILE_RECORDS_MAX || !recs ||
      ke_manifest_write(&mtext, &mlen, &d->escrow_key) != KE_OK ||
      !(m = json_loadb(mtext, mlen, JSON_REJECT_DUPLICATES, NULL)))
    goto out;
  for (size_t i = 0; i < d->nrec; i++) {
    const ke_drillfile_rec *r = &d->rec[i];
    json_t *o = json_object();
    int bad = !o || json_array_append_new(recs, o);
    if (bad || !ke_id_valid(r->record_id) || !ke_drill_part_id(pid, d->drill_id, r->record_id) ||
        !ke_label_valid(r->device, KE_LABEL_MAX) || !ke_label_valid(r->volume, KE_LABEL_MAX) ||
        r->envelope_len > KE_ENV_MAX_LEN ||
        df_rec_consistent(r, d->escrow_key.pub.fingerprint, "", NULL))
      goto out;
    bad |= kf_set(o, "record_id", json_string(r->record_id));
    bad |= kf_set(o, "device", json_string(r->device));
    bad |= kf_set(o, "volume", json_string(r->volume));
    bad |= kf_set(o, "envelope", kf_b64(r->envelope, r->envelope_len));
    bad |= kf_set(o, "envelope_sha256", df_hexstr(r->envelope_sha256, 32));
    bad |= kf_set(o, "R", kf_b64(r->R.b, KE_POINT_LEN));
    if (bad) {
      rc = KE_ERR_NOMEM;
      goto out;
    }
  }
  if (df_distinct(d->rec[0].record_id, sizeof *d->rec, d->nrec, "", NULL) ||
      df_statement(d, "", NULL))
    goto out;
  rc = KE_ERR_NOMEM;
  if (!(root = json_object()))
    goto out;
  int bad = kf_set(root, "version", json_integer(KE_FILE_VERSION));
  bad |= kf_set(root, "drill_id", json_string(d->drill_id));
  bad |= kf_set(root, "auditor", json_string(d->auditor));
  bad |= kf_set(root, "selection", json_string(d->selection));
  bad |= kf_set(root, "mode", json_string(d->mode));
  bad |= kf_set(root, "expires", json_string(d->expires));
  bad |= kf_set(root, "E", kf_b64(d->E.b, KE_POINT_LEN));
  bad |= kf_set(root, "escrow_key", m);
  m = NULL;
  bad |= kf_set(root, "records", recs);
  recs = NULL;
  bad |= kf_set(root, "statement", json_string(d->statement));
  bad |= kf_set(root, "signature", kf_b64(d->signature, sizeof d->signature));
  bad |= kf_set(root, "auditor_key", kf_b64(d->auditor_key, sizeof d->auditor_key));
  if (!bad)
    rc = kf_dump_max(root, 2 * KE_DRILLFILE_MAX, out, outlen);
out:
  free(mtext);
  json_decref(m);
  json_decref(recs);
  json_decref(root);
  return rc;
}

/* ---- batch file ---------------------------------------------------------------- */
ke_rc ke_drillbatch_parse(ke_drillbatch *b, const char *json, size_t len, ke_ferr *err)
{
  const char *ctx = "batch file";
  json_t *root = NULL, *parts = NULL;
  memset(b, 0, sizeof *b);
  ke_rc rc = kf_load_max(&root, json, len, KE_DRILLFILE_MAX, ctx, err);
  if (!rc)
    rc = kf_header(root, ctx, batch_fields, err);
  if (!rc)
    rc = df_drill_id(b->drill_id, root, ctx, err);
  if (!rc)
    rc = kf_uint(&b->index, root, "index", 1, KE_MAX_SHARES, ctx, err);
  if (!rc)
    rc = df_array(&parts, root, "parts", ctx, err);
  if (!rc && !(b->parts = calloc(json_array_size(parts), sizeof *b->parts)))
    rc = KE_ERR_NOMEM;
  for (size_t i = 0; !rc && i < json_array_size(parts); i++) {
    json_t *o = json_array_get(parts, i);
    char pctx[64], pid[KE_DRILL_PART_ID_MAX];
    snprintf(pctx, sizeof pctx, "batch file: \"parts\"[%zu]", i);
    b->nparts = i + 1;
    if (!json_is_object(o))
      rc = kf_err(err, KE_ERR_FORMAT, "%s: must be an object", pctx);
    if (!rc)
      rc = kf_fields(o, pctx, part_fields, err);
    if (!rc)
      rc = kf_id(b->parts[i].record_id, o, "record_id", pctx, err);
    if (!rc && !ke_drill_part_id(pid, b->drill_id, b->parts[i].record_id))
      rc = kf_err(err, KE_ERR_FORMAT, "%s: field \"record_id\": too long for a drill", pctx);
    if (!rc)
      rc = kf_b64_fixed(b->parts[i].part, KE_PART_LEN, o, "part", pctx, err);
  }
  if (!rc)
    rc = df_distinct(b->parts[0].record_id, sizeof *b->parts, b->nparts, ctx, err);
  json_decref(root);
  if (rc)
    ke_drillbatch_free(b);
  return rc;
}

ke_rc ke_drillbatch_write(char **out, size_t *outlen, const ke_drillbatch *b)
{
  char pid[KE_DRILL_PART_ID_MAX];
  json_t *root = NULL, *parts = json_array();
  ke_rc rc = KE_ERR_FORMAT;

  if (!ke_drill_id_ok(b->drill_id) || b->index < 1 || b->index > KE_MAX_SHARES || b->nparts == 0 ||
      b->nparts > KE_DRILLFILE_RECORDS_MAX || !parts ||
      df_distinct(b->parts[0].record_id, sizeof *b->parts, b->nparts, "", NULL))
    goto out;
  for (size_t i = 0; i < b->nparts; i++) {
    json_t *o = json_object();
    int bad = !o || json_array_append_new(parts, o);
    if (bad || !ke_id_valid(b->parts[i].record_id) ||
        !ke_drill_part_id(pid, b->drill_id, b->parts[i].record_id))
      goto out;
    bad |= kf_set(o, "record_id", json_string(b->parts[i].record_id));
    bad |= kf_set(o, "part", kf_b64(b->parts[i].part, KE_PART_LEN));
    if (bad) {
      rc = KE_ERR_NOMEM;
      goto out;
    }
  }
  rc = KE_ERR_NOMEM;
  if (!(root = json_object()))
    goto out;
  int bad = kf_set(root, "version", json_integer(KE_FILE_VERSION));
  bad |= kf_set(root, "drill_id", json_string(b->drill_id));
  bad |= kf_set(root, "index", json_integer(b->index));
  bad |= kf_set(root, "parts", parts);
  parts = NULL;
  if (!bad)
    rc = kf_dump_max(root, 2 * KE_DRILLFILE_MAX, out, outlen);
out:
  json_decref(parts);
  json_decref(root);
  return rc;
}

void ke_drillbatch_free(ke_drillbatch *b)
{
  free(b->parts);
  memset(b, 0, sizeof *b);
}
