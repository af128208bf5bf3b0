/*
 * escrowctl custodian - a custodian that is a program.
 *
 *   custodian serve --policy P --share S --state DIR   the daemon
 *   custodian check-policy P                           validate, and say what it allows
 *   custodian rearm --state DIR                        after a limit tripped
 *   custodian trust-key --state DIR USER FPR           a requester's new client key
 *
 * The daemon unseals its share once, keeps it in locked memory in a process
 * that cannot dump core, and waits on the pending queue with the long-poll.
 * For each request it makes every check `escrowctl approve` makes
 * (ctl_approve.h: the request file and the requester's signature, the
 * server's status agreeing with it, the escrow event proven in the signed
 * log) with its own pins for the requesters' client keys, then the policy's
 * rules (ctl_policy.h) and the rate limits.  It contributes its part when
 * all pass and declines, naming the rule, when one fails.  Every decision
 * is durable before it is acted on (ctl_custodian.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl_approve.h"
#include "ctl_cmd.h"
#include "ctl_custodian.h"
#include "ctl_http.h"
#include "ctl_logview.h"
#include "ctl_open.h"
#include "ctl_pins.h"
#include "ke_util.h"

#define CUST_WAIT_S 25 /* one long-poll; also how soon SIGTERM is noticed at worst */

const char ctl_usage_custodian_serve[] =
  "usage: escrowctl custodian serve --policy FILE --share FILE --state DIR\n"
  "                                 [--passphrase-file F] [--token-file F]\n"
  "                                 [--log-key VKEY] [--once]\n"
  "\n"
  "Runs a policy custodian: logs in with this custodian account's API token\n"
  "($ESCROWCTL_TOKEN or `escrowctl login`), unseals the share once, and answers\n"
  "the pending retrieval requests by itself: every check of `escrowctl approve`,\n"
  "then the policy's rules and rate limits (`escrowctl custodian check-policy`).\n"
  "A request that passes gets this custodian's part; one that fails gets a\n"
  "decline naming the rule.  A tripped limit stops all approvals and raises the\n"
  "alarm until `escrowctl custodian rearm`.  Decisions go to DIR/decisions.log.\n"
  "\n"
  "  --policy FILE            the policy (JSON; docs/operations.md)\n"
  "  --share FILE             this custodian's share file\n"
  "  --passphrase-file F      its passphrase (systemd: LoadCredential=)\n"
  "  --token-file F           the API token (default: $ESCROWCTL_TOKEN, the login)\n"
  "  --state DIR              limits, decisions and pins (mode 0700)\n"
  "  --log-key VKEY           the audit log's verifier key (as for `approve`)\n"
  "  --once                   answer what is pending, then exit (for cron and tests)\n"
  "  --server URL, --cacert PEM, --pin-sha256 PINS   as for every online command\n";
const char ctl_usage_custodian_check[] =
  "usage: escrowctl custodian check-policy FILE\n"
  "\n"
  "Checks a policy file as `custodian serve` would at start (an error names the\n"
  "key and its line) and prints what the policy allows.\n";
const char ctl_usage_custodian_rearm[] =
  "usage: escrowctl custodian rearm --state DIR\n"
  "\n"
  "Re-arms a policy custodian whose rate limit tripped: it approves again, and\n"
  "its limits count from now.  Run it on the custodian's host, after finding out\n"
  "why the limit tripped (escrowctl report retrievals).\n";
const char ctl_usage_custodian_trust[] =
  "usage: escrowctl custodian trust-key --state DIR USER FINGERPRINT\n"
  "\n"
  "Pins USER's client key FINGERPRINT (64 hex digits, as `escrowctl key show`\n"
  "prints it to them) for a policy custodian: after a requester replaced their\n"
  "key, and you checked the new one with them out of band.\n";

typedef struct cust_opts {
  ctl_http_target t;
  const char *policy, *share, *passfile, *state, *log_key, *token_file;
  int once;
} cust_opts;

/* ---- the daemon's process ------------------------------------------------- */

/* The unsealed share, for the signal handler: it wipes it and exits. */
static ke_scalar *volatile cust_share;

static void on_term(int sig)
{
  ke_scalar *d = cust_share;
  (void)sig;
  if (d)
    OPENSSL_cleanse(d, sizeof *d);
  _exit(0);
}

