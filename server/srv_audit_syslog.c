/*
 * srv_audit_syslog.c - a copy of every audit event, as one RFC 5424 line
 * whose MSG is the leaf (canonical JSON), to a local collector:
 *
 *   <PRI>1 TIMESTAMP HOSTNAME escrowd PROCID audit - {"action":...,"seq":N,...}
 *
 * PRI uses facility 13 ("log audit") with severity notice for successes and
 * warning for failures and denials.  The target (audit_syslog) is a unix
 * datagram socket (unix:/dev/log, or unix:PATH) or udp:HOST:PORT.
 *
 * It never blocks a request: the process that sequenced leaves hands their
 * index range to this module's thread, which reads them back and sends
 * them on a non-blocking socket.  A full queue or a full socket drops lines
 * (counted, warned about once per streak).  The stream is a convenience for
 * a SIEM; the log itself, and `escrowctl audit export --since`, are the
 * record.  Each event is sent once, by the instance that sequenced it.
 */
#include "srv_audit_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "ke_log.h"
#include "srv_rows.h"

#define SRV_SYSLOG_QUEUE 256
#define SRV_SYSLOG_FACILITY 13 /* log audit */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int running, stop, fd;
  size_t n;
  int64_t first[SRV_SYSLOG_QUEUE], count[SRV_SYSLOG_QUEUE];
  unsigned long dropped;
  char host[256];
} srv_sl = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fd = -1};

static int srv_sl_open(const char *target)
{
  int fd = -1;

  if (strncmp(target, "unix:", 5) == 0) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(target + 5) == 0 || strlen(target + 5) >= sizeof sa.sun_path)
      return -1;
    memcpy(sa.sun_path, target + 5, strlen(target + 5));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      close(fd);
      fd = -1;
    }
  } else if (strncmp(target, "udp:", 4) == 0) {
    char host[128];
    const char *hs = target + 4, *port;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_DGRAM},
                    *ai = NULL;
    size_t hl;

    /* udp:127.0.0.1:514 or udp:[::1]:514 */
    if (*hs == '[') {
      const char *close_br = strchr(hs, ']');
      if (!close_br || close_br[1] != ':')
        return -1;
      hl = (size_t)(close_br - hs - 1);
      hs++;
      port = close_br + 2;
    } else {
      port = strrchr(hs, ':');
      if (!port)
        return -1;
      hl = (size_t)(port - hs);
      port++;
    }
    if (hl == 0 || hl >= sizeof host || !*port)
      return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (getaddrinfo(host, port, &hints, &ai) != 0)
      return -1;
    fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
    freeaddrinfo(ai);
  }
  return fd;
}

