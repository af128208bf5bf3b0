/*
 * bench_crypto.c - operations per second of the three v1 hot paths:
 *
 *   seal  an agent wraps a 32-byte secret (ke_envelope_seal)
 *   part  a custodian answers one envelope (ke_dleq_prove + ke_part_seal)
 *   open  the requester opens one envelope from t = 3 parts: 3 x
 *         (ke_part_open + ke_dleq_verify), ke_combine, ke_envelope_open
 *
 * usage: bench-crypto [-t SECONDS] [-r ECDH_OPS_PER_SEC]
 * With -r (from `openssl speed ecdhp256`, see run.sh) each rate is also
 * printed as a ratio to one P-256 ECDH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ke_crypto.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, ke_rc rc)
{
  fprintf(stderr, "bench-crypto: %s: %s\n", what, ke_rc_str(rc));
  exit(1);
}

#define T 3
#define N 5
static ke_escrow_pub pub;
static ke_scalar shares[N];
static const char *dev = "bench-device", *vol = "bench-volume", *rid = "bench-request";
static uint8_t secret[32];
static uint8_t *env;
static size_t envlen;
static ke_envelope e;
static ke_scalar ekey;
static ke_point E;
static uint8_t parts[T][KE_PART_LEN];
static const uint8_t idx[T] = {1, 3, 5};

static void setup(void)
{
  ke_rc rc;
  if ((rc = ke_ceremony(&pub, shares, T, N)))
    die("ceremony", rc);
  if ((rc = ke_random(secret, sizeof secret)))
    die("random", rc);
  if ((rc = ke_envelope_seal(&env, &envlen, pub.fingerprint, &pub.commitments[0], dev, vol, secret,
                             sizeof secret)))
    die("seal", rc);
  if ((rc = ke_envelope_parse(&e, env, envlen)))
    die("parse", rc);
  if ((rc = ke_scalar_random(&ekey)) || (rc = ke_point_mul_base(&E, &ekey)))
    die("requester key", rc);
  for (int j = 0; j < T; j++) {
    ke_dleq pr;
    unsigned i = idx[j];
    if ((rc = ke_dleq_prove(&pr, i, &shares[i - 1], &pub.public_shares[i - 1], &e.R,
                            (const uint8_t *)rid, strlen(rid))) ||
        (rc = ke_part_seal(parts[j], &E, rid, i, &pr)))
      die("part", rc);
  }
}

static void op_seal(void)
{
  uint8_t *out;
  size_t len;
  ke_rc rc = ke_envelope_seal(&out, &len, pub.fingerprint, &pub.commitments[0], dev, vol, secret,
                              sizeof secret);
  if (rc)
    die("seal", rc);
  free(out);
}

static void op_part(void)
{
  ke_dleq pr;
  uint8_t part[KE_PART_LEN];
  ke_rc rc = ke_dleq_prove(&pr, 1, &shares[0], &pub.public_shares[0], &e.R, (const uint8_t *)rid,
                           strlen(rid));
  if (rc || (rc = ke_part_seal(part, &E, rid, 1, &pr)))
    die("part", rc);
}

static void op_open(void)
{
  ke_point P[T], S;
  ke_rc rc;
  for (int j = 0; j < T; j++) {
    ke_dleq pr;
    unsigned i = idx[j];
    if ((rc = ke_part_open(&pr, parts[j], KE_PART_LEN, &ekey, &E, rid, i)) ||
        (rc = ke_dleq_verify(&pr, i, &pub.public_shares[i - 1], &e.R, (const uint8_t *)rid,
                             strlen(rid))))
      die("part open", rc);
    P[j] = pr.P;
  }
  if ((rc = ke_combine(&S, idx, P, T)))
    die("combine", rc);
  uint8_t *pt;
  size_t len;
  if ((rc = ke_envelope_open(&pt, &len, &e, &pub.commitments[0], &S, dev, vol)))
    die("open", rc);
  if (len != sizeof secret || memcmp(pt, secret, len) != 0)
    die("open", KE_ERR_AUTH);
  ke_secure_free(pt, len);
}

static double rate(void (*op)(void), double seconds)
{
  op(); /* warm up: group creation, provider fetches */
  long n = 0;
  double t0 = now(), t;
  do {
    for (int k = 0; k < 16; k++)
      op();
    n += 16;
    t = now();
  } while (t - t0 < seconds);
  return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
  double seconds = 2.0, ref = 0.0;
  int c;
  while ((c = getopt(argc, argv, "t:r:")) != -1) {
    switch (c) {
      case 't': seconds = atof(optarg); break;
      case 'r': ref = atof(optarg); break;
      default: fprintf(stderr, "usage: %s [-t SECONDS] [-r ECDH_OPS_PER_SEC]\n", argv[0]); return 2;
    }
  }
  if (seconds <= 0)
    seconds = 2.0;
  setup();
  struct {
    const char *name;
    void (*op)(void);
  } ops[] = {
    {"seal", op_seal},
    {"part", op_part},
    {"open", op_open},
  };
  if (ref > 0)
    printf("%-6s %12.1f ops/s  (openssl speed ecdhp256)\n", "ecdh", ref);
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    double r = rate(ops[i].op, seconds);
    if (ref > 0)
      printf("%-6s %12.1f ops/s  ratio %.3f of one ECDH\n", ops[i].name, r, r / ref);
    else
      printf("%-6s %12.1f ops/s\n", ops[i].name, r);
    fflush(stdout);
  }
  free(env);
  ke_wipe(shares, sizeof shares);
  ke_wipe(&ekey, sizeof ekey);
  return 0;
}
