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
 * is durable before it is acted on (ctl_custodian.h); the requests of one
 * queue answer are decided together, as one round (ctl_custodian_batch.h).
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
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl_approve.h"
#include "ctl_cmd.h"
#include "ctl_custodian.h"
#include "ctl_custodian_batch.h"
#include "ctl_http.h"
#include "ctl_logview.h"
#include "ctl_open.h"
#include "ctl_pins.h"
#include "ke_util.h"

#define CUST_WAIT_S 25 /* one long-poll; also how soon SIGTERM is noticed at worst */
#define CUST_IDLE_PAUSE_MS 25
/* A round that left work (the server away while checking, a send that
 * failed) is tried again this soon, not only at the queue's next change. */
#define CUST_RETRY_S 5

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
  ctl_approve_log *lv; /* the queue round's view of the audit log */
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

typedef ctl_cust_verdict verdict;

enum {
  JUDGE_APPROVE = CTL_CUST_APPROVE,
  JUDGE_DECLINE = CTL_CUST_DECLINE,
  JUDGE_LATER = CTL_CUST_LATER
};

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
  if ((rc = ctl_approve_in_view(c->lv, c->h, c->o->log_key, r, view)) == CTL_NET || rc == CTL_AUTH)
    return JUDGE_LATER;
  /* Nor is an event newer than the witnesses' checkpoint, or this host's
   * log view unusable (CTL_LATER; a log key gone: CTL_USAGE): only a
   * proven problem (no such event, a proof that fails, a forked view,
   * another log key: CTL_FAIL) is.  The request is judged again in a later
   * round (a round that leaves work is retried within a few seconds, not
   * at once: ctl_custodian_batch.c) until proven or expired. */
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

/* Fetch and judge a request nobody decided (no lock is held). */
static void judge_item(cust *c, const ctl_cust_state *snap, ctl_cust_item *it, time_t now)
{
  json_t *view = NULL;
  int forged = 0;

  if (!(it->r = calloc(1, sizeof *it->r)))
    return;
  if (ctl_approve_fetch(c->h, it->id, it->r, &view, &forged) == CTL_OK) {
    it->verdict = judge(c, snap, it->r, view, now, &it->v);
  } else if (forged) { /* else an HTTP or network failure: next round */
    snprintf(it->v.rule, sizeof it->v.rule, "request_file");
    snprintf(it->v.why, sizeof it->v.why,
             "the request file does not verify, or the server's status disagrees with it");
    it->verdict = JUDGE_DECLINE;
  }
  json_decref(view);
}

/* One queue answer, as one round (ctl_custodian_batch.h): every request
 * nobody decided is judged, then all are decided with one commit, then
 * every undone decision is sent, then the sent ones are marked done.
 * A decision made earlier and not sent yet (a crash) is sent even when
 * this round's could not be recorded. */
enum { ROUND_IDLE, ROUND_DONE, ROUND_LEFT }; /* nothing for us; all answered; some not */

static int serve_round(cust *c, const json_t *queue, int *how)
{
  ctl_cust_batch b;
  time_t now = ctl_cust_now();
  size_t decided = 0;
  int rc, rc2 = CTL_OK;

  if ((rc = ctl_cust_batch_begin(&b, queue, c->o->state))) {
    ctl_cust_batch_free(&b);
    return rc;
  }
  c->lv = &b.log; /* one fresh checkpoint for the round (judge) */
  for (size_t i = 0; i < b.n; i++)
    if (b.it[i].todo)
      judge_item(c, &b.snap, &b.it[i], now);
  c->lv = NULL;
  rc = ctl_cust_batch_settle(&b, c->o->state, &c->policy, c->sf.index, c->d, now, &decided);
  if (decided)
    crash_point("after-decide");
  if (ctl_cust_batch_send(&b, c->h)) {
    crash_point("after-send");
    rc2 = ctl_cust_batch_done(&b, c->o->state);
  }
  *how = b.n ? ROUND_DONE : ROUND_IDLE;
  for (size_t i = 0; i < b.n; i++)
    if ((b.it[i].todo && b.it[i].verdict == JUDGE_LATER) || (b.it[i].dec && !b.it[i].sent))
      *how = ROUND_LEFT;
  if (rc || rc2)
    *how = ROUND_LEFT;
  ctl_cust_batch_free(&b);
  return rc ? rc : rc2;
}

/* ---- the loop -------------------------------------------------------------- */

/* Deliver a due alarm on each channel that has not had it and is not
 * waiting out a failure (a trip is durable before its alarm, so a crash
 * in between only delays it). */
static int alarm_if_pending(cust *c)
{
  return ctl_cust_alarm_deliver(&c->policy, c->o->state, c->sf.index);
}

static int serve_loop(cust *c)
{
  long long cursor = -1;
  int left = 0; /* the last round left a request undecided or a decision unsent */

  for (;;) {
    char path[160];
    json_t *ans = NULL;
    long status = 0;
    int how = ROUND_DONE, wait = left ? CUST_RETRY_S : CUST_WAIT_S;
    int alarm_in = alarm_if_pending(c);

    /* An alarm channel waiting out a failure is asked again on time, not
     * when the queue next changes. */
    if (alarm_in >= 0 && alarm_in < wait)
      wait = alarm_in < 1 ? 1 : alarm_in;
    if (cursor < 0 || c->o->once)
      snprintf(path, sizeof path, "/v1/retrievals?state=pending&limit=1000");
    else
      snprintf(path, sizeof path, "/v1/retrievals?state=pending&limit=1000&wait=%d&since=%lld",
               wait, cursor);
    if (ctl_http_call_status(c->h, "GET", path, NULL, &status, &ans) || status != 200) {
      json_decref(ans);
      if (status == 401 || status == 403)
        return ctl_err(CTL_FAIL, "the server refuses this custodian's token (HTTP %ld)", status);
      if (c->o->once)
        return CTL_FAIL;
      sleep(2); /* the server is away: try again, gently */
      continue;
    }
    if (serve_round(c, ans, &how) != CTL_OK)
      ctl_errf("could not record the decisions of this round; the state directory needs "
               "attention");
    cursor = ctl_jint(ans, "cursor");
    left = how == ROUND_LEFT;
    if (c->o->once) {
      json_decref(ans);
      alarm_if_pending(c); /* a trip of this round alarms before exit */
      return CTL_OK;
    }
    /* Requests pending that this daemon has answered: the cursor moves
     * with every part the other custodians send, and each move would be a
     * round that reads the whole queue for nothing.  A short pause lets
     * such moves gather into one (a new request waits that long at most). */
    if (how == ROUND_IDLE && json_array_size(json_object_get(ans, "retrievals")))
      nanosleep(&(struct timespec){0, CUST_IDLE_PAUSE_MS * 1000000L}, NULL);
    json_decref(ans);
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
