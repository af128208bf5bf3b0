/*
 * test_kat.c - every case of tests/vectors/keyescrow-v1.json (except the
 * Merkle vectors, which belong to the audit log suite), byte for byte.
 *
 * usage: test_kat VECTORS.json
 */
#include <jansson.h>
#include <openssl/bn.h>

#include "ke_test.h"

/* ---- vector access: a missing or malformed field is a failed check ------ */

static const char *str(json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  if (!s) {
    fprintf(stderr, "vector field '%s' missing\n", key);
    ke_test_failures++;
    return "";
  }
  return s;
}

static unsigned num(json_t *o, const char *key)
{
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    fprintf(stderr, "vector field '%s' missing\n", key);
    ke_test_failures++;
    return 0;
  }
  return (unsigned)json_integer_value(v);
}

/* Fixed-size hex field. */
static void hexf(uint8_t *out, size_t len, const char *hex)
{
  memset(out, 0, len);
  if (!hex)
    hex = "(missing)";
  if (ke_hex_decode(out, len, hex) != KE_OK) {
    fprintf(stderr, "bad hex of %zu bytes: %s\n", len, hex);
    ke_test_failures++;
  }
}

/* Variable-length hex field; caller frees. */
static uint8_t *hexa(const char *hex, size_t *len)
{
  uint8_t *b = NULL;
  if (!hex)
    hex = "(missing)";
  if (ke_hex_decode_alloc(&b, len, hex) != KE_OK) {
    fprintf(stderr, "bad hex: %s\n", hex);
    ke_test_failures++;
    *len = 0;
    return calloc(1, 1);
  }
  return b;
}

static ke_point point(const char *hex)
{
  uint8_t b[KE_POINT_LEN];
  ke_point p;
  memset(&p, 0, sizeof p);
  hexf(b, sizeof b, hex);
  CHECK_RC(ke_point_parse(&p, b, sizeof b), KE_OK);
  return p;
}

static ke_scalar scalar(const char *hex)
{
  uint8_t b[KE_SCALAR_LEN];
  ke_scalar s;
  memset(&s, 0, sizeof s);
  hexf(b, sizeof b, hex);
  CHECK_RC(ke_scalar_parse(&s, b, sizeof b), KE_OK);
  return s;
}

static json_t *V; /* the whole vectors document */

/* The escrow private key d = f(0) of the ceremony whose Q is q. */
static int escrow_private(ke_scalar *d, const ke_point *q)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "ceremony"), i, c) {
    ke_point c0 = point(json_string_value(json_array_get(json_object_get(c, "commitments"), 0)));
    if (memcmp(c0.b, q->b, KE_POINT_LEN) == 0) {
      *d = scalar(json_string_value(json_array_get(json_object_get(c, "coefficients"), 0)));
      return 1;
    }
  }
  return 0;
}