/* No core file, no ptrace by other users, and the signals that end the
 * process wipe the share first. */
static int harden(void)
{
  struct rlimit none = {0, 0};
  struct sigaction sa = {0};

  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &none) != 0)
    return ctl_err(CTL_FAIL, "cannot switch core dumps off: %s", strerror(errno));
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  return CTL_OK;
}

typedef struct cust {
  const cust_opts *o;
  ctl_policy policy;
  ctl_http *h;
  ke_sharefile sf;
  ke_scalar *d;
} cust;

/* The escrow key of the share, from the server: the share's own
 * fingerprint selects it, and unsealing checks d_i*G == Q_i against it, so
 * a server that lies about the key only stops the daemon from starting. */
static int unseal(cust *c)
{
  char path[128], fpr[2 * KE_FPR_LEN + 1], *text = NULL;
  json_t *ans = NULL;
  ke_manifest *m = calloc(1, sizeof *m);
  ke_ferr ferr;
  int rc;

  if (!m)
    return CTL_FAIL;
  ke_hex_encode(fpr, c->sf.fingerprint, KE_FPR_LEN);
  snprintf(path, sizeof path, "/v1/escrow-key?fingerprint=%s", fpr);
  if ((rc = ctl_http_call(c->h, "GET", path, NULL, &ans)))
    goto out;
  rc = CTL_FAIL;
  text = json_dumps(json_object_get(ans, "manifest"), JSON_COMPACT);
  if (!text || ke_manifest_parse(m, text, strlen(text), &ferr) != KE_OK ||
      !ke_ct_eq(m->pub.fingerprint, c->sf.fingerprint, KE_FPR_LEN)) {
    ctl_errf("the server's escrow key %s does not parse or is another key", fpr);
    goto out;
  }
  if (!(c->d = ke_secure_alloc(sizeof *c->d)))
    goto out;
  if ((rc = ctl_unseal_share(c->d, &c->sf, &m->pub, c->o->passfile)) == CTL_OK)
    cust_share = c->d;
out:
  free(text);
  free(m);
  json_decref(ans);
  return rc;
}

/* ---- one request ---------------------------------------------------------- */

/* The tests' crash points ($ESCROWCTL_CUSTODIAN_CRASH = after-decide or
 * after-send): the process dies there as if killed, to show that nothing
 * is lost or sent twice.  In the test build only (escrowctl-testhooks,
 * KE_CTL_TEST_HOOKS): the installed escrowctl has no such code. */
#ifdef KE_CTL_TEST_HOOKS
static void crash_point(const char *where)
{
  const char *c = getenv("ESCROWCTL_CUSTODIAN_CRASH");

  if (c && strcmp(c, where) == 0)
    _exit(70);
}
#else
#define crash_point(where) ((void)0)
#endif

typedef struct verdict {
  char rule[CTL_POLICY_RULE_MAX];
  char why[600];
  int pin_now; /* approve only with the requester's key pinned now (first sight) */
} verdict;

enum { JUDGE_APPROVE = 0, JUDGE_DECLINE = 1, JUDGE_LATER = -1 };

#define REFUSE(v, name, ...)                          \
  do {                                                \
    snprintf((v)->rule, sizeof(v)->rule, "%s", name); \
    snprintf((v)->why, sizeof(v)->why, __VA_ARGS__);  \
    return JUDGE_DECLINE;                             \
  } while (0)

/* Whose key signed: the policy's pin, else this daemon's; with neither, a
 * pin on first sight if the policy allows it, taken only if the request is
 * approved (a declined request pins nothing).  A changed key is refused
 * until an operator confirms the new one. */
static int key_refused(const cust *c, const ctl_cust_state *st, const ke_request *r, verdict *v)
{
  const char *user = r->requester.user;
  const char *pin = ctl_jstr(c->policy.requester_keys, user);
  int in_policy = pin != NULL;
  char now[65];

  ke_hex_encode(now, r->requester.fingerprint, 32);
  if (!pin)
    pin = ctl_cust_pin(st, user);
  if (!pin) {
    if (!c->policy.pin_on_first_sight)
      REFUSE(v, "requester_key", "no client key of %s is pinned by this custodian", user);
    v->pin_now = 1;
    return 0;
  }
  if (strlen(pin) != 64 || CRYPTO_memcmp(pin, now, 64) != 0)
    REFUSE(v, "requester_key",
           "signed by client key %.16s..., not the %.16s... pinned for %s: an operator must "
           "confirm the new key on the custodian's host (%s)",
           now, pin, user,
           in_policy ? "requester_keys in the policy" : "escrowctl custodian trust-key");
  return 0;
}

