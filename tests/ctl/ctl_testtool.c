/*
 * ctl_testtool - builds the hostile and broken inputs the escrowctl tests
 * feed to the real binary (it is never installed):
 *
 *   tamper-part REQ KEY IN OUT   open part IN with the requester key, double
 *                                P_i and change s, and seal it again to E: a
 *                                part that opens, whose DLEQ proof is wrong,
 *                                and whose P_i would spoil the combination
 *   set FILE PATH JSON           set a JSON value; PATH is dot separated,
 *                                numbers index arrays ("custodians.0.name")
 *   patch-b64 IN OFFSET HEX OUT  overwrite bytes of a base64url file
 *   b64 HEX                      print HEX as unpadded base64url
 *   share-secret SHARE PASSFILE  print d_i as hex and base64url (for the test
 *                                that greps every output for secrets)
 *   part-secrets KEY REQ FILE... print, for the parts among FILEs that open
 *                                with requester key KEY for request REQ,
 *                                each P_i and (with t good parts) S = d*R,
 *                                and x(S), as hex and base64url: the same
 *                                grep looks for them (nothing if KEY is not
 *                                REQ's; files that are no such part are
 *                                skipped)
 *   envelope-sha256 FILE         print the SHA-256 of the base64url envelope
 *                                in FILE, as an escrow record would show it
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ke_files.h"

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = f ? calloc(1, KE_FILE_MAX + 1) : NULL;
  if (!buf) {
    fprintf(stderr, "ctl_testtool: cannot read %s\n", path);
    if (f)
      fclose(f);
    exit(1);
  }
  *len = fread(buf, 1, KE_FILE_MAX, f);
  fclose(f);
  return buf;
}

static void spit(const char *path, const char *text, size_t len)
{
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "ctl_testtool: cannot write %s: %s\n", path, strerror(errno));
    exit(1);
  }
}

static void must(ke_rc rc, const char *what, const ke_ferr *err)
{
  if (rc) {
    fprintf(stderr, "ctl_testtool: %s: %s %s\n", what, ke_rc_str(rc), err ? err->msg : "");
    exit(1);
  }
}

static int tamper_part(char **argv)
{
  size_t len;
  char *text;
  ke_ferr err;
  static ke_request req;
  ke_reqkey key;
  ke_partfile pf;
  ke_dleq proof;
  text = slurp(argv[0], &len);
  must(ke_request_parse(&req, text, len, &err), "request", &err);
  free(text);
  text = slurp(argv[1], &len);
  must(ke_reqkey_parse(&key, text, len, &err), "key", &err);
  free(text);
  text = slurp(argv[2], &len);
  must(ke_partfile_parse(&pf, text, len, &err), "part", &err);
  free(text);
  must(ke_part_open(&proof, pf.part, KE_PART_LEN, &key.e, &key.E, req.request_id, pf.index),
       "part open", NULL);
  /* P_i -> 2 P_i, so that a requester who used this part would get a wrong
   * S and fail to open; s -> s + 1, so that the proof does not verify. */
  ke_scalar two;
  ke_point p2;
  memset(two.b, 0, sizeof two.b);
  two.b[KE_SCALAR_LEN - 1] = 2;
  must(ke_point_mul(&p2, &two, &proof.P), "2P", NULL);
  proof.P = p2;
  uint8_t s[KE_SCALAR_LEN];
  memcpy(s, proof.s.b, sizeof s);
  do {
    for (int i = KE_SCALAR_LEN - 1; i >= 0 && ++s[i] == 0; i--)
      ;
  } while (ke_scalar_parse(&proof.s, s, sizeof s) != KE_OK);
  must(ke_part_seal(pf.part, &key.E, req.request_id, pf.index, &proof), "part seal", NULL);
  must(ke_partfile_write(&text, &len, &pf), "part write", NULL);
  spit(argv[3], text, len);
  free(text);
  return 0;
}

static int set_json(char **argv)
{
  json_error_t jerr;
  json_t *root = json_load_file(argv[0], 0, &jerr);
  json_t *val = json_loads(argv[2], JSON_DECODE_ANY, &jerr);
  if (!root || !val) {
    fprintf(stderr, "ctl_testtool: set: bad JSON (%s)\n", jerr.text);
    return 1;
  }
  char *path = strdup(argv[1]), *save = NULL;
  json_t *cur = root;
  char *tok = strtok_r(path, ".", &save);
  while (tok) {
    char *next = strtok_r(NULL, ".", &save);
    int is_idx = tok[0] >= '0' && tok[0] <= '9';
    if (!next) {
      int bad = is_idx ? json_array_set_new(cur, strtoul(tok, NULL, 10), val)
                       : json_object_set_new(cur, tok, val);
      if (bad) {
        fprintf(stderr, "ctl_testtool: set: cannot set %s\n", argv[1]);
        return 1;
      }
      break;
    }
    cur = is_idx ? json_array_get(cur, strtoul(tok, NULL, 10)) : json_object_get(cur, tok);
    if (!cur) {
      fprintf(stderr, "ctl_testtool: set: no %s in %s\n", tok, argv[1]);
      return 1;
    }
    tok = next;
  }
  free(path);
  int rc = json_dump_file(root, argv[0], JSON_INDENT(2)) != 0;
  json_decref(root);
  return rc;
}