/* ---- ceremony ------------------------------------------------------------ */
static void kat_ceremony(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "ceremony"), i, c) {
    unsigned t = num(c, "t"), n = num(c, "N");
    ke_scalar coef[KE_MAX_SHARES];
    ke_point commit[KE_MAX_SHARES];
    CHECK(json_array_size(json_object_get(c, "coefficients")) == t);
    CHECK(json_array_size(json_object_get(c, "shares")) == n);
    for (unsigned j = 0; j < t; j++) {
      coef[j] = scalar(json_string_value(json_array_get(json_object_get(c, "coefficients"), j)));
      commit[j] = point(json_string_value(json_array_get(json_object_get(c, "commitments"), j)));
    }
    static ke_escrow_pub pub, pub2; /* large: keep them off the stack */
    ke_scalar *shares = ke_secure_alloc(n * sizeof(ke_scalar));
    CHECK(shares != NULL);
    CHECK_RC(ke_ceremony_det(&pub, shares, t, n, coef), KE_OK);
    CHECK(pub.t == t && pub.n == n);
    for (unsigned j = 0; j < t; j++)
      CHECK_BYTES(pub.commitments[j].b, commit[j].b, KE_POINT_LEN);
    uint8_t fpr[KE_FPR_LEN];
    hexf(fpr, sizeof fpr, str(c, "fingerprint"));
    CHECK_BYTES(pub.fingerprint, fpr, KE_FPR_LEN);
    uint8_t fpr2[KE_FPR_LEN];
    ke_escrow_fingerprint(fpr2, &pub);
    CHECK_BYTES(fpr2, fpr, KE_FPR_LEN);

    /* The public side alone must give the same public shares. */
    CHECK_RC(ke_escrow_pub_from_commitments(&pub2, t, n, commit), KE_OK);
    CHECK_BYTES(pub2.fingerprint, fpr, KE_FPR_LEN);

    size_t k;
    json_t *sh;
    json_array_foreach (json_object_get(c, "shares"), k, sh) {
      unsigned idx = num(sh, "index");
      CHECK(idx == k + 1);
      ke_scalar d = scalar(str(sh, "d"));
      ke_point qi = point(str(sh, "public_share"));
      CHECK_BYTES(shares[k].b, d.b, KE_SCALAR_LEN);
      CHECK_BYTES(pub.public_shares[k].b, qi.b, KE_POINT_LEN);
      CHECK_BYTES(pub2.public_shares[k].b, qi.b, KE_POINT_LEN);
      CHECK_RC(ke_share_check(&pub2, idx, &d), KE_OK);
      /* The same share under another index must not pass (n > 1). */
      if (n > 1)
        CHECK_RC(ke_share_check(&pub2, idx % n + 1, &d), KE_ERR_PROOF);
    }
    ke_secure_free(shares, n * sizeof(ke_scalar));
  }
}

/* ---- envelope and verifier ------------------------------------------------- */
static void kat_envelope(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "envelope"), i, c) {
    uint8_t fpr[KE_FPR_LEN], nonce[KE_NONCE_LEN], sx[32];
    hexf(fpr, sizeof fpr, str(c, "escrow_fingerprint"));
    hexf(nonce, sizeof nonce, str(c, "nonce"));
    hexf(sx, sizeof sx, str(c, "shared_x"));
    ke_point Q = point(str(c, "escrow_public_key"));
    ke_scalar k = scalar(str(c, "k"));
    const char *dev = str(c, "device_id"), *vol = str(c, "volume_id");
    size_t slen, elen;
    uint8_t *secret = hexa(str(c, "secret"), &slen);
    uint8_t *want = hexa(str(c, "envelope"), &elen);

    uint8_t *env = NULL;
    size_t envlen = 0;
    CHECK_RC(ke_envelope_seal_det(&env, &envlen, fpr, &Q, dev, vol, secret, slen, &k, nonce),
             KE_OK);
    CHECK(envlen == elen);
    if (env && envlen == elen)
      CHECK_BYTES(env, want, elen);

    /* The sender's shared point: x(k*Q) is the vector's shared_x. */
    ke_point S;
    CHECK_RC(ke_point_mul(&S, &k, &Q), KE_OK);
    CHECK_BYTES(S.b + 1, sx, 32);

    /* Open from the receiver's side with S = d*R. */
    ke_envelope e;
    CHECK_RC(ke_envelope_parse(&e, want, elen), KE_OK);
    CHECK_BYTES(e.fingerprint, fpr, KE_FPR_LEN);
    CHECK_BYTES(e.nonce, nonce, KE_NONCE_LEN);
    ke_scalar d;
    CHECK(escrow_private(&d, &Q));
    ke_point Sr;
    CHECK_RC(ke_point_mul(&Sr, &d, &e.R), KE_OK);
    CHECK_BYTES(Sr.b + 1, sx, 32);
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, &Q, &Sr, dev, vol), KE_OK);
    CHECK(ptlen == slen);
    if (pt && ptlen == slen)
      CHECK_BYTES(pt, secret, slen);
    ke_secure_free(pt, ptlen);

    /* The AAD binds device and volume. */
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, &Q, &Sr, "other-device", vol), KE_ERR_AUTH);
    CHECK(pt == NULL && ptlen == 0);
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, &Q, &Sr, dev, "other-volume"), KE_ERR_AUTH);
    free(env);
    free(want);
    free(secret);
  }

  json_array_foreach (json_object_get(V, "verifier"), i, c) {
    size_t slen;
    uint8_t *secret = hexa(str(c, "secret"), &slen);
    uint8_t want[KE_VERIFIER_LEN], got[KE_VERIFIER_LEN];
    hexf(want, sizeof want, str(c, "verifier"));
    CHECK_RC(ke_verifier(got, secret, slen, str(c, "device_id"), str(c, "volume_id")), KE_OK);
    CHECK_BYTES(got, want, KE_VERIFIER_LEN);
    free(secret);
  }
}

