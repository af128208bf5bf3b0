/*
 * escrowctl retrieve - the helpdesk side of an online retrieval
 * (docs/protocol.md, "Online retrieval").
 *
 * Generates the one-time key e (locked memory; written only with
 * --key-out), signs the request with the client key, creates it, prints
 * the confirmation code, waits on the long-poll with a progress line,
 * fetches the parts, checks each exactly as `escrowctl open` does
 * (ctl_open.h), names bad custodians, and prints the recovery key.
 *
 * Before it prints the confirmation code (and before a resumed wait), the
 * record must be one the helpdesk can trust: its escrow key has a pinned
 * fingerprint (ctl_escrow_pin.h) and its escrow.store event is proven in the
 * audit log, consistently with the checkpoint this client saved
 * (ctl_logview.h).  A refused request stays on the server until it expires,
 * but without its code no custodian approves it, and its one-time key is
 * wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_approve.h"
#include "ctl_cmd.h"
#include "ctl_escrow_pin.h"
#include "ctl_http.h"
#include "ctl_logview.h"
#include "ctl_open.h"
#include "ke_bitlocker.h"
#include "ke_crypto.h"
#include "ke_note.h"
#include "ke_retrieval.h"
#include "ke_util.h"

const char ctl_usage_retrieve[] =
  "usage: escrowctl retrieve (--device NAME | --key-id PREFIX | --record ID) [--volume V]\n"
  "                          --reason TEXT --ticket REF [--wait] [--key-out FILE]\n"
  "                          [--request-out FILE] [--out FILE] [--raw]\n"
  "                          [--client-key FILE] [--escrow-fingerprint HEX]\n"
  "                          [--log-key VKEY] [--witness-key VKEY]\n"
  "       escrowctl retrieve --request REQ --key KEY [--out FILE] [--raw]\n"
  "\n"
  "Asks the custodians for the recovery key of one escrow record: by device\n"
  "(its id or hostname; --volume when it has several) or by a prefix of the\n"
  "Key ID (a BitLocker recovery screen shows 8 digits).  Prints the request id\n"
  "and the confirmation code, which each custodian must hear from you before\n"
  "approving.  With --wait, waits for the parts (a progress line on stderr),\n"
  "checks each (a bad part is named by its custodian index and skipped),\n"
  "opens the envelope and prints the recovery key on stdout for a person to\n"
  "read: a BitLocker key as 8 groups of 6 digits, text with a newline, a binary\n"
  "key in hex.  --out FILE and --raw write exactly the escrowed bytes instead\n"
  "(no newline, no hex: a LUKS passphrase or key file as it was escrowed).\n"
  "\n"
  "A device or Key ID names the volume's current record.  An older key (a\n"
  "restored disk image, a second protector) is asked for by its record id\n"
  "(--record, from `escrowctl device show` or the console's history): the\n"
  "signed request names that record, and every custodian is shown that it is\n"
  "an older one (policy custodians decline it unless their policy allows it).\n"
  "\n"
  "The one-time key that opens the parts lives in locked memory only; without\n"
  "--wait it must be kept with --key-out and --request-out; the second form\n"
  "resumes the wait with them.\n"
  "\n"
  "  --device NAME        device id or hostname\n"
  "  --volume V           the volume id, when the device has several\n"
  "  --key-id PREFIX      a Key ID prefix (at least 4 characters)\n"
  "  --record ID          one record by its id (rec-...), current or older\n"
  "  --reason TEXT        why (shown to custodians, audited)\n"
  "  --ticket REF         the helpdesk ticket\n"
  "  --wait               wait for the parts and open\n"
  "  --key-out FILE       also write the one-time key file (mode 0600)\n"
  "  --request-out FILE   also write the request file\n"
  "  --out FILE           write exactly the escrowed bytes to FILE (0600, never\n"
  "                       overwritten) instead of stdout\n"
  "  --raw                write exactly the escrowed bytes to stdout too\n"
  "  --client-key FILE    the client key (default: as for `key register`)\n"
  "  --request REQ, --key KEY   resume: the request file and one-time key file\n"
  "                       written by --request-out and --key-out\n"
  "  --escrow-fingerprint HEX   refuse a record under another escrow key (default:\n"
  "                       $ESCROWCTL_ESCROW_FINGERPRINT, else the fingerprints\n"
  "                       pinned by `escrowctl escrow-key pin`)\n"
  "  --log-key VKEY       the audit log's verifier key (as for `approve`); the\n"
  "                       record's escrow event must be in the log\n"
  "  --witness-key VKEY   require the log checkpoint to be cosigned by this\n"
  "                       witness (default: $ESCROWCTL_WITNESS_KEY, else the keys in\n"
  "                       <config dir>/audit-witness-keys; none: no witness)\n"
  "  --server URL, --cacert PEM, --pin-sha256 B64   as for every online command\n"
  "\n"
  "exit status: 0 opened (or created, without --wait), 1 refused or the\n"
  "request expired, 3 not enough good parts, 4/5 network or authentication.\n";

typedef struct ret_opts {
  ctl_http_target t;
  const char *device, *volume, *key_id, *record, *reason, *ticket, *key_out, *req_out, *out, *ckey;
  const char *resume_req, *resume_key, *escrow_fpr, *log_key;
  int wait, raw;
} ret_opts;

enum { O_WITNESS = 256 };

static int on_opt(void *ctx, int opt, const char *arg)
{
  ret_opts *o = ctx;
  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  switch (opt) {
    case O_WITNESS: ctl_logview_set_witness(arg); return CTL_OK;
  }
  return CTL_USAGE;
}

/* The signed body of POST /v1/retrievals: the statement (ke_retrieval.h)
 * over the request id, the record's name, E, reason, ticket and a nonce,
 * signed with the client key ck. */
