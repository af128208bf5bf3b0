/*
 * agent_state.c - state directory, lock, state.json, local secret sealing
 * (see agent_state.h).
 */
#include "agent_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ke_crypto.h"
#include "ke_http.h"
#include "ke_json.h"
#include "ke_util.h"

#define STATE_MAX (4u * 1024 * 1024)
#define LOCAL_LABEL "keyescrow-v1-agent-local"

int agent_ctx_lock(agent_ctx *c, const agent_common *o, int create)
{
  char path[PATH_MAX];

  memset(c, 0, sizeof *c);
  c->lock_fd = -1;
  c->opts = o;
  c->dir = o->state_dir;
  if (create && mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
    agent_err("cannot create the state directory %s: %s", c->dir, strerror(errno));
    return AGENT_FAIL;
  }
  if (access(c->dir, F_OK) != 0) {
    agent_err("no state directory %s: this device is not enrolled (run escrow-agent enroll)",
              c->dir);
    return AGENT_FAIL;
  }
  if (agent_check_private(c->dir, 1))
    return AGENT_FAIL;
  if (agent_path(path, sizeof path, c->dir, "lock"))
    return AGENT_FAIL;
  c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (c->lock_fd < 0) {
    agent_err("cannot open %s: %s", path, strerror(errno));
    return AGENT_FAIL;
  }
  if (flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      agent_err("cannot lock %s: %s", path, strerror(errno));
      return AGENT_FAIL;
    }
    agent_info("waiting for another escrow-agent run to finish");
    while (flock(c->lock_fd, LOCK_EX) != 0)
      if (errno != EINTR) {
        agent_err("cannot lock %s: %s", path, strerror(errno));
        return AGENT_FAIL;
      }
  }
  return AGENT_OK;
}

void agent_ctx_close(agent_ctx *c)
{
  json_decref(c->st);
  free(c->manifest);
  agent_key_free(c->key);
  agent_http_free(c->http);
  ke_secure_free(c->local_key, AGENT_LOCAL_KEY_LEN);
  if (c->lock_fd >= 0)
    close(c->lock_fd); /* releases the flock */
  memset(c, 0, sizeof *c);
  c->lock_fd = -1;
}

static int is_fpr_hex(const char *s)
{
  uint8_t b[KE_FPR_LEN];
  return s && ke_parse_hex_exact(b, sizeof b, s) == KE_OK &&
         strspn(s, "0123456789abcdef") == 2 * KE_FPR_LEN;
}

/* The manifest object of the state, parsed and checked against `fpr`. */
static int parse_manifest(const json_t *obj, const char *fpr_hex, ke_manifest *m)
{
  char *text = json_is_object(obj) ? json_dumps(obj, JSON_COMPACT) : NULL;
  char got[2 * KE_FPR_LEN + 1];
  ke_ferr err;
  ke_rc rc;

  if (!text)
    return AGENT_FAIL;
  rc = ke_manifest_parse(m, text, strlen(text), &err);
  free(text);
  if (rc)
    return AGENT_FAIL;
  ke_hex_encode(got, m->pub.fingerprint, KE_FPR_LEN);
  return strcmp(got, fpr_hex) == 0 ? AGENT_OK : AGENT_FAIL;
}

/* A pin kept in the state is in the canonical form ke_http_pin_parse makes. */
static int pin_valid(const char *pin)
{
  char *p = NULL;
  int ok = pin && ke_http_pin_parse(pin, &p) == KE_OK && strcmp(p, pin) == 0;

  free(p);
  return ok;
}

static int no_slash(const char *s) { return !strchr(s, '/'); }

/* The lax members and the checkpoint first: they read even where a later member is
 * damaged (the state is checked on load, but the checkpoint guards against rollback). */
#define SS(m) KE_JF_STR_LAX(agent_st, m)
#define SC(m, chk, why) KE_JF_STR(agent_st, m, 0, INT64_MAX, chk, why)
#define SO(m, chk, why) KE_JF_STR_OPT(agent_st, m, 0, INT64_MAX, chk, why)
static const struct ke_jfield st_fields[] = {
  SS(unpinned),
  SS(last_checkin),
  KE_JF_INT_LAX(agent_st, checkin_interval, 86400),
  SO(audit_checkpoint, NULL, "bad audit_checkpoint"),
  KE_JF_INT(agent_st, version, AGENT_STATE_VERSION, AGENT_STATE_VERSION, "unknown version"),
  SC(server, NULL, "no server"),
  SC(device_id, agent_device_id_valid, "bad device_id"),
  SC(escrow_fingerprint, is_fpr_hex, "bad escrow_fingerprint"),
  KE_JF_ARRAY(agent_st, pinned, 1, INT64_MAX, "no pinned fingerprints"),
  KE_JF_OBJECT(agent_st, volumes, "no volumes object"),
  SO(cacert, no_slash, "bad cacert"),
  SO(pin_sha256, pin_valid, "bad pin_sha256"),
  SC(log_key, NULL, "bad log_key"),
  KE_JF_END};
