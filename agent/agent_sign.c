/*
 * agent_sign.c - the device key and the request/envelope signatures (see
 * agent_sign.h).  Ed25519 through OpenSSL's EVP interface (one-shot
 * EVP_DigestSign with no digest, as RFC 8032 "pure" Ed25519 requires).
 */
#include "agent_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ke_cli.h"
#include "ke_crypto.h"

#define KEY_FILE_MAX 4096

struct agent_key {
  EVP_PKEY *pkey;
  uint8_t pub[AGENT_PUB_LEN];
};

static ke_rc key_wrap(agent_key **out, EVP_PKEY *pkey)
{
  agent_key *k;
  size_t publen = AGENT_PUB_LEN;

  *out = NULL;
  if (!pkey)
    return KE_ERR_INTERNAL;
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key(pkey, NULL, &publen) != 1 || publen != AGENT_PUB_LEN) {
    EVP_PKEY_free(pkey);
    return KE_ERR_FORMAT;
  }
  k = calloc(1, sizeof *k);
  if (!k) {
    EVP_PKEY_free(pkey);
    return KE_ERR_NOMEM;
  }
  k->pkey = pkey;
  if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1) {
    agent_key_free(k);
    return KE_ERR_INTERNAL;
  }
  *out = k;
  return KE_OK;
}

ke_rc agent_key_generate(agent_key **out)
{
  EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  return key_wrap(out, pkey);
}

ke_rc agent_key_from_seed(agent_key **out, const uint8_t seed[AGENT_SEED_LEN])
{
  EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, AGENT_SEED_LEN);
  return key_wrap(out, pkey);
}

void agent_key_free(agent_key *k)
{
  if (!k)
    return;
  EVP_PKEY_free(k->pkey);
  free(k);
}

void agent_key_public(const agent_key *k, uint8_t pub[AGENT_PUB_LEN])
{
  memcpy(pub, k->pub, AGENT_PUB_LEN);
}

ke_rc agent_key_save(const agent_key *k, const char *path)
{
  BIO *mem = BIO_new(BIO_s_secmem());
  char *pem = NULL;
  long pemlen;
  ke_io_err e;
  ke_rc rc = KE_OK;

  if (!mem)
    return KE_ERR_NOMEM;
  if (PEM_write_bio_PrivateKey(mem, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
    BIO_free(mem);
    return KE_ERR_INTERNAL;
  }
  pemlen = BIO_get_mem_data(mem, &pem);
  /* Never replacing: a second enrolment can never silently orphan the
   * registered key. */
  if (ke_write_file(path, pem, (size_t)pemlen, 0600, 0, &e)) {
    errno = e.err;
    rc = KE_ERR_IO;
  }
  BIO_free(mem); /* secure-heap BIO: wiped on free */
  return rc;
}

ke_rc agent_key_load(agent_key **out, const char *path)
{
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  char *buf = NULL;
  ssize_t n = 0;
  BIO *mem = NULL;
  EVP_PKEY *pkey = NULL;
  ke_rc rc = KE_ERR_IO;

  *out = NULL;
  if (fd < 0)
    return KE_ERR_IO;
  if (fstat(fd, &st) != 0)
    goto out;
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
    errno = EPERM;
    goto out;
  }
  buf = ke_secure_alloc(KEY_FILE_MAX + 1);
  if (!buf) {
    rc = KE_ERR_NOMEM;
    goto out;
  }
  for (size_t off = 0;;) {
    n = read(fd, buf + off, KEY_FILE_MAX + 1 - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      goto out;
    if (n == 0) {
      n = (ssize_t)off;
      break;
    }
    off += (size_t)n;
    if (off > KEY_FILE_MAX) {
      rc = KE_ERR_FORMAT;
      goto out;
    }
  }
  mem = BIO_new_mem_buf(buf, (int)n);
  if (!mem) {
    rc = KE_ERR_NOMEM;
    goto out;
  }
  pkey = PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL);
  if (!pkey) {
    rc = KE_ERR_FORMAT;
    goto out;
  }
  rc = key_wrap(out, pkey);
out:
  BIO_free(mem);
  ke_secure_free(buf, KEY_FILE_MAX + 1);
  close(fd);
  return rc;
}

