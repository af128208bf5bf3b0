/*
 * agent_provider_stdin.c - a secret piped in by an operator ("for
 * everything else").
 *
 * The agent does not keep it: the secret may belong to something other
 * than this device's disks, and nothing on the device could check it
 * later anyway.  So check-in reports "unsupported" and sends no verifier,
 * and a rotation or an escrow key change needs the operator to run
 * `escrow-agent escrow --provider stdin --volume V` again.
 */
#include "agent_provider.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ke_util.h"

static int read_tty(ke_buf *b)
{
  struct termios old, quiet;
  int echo_off, rc = AGENT_OK;

  memset(b, 0, sizeof *b);
  b->secure = 1;
  /* Echo off before the prompt: nothing typed after it is ever shown. */
  echo_off = tcgetattr(STDIN_FILENO, &old) == 0;
  if (echo_off) {
    quiet = old;
    quiet.c_lflag &= (tcflag_t)~ECHO;
    echo_off = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
  }
  fprintf(stderr, "recovery secret (not shown): ");
  fflush(stderr);
  /* read(2), not stdio: no library buffer keeps a copy of the secret. */
  for (;;) {
    char ch;
    ssize_t n = read(STDIN_FILENO, &ch, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || ch == '\n')
      break;
    if (b->len > KE_SECRET_MAX || ke_buf_append(b, &ch, 1)) {
      rc = AGENT_FAIL;
      break;
    }
    ke_wipe(&ch, 1);
  }
  if (echo_off)
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
  fprintf(stderr, "\n");
  if (!rc && !b->p && ke_buf_append(b, "", 0))
    rc = AGENT_FAIL;
  if (rc) {
    agent_err("the secret is longer than %d bytes", KE_SECRET_MAX);
    ke_buf_free(b);
  }
  return rc;
}

static int stdin_current(agent_ctx *c, const agent_prov_opts *o, const char *volume_id, json_t *vol,
                         agent_secret *out)
{
  ke_buf b;
  size_t n;
  const char *key_type;
  int rc;

  (void)c;
  (void)vol;
  (void)volume_id;
  if (!o)
    return AGENT_OK; /* check-in: the agent cannot read it */
  if (!o->volume)
    return agent_missing_opt("--volume (with --provider stdin)");
  key_type = o->key_type ? o->key_type : "other";
  if (!agent_key_type_valid(key_type)) {
    agent_err("--key-type must be bitlocker, filevault, luks or other");
    return AGENT_USAGE;
  }
  if (o->key_id && !agent_key_id_valid(o->key_id)) {
    agent_err("--key-id must be 1..128 printable ASCII characters");
    return AGENT_USAGE;
  }
  if ((!o->input || !strcmp(o->input, "-")) && isatty(STDIN_FILENO)) {
    /* Typed by a person: ask, and do not echo it (up to the newline). */
    if ((rc = read_tty(&b)))
      return rc;
  } else if ((rc =
                agent_read_file(&b, o->input ? o->input : "-", KE_SECRET_MAX + 2, 1, "secret"))) {
    return rc;
  }
  n = b.len;
  /* Same text rule as escrowctl seal: one trailing newline after UTF-8
   * text is the end of the line, not part of the secret. */
  if (!o->raw && n && b.p[n - 1] == '\n') {
    size_t m = n - 1 - (n >= 2 && b.p[n - 2] == '\r');
    if (ke_text_valid((const uint8_t *)b.p, m))
      n = m;
  }
  if (n < KE_SECRET_MIN || n > KE_SECRET_MAX) {
    agent_err("the secret must be %d..%d bytes (got %zu)", KE_SECRET_MIN, KE_SECRET_MAX, n);
    ke_buf_free(&b);
    return AGENT_FAIL;
  }
  rc = agent_secret_set(out, b.p, n);
  ke_buf_free(&b);
  snprintf(out->volume_id, sizeof out->volume_id, "%s", o->volume);
  snprintf(out->key_id, sizeof out->key_id, "%s", o->key_id ? o->key_id : o->volume);
  out->key_type = key_type;
  return rc;
}

static const char *stdin_unlock(agent_ctx *c, const char *volume_id, json_t *vol,
                                const agent_secret *cur)
{
  (void)c;
  (void)volume_id;
  (void)vol;
  (void)cur;
  return "unsupported";
}

const agent_provider agent_provider_stdin = {
  "stdin", "other", 0, stdin_current, stdin_unlock, NULL, 0,
};