/* One line for one leaf; 0 sent, -1 dropped. */
static int srv_sl_send(const uint8_t *leaf, size_t len)
{
  json_t *ev = json_loadb((const char *)leaf, len, 0, NULL);
  const char *outcome = NULL, *when = NULL;
  char head[512];
  int sev, n;
  struct iovec iov[2] = {{head, 0}, {(void *)leaf, len}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  ssize_t sent;

  if (ev) {
    outcome = json_string_value(json_object_get(ev, "outcome"));
    when = json_string_value(json_object_get(ev, "time"));
  }
  sev = outcome && strcmp(outcome, "success") == 0 ? 5 : 4;
  n = snprintf(head, sizeof head, "<%d>1 %s %s escrowd %ld audit - ", SRV_SYSLOG_FACILITY * 8 + sev,
               when && strlen(when) < 40 ? when : "-", srv_sl.host, (long)getpid());
  json_decref(ev);
  if (n < 0 || (size_t)n >= sizeof head)
    return -1;
  iov[0].iov_len = (size_t)n;
  sent = sendmsg(srv_sl.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  return sent == (ssize_t)((size_t)n + len) ? 0 : -1;
}

struct srv_sl_page {
  int64_t start, end;
  size_t sent, failed;
};

/* A row's leaf (bytea text) into a const char *. */
static const struct srv_col srv_sl_cols[] = {{"leaf", SRV_CT_TEXT, 0, 0, 0, NULL}, SRV_COL_END};

static enum srv_db_status srv_sl_page_body(struct srv_db *db, void *cls)
{
  struct srv_sl_page *p = cls;
  char a[24], b[24];
  const char *params[2] = {a, b};
  enum srv_db_status st;
  PGresult *r;

  p->sent = p->failed = 0;
  snprintf(a, sizeof a, "%lld", (long long)p->start);
  snprintf(b, sizeof b, "%lld", (long long)p->end);
  r = srv_db_exec(db, SRV_STMT_AUDIT_ENTRIES, params, &st);
  if (!r)
    return st;
  for (int i = 0; i < PQntuples(r); i++) {
    const char *text;
    uint8_t *leaf = NULL;
    size_t len;
    if (srv_row_read(r, i, srv_sl_cols, &text) == 0 &&
        srv_audit_bytea_parse(text, &leaf, &len) == 0 && srv_sl_send(leaf, len) == 0)
      p->sent++;
    else
      p->failed++;
    free(leaf);
  }
  PQclear(r);
  return SRV_DB_OK;
}

static void srv_sl_dropped(unsigned long n)
{
  pthread_mutex_lock(&srv_sl.mu);
  if (srv_sl.dropped == 0 && n)
    ke_logf(KE_LOG_WARN, "audit syslog: collector not keeping up; dropping lines "
                         "(the audit log itself is complete)");
  srv_sl.dropped += n;
  pthread_mutex_unlock(&srv_sl.mu);
}

static void *srv_sl_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&srv_sl.mu);
  for (;;) {
    int64_t first, count;

    while (!srv_sl.stop && srv_sl.n == 0)
      pthread_cond_wait(&srv_sl.cv, &srv_sl.mu);
    if (srv_sl.n == 0)
      break; /* stopping, and everything queued was sent */
    first = srv_sl.first[0];
    count = srv_sl.count[0];
    memmove(srv_sl.first, srv_sl.first + 1, (srv_sl.n - 1) * sizeof srv_sl.first[0]);
    memmove(srv_sl.count, srv_sl.count + 1, (srv_sl.n - 1) * sizeof srv_sl.count[0]);
    srv_sl.n--;
    pthread_mutex_unlock(&srv_sl.mu);
    for (int64_t s = first; s < first + count; s += SRV_AUDIT_PAGE_MAX) {
      struct srv_sl_page p = {s, s + SRV_AUDIT_PAGE_MAX, 0, 0};
      if (p.end > first + count)
        p.end = first + count;
      if (srv_db_txn(SRV_DB_READ_ONLY, srv_sl_page_body, &p) != SRV_DB_OK)
        p.failed = (size_t)(p.end - p.start);
      srv_sl_dropped(p.failed);
      if (p.sent && p.failed == 0) {
        pthread_mutex_lock(&srv_sl.mu);
        srv_sl.dropped = 0; /* a new streak warns again */
        pthread_mutex_unlock(&srv_sl.mu);
      }
    }
    pthread_mutex_lock(&srv_sl.mu);
  }
  pthread_mutex_unlock(&srv_sl.mu);
  return NULL;
}

void srv_audit_syslog_range(int64_t first, int64_t count)
{
  if (count <= 0)
    return;
  pthread_mutex_lock(&srv_sl.mu);
  if (!srv_sl.running || srv_sl.stop) {
    pthread_mutex_unlock(&srv_sl.mu);
    return;
  }
  if (srv_sl.n && srv_sl.first[srv_sl.n - 1] + srv_sl.count[srv_sl.n - 1] == first) {
    srv_sl.count[srv_sl.n - 1] += count;
  } else if (srv_sl.n < SRV_SYSLOG_QUEUE) {
    srv_sl.first[srv_sl.n] = first;
    srv_sl.count[srv_sl.n] = count;
    srv_sl.n++;
  } else {
    pthread_mutex_unlock(&srv_sl.mu);
    srv_sl_dropped((unsigned long)count);
    return;
  }
  pthread_cond_signal(&srv_sl.cv);
  pthread_mutex_unlock(&srv_sl.mu);
}

int srv_audit_syslog_start(const struct srv_config *cfg)
{
  if (!cfg->audit_syslog)
    return 0;
  srv_sl.fd = srv_sl_open(cfg->audit_syslog);
  if (srv_sl.fd < 0) {
    ke_log(KE_LOG_ERROR,
           "audit_syslog: cannot open the target (unix:PATH or "
           "udp:HOST:PORT with a numeric host)",
           json_pack("{s:s,s:s}", "audit_syslog", cfg->audit_syslog, "errno", strerror(errno)));
    return -1;
  }
  if (gethostname(srv_sl.host, sizeof srv_sl.host - 1) != 0 || !srv_sl.host[0])
    snprintf(srv_sl.host, sizeof srv_sl.host, "-");
  for (char *c = srv_sl.host; *c; c++)
    if (*c <= ' ' || *c > '~')
      *c = '-';
  srv_sl.stop = 0;
  srv_sl.n = 0;
  if (pthread_create(&srv_sl.thread, NULL, srv_sl_main, NULL) != 0) {
    close(srv_sl.fd);
    return -1;
  }
  srv_sl.running = 1;
  return 0;
}

void srv_audit_syslog_stop(void)
{
  if (!srv_sl.running)
    return;
  pthread_mutex_lock(&srv_sl.mu);
  srv_sl.stop = 1;
  pthread_cond_signal(&srv_sl.cv);
  pthread_mutex_unlock(&srv_sl.mu);
  pthread_join(srv_sl.thread, NULL);
  srv_sl.running = 0;
  close(srv_sl.fd);
  srv_sl.fd = -1;
}