static int sign_body(const ret_opts *o, const ke_reqkey *key, const ke_note_key *ck,
                     const char *e64, json_t **body)
{
  char stmt[KE_RETRIEVAL_STMT_MAX], *n64 = NULL, *s64 = NULL;
  uint8_t nonce[16], sig[KE_NOTE_SIG_LEN];
  int rc = CTL_FAIL;
  size_t n;

  if (ke_random(nonce, sizeof nonce) != KE_OK || !(n64 = ke_b64url_encode(nonce, sizeof nonce)))
    goto out;
  ke_retrieval_fields f = {key->request_id, o->device, o->volume, o->key_id, e64,
                           o->reason,       o->ticket, n64,       o->record};
  if (!(n = ke_retrieval_statement(stmt, &f))) {
    rc = ctl_err(CTL_USAGE, "--reason, --ticket, --device, --volume and --key-id may not hold "
                            "control characters");
    goto out;
  }
  if (ke_note_key_sign_raw(ck, (const uint8_t *)stmt, n, sig) != KE_OK ||
      !(s64 = ke_b64url_encode(sig, sizeof sig)))
    goto out;
  *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "request_id", key->request_id, "E", e64, "reason",
                    o->reason, "ticket", o->ticket, "nonce", n64, "signature", s64);
  if (!*body || (o->device && json_object_set_new(*body, "device", json_string(o->device))) ||
      (o->volume && json_object_set_new(*body, "volume", json_string(o->volume))) ||
      (o->key_id && json_object_set_new(*body, "key_id", json_string(o->key_id))) ||
      (o->record && json_object_set_new(*body, "record", json_string(o->record)))) {
    rc = ctl_err(CTL_USAGE, "an option is not valid UTF-8");
    goto out;
  }
  rc = CTL_OK;
out:
  free(n64);
  free(s64);
  return rc;
}

/* POST the request; a refusal is reported, with the candidates of the 409
 * of an ambiguous name. */
static int post_request(ctl_http *h, const json_t *body, json_t **ans)
{
  long status = 0;
  int rc;
  if ((rc = ctl_http_call_status(h, "POST", "/v1/retrievals", body, &status, ans)))
    return rc;
  if (status >= 200 && status <= 299)
    return CTL_OK;
  json_t *c = json_object_get(json_object_get(*ans, "error"), "candidates"), *v;
  size_t i;
  rc = ctl_http_report(h, status, *ans);
  json_array_foreach (c, i, v)
    ctl_notef("  candidate: device %s (%s) volume %s  %s Key ID %s  [%s]",
              ctl_jstr(v, "device_id") ?: "?", ctl_jstr(v, "hostname") ?: "?",
              ctl_jstr(v, "volume_id") ?: "?", ctl_jstr(v, "key_type") ?: "?",
              ctl_jstr(v, "key_id") ?: "?", ctl_jstr(v, "state") ?: "?");
  return rc;
}