ke_rc agent_sign(const agent_key *k, const uint8_t *msg, size_t len, uint8_t sig[AGENT_SIG_LEN])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  size_t siglen = AGENT_SIG_LEN;
  ke_rc rc = KE_ERR_INTERNAL;

  if (!md)
    return KE_ERR_NOMEM;
  if (EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1 &&
      EVP_DigestSign(md, sig, &siglen, msg, len) == 1 && siglen == AGENT_SIG_LEN)
    rc = KE_OK;
  EVP_MD_CTX_free(md);
  return rc;
}

ke_rc agent_request_message(uint8_t **out, size_t *len, const char *method, const char *target,
                            const char *timestamp, const char *nonce, const uint8_t *body,
                            size_t bodylen)
{
  uint8_t hash[32];
  char hex[65];
  size_t n;
  char *m;

  *out = NULL;
  *len = 0;
  /* No field may contain a newline: each is one line of the message. */
  if (strpbrk(method, "\r\n") || strpbrk(target, "\r\n") || strpbrk(timestamp, "\r\n") ||
      strpbrk(nonce, "\r\n"))
    return KE_ERR_FORMAT;
  if (EVP_Digest(body ? body : (const uint8_t *)"", body ? bodylen : 0, hash, NULL, EVP_sha256(),
                 NULL) != 1)
    return KE_ERR_INTERNAL;
  ke_hex_encode(hex, hash, sizeof hash);
  n = strlen(AGENT_REQUEST_LABEL) + strlen(method) + strlen(target) + strlen(timestamp) +
      strlen(nonce) + 64 + 6;
  m = malloc(n + 1);
  if (!m)
    return KE_ERR_NOMEM;
  snprintf(m, n + 1, "%s\n%s\n%s\n%s\n%s\n%s\n", AGENT_REQUEST_LABEL, method, target, timestamp,
           nonce, hex);
  *out = (uint8_t *)m;
  *len = n;
  return KE_OK;
}

ke_rc agent_sign_request_det(agent_req_sig *out, const agent_key *k, const char *method,
                             const char *target, time_t ts, const uint8_t nonce[AGENT_NONCE_LEN],
                             const uint8_t *body, size_t bodylen)
{
  uint8_t *msg = NULL, sig[AGENT_SIG_LEN];
  size_t msglen;
  char *b64;
  ke_rc rc;

  memset(out, 0, sizeof *out);
  snprintf(out->timestamp, sizeof out->timestamp, "%lld", (long long)ts);
  if (!(b64 = ke_b64url_encode(nonce, AGENT_NONCE_LEN)))
    return KE_ERR_NOMEM;
  snprintf(out->nonce, sizeof out->nonce, "%s", b64);
  free(b64);
  rc =
    agent_request_message(&msg, &msglen, method, target, out->timestamp, out->nonce, body, bodylen);
  if (!rc)
    rc = agent_sign(k, msg, msglen, sig);
  free(msg);
  if (rc)
    return rc;
  if (!(b64 = ke_b64url_encode(sig, sizeof sig)))
    return KE_ERR_NOMEM;
  snprintf(out->signature, sizeof out->signature, "%s", b64);
  free(b64);
  return KE_OK;
}

ke_rc agent_sign_request(agent_req_sig *out, const agent_key *k, const char *method,
                         const char *target, const uint8_t *body, size_t bodylen)
{
  uint8_t nonce[AGENT_NONCE_LEN];
  ke_rc rc = ke_random(nonce, sizeof nonce);

  if (rc)
    return rc;
  return agent_sign_request_det(out, k, method, target, time(NULL), nonce, body, bodylen);
}

ke_rc agent_sign_envelope(const agent_key *k, const uint8_t *env, size_t envlen,
                          const char *device_id, const char *volume_id, uint8_t sig[AGENT_SIG_LEN])
{
  uint8_t *m = NULL;
  size_t n = 0;
  ke_rc rc = ke_bind_ids(&m, &n, env, envlen, device_id, volume_id);

  if (rc)
    return rc;
  rc = agent_sign(k, m, n, sig);
  free(m);
  return rc;
}
