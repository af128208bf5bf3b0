/*
 * agent_run.c - run a platform tool with pipes and a deadline (see
 * agent_run.h).
 */
#include "agent_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ke_util.h"

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_run(const char *const *argv, const void *in, size_t inlen, agent_buf *out,
              int *status)
{
  int inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
  pid_t pid;
  size_t written = 0;
  long long deadline = now_ms() + (long long)AGENT_RUN_TIMEOUT * 1000;
  char chunk[4096];
  int rc = AGENT_OK, wst = 0, killed = 0;

  struct sigaction ign, old_pipe;

  memset(out, 0, sizeof *out);
  out->secure = 1;
  *status = -1;
  /* A tool that exits without reading its input must not kill us with
   * SIGPIPE: the write fails with EPIPE instead.  Restored before return. */
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, &old_pipe);
  if (pipe(inp) != 0 || pipe(outp) != 0 || fcntl(inp[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(inp[1], F_SETFD, FD_CLOEXEC) != 0 || fcntl(outp[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(outp[1], F_SETFD, FD_CLOEXEC) != 0) {
    agent_err("cannot run %s: %s", argv[0], strerror(errno));
    goto fail_pipes;
  }
  pid = fork();
  if (pid < 0) {
    agent_err("cannot run %s: %s", argv[0], strerror(errno));
    goto fail_pipes;
  }
  if (pid == 0) {
    /* Child: only async-signal-safe calls until exec. */
    if (dup2(inp[0], STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0)
      _exit(127);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(inp[0]);
  close(outp[1]);
  inp[0] = outp[1] = -1;
  if (!in || inlen == 0) {
    close(inp[1]);
    inp[1] = -1;
  } else {
    fcntl(inp[1], F_SETFL, O_NONBLOCK);
  }
  for (;;) {
    struct pollfd p[2];
    int np = 0, r;
    long long left = deadline - now_ms();

    if (left <= 0) {
      agent_err("%s did not finish within %u s; killed it", argv[0], AGENT_RUN_TIMEOUT);
      kill(pid, SIGKILL);
      killed = 1;
      break;
    }
    p[np].fd = outp[0];
    p[np++].events = POLLIN;
    if (inp[1] >= 0) {
      p[np].fd = inp[1];
      p[np++].events = POLLOUT;
    }
    r = poll(p, (nfds_t)np, (int)(left > 1000 ? 1000 : left));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      agent_err("poll: %s", strerror(errno));
      kill(pid, SIGKILL);
      killed = 1;
      rc = AGENT_FAIL;
      break;
    }
    if (np == 2 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(inp[1], (const char *)in + written, inlen - written);
      if (n > 0)
        written += (size_t)n;
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == inlen) {
        /* Done, or the tool stopped reading: it will tell by its status. */
        close(inp[1]);
        inp[1] = -1;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(outp[0], chunk, sizeof chunk);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break; /* EOF: the tool closed its stdout */
      if (out->len + (size_t)n > AGENT_RUN_MAX_OUTPUT || agent_buf_append(out, chunk, (size_t)n)) {
        agent_err("%s printed more than %u bytes; killed it", argv[0], AGENT_RUN_MAX_OUTPUT);
        kill(pid, SIGKILL);
        killed = 1;
        rc = AGENT_FAIL;
        break;
      }
    }
  }
  ke_wipe(chunk, sizeof chunk);
  if (inp[1] >= 0)
    close(inp[1]);
  close(outp[0]);
  while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
    ;
  if (!killed && WIFEXITED(wst))
    *status = WEXITSTATUS(wst);
  if (*status == 127) {
    agent_err("cannot run %s (not found or not executable)", argv[0]);
    rc = AGENT_FAIL;
  }
  if (!rc && !out->p && agent_buf_append(out, "", 0))
    rc = AGENT_FAIL;
  if (rc)
    agent_buf_free(out);
  sigaction(SIGPIPE, &old_pipe, NULL);
  return rc;
fail_pipes:
  for (int i = 0; i < 2; i++) {
    if (inp[i] >= 0)
      close(inp[i]);
    if (outp[i] >= 0)
      close(outp[i]);
  }
  sigaction(SIGPIPE, &old_pipe, NULL);
  return AGENT_FAIL;
}