/* Every check, in order, on a snapshot of the state (no lock is held:
 * some checks go to the network). */
static int judge(cust *c, const ctl_cust_state *st, const ke_request *r, const json_t *view,
                 time_t now, verdict *v)
{
  const char *trip = ctl_cust_tripped(st);
  int rc;

  if (trip) /* first: a tripped custodian asks nobody anything */
    REFUSE(v, "limit_tripped", "this custodian stopped approving: %s", trip);
  if (!r->has_requester)
    REFUSE(v, "request_signature", "the request is not signed by a requester's client key");
  if (ctl_check_share(&c->sf, &r->pub, NULL, "the request's escrow key") != CTL_OK)
    REFUSE(v, "escrow_key", "the request's envelope is sealed to another escrow key");
  if (ctl_approve_same_request(r, view) != CTL_OK)
    REFUSE(v, "request_mismatch", "the server's request is not the one the requester signed");
  if (key_refused(c, st, r, v))
    return JUDGE_DECLINE;
  /* The server away, or this daemon's token refused: not the request's
   * fault, so no decision yet. */
  if ((rc = ctl_approve_in_log(c->h, c->o->log_key, r, view)) == CTL_NET || rc == CTL_AUTH)
    return JUDGE_LATER;
  /* Nor is an event newer than the witnesses' checkpoint, or this host's
   * log view unusable (CTL_LATER; a log key gone: CTL_USAGE): only a
   * proven problem (no such event, a proof that fails, a forked view,
   * another log key: CTL_FAIL) is.  The request is judged again next round
   * (the queue's long-poll: at most CUST_WAIT_S later, and never at once,
   * since waiting changes nothing in the queue) until proven or expired. */
  if (rc && rc != CTL_FAIL) {
    fprintf(stderr, "escrowctl custodian: %s: no decision yet, asked again next round\n",
            r->request_id);
    return JUDGE_LATER;
  }
  if (rc)
    REFUSE(v, "escrow_event", "the record's escrow event is not proven in the signed audit log");
  if (ctl_policy_check(&c->policy, r, view, now, ctl_cust_last_approval(st, r->device), v->rule,
                       v->why, sizeof v->why))
    return JUDGE_DECLINE;
  return JUDGE_APPROVE;
}

/* Send a recorded decision: exactly its part, or its decline.  1 when it
 * is with the server (409: this index already gave a part or another
 * decline, which a resend after a crash meets). */
static int act(cust *c, const char *id, const json_t *dec)
{
  const char *what = ctl_jstr(dec, "decision") ?: "";
  char path[200], esc[128];
  json_t *body, *ans = NULL;
  long status = 0;

  if (ctl_http_escape(esc, sizeof esc, id))
    return 0;
  if (strcmp(what, "approve") == 0) {
    const char *part = ctl_jstr(dec, "part");
    body = part ? json_pack("{s:s}", "part", part) : NULL;
    snprintf(path, sizeof path, "/v1/retrievals/%s/parts", esc);
  } else {
    body = json_pack("{s:s,s:s}", "rule", ctl_jstr(dec, "rule") ?: "x", "reason",
                     ctl_jstr(dec, "reason") ?: "-");
    snprintf(path, sizeof path, "/v1/retrievals/%s/declines", esc);
  }
  if (body)
    ctl_http_call_status(c->h, "POST", path, body, &status, &ans);
  json_decref(body);
  json_decref(ans);
  return (status >= 200 && status < 300) || status == 409;
}

/* A decline's reason fits the server's 500 bytes (POST .../declines),
 * cut before a UTF-8 character, never inside one. */
#define CUST_REASON_MAX 500
static void trim_reason(char *why)
{
  size_t n = strlen(why);

  if (n <= CUST_REASON_MAX)
    return;
  n = CUST_REASON_MAX;
  while (n > 0 && ((unsigned char)why[n] & 0xc0) == 0x80)
    n--;
  why[n] = '\0';
}