/* The request file the server made of it: it must verify, be ours (id and
 * one-time key) and carry our signature, which custodians check: without
 * it none of them would (or should) answer. */
static int check_answer(const json_t *ans, const ke_reqkey *key, const ke_note_key *ck,
                        ke_request *r)
{
  char *text = json_dumps(json_object_get(ans, "request"), JSON_COMPACT);
  ke_ferr ferr;
  ke_note_verifier v;
  int ok = text && ke_request_parse(r, text, strlen(text), &ferr) == KE_OK;

  if (!ok)
    ctl_errf("the server's request file does not verify (%s)", text ? ferr.msg : "missing");
  free(text);
  if (!ok)
    return CTL_NET;
  if (strcmp(r->request_id, key->request_id) != 0 || !ke_ct_eq(r->E.b, key->E.b, KE_POINT_LEN))
    return ctl_err(CTL_FAIL, "the server answered with another request id or one-time key: "
                             "refusing");
  ke_note_key_verifier(ck, &v);
  if (!r->has_requester || !ke_ct_eq(r->requester.public_key, v.pub, KE_RETRIEVAL_PUB_LEN))
    return ctl_err(CTL_FAIL, "the server's request file does not carry your signature: refusing");
  return CTL_OK;
}

/* Sign and send; *r gets the server's request file, checked. */
static int create(ctl_http *h, const ret_opts *o, const ke_reqkey *key, ke_request *r,
                  char *key_type, size_t ktlen, json_t **view)
{
  char path[4200], *e64 = ke_b64url_encode(key->E.b, KE_POINT_LEN);
  ke_note_key *ck = NULL;
  json_t *body = NULL, *ans = NULL;
  int rc;

  if ((rc = ctl_client_key_path(path, sizeof path, o->ckey)))
    goto out;
  rc = CTL_FAIL;
  if (ke_note_key_load(&ck, path) != KE_OK) {
    ctl_errf("cannot load the client key %s: run `escrowctl key register` first", path);
    goto out;
  }
  if (!e64 || (rc = sign_body(o, key, ck, e64, &body)) || (rc = post_request(h, body, &ans)) ||
      (rc = check_answer(ans, key, ck, r)))
    goto out;
  snprintf(key_type, ktlen, "%s",
           ctl_jstr(json_object_get(ans, "retrieval"), "key_type") ?: "other");
  *view = json_incref(json_object_get(ans, "retrieval"));
out:
  json_decref(ans);
  json_decref(body);
  ke_note_key_free(ck);
  free(e64);
  return rc;
}

/* Fetch the parts and check them; returns the number of good ones. */
static size_t fetch(ctl_http *h, const ke_request *r, const ke_reqkey *key, ctl_good_parts *g,
                    int *rc)
{
  char path[200];
  json_t *ans = NULL, *v;
  size_t i;

  g->count = 0;
  snprintf(path, sizeof path, "/v1/retrievals/%s/parts", r->request_id);
  if ((*rc = ctl_http_call(h, "GET", path, NULL, &ans)))
    return 0;
  json_array_foreach (json_object_get(ans, "parts"), i, v) {
    ke_partfile pf;
    json_int_t idx = ctl_jint(v, "index");
    const char *b = ctl_jstr(v, "part");
    if (idx < 1 || idx > 255 || !b || ke_b64url_decode_fixed(pf.part, sizeof pf.part, b) != KE_OK) {
      ctl_errf("custodian %lld: the server's part is malformed; ignored", (long long)idx);
      continue;
    }
    snprintf(pf.request_id, sizeof pf.request_id, "%s", r->request_id);
    pf.index = (unsigned)idx;
    ctl_open_take(g, &pf, "(from the server)", r, key);
  }
  json_decref(ans);
  return g->count;
}