const struct ke_jspec agent_st_spec = KE_JSPEC(agent_st, st_fields, KE_JS_OPEN);

#define VS(m) KE_JF_STR_LAX(agent_vol, m)
static const struct ke_jfield vol_fields[] = {VS(provider),
                                              VS(tool),
                                              VS(device),
                                              VS(uuid),
                                              VS(pbkdf),
                                              VS(key_type),
                                              VS(key_id),
                                              VS(record_id),
                                              VS(receipt),
                                              VS(escrowed),
                                              VS(last_verified),
                                              VS(envelope_sha256),
                                              VS(escrow_fingerprint),
                                              VS(verifier),
                                              VS(secret),
                                              VS(envelope),
                                              VS(unlock_check),
                                              VS(rotate),
                                              KE_JF_INT_LAX(agent_vol, leaf_index, -1),
                                              KE_JF_INT_LAX(agent_vol, slot, -1),
                                              KE_JF_END};
static const struct ke_jspec vol_spec = KE_JSPEC(agent_vol, vol_fields, KE_JS_OPEN);

#define PS(m) KE_JF_STR_LAX(agent_pend, m)
static const struct ke_jfield pend_fields[] = {PS(op),
                                               PS(step),
                                               PS(reason),
                                               PS(device),
                                               PS(pbkdf),
                                               PS(new_key_id),
                                               PS(old_key_id),
                                               PS(old_secret),
                                               PS(new_secret),
                                               KE_JF_INT_LAX(agent_pend, new_slot, -1),
                                               KE_JF_INT_LAX(agent_pend, old_slot, -1),
                                               KE_JF_END};
static const struct ke_jspec pend_spec = KE_JSPEC(agent_pend, pend_fields, KE_JS_OPEN);

agent_vol agent_vol_read(const json_t *vol)
{
  agent_vol v; /* absent: every field its default (-1: no slot, no leaf) */
  ke_json_spec_parse(vol, &vol_spec, &v, NULL);
  return v;
}

agent_pend agent_pend_read(const json_t *pend)
{
  agent_pend p;
  ke_json_spec_parse(pend, &pend_spec, &p, NULL);
  return p;
}