/* ---- v2 verifier (scrypt) ---------------------------------------------------- */
static void kat_verifier_v2(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "verifier_v2"), i, c) {
    size_t slen;
    uint8_t *secret = hexa(str(c, "secret"), &slen);
    uint8_t salt[KE_VERIFIER_SALT_LEN], want[KE_VERIFIER_V2_LEN], got[KE_VERIFIER_V2_LEN];
    const char *dev = str(c, "device_id"), *vol = str(c, "volume_id");
    hexf(salt, sizeof salt, str(c, "salt"));
    hexf(want, sizeof want, str(c, "verifier"));
    CHECK_RC(ke_verifier_v2_det(got, secret, slen, dev, vol, salt, num(c, "log2n"), num(c, "r"),
                                num(c, "p")),
             KE_OK);
    CHECK_BYTES(got, want, sizeof want);
    /* The stored form checks through the parser (one more scrypt: once). */
    if (i == 0)
      CHECK_RC(ke_verifier_check(want, sizeof want, secret, slen, dev, vol), KE_OK);
    free(secret);
  }
}

/* ---- DLEQ ------------------------------------------------------------------ */
static void kat_dleq(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "dleq"), i, c) {
    unsigned idx = num(c, "index");
    const char *ctxs = str(c, "context");
    const uint8_t *cx = (const uint8_t *)ctxs;
    size_t cl = strlen(ctxs);
    ke_scalar d = scalar(str(c, "d")), w = scalar(str(c, "w"));
    ke_point Qi = point(str(c, "public_share")), R = point(str(c, "R"));
    ke_dleq want;
    want.P = point(str(c, "P"));
    want.c = scalar(str(c, "c"));
    want.s = scalar(str(c, "s"));

    ke_dleq pr;
    CHECK_RC(ke_dleq_prove_det(&pr, idx, &d, &Qi, &R, cx, cl, &w), KE_OK);
    CHECK_BYTES(pr.P.b, want.P.b, KE_POINT_LEN);
    CHECK_BYTES(pr.c.b, want.c.b, KE_SCALAR_LEN);
    CHECK_BYTES(pr.s.b, want.s.b, KE_SCALAR_LEN);
    CHECK_RC(ke_dleq_verify(&want, idx, &Qi, &R, cx, cl), KE_OK);

    /* Wire form round trip. */
    uint8_t wire[KE_DLEQ_LEN];
    ke_dleq back;
    ke_dleq_encode(wire, &want);
    CHECK_RC(ke_dleq_decode(&back, wire, sizeof wire), KE_OK);
    CHECK_BYTES(&back, &want, sizeof back);

    /* Tampering with anything must fail. */
    ke_dleq bad = want;
    bad.c.b[31] ^= 1;
    CHECK_RC(ke_dleq_verify(&bad, idx, &Qi, &R, cx, cl), KE_ERR_PROOF);
    bad = want;
    bad.s.b[31] ^= 1;
    CHECK_RC(ke_dleq_verify(&bad, idx, &Qi, &R, cx, cl), KE_ERR_PROOF);
    bad = want;
    bad.P = Qi; /* a valid point, but not d*R */
    CHECK_RC(ke_dleq_verify(&bad, idx, &Qi, &R, cx, cl), KE_ERR_PROOF);
    bad = want;
    memset(bad.c.b, 0xFF, KE_SCALAR_LEN); /* c >= n */
    CHECK_RC(ke_dleq_verify(&bad, idx, &Qi, &R, cx, cl), KE_ERR_INVALID_SCALAR);
    bad = want;
    memset(bad.s.b, 0, KE_SCALAR_LEN); /* s = 0 */
    CHECK_RC(ke_dleq_verify(&bad, idx, &Qi, &R, cx, cl), KE_ERR_INVALID_SCALAR);
    CHECK_RC(ke_dleq_verify(&want, idx % 255 + 1, &Qi, &R, cx, cl), KE_ERR_PROOF);
    CHECK_RC(ke_dleq_verify(&want, idx, &Qi, &R, (const uint8_t *)"req-8", 5), KE_ERR_PROOF);
    CHECK_RC(ke_dleq_verify(&want, idx, &Qi, &R, cx, cl - 1), KE_ERR_PROOF);
    CHECK_RC(ke_dleq_verify(&want, 0, &Qi, &R, cx, cl), KE_ERR_INVALID_INDEX);
    CHECK_RC(ke_dleq_verify(&want, idx, &want.P, &R, cx, cl), KE_ERR_PROOF); /* other Q_i */
    /* A proof for another R (another envelope) does not carry over. */
    CHECK_RC(ke_dleq_verify(&want, idx, &Qi, &Qi, cx, cl), KE_ERR_PROOF);
    /* Wire form with a tampered point encoding. */
    wire[0] = 0x04;
    CHECK_RC(ke_dleq_decode(&back, wire, sizeof wire), KE_ERR_INVALID_POINT);
    CHECK_RC(ke_dleq_decode(&back, wire, sizeof wire - 1), KE_ERR_LENGTH);
  }
}