/* Under the state's lock: the last word on a verdict made without it.
 * The limits and the trip are counted on the fresh state (the only place
 * approvals are added), a first-sight pin is taken if still free, and the
 * part is made.  Returns the decision's part (or NULL for a decline). */
static char *settle(cust *c, ctl_cust_state *st, const ke_request *r, int *no, verdict *v,
                    time_t now)
{
  const char *trip, *pin;
  char fpr[65];
  ke_partfile pf;
  char *b64 = NULL;

  if (*no)
    return NULL;
  ke_hex_encode(fpr, r->requester.fingerprint, 32);
  if ((trip = ctl_cust_tripped(st))) {
    snprintf(v->rule, sizeof v->rule, "limit_tripped");
    snprintf(v->why, sizeof v->why, "this custodian stopped approving: %s", trip);
  } else if (ctl_cust_over_limit(st, &c->policy, r->requester.user, now, v->why, sizeof v->why)) {
    snprintf(v->rule, sizeof v->rule, "rate_limit");
    ctl_cust_trip(st, v->why, now);
  } else if (!json_object_get(c->policy.requester_keys, r->requester.user) &&
             (pin = ctl_cust_pin(st, r->requester.user)) && strcmp(pin, fpr)) {
    /* trust-key (or a first-sight pin) changed the pin while judging */
    snprintf(v->rule, sizeof v->rule, "requester_key");
    snprintf(v->why, sizeof v->why, "another client key of %s was pinned meanwhile",
             r->requester.user);
  } else if (ctl_part_compute(&pf, r, c->sf.index, c->d) != CTL_OK ||
             !(b64 = ke_b64url_encode(pf.part, KE_PART_LEN))) {
    snprintf(v->rule, sizeof v->rule, "internal");
    snprintf(v->why, sizeof v->why, "this custodian could not make its part");
  } else if (v->pin_now) {
    ctl_cust_set_pin(st, r->requester.user, fpr);
  }
  ke_wipe(&pf, sizeof pf);
  *no = b64 == NULL;
  return b64;
}

/* Decide on a request nobody decided yet.  CTL_OK when decided (or to be
 * tried again later), else an exit code. */
static int decide(cust *c, const char *id)
{
  ke_request *r = calloc(1, sizeof *r);
  json_t *view = NULL;
  ctl_cust_state st;
  verdict v = {0};
  char *part = NULL;
  time_t now = ctl_cust_now();
  int forged = 0, no, rc;

  if (!r)
    return CTL_FAIL;
  if (ctl_approve_fetch(c->h, id, r, &view, &forged) != CTL_OK) {
    rc = CTL_OK; /* an HTTP or network failure: next round */
    if (!forged)
      goto out;
    snprintf(v.rule, sizeof v.rule, "request_file");
    snprintf(v.why, sizeof v.why,
             "the request file does not verify, or the server's status disagrees with it");
    no = JUDGE_DECLINE;
  } else {
    ctl_cust_state snap;
    if ((rc = ctl_cust_snapshot(&snap, c->o->state)))
      goto out;
    no = judge(c, &snap, r, view, now, &v);
    json_decref(snap.j);
    if (no == JUDGE_LATER)
      goto out;
  }
  if ((rc = ctl_cust_open(&st, c->o->state)))
    goto out;
  if (ctl_cust_decision(&st, id)) { /* decided meanwhile */
    ctl_cust_close(&st);
    goto out;
  }
  part = settle(c, &st, r, &no, &v, now);
  trim_reason(v.why);
  if (ctl_cust_decide(&st, id, no ? "decline" : "approve", no ? v.rule : NULL, no ? v.why : NULL,
                      part, r->requester.user, r->device, now) != CTL_OK) {
    ctl_cust_close(&st);
    rc = CTL_FAIL;
    goto out;
  }
  if ((rc = ctl_cust_commit(&st)) || (rc = ctl_cust_log(c->o->state, id, no ? "decline" : "approve",
                                                        no ? v.rule : NULL, no ? v.why : NULL)))
    goto out;
  fprintf(stderr, "escrowctl custodian: %s %s%s%s\n", no ? "declined" : "approved", id,
          no ? ": " : "", no ? v.rule : "");
  crash_point("after-decide");
out:
  if (part) {
    ke_wipe(part, strlen(part));
    free(part);
  }
  json_decref(view);
  ke_wipe(r, sizeof *r);
  free(r);
  return rc;
}