static int patch_b64(char **argv)
{
  size_t len, n, hexlen;
  char *text = slurp(argv[0], &len);
  uint8_t *raw, *patch;
  while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    text[--len] = '\0';
  must(ke_b64url_decode(&raw, &n, text, 0), "decode", NULL);
  must(ke_hex_decode_alloc(&patch, &hexlen, argv[2]), "hex", NULL);
  size_t off = strtoul(argv[1], NULL, 10);
  if (off + hexlen > n) {
    fprintf(stderr, "ctl_testtool: patch past the end\n");
    return 1;
  }
  memcpy(raw + off, patch, hexlen);
  char *out = ke_b64url_encode(raw, n);
  spit(argv[3], out, strlen(out));
  free(out);
  free(patch);
  free(raw);
  free(text);
  return 0;
}

static int b64(char **argv)
{
  uint8_t *raw;
  size_t n;
  must(ke_hex_decode_alloc(&raw, &n, argv[0]), "hex", NULL);
  char *out = ke_b64url_encode(raw, n);
  printf("%s\n", out);
  free(out);
  free(raw);
  return 0;
}

static int share_secret(char **argv)
{
  size_t len, plen;
  ke_ferr err;
  ke_sharefile sf;
  ke_scalar d;
  char *text = slurp(argv[0], &len);
  char *pass = slurp(argv[1], &plen);
  if (plen && pass[plen - 1] == '\n')
    pass[--plen] = '\0';
  must(ke_sharefile_parse(&sf, text, len, &err), "share", &err);
  must(ke_sharefile_unseal(&d, &sf, pass, plen), "unseal", NULL);
  char hex[2 * KE_SCALAR_LEN + 1];
  ke_hex_encode(hex, d.b, KE_SCALAR_LEN);
  char *b = ke_b64url_encode(d.b, KE_SCALAR_LEN);
  printf("%s\n%s\n", hex, b);
  free(b);
  free(pass);
  free(text);
  return 0;
}

/* A value in both encodings, one per line. */
static void print_both(const uint8_t *b, size_t len)
{
  char hex[2 * KE_POINT_LEN + 1];
  ke_hex_encode(hex, b, len);
  char *enc = ke_b64url_encode(b, len);
  printf("%s\n%s\n", hex, enc);
  free(enc);
}

static int part_secrets(int argc, char **argv)
{
  size_t len;
  ke_ferr err;
  ke_reqkey key;
  static ke_request req;
  uint8_t idx[KE_MAX_SHARES];
  ke_point P[KE_MAX_SHARES];
  size_t good = 0;
  char *text = slurp(argv[0], &len);
  must(ke_reqkey_parse(&key, text, len, &err), "key", &err);
  free(text);
  text = slurp(argv[1], &len);
  int parsed = ke_request_parse(&req, text, len, &err) == KE_OK; /* skip broken ones */
  free(text);
  if (!parsed || strcmp(key.request_id, req.request_id) != 0)
    return 0;
  for (int a = 2; a < argc && good < KE_MAX_SHARES; a++) {
    ke_partfile pf;
    ke_dleq proof;
    text = slurp(argv[a], &len);
    int ok = ke_partfile_parse(&pf, text, len, NULL) == KE_OK && pf.index <= req.pub.n &&
             ke_part_open(&proof, pf.part, KE_PART_LEN, &key.e, &key.E, req.request_id, pf.index) ==
               KE_OK &&
             ke_dleq_verify(&proof, pf.index, &req.pub.public_shares[pf.index - 1], &req.R,
                            (const uint8_t *)req.request_id, strlen(req.request_id)) == KE_OK;
    free(text);
    for (size_t j = 0; ok && j < good; j++)
      ok = idx[j] != pf.index;
    if (!ok)
      continue;
    print_both(proof.P.b, KE_POINT_LEN);
    idx[good] = (uint8_t)pf.index;
    P[good++] = proof.P;
  }
  ke_point S;
  if (good >= req.pub.t && ke_combine(&S, idx, P, req.pub.t) == KE_OK) {
    print_both(S.b, KE_POINT_LEN);
    print_both(S.b + 1, KE_SCALAR_LEN);
  }
  return 0;
}

static int envelope_sha256(char **argv)
{
  size_t len, n;
  uint8_t *raw, digest[32];
  char *text = slurp(argv[0], &len), hex[65];
  while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    text[--len] = '\0';
  must(ke_b64url_decode(&raw, &n, text, 0), "decode", NULL);
  must(ke_envelope_sha256(digest, raw, n), "sha256", NULL);
  ke_hex_encode(hex, digest, sizeof digest);
  printf("%s\n", hex);
  free(raw);
  free(text);
  return 0;
}

int main(int argc, char **argv)
{
  static const struct {
    const char *name;
    int args;
    int (*fn)(char **);
  } cmds[] = {
    {"tamper-part", 4, tamper_part},   {"set", 3, set_json},
    {"patch-b64", 4, patch_b64},       {"b64", 1, b64},
    {"share-secret", 2, share_secret}, {"envelope-sha256", 1, envelope_sha256},
  };
  if (argc >= 4 && strcmp(argv[1], "part-secrets") == 0)
    return part_secrets(argc - 2, argv + 2);
  for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp(argv[1], cmds[i].name) == 0 && argc == cmds[i].args + 2)
      return cmds[i].fn(argv + 2);
  fprintf(stderr, "usage: ctl_testtool tamper-part|set|patch-b64|b64|share-secret|"
                  "part-secrets|envelope-sha256 ...\n");
  return 2;
}