/* ---- combine --------------------------------------------------------------- */
static void kat_combine(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "combine"), i, c) {
    json_t *ji = json_object_get(c, "indices");
    size_t cnt = json_array_size(ji);
    CHECK(cnt >= 1 && cnt <= KE_MAX_SHARES);
    uint8_t idx[KE_MAX_SHARES];
    ke_point parts[KE_MAX_SHARES];
    for (size_t j = 0; j < cnt && j < KE_MAX_SHARES; j++) {
      idx[j] = (uint8_t)json_integer_value(json_array_get(ji, j));
      parts[j] = point(json_string_value(json_array_get(json_object_get(c, "parts"), j)));
    }
    CHECK(json_array_size(json_object_get(c, "lagrange")) == cnt);
    for (size_t j = 0; j < cnt; j++) {
      uint8_t lw[KE_SCALAR_LEN];
      ke_scalar l;
      hexf(lw, sizeof lw, json_string_value(json_array_get(json_object_get(c, "lagrange"), j)));
      CHECK_RC(ke_lagrange(&l, idx, cnt, j), KE_OK);
      CHECK_BYTES(l.b, lw, KE_SCALAR_LEN);
    }
    ke_point S, want = point(str(c, "S"));
    CHECK_RC(ke_combine(&S, idx, parts, cnt), KE_OK);
    CHECK_BYTES(S.b, want.b, KE_POINT_LEN);
    /* Order of the parts does not matter. */
    if (cnt >= 2) {
      uint8_t idx2[KE_MAX_SHARES];
      ke_point parts2[KE_MAX_SHARES];
      for (size_t j = 0; j < cnt; j++) {
        idx2[j] = idx[cnt - 1 - j];
        parts2[j] = parts[cnt - 1 - j];
      }
      ke_point S2;
      CHECK_RC(ke_combine(&S2, idx2, parts2, cnt), KE_OK);
      CHECK_BYTES(S2.b, want.b, KE_POINT_LEN);
      /* Fewer parts than the threshold give some other point. */
      CHECK_RC(ke_combine(&S2, idx, parts, cnt - 1), KE_OK);
      CHECK(memcmp(S2.b, want.b, KE_POINT_LEN) != 0);
    }

    size_t elen, slen;
    uint8_t *envb = hexa(str(c, "envelope"), &elen);
    uint8_t *secret = hexa(str(c, "secret"), &slen);
    ke_envelope e;
    CHECK_RC(ke_envelope_parse(&e, envb, elen), KE_OK);
    /* Q for this envelope: the vector's envelope case with the same bytes. */
    ke_point Q;
    memset(&Q, 0, sizeof Q);
    size_t k;
    json_t *ec;
    json_array_foreach (json_object_get(V, "envelope"), k, ec)
      if (strcmp(str(ec, "envelope"), str(c, "envelope")) == 0)
        Q = point(str(ec, "escrow_public_key"));
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, &Q, &S, str(c, "device_id"), str(c, "volume_id")),
             KE_OK);
    CHECK(ptlen == slen);
    if (pt && ptlen == slen)
      CHECK_BYTES(pt, secret, slen);
    ke_secure_free(pt, ptlen);
    free(envb);
    free(secret);
  }
}