static int handle(cust *c, const char *id)
{
  ctl_cust_state st;
  json_t *dec;
  int rc;

  /* A decision is made once; sending it may take several rounds. */
  if ((rc = ctl_cust_open(&st, c->o->state)))
    return rc;
  dec = ctl_cust_decision(&st, id);
  if (!dec) {
    ctl_cust_close(&st);
    if ((rc = decide(c, id)))
      return rc;
    if ((rc = ctl_cust_open(&st, c->o->state)))
      return rc;
    dec = ctl_cust_decision(&st, id);
  }
  if (!dec || json_is_true(json_object_get(dec, "done"))) {
    ctl_cust_close(&st);
    return CTL_OK;
  }
  dec = json_deep_copy(dec);
  ctl_cust_close(&st); /* not held across the network */
  if (dec && act(c, id, dec)) {
    crash_point("after-send");
    if (!(rc = ctl_cust_open(&st, c->o->state))) {
      ctl_cust_mark_done(&st, id);
      if (!(rc = ctl_cust_commit(&st)))
        rc = ctl_cust_log(c->o->state, id, "sent", NULL, NULL);
    }
  }
  json_decref(dec);
  return rc;
}

/* ---- the loop -------------------------------------------------------------- */

/* Deliver a due alarm on each channel that has not had it and is not
 * waiting out a failure (a trip is durable before its alarm, so a crash
 * in between only delays it). */
static void alarm_if_pending(cust *c)
{
  ctl_cust_alarm_deliver(&c->policy, c->o->state, c->sf.index);
}

static int serve_loop(cust *c)
{
  long long cursor = -1;

  for (;;) {
    char path[160];
    json_t *ans = NULL, *e;
    size_t i;
    long status = 0;

    alarm_if_pending(c);
    if (cursor < 0 || c->o->once)
      snprintf(path, sizeof path, "/v1/retrievals?state=pending&limit=1000");
    else
      snprintf(path, sizeof path, "/v1/retrievals?state=pending&limit=1000&wait=%d&since=%lld",
               CUST_WAIT_S, cursor);
    if (ctl_http_call_status(c->h, "GET", path, NULL, &status, &ans) || status != 200) {
      json_decref(ans);
      if (status == 401 || status == 403)
        return ctl_err(CTL_FAIL, "the server refuses this custodian's token (HTTP %ld)", status);
      if (c->o->once)
        return CTL_FAIL;
      sleep(2); /* the server is away: try again, gently */
      continue;
    }
    json_array_foreach (json_object_get(ans, "retrievals"), i, e) {
      const char *id = ctl_jstr(e, "request_id");
      if (id && handle(c, id) != CTL_OK)
        ctl_errf("could not record a decision on %s; the state directory needs attention", id);
    }
    cursor = ctl_jint(ans, "cursor");
    json_decref(ans);
    if (c->o->once) {
      alarm_if_pending(c); /* a trip of this round alarms before exit */
      return CTL_OK;
    }
  }
}