static int print_secret(const ret_opts *o, const uint8_t *s, size_t len, const char *type)
{
  char canon[KE_BITLOCKER_PASSWORD_LEN + 1];
  int bad = 0, rc;
  size_t outlen = 2 * len + 2;
  char *buf = ke_secure_alloc(outlen);

  if (!buf)
    return CTL_FAIL;
  if (o->out || o->raw) {
    /* Byte-exact: what a program (cryptsetup --key-file, a script) reads
     * must be the escrowed secret itself, not its display form. */
    rc = ctl_write(o->out ? o->out : "-", s, len, 0600);
    ke_secure_free(buf, outlen);
    return rc;
  }
  if (strcmp(type, "bitlocker") == 0 &&
      ke_bitlocker_password_parse(canon, (const char *)s, len, &bad) == KE_OK) {
    snprintf(buf, outlen, "%s\n", canon);
    ke_wipe(canon, sizeof canon);
  } else if (ke_text_valid(s, len)) {
    memcpy(buf, s, len);
    buf[len] = '\n';
    buf[len + 1] = '\0';
  } else {
    /* Binary keys (e.g. a LUKS key file) as hex, never raw to a terminal. */
    ke_hex_encode(buf, s, len);
    buf[2 * len] = '\n';
    buf[2 * len + 1] = '\0';
  }
  rc = ctl_write("-", buf, strlen(buf), 0600);
  ke_secure_free(buf, outlen);
  return rc;
}

static int wait_and_open(ctl_http *h, const ret_opts *o, const ke_request *r, const ke_reqkey *key,
                         const char *type)
{
  ctl_good_parts *g = ke_secure_alloc(sizeof *g);
  long long since = -1;
  size_t declines = 0; /* printed so far: each decline is shown once */
  int rc = CTL_FAIL;

  if (!g)
    return CTL_FAIL;
  for (;;) {
    char path[200];
    json_t *ans = NULL, *st;
    long long n, need;
    const char *state;

    if (since < 0)
      snprintf(path, sizeof path, "/v1/retrievals/%s", r->request_id);
    else
      snprintf(path, sizeof path, "/v1/retrievals/%s?wait=60&since=%lld&declines=%zu",
               r->request_id, since, declines);
    if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)))
      break;
    st = json_object_get(ans, "retrieval");
    n = ctl_jint(st, "parts");
    need = ctl_jint(st, "needed");
    state = ctl_jstr(st, "state");
    if (json_array_size(json_object_get(st, "declines")) > declines) {
      fprintf(stderr, "\n");
      ctl_print_declines(stderr, st, declines);
      declines = json_array_size(json_object_get(st, "declines"));
    }
    fprintf(stderr, "\rparts: %lld/%lld  ", n, need);
    fflush(stderr);
    int expired = state && strcmp(state, "expired") == 0;
    json_decref(ans);
    if (n >= need && n != since) {
      fprintf(stderr, "\n");
      if (fetch(h, r, key, g, &rc) >= r->pub.t) {
        uint8_t *secret = NULL;
        size_t len = 0;
        if (!(rc = ctl_open_envelope(&secret, &len, g, r)))
          rc = print_secret(o, secret, len, type);
        ke_secure_free(secret, len);
        break;
      }
      if (rc)
        break;
      ctl_notef("%zu good part%s of the %u needed: waiting for another custodian", g->count,
                g->count == 1 ? "" : "s", r->pub.t);
    }
    if (expired) {
      fprintf(stderr, "\n");
      ctl_errf("request %s expired with %lld part%s of %lld", r->request_id, n, n == 1 ? "" : "s",
               need);
      rc = n >= need ? CTL_MISSING : CTL_FAIL;
      break;
    }
    since = n;
  }
  ke_secure_free(g, sizeof *g);
  return rc;
}

/* The record is one to trust (see the top of this file): its escrow key is
 * pinned, and the server's view of the retrieval names the request file's
 * record, whose escrow event is in the log this client saw. */