int agent_state_check(json_t *st, agent_st *s, ke_manifest *m, ke_note_verifier *logkey)
{
  struct ke_jerr err;
  const char *why = NULL, *k;
  size_t i;
  json_t *v;
  int found = 0;

  if (ke_json_spec_parse(st, &agent_st_spec, s, &err))
    why = err.text;
  else if (ke_note_vkey_parse(logkey, s->log_key) != KE_OK)
    why = "bad log_key";
  else if (parse_manifest(json_object_get(st, "escrow_key"), s->escrow_fingerprint, m))
    why = "escrow_key does not parse or does not match escrow_fingerprint";
  json_array_foreach (s->pinned, i, v) {
    if (!why && !is_fpr_hex(json_string_value(v)))
      why = "bad pinned fingerprint";
    found |= !why && strcmp(json_string_value(v), s->escrow_fingerprint) == 0;
  }
  if (!why && !found)
    why = "the escrow key in use is not pinned";
  json_object_foreach ((json_t *)s->volumes, k, v)
    if (!why && (!agent_volume_id_valid(k) || !json_is_object(v) || !agent_vol_read(v).provider))
      why = "bad volume entry";
  if (why) {
    agent_err("the state file is damaged (%s); restore it from a backup or re-enrol", why);
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

int agent_state_save(agent_ctx *c)
{
  char path[PATH_MAX];
  char *text;
  int rc;

  if (c->lock_fd < 0) {
    agent_err("internal error: saving the state without holding its lock");
    return AGENT_FAIL;
  }
  if (agent_path(path, sizeof path, c->dir, "state.json"))
    return AGENT_FAIL;
  text = json_dumps(c->st, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  if (!text)
    return agent_oom();
  rc = agent_write_atomic(path, text, strlen(text), 0600);
  ke_wipe(text, strlen(text));
  free(text);
  return rc;
}

int agent_ctx_open(agent_ctx *c, const agent_common *o, int flags)
{
  char path[PATH_MAX], cacert[PATH_MAX], err[160];
  agent_st s;
  ke_buf b;
  int rc;
  ke_rc k;

  if (flags & AGENT_OPEN_READONLY) {
    memset(c, 0, sizeof *c);
    c->lock_fd = -1;
    c->opts = o;
    c->dir = o->state_dir;
    if (access(c->dir, F_OK) != 0) {
      agent_err("no state directory %s: this device is not enrolled (run escrow-agent "
                "enroll)",
                c->dir);
      return AGENT_FAIL;
    }
    if (agent_check_private(c->dir, 1))
      return AGENT_FAIL;
  } else if ((rc = agent_ctx_lock(c, o, 0))) {
    return rc;
  }
  if (agent_path(path, sizeof path, c->dir, "state.json"))
    return AGENT_FAIL;
  if (access(path, F_OK) != 0) {
    agent_err("this device is not enrolled (no %s): run escrow-agent enroll", path);
    return AGENT_FAIL;
  }
  if (agent_check_private(path, 0) || agent_read_file(&b, path, STATE_MAX, 0, "state file"))
    return AGENT_FAIL;
  if (ke_json_parse_object(&c->st, b.p, b.len, err, sizeof err) != KE_JSON_OK) {
    agent_err("the state file %s is not valid JSON (%s)", path, err);
    ke_buf_free(&b);
    return AGENT_FAIL;
  }
  ke_buf_free(&b);
  if (!(c->manifest = calloc(1, sizeof *c->manifest)))
    return agent_oom();
  if (agent_state_check(c->st, &s, c->manifest, &c->logkey))
    return AGENT_FAIL;
  c->device_id = s.device_id;
  snprintf(c->fpr_hex, sizeof c->fpr_hex, "%s", s.escrow_fingerprint);
  if (agent_path(path, sizeof path, c->dir, "device.key"))
    return AGENT_FAIL;
  if ((k = agent_key_load(&c->key, path)) != KE_OK) {
    agent_err("cannot load the device key %s: %s", path,
              k == KE_ERR_IO ? strerror(errno) : ke_rc_str(k));
    return AGENT_FAIL;
  }
  if (!(flags & AGENT_OPEN_NET))
    return AGENT_OK;
  if (s.cacert &&
      (agent_path(cacert, sizeof cacert, c->dir, s.cacert) || agent_check_private(cacert, 0)))
    return AGENT_FAIL;
  if ((rc = agent_http_open(&c->http, s.server, s.cacert ? cacert : NULL, &o->retry)))
    return rc;
  return agent_http_set_pin(c->http, s.pin_sha256);
}

json_t *agent_volume(agent_ctx *c, const char *volume_id)
{
  return json_object_get(json_object_get(c->st, "volumes"), volume_id);
}

json_t *agent_volume_make(agent_ctx *c, const char *volume_id, const char *provider)
{
  json_t *vols = json_object_get(c->st, "volumes");
  json_t *v = json_object_get(vols, volume_id);

  if (v)
    return v;
  v = json_object();
  if (!v || agent_jset_str(v, "provider", provider) ||
      json_object_set_new(vols, volume_id, v) != 0) {
    agent_err("out of memory");
    return NULL;
  }
  return v;
}

/* ---- local secrets --------------------------------------------------------- */
static int local_key_load(agent_ctx *c)
{
  char path[PATH_MAX];
  int fd;
  ssize_t n;

  if (c->local_key)
    return AGENT_OK;
  if (agent_path(path, sizeof path, c->dir, "local.key"))
    return AGENT_FAIL;
  if (!(c->local_key = ke_secure_alloc(AGENT_LOCAL_KEY_LEN)))
    return agent_oom();
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    /* First secret kept on this device: make the key, never replacing one
     * that another run made meanwhile (O_EXCL). */
    if (ke_random(c->local_key, AGENT_LOCAL_KEY_LEN) != KE_OK) {
      agent_err("the random number generator failed");
      return AGENT_FAIL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, c->local_key, AGENT_LOCAL_KEY_LEN) != AGENT_LOCAL_KEY_LEN ||
        fsync(fd) != 0) {
      agent_err("cannot create %s: %s", path, strerror(errno));
      if (fd >= 0)
        close(fd);
      return AGENT_FAIL;
    }
    close(fd);
    return AGENT_OK;
  }
  if (fd < 0) {
    agent_err("cannot open %s: %s", path, strerror(errno));
    return AGENT_FAIL;
  }
  close(fd);
  if (agent_check_private(path, 0))
    return AGENT_FAIL;
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  n = fd >= 0 ? read(fd, c->local_key, AGENT_LOCAL_KEY_LEN) : -1;
  if (fd >= 0)
    close(fd);
  if (n != AGENT_LOCAL_KEY_LEN) {
    agent_err("%s is not a %d-byte key", path, AGENT_LOCAL_KEY_LEN);
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

/* AAD = label 00 device 00 volume (the label's NUL ends ke_bind_ids's
 * prefix): a sealed secret moved to another volume entry (or another
 * device's state) does not open. */
static int gcm(agent_ctx *c, int enc, const char *volume_id, const uint8_t nonce[12],
               const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
  uint8_t *aad = NULL;
  size_t aadlen = 0;
  ke_rc rc = ke_bind_ids(&aad, &aadlen, (const uint8_t *)LOCAL_LABEL, sizeof LOCAL_LABEL,
                         c->device_id, volume_id);

  if (rc == KE_OK)
    rc = enc ? ke_aead_seal(out, tag, c->local_key, nonce, aad, aadlen, in, len)
             : ke_aead_open(out, c->local_key, nonce, aad, aadlen, in, len, tag);
  free(aad);
  return rc == KE_OK ? AGENT_OK : AGENT_FAIL;
}

int agent_local_seal(agent_ctx *c, const char *volume_id, const uint8_t *s, size_t len, char **out)
{
  uint8_t *buf;
  size_t n = 12 + len + 16;
  int rc;

  *out = NULL;
  if (local_key_load(c))
    return AGENT_FAIL;
  if (!(buf = malloc(n)))
    return agent_oom();
  rc = ke_random(buf, 12) == KE_OK ? gcm(c, 1, volume_id, buf, s, len, buf + 12, buf + 12 + len)
                                   : AGENT_FAIL;
  if (!rc && !(*out = ke_b64url_encode(buf, n)))
    rc = AGENT_FAIL;
  free(buf);
  if (rc)
    agent_err("cannot seal the secret of volume %s for local storage", volume_id);
  return rc;
}

int agent_local_open(agent_ctx *c, const char *volume_id, const char *sealed, uint8_t **s,
                     size_t *len)
{
  uint8_t *buf = NULL;
  size_t n = 0;
  int rc = AGENT_FAIL;

  *s = NULL;
  *len = 0;
  if (local_key_load(c))
    return AGENT_FAIL;
  if (!sealed || ke_b64url_decode(&buf, &n, sealed, 0) != KE_OK || n < 12 + 16 + 1) {
    agent_err("the kept secret of volume %s is malformed", volume_id);
    free(buf);
    return AGENT_FAIL;
  }
  *len = n - 28;
  if (!(*s = ke_secure_alloc(*len)))
    agent_err("out of memory");
  else if (gcm(c, 0, volume_id, buf, buf + 12, *len, *s, buf + 12 + *len))
    agent_err("the kept secret of volume %s does not open with %s/local.key (was the state "
              "copied from elsewhere?)",
              volume_id, c->dir);
  else
    rc = AGENT_OK;
  free(buf);
  if (rc) {
    ke_secure_free(*s, *len);
    *s = NULL;
    *len = 0;
  }
  return rc;
}

/* ---- escrow keys --------------------------------------------------------------- */
int agent_fpr_pinned(const agent_ctx *c, const char *hex)
{
  size_t i;
  json_t *v;

  json_array_foreach (json_object_get(c->st, "pinned"), i, v)
    if (hex && json_string_value(v) && strcmp(json_string_value(v), hex) == 0)
      return 1;
  return 0;
}

int agent_adopt_manifest(agent_ctx *c, const json_t *manifest)
{
  char *text = json_is_object(manifest) ? json_dumps(manifest, JSON_COMPACT) : NULL;
  ke_manifest *m = calloc(1, sizeof *m);
  char hex[2 * KE_FPR_LEN + 1];
  ke_ferr err;
  int rc = AGENT_BADANSWER;

  if (!m || (!text && json_is_object(manifest))) {
    rc = agent_oom();
    goto out;
  }
  if (!text || ke_manifest_parse(m, text, strlen(text), &err) != KE_OK) {
    agent_err("the server announced an escrow key manifest that does not parse (%s)",
              text ? err.msg : "not an object");
    goto out;
  }
  ke_hex_encode(hex, m->pub.fingerprint, KE_FPR_LEN);
  if (!agent_fpr_pinned(c, hex)) {
    agent_err("escrow key %s is not pinned on this device; refusing to seal to it", hex);
    goto out;
  }
  if (agent_jset(c->st, "escrow_key", json_deep_copy(manifest)) ||
      agent_jset_str(c->st, "escrow_fingerprint", hex)) {
    rc = AGENT_FAIL;
    goto out;
  }
  free(c->manifest);
  c->manifest = m;
  m = NULL;
  snprintf(c->fpr_hex, sizeof c->fpr_hex, "%s", hex);
  rc = AGENT_OK;
out:
  free(m);
  free(text);
  return rc;
}