/* ---- sealed part ------------------------------------------------------------ */
static void kat_part(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "part"), i, c) {
    ke_scalar e = scalar(str(c, "requester_private")), k = scalar(str(c, "k"));
    ke_point E = point(str(c, "requester_public")), E2;
    CHECK_RC(ke_point_mul_base(&E2, &e), KE_OK);
    CHECK_BYTES(E2.b, E.b, KE_POINT_LEN);
    const char *rid = str(c, "request_id");
    unsigned idx = num(c, "index");
    uint8_t nonce[KE_NONCE_LEN], ptw[KE_DLEQ_LEN], want[KE_PART_LEN];
    hexf(nonce, sizeof nonce, str(c, "nonce"));
    hexf(ptw, sizeof ptw, str(c, "plaintext"));
    hexf(want, sizeof want, str(c, "part"));
    ke_dleq proof;
    CHECK_RC(ke_dleq_decode(&proof, ptw, sizeof ptw), KE_OK);

    uint8_t out[KE_PART_LEN];
    CHECK_RC(ke_part_seal_det(out, &E, rid, idx, &proof, &k, nonce), KE_OK);
    CHECK_BYTES(out, want, KE_PART_LEN);

    ke_dleq got;
    uint8_t gotw[KE_DLEQ_LEN];
    CHECK_RC(ke_part_open(&got, want, sizeof want, &e, &E, rid, idx), KE_OK);
    ke_dleq_encode(gotw, &got);
    CHECK_BYTES(gotw, ptw, KE_DLEQ_LEN);

    /* Another request, index or key must not open it. */
    CHECK_RC(ke_part_open(&got, want, sizeof want, &e, &E, "req-8", idx), KE_ERR_AUTH);
    CHECK_RC(ke_part_open(&got, want, sizeof want, &e, &E, rid, idx + 1), KE_ERR_AUTH);
    ke_scalar e2 = k; /* some other valid private key */
    CHECK_RC(ke_part_open(&got, want, sizeof want, &e2, &E, rid, idx), KE_ERR_AUTH);
    uint8_t bad[KE_PART_LEN];
    memcpy(bad, want, sizeof bad);
    bad[KE_PART_LEN - 1] ^= 0x80;
    CHECK_RC(ke_part_open(&got, bad, sizeof bad, &e, &E, rid, idx), KE_ERR_AUTH);
    memcpy(bad, want, sizeof bad);
    bad[60] ^= 0x01; /* ciphertext */
    CHECK_RC(ke_part_open(&got, bad, sizeof bad, &e, &E, rid, idx), KE_ERR_AUTH);
    memcpy(bad, want, sizeof bad);
    bad[1] = 'E';
    CHECK_RC(ke_part_open(&got, bad, sizeof bad, &e, &E, rid, idx), KE_ERR_FORMAT);
    CHECK_RC(ke_part_open(&got, want, sizeof want - 1, &e, &E, rid, idx), KE_ERR_LENGTH);
    CHECK_RC(ke_part_open(&got, want, sizeof want, &e, &E, rid, 0), KE_ERR_INVALID_INDEX);
  }
}