static int check_record(ctl_http *h, const ret_opts *o, const ke_request *r, const json_t *v)
{
  char hex[65];
  int rc;

  ke_hex_encode(hex, r->envelope_sha256, 32);
  if ((rc = ctl_escrow_pin_check(o->escrow_fpr, r->fingerprint, "the record")))
    return rc;
  if (strcmp(ctl_jstr(v, "request_id") ?: "", r->request_id) != 0 ||
      strcmp(ctl_jstr(v, "envelope_sha256") ?: "", hex) != 0 ||
      strcmp(ctl_jstr(v, "device_id") ?: "", r->device) != 0 ||
      strcmp(ctl_jstr(v, "volume_id") ?: "", r->volume) != 0)
    return ctl_err(CTL_FAIL, "the server's status and request file disagree (id, device, volume or "
                             "envelope): refusing");
  if ((rc = ctl_approve_same_request(r, v)))
    return rc;
  ctl_approve_say_older(v);
  return ctl_approve_in_log(h, o->log_key, r, v);
}

/* The second form: wait for and open a request made before. */
static int resume(const ret_opts *o)
{
  ke_request *r = calloc(1, sizeof *r);
  ke_reqkey *key = ke_secure_alloc(sizeof *key);
  ctl_http *h = NULL;
  json_t *ans = NULL;
  char path[200], type[32] = "other";
  int rc = CTL_FAIL;

  if (!o->resume_req || !o->resume_key || o->device || o->key_id || o->record || o->reason ||
      o->ticket || o->key_out || o->req_out) {
    rc = ctl_err(CTL_USAGE, "resume with --request REQ and --key KEY only (and --out, "
                            "--escrow-fingerprint, --log-key)");
    goto out;
  }
  if (!r || !key || (rc = ctl_new_file(o->out)) ||
      (rc = ctl_load_request(r, o->resume_req, NULL)) || (rc = ctl_load_reqkey(key, o->resume_key)))
    goto out;
  if (strcmp(key->request_id, r->request_id) != 0 || !ke_ct_eq(key->E.b, r->E.b, KE_POINT_LEN)) {
    rc = ctl_err(CTL_FAIL, "%s is the key of another request (%s)", o->resume_key, key->request_id);
    goto out;
  }
  snprintf(path, sizeof path, "/v1/retrievals/%s", r->request_id);
  if ((rc = ctl_http_open(&h, &o->t, 1)) || (rc = ctl_http_call(h, "GET", path, NULL, &ans)))
    goto out;
  snprintf(type, sizeof type, "%s",
           ctl_jstr(json_object_get(ans, "retrieval"), "key_type") ?: "other");
  if ((rc = check_record(h, o, r, json_object_get(ans, "retrieval"))))
    goto out;
  rc = wait_and_open(h, o, r, key, type);
out:
  json_decref(ans);
  ctl_http_free(h);
  ke_secure_free(key, sizeof *key);
  free(r);
  return rc;
}

static const struct option ret_options[] = {
  CTL_HTTP_OPTIONS,
  {"device", required_argument, 0, CTL_OPT_ARG(ret_opts, device)},
  {"volume", required_argument, 0, CTL_OPT_ARG(ret_opts, volume)},
  {"key-id", required_argument, 0, CTL_OPT_ARG(ret_opts, key_id)},
  {"record", required_argument, 0, CTL_OPT_ARG(ret_opts, record)},
  {"reason", required_argument, 0, CTL_OPT_ARG(ret_opts, reason)},
  {"ticket", required_argument, 0, CTL_OPT_ARG(ret_opts, ticket)},
  {"wait", no_argument, 0, CTL_OPT_SET(ret_opts, wait)},
  {"key-out", required_argument, 0, CTL_OPT_ARG(ret_opts, key_out)},
  {"request-out", required_argument, 0, CTL_OPT_ARG(ret_opts, req_out)},
  {"out", required_argument, 0, CTL_OPT_ARG(ret_opts, out)},
  {"client-key", required_argument, 0, CTL_OPT_ARG(ret_opts, ckey)},
  {"request", required_argument, 0, CTL_OPT_ARG(ret_opts, resume_req)},
  {"key", required_argument, 0, CTL_OPT_ARG(ret_opts, resume_key)},
  {"raw", no_argument, 0, CTL_OPT_SET(ret_opts, raw)},
  {"escrow-fingerprint", required_argument, 0, CTL_OPT_ARG(ret_opts, escrow_fpr)},
  {"log-key", required_argument, 0, CTL_OPT_ARG(ret_opts, log_key)},
  {"witness-key", required_argument, 0, O_WITNESS},
  CTL_OPT_END,
};

