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

/* One run: the tool, our ends of its pipes, and what goes through them. */
typedef struct run_io {
  const char *tool;
  pid_t pid;
  int in_fd;  /* the tool's stdin; -1 once closed */
  int out_fd; /* its stdout */
  const char *in;
  size_t inlen, written;
  ke_buf *out;
  int killed;
} run_io;

/* Pipes, fork and exec; sets io->pid, io->in_fd and io->out_fd. */
static int spawn(const char *const *argv, run_io *io)
{
  int inp[2] = {-1, -1}, outp[2] = {-1, -1};

  if (pipe(inp) != 0 || pipe(outp) != 0 || fcntl(inp[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(inp[1], F_SETFD, FD_CLOEXEC) != 0 || fcntl(outp[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(outp[1], F_SETFD, FD_CLOEXEC) != 0) {
    agent_err("cannot run %s: %s", argv[0], strerror(errno));
    goto fail_pipes;
  }
  io->pid = fork();
  if (io->pid < 0) {
    agent_err("cannot run %s: %s", argv[0], strerror(errno));
    goto fail_pipes;
  }
  if (io->pid == 0) {
    /* Child: only async-signal-safe calls until exec. */
    if (dup2(inp[0], STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0)
      _exit(127);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(inp[0]);
  close(outp[1]);
  io->in_fd = inp[1];
  io->out_fd = outp[0];
  return AGENT_OK;
fail_pipes:
  for (int i = 0; i < 2; i++) {
    if (inp[i] >= 0)
      close(inp[i]);
    if (outp[i] >= 0)
      close(outp[i]);
  }
  return AGENT_FAIL;
}

static void kill_tool(run_io *io)
{
  kill(io->pid, SIGKILL);
  io->killed = 1;
}

/* Feed the input and collect the output until the tool closes its stdout,
 * the deadline passes or the output grows too big (then it is killed). */
static int pump(run_io *io)
{
  long long deadline = now_ms() + (long long)AGENT_RUN_TIMEOUT * 1000;
  char chunk[4096];
  int rc = AGENT_OK;

  for (;;) {
    struct pollfd p[2];
    int np = 0, r;
    long long left = deadline - now_ms();

    if (left <= 0) {
      agent_err("%s did not finish within %u s; killed it", io->tool, AGENT_RUN_TIMEOUT);
      kill_tool(io);
      break;
    }
    p[np].fd = io->out_fd;
    p[np++].events = POLLIN;
    if (io->in_fd >= 0) {
      p[np].fd = io->in_fd;
      p[np++].events = POLLOUT;
    }
    r = poll(p, (nfds_t)np, (int)(left > 1000 ? 1000 : left));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      agent_err("poll: %s", strerror(errno));
      kill_tool(io);
      rc = AGENT_FAIL;
      break;
    }
    if (np == 2 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(io->in_fd, io->in + io->written, io->inlen - io->written);
      if (n > 0)
        io->written += (size_t)n;
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || io->written == io->inlen) {
        /* Done, or the tool stopped reading: it will tell by its status. */
        close(io->in_fd);
        io->in_fd = -1;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(io->out_fd, chunk, sizeof chunk);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        break; /* EOF: the tool closed its stdout */
      if (io->out->len + (size_t)n > AGENT_RUN_MAX_OUTPUT ||
          ke_buf_append(io->out, chunk, (size_t)n)) {
        agent_err("%s printed more than %u bytes; killed it", io->tool, AGENT_RUN_MAX_OUTPUT);
        kill_tool(io);
        rc = AGENT_FAIL;
        break;
      }
    }
  }
  ke_wipe(chunk, sizeof chunk);
  return rc;
}

int agent_run(const char *const *argv, const void *in, size_t inlen, ke_buf *out, int *status)
{
  run_io io = {argv[0], 0, -1, -1, in, inlen, 0, out, 0};
  int rc, wst = 0;
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
  if (spawn(argv, &io)) {
    sigaction(SIGPIPE, &old_pipe, NULL);
    return AGENT_FAIL;
  }
  if (!in || inlen == 0) {
    close(io.in_fd);
    io.in_fd = -1;
  } else {
    fcntl(io.in_fd, F_SETFL, O_NONBLOCK);
  }
  rc = pump(&io);
  if (io.in_fd >= 0)
    close(io.in_fd);
  close(io.out_fd);
  while (waitpid(io.pid, &wst, 0) < 0 && errno == EINTR)
    ;
  if (!io.killed && WIFEXITED(wst))
    *status = WEXITSTATUS(wst);
  if (*status == 127) {
    agent_err("cannot run %s (not found or not executable)", argv[0]);
    rc = AGENT_FAIL;
  }
  if (!rc && !out->p && ke_buf_append(out, "", 0))
    rc = AGENT_FAIL;
  if (rc)
    ke_buf_free(out);
  sigaction(SIGPIPE, &old_pipe, NULL);
  return rc;
}