/* ---- share file ----------------------------------------------------------------- */
static void kat_share_file(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "share_file"), i, c) {
    const char *pass = str(c, "passphrase");
    json_t *sp = json_object_get(c, "scrypt");
    ke_scrypt_params prm = {num(sp, "N"), num(sp, "r"), num(sp, "p")};
    uint8_t salt[16], nonce[KE_NONCE_LEN], fpr[KE_FPR_LEN], want[KE_SHARE_SEALED_LEN];
    hexf(salt, sizeof salt, str(c, "salt"));
    hexf(nonce, sizeof nonce, str(c, "nonce"));
    hexf(fpr, sizeof fpr, str(c, "fingerprint"));
    hexf(want, sizeof want, str(c, "sealed"));
    unsigned idx = num(c, "index");
    ke_scalar d = scalar(str(c, "d")), got;

    uint8_t out[KE_SHARE_SEALED_LEN];
    CHECK_RC(ke_share_seal(out, pass, strlen(pass), salt, nonce, prm, fpr, idx, &d), KE_OK);
    CHECK_BYTES(out, want, sizeof want);
    CHECK_RC(
      ke_share_unseal(&got, want, sizeof want, pass, strlen(pass), salt, nonce, prm, fpr, idx),
      KE_OK);
    CHECK_BYTES(got.b, d.b, KE_SCALAR_LEN);

    CHECK_RC(
      ke_share_unseal(&got, want, sizeof want, "incorrect horse", 15, salt, nonce, prm, fpr, idx),
      KE_ERR_AUTH);
    static const ke_scalar zero;
    CHECK_BYTES(got.b, zero.b, KE_SCALAR_LEN); /* nothing left behind on failure */
    CHECK_RC(
      ke_share_unseal(&got, want, sizeof want, pass, strlen(pass), salt, nonce, prm, fpr, idx + 1),
      KE_ERR_AUTH);
    uint8_t fpr2[KE_FPR_LEN];
    memcpy(fpr2, fpr, sizeof fpr2);
    fpr2[0] ^= 1;
    CHECK_RC(
      ke_share_unseal(&got, want, sizeof want, pass, strlen(pass), salt, nonce, prm, fpr2, idx),
      KE_ERR_AUTH);
  }
}

/* ---- confirmation code and invalid points --------------------------------------- */
/*
 * Every invalid_points entry must be refused.  The shared vectors once listed
 * 02||x with x = 5 as "x not on curve", but x = 5 is an abscissa of P-256
 * (erratum fixed on 2026-12-03: the entry now uses x = 1).  So that a wrong
 * vector can never again make a correct parser look broken, or a broken one
 * look correct, each compressed entry is also checked independently (plain
 * BIGNUM arithmetic, no EC_POINT code) to be off the curve.
 */
/* Is there a y with y^2 = x^3 - 3x + b (mod p) for the x of a 33-byte
 * compressed encoding with x < p?  Euler's criterion on the right side. */