/* The options of a new request, before anything is made or sent. */
static int check_new(const ret_opts *o)
{
  int rc;

  if (!!o->device + !!o->key_id + !!o->record != 1)
    return ctl_err(CTL_USAGE, "name the record with --device (and --volume), --key-id or --record");
  if (o->record && !ke_b32_id_ok(o->record, "rec-"))
    return ctl_err(CTL_USAGE, "--record: a record id, \"rec-\" and 26 characters of a-z2-7");
  if (o->volume && !o->device)
    return ctl_err(CTL_USAGE, "--volume needs --device");
  if ((rc = CTL_REQUIRED({"--reason", o->reason}, {"--ticket", o->ticket})))
    return rc;
  if (!o->wait && !o->key_out)
    return ctl_err(CTL_USAGE, "without --wait the one-time key would be lost: give --key-out FILE");
  if ((o->key_out && ctl_exists(o->key_out)) || (o->req_out && ctl_exists(o->req_out)) ||
      (o->out && ctl_exists(o->out)))
    return ctl_err(CTL_FAIL, "an output file exists already; not overwriting it");
  return CTL_OK;
}

/* --key-out and --request-out, for a later --request/--key resume. */
static int save_request(const ret_opts *o, const ke_reqkey *key, const ke_request *r)
{
  char *text = NULL;
  size_t len = 0;
  int rc = CTL_OK;
  if (o->key_out && (ke_reqkey_write(&text, &len, key) != KE_OK ||
                     (rc = ctl_write_text(o->key_out, text, len, 0600, 1))))
    return rc ? rc : CTL_FAIL;
  if (o->req_out && (ke_request_write(&text, &len, r) != KE_OK ||
                     (rc = ctl_write_text(o->req_out, text, len, 0644, 0))))
    return rc ? rc : CTL_FAIL;
  return CTL_OK;
}

int ctl_cmd_retrieve(const ctl_cmd *cmd, int argc, char **argv)
{
  ret_opts o = {0};
  ctl_http *h = NULL;
  ke_reqkey *key = NULL;
  ke_request *r = NULL;
  json_t *view = NULL;
  char type[32] = "other", dg[80];
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, ret_options, on_opt, &o, NULL)))
    return rc;
  if (o.resume_req || o.resume_key)
    return resume(&o);
  if ((rc = check_new(&o)))
    return rc;
  key = ke_secure_alloc(sizeof *key);
  r = calloc(1, sizeof *r);
  if (!key || !r || ke_b32_id_new(key->request_id, "req-") != KE_OK ||
      ke_scalar_random(&key->e) != KE_OK || ke_point_mul_base(&key->E, &key->e) != KE_OK) {
    rc = ctl_err(CTL_FAIL, "cannot make the one-time key");
    goto out;
  }
  if ((rc = ctl_http_open(&h, &o.t, 1)) || (rc = create(h, &o, key, r, type, sizeof type, &view)))
    goto out;
  if ((rc = check_record(h, &o, r, view))) {
    ctl_errf("request %s is not used: its one-time key is wiped and no confirmation code is "
             "shown",
             r->request_id);
    goto out;
  }
  ctl_hex_groups(dg, r->envelope_sha256);
  ctl_notef("request %s created: device %s, volume %s\n"
            "  envelope SHA-256   %s\n"
            "  confirmation code  %s   (read it to each approving custodian)",
            r->request_id, r->device, r->volume, dg, r->code);
  if ((rc = save_request(&o, key, r)))
    goto out;
  if (o.wait)
    rc = wait_and_open(h, &o, r, key, type);
out:
  json_decref(view);
  ctl_http_free(h);
  free(r);
  ke_secure_free(key, sizeof *key);
  return rc;
}
