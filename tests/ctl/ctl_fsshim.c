/*
 * ctl_fsshim - an LD_PRELOAD module that makes the filesystem look like FAT
 * or exFAT to escrowctl, so the tests reach ctl_write's fallbacks without
 * mounting anything:
 *   link()       always fails with EPERM, as on FAT and exFAT;
 *   renameat2()  fails with EINVAL (flags not supported, as on some network
 *                and FUSE filesystems) when KE_SHIM_NO_RENAMEAT2 is set, and
 *                is the real one otherwise.
 * Each call is appended to the file named by KE_SHIM_LOG, so a test can
 * tell which path was taken.  Never installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note(const char *what)
{
  const char *log = getenv("KE_SHIM_LOG");
  if (!log)
    return;
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ssize_t n = write(fd, what, strlen(what));
    (void)n;
    close(fd);
  }
}

int link(const char *oldpath, const char *newpath)
{
  (void)oldpath;
  (void)newpath;
  note("link\n");
  errno = EPERM;
  return -1;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
  if (getenv("KE_SHIM_NO_RENAMEAT2")) {
    note("renameat2 refused\n");
    errno = EINVAL;
    return -1;
  }
  note("renameat2\n");
  int (*real)(int, const char *, int, const char *, unsigned int) =
    (int (*)(int, const char *, int, const char *, unsigned int))dlsym(RTLD_NEXT, "renameat2");
  if (!real) {
    errno = ENOSYS;
    return -1;
  }
  return real(olddirfd, oldpath, newdirfd, newpath, flags);
}