static int independently_on_curve(const uint8_t *b, size_t len)
{
  if (len != KE_POINT_LEN || (b[0] != 2 && b[0] != 3))
    return 0;
  BN_CTX *ctx = BN_CTX_new();
  BIGNUM *p = NULL, *B = NULL, *x = BN_bin2bn(b + 1, 32, NULL), *r = BN_new(), *t = BN_new();
  int ok = 0;
  if (!ctx || !x || !r || !t ||
      !BN_hex2bn(&p, "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff") ||
      !BN_hex2bn(&B, "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"))
    goto out;
  if (BN_cmp(x, p) >= 0)
    goto out;
  /* r = x^3 - 3x + b mod p */
  if (!BN_mod_sqr(r, x, p, ctx) || !BN_mod_mul(r, r, x, p, ctx) || !BN_set_word(t, 3) ||
      !BN_mod_mul(t, t, x, p, ctx) || !BN_mod_sub(r, r, t, p, ctx) || !BN_mod_add(r, r, B, p, ctx))
    goto out;
  /* t = (p - 1) / 2; r^t == 1 iff r is a non-zero square. */
  if (!BN_copy(t, p) || !BN_sub_word(t, 1) || !BN_rshift1(t, t) || !BN_mod_exp(r, r, t, p, ctx))
    goto out;
  ok = BN_is_one(r);
out:
  BN_free(p);
  BN_free(B);
  BN_free(x);
  BN_free(r);
  BN_free(t);
  BN_CTX_free(ctx);
  return ok;
}

static void kat_sas_points(void)
{
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get(V, "sas"), i, c) {
    ke_point E = point(str(c, "E")), R = point(str(c, "R"));
    char code[KE_SAS_LEN + 1];
    ke_sas(code, str(c, "request_id"), &E, &R);
    CHECK(strcmp(code, str(c, "code")) == 0);
    ke_sas(code, "req-8", &E, &R);
    CHECK(strcmp(code, str(c, "code")) != 0);
    ke_sas(code, str(c, "request_id"), &R, &E);
    CHECK(strcmp(code, str(c, "code")) != 0);
  }
  size_t count = 0;
  json_array_foreach (json_object_get(V, "invalid_points"), i, c) {
    size_t len;
    const char *hexs = str(c, "bytes");
    uint8_t *b = hexa(hexs, &len);
    ke_point p;
    ke_rc rc = ke_point_parse(&p, b, len);
    if (len == KE_POINT_LEN && (b[0] == 2 || b[0] == 3))
      CHECK(!independently_on_curve(b, len)); /* the vector itself is right */
    if (rc != KE_ERR_INVALID_POINT)
      fprintf(stderr, "invalid point accepted (%s): %s\n", str(c, "why"), hexs);
    CHECK_RC(rc, KE_ERR_INVALID_POINT);
    free(b);
    count++;
  }
  CHECK(count >= 5);
}

int main(int argc, char **argv)
{
  /* The shared vectors stay a byte-exact copy; the project's own known
   * answers (the v2 verifier) are in a second file, merged in here. */
  if (argc != 3) {
    fprintf(stderr, "usage: %s keyescrow-v1.json keyescrow-local.json\n", argv[0]);
    return 2;
  }
  json_error_t err;
  json_t *local;
  V = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &err);
  if (!V) {
    fprintf(stderr, "%s:%d: %s\n", argv[1], err.line, err.text);
    return 2;
  }
  local = json_load_file(argv[2], JSON_REJECT_DUPLICATES, &err);
  if (!local || json_object_get(V, "verifier_v2") ||
      json_object_set(V, "verifier_v2", json_object_get(local, "verifier_v2")) != 0) {
    fprintf(stderr, "%s: no verifier_v2 section (or the shared file has one)\n", argv[2]);
    return 2;
  }
  json_decref(local);
  const char *sections[] = {"ceremony", "envelope",   "verifier", "dleq",           "combine",
                            "part",     "share_file", "sas",      "invalid_points", "verifier_v2"};
  for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
    CHECK(json_array_size(json_object_get(V, sections[i])) > 0);
  kat_ceremony();
  kat_envelope();
  kat_dleq();
  kat_combine();
  kat_part();
  kat_share_file();
  kat_sas_points();
  kat_verifier_v2();
  json_decref(V);
  return ke_test_result("test_kat");
}