/* The daemon of one state directory at a time. */
static int lock_serving(const char *dir, int *fd)
{
  char p[PATH_MAX];

  snprintf(p, sizeof p, "%s/serve.lock", dir);
  if ((*fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
      flock(*fd, LOCK_EX | LOCK_NB) != 0)
    return ctl_err(CTL_FAIL, "another `custodian serve` uses %s", dir);
  return CTL_OK;
}

static int cmd_serve(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    CTL_HTTP_OPTIONS,
    {"policy", required_argument, 0, CTL_OPT_ARG(cust_opts, policy)},
    {"share", required_argument, 0, CTL_OPT_ARG(cust_opts, share)},
    {"passphrase-file", required_argument, 0, CTL_OPT_ARG(cust_opts, passfile)},
    {"state", required_argument, 0, CTL_OPT_ARG(cust_opts, state)},
    {"log-key", required_argument, 0, CTL_OPT_ARG(cust_opts, log_key)},
    {"once", no_argument, 0, CTL_OPT_SET(cust_opts, once)},
    {"token-file", required_argument, 0, CTL_OPT_ARG(cust_opts, token_file)},
    CTL_OPT_END,
  };
  cust_opts o = {0};
  cust c = {0};
  ctl_cust_state st;
  ke_buf token = {0};
  int rc, lockfd = -1;

  c.o = &o;
  if ((rc = ctl_getopt(cmd, argc, argv, opts, ctl_http_on_opt, &o, NULL)))
    return rc;
  if (!o.policy || !o.share || !o.state)
    return ctl_missing_opt(!o.policy ? "--policy" : !o.share ? "--share" : "--state");
  if ((rc = harden()) || (rc = ctl_policy_load(&c.policy, o.policy)))
    return rc;
  /* Everything that can be wrong is found before the share is unsealed
   * (a log key missing later only delays decisions: judge()). */
  if (!(rc = ctl_cust_open(&st, o.state)))
    ctl_cust_close(&st);
  if (!rc)
    rc = ctl_logview_check_keys(o.log_key);
  if (!rc && o.token_file && !(rc = ctl_read(&token, o.token_file, 1024, 1, "token file"))) {
    token.p[strcspn(token.p, "\r\n")] = '\0';
    o.t.token = token.p;
  }
  if (!rc && !(rc = lock_serving(o.state, &lockfd)) && !(rc = ctl_load_share(&c.sf, o.share)) &&
      !(rc = ctl_http_open(&c.h, &o.t, 1)) && !(rc = unseal(&c))) {
    fprintf(stderr, "escrowctl custodian: custodian %u serving (state %s)\n", c.sf.index, o.state);
    rc = serve_loop(&c);
  }
  cust_share = NULL;
  if (c.d)
    ke_secure_free(c.d, sizeof *c.d);
  ctl_http_free(c.h);
  if (token.p)
    ke_buf_free(&token);
  ctl_policy_free(&c.policy);
  if (lockfd >= 0)
    close(lockfd);
  return rc;
}

static int cmd_check(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {CTL_OPT_END};
  ctl_policy p;
  int first = 0, rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, NULL, &first)))
    return rc;
  if (argc - first != 1)
    return ctl_err(CTL_USAGE, "one policy file");
  if ((rc = ctl_policy_load(&p, argv[first])))
    return rc;
  printf("policy %s is valid.\n", argv[first]);
  ctl_policy_describe(&p, stdout);
  ctl_policy_free(&p);
  return CTL_OK;
}

/* rearm and trust-key: one change to the state, under its lock. */
static int cmd_local(const ctl_cmd *cmd, int argc, char **argv, int trust)
{
  static const struct option opts[] = {
    {"state", required_argument, 0, CTL_OPT_ARG(cust_opts, state)}, CTL_OPT_END};
  cust_opts o = {0};
  ctl_cust_state st;
  int first = 0, rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, ctl_http_on_opt, &o, &first)))
    return rc;
  if (!o.state)
    return ctl_missing_opt("--state");
  if (argc - first != (trust ? 2 : 0))
    return ctl_err(CTL_USAGE, trust ? "give USER and FINGERPRINT" : "no arguments besides --state");
  if (trust && !ctl_pin_fpr_valid(argv[first + 1]))
    return ctl_err(CTL_USAGE, "FINGERPRINT: 64 lower-case hex digits, as `escrowctl key show` "
                              "prints");
  if ((rc = ctl_cust_open(&st, o.state)))
    return rc;
  if (trust)
    rc = ctl_cust_set_pin(&st, argv[first], argv[first + 1]);
  else
    rc = ctl_cust_rearm(&st, ctl_cust_now());
  if (rc || (rc = ctl_cust_commit(&st))) {
    ctl_cust_close(&st);
    return rc ? rc : CTL_FAIL;
  }
  ctl_cust_log(o.state, "-", trust ? "trust-key" : "rearm", NULL, trust ? argv[first] : NULL);
  printf(trust ? "client key of %s pinned\n" : "re-armed%s\n", trust ? argv[first] : "");
  return CTL_OK;
}

int ctl_cmd_custodian_serve(const ctl_cmd *cmd, int argc, char **argv)
{
  return cmd_serve(cmd, argc, argv);
}

int ctl_cmd_custodian_check(const ctl_cmd *cmd, int argc, char **argv)
{
  return cmd_check(cmd, argc, argv);
}

int ctl_cmd_custodian_rearm(const ctl_cmd *cmd, int argc, char **argv)
{
  return cmd_local(cmd, argc, argv, 0);
}

int ctl_cmd_custodian_trust(const ctl_cmd *cmd, int argc, char **argv)
{
  return cmd_local(cmd, argc, argv, 1);
}
