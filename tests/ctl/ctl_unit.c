/*
 * ctl_unit - unit tests of escrowctl's shared helpers (ctl_util.c,
 * ctl_files.c), linked in directly:
 *   ctl_read      sized by the file, not by the maximum (a 200-byte key file
 *                 does not take a 256 KiB locked block); grows for pipes;
 *                 refuses input over the maximum
 *   ctl_getopt    refuses an option given twice, unless CTL_OPT_MULTI
 *   ctl_write     never replaces a file, refuses directories others can
 *                 write to; ctl_write_text never writes a secret to stdout
 * Run from a scratch directory (argv[1]).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_util.h"
#include "ke_test.h"

static void put(const char *path, size_t len)
{
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  for (size_t i = 0; f && i < len; i++)
    fputc('a' + (int)(i % 26), f);
  if (f)
    fclose(f);
}

static void test_read(void)
{
  ke_buf b;
  put("key.json", 200);
  CHECK(ctl_read(&b, "key.json", KE_FILE_MAX, 1, "key") == CTL_OK);
  CHECK(b.len == 200 && b.cap <= 202 && b.p[200] == '\0' && b.p[199] == 'a' + 199 % 26);
  ke_buf_free(&b);
  CHECK(b.p == NULL && b.cap == 0);
  put("empty", 0);
  CHECK(ctl_read(&b, "empty", 100, 0, "empty") == CTL_OK);
  CHECK(b.len == 0 && b.p && b.p[0] == '\0');
  ke_buf_free(&b);
  put("big", 101);
  CHECK(ctl_read(&b, "big", 100, 1, "big") == CTL_FAIL);
  CHECK(b.p == NULL);
  put("exact", 100);
  CHECK(ctl_read(&b, "exact", 100, 1, "exact") == CTL_OK && b.len == 100);
  ke_buf_free(&b);

  /* A pipe says no size: the buffer starts small and grows. */
  int fds[2];
  char path[64], chunk[1000];
  memset(chunk, 'z', sizeof chunk);
  CHECK(pipe(fds) == 0);
  for (int i = 0; i < 10; i++)
    CHECK(write(fds[1], chunk, sizeof chunk) == (ssize_t)sizeof chunk);
  close(fds[1]);
  snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
  CHECK(ctl_read(&b, path, KE_FILE_MAX, 1, "pipe") == CTL_OK);
  CHECK(b.len == 10000 && b.cap >= 10002 && b.cap < KE_FILE_MAX && b.p[9999] == 'z');
  ke_buf_free(&b);
  close(fds[0]);
  CHECK(pipe(fds) == 0);
  for (int i = 0; i < 10; i++)
    CHECK(write(fds[1], chunk, sizeof chunk) == (ssize_t)sizeof chunk);
  close(fds[1]);
  snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
  CHECK(ctl_read(&b, path, 9999, 0, "pipe") == CTL_FAIL);
  close(fds[0]);
}

enum { O_OUT = 256, O_NAME };
static int seen_out, seen_name;

static int on_opt(void *ctx, int opt, const char *arg)
{
  (void)ctx;
  (void)arg;
  if (opt == O_OUT)
    seen_out++;
  else if (opt == O_NAME)
    seen_name++;
  else
    return CTL_USAGE;
  return CTL_OK;
}

static void test_getopt(void)
{
  static const ctl_cmd cmd = {"unit", NULL, NULL, "unit test", "usage: unit\n"};
  static const struct option opts[] = {
    {"out", required_argument, 0, O_OUT},
    {"name", required_argument, 0, O_NAME | CTL_OPT_MULTI},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
  };
  char *twice[] = {"unit", "--out", "a", "--out", "b", NULL};
  char *abbrev[] = {"unit", "--out", "a", "--ou=b", NULL};
  char *multi[] = {"unit", "--name", "a", "--name", "b", "--out", "c", NULL};
  seen_out = seen_name = 0;
  CHECK(ctl_getopt(&cmd, 5, twice, opts, on_opt, NULL, NULL) == CTL_USAGE);
  CHECK(seen_out == 1);
  CHECK(ctl_getopt(&cmd, 4, abbrev, opts, on_opt, NULL, NULL) == CTL_USAGE);
  seen_out = seen_name = 0;
  CHECK(ctl_getopt(&cmd, 7, multi, opts, on_opt, NULL, NULL) == CTL_OK);
  CHECK(seen_name == 2 && seen_out == 1);
  /* The state is per call: the same option in the next call is fine. */
  CHECK(ctl_getopt(&cmd, 3, twice, opts, on_opt, NULL, NULL) == CTL_OK);
}

static void test_write(void)
{
  struct stat st;
  CHECK(ctl_write("out.txt", "one\n", 4, 0600) == CTL_OK);
  CHECK(stat("out.txt", &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 4);
  CHECK(ctl_write("out.txt", "two\n", 4, 0644) == CTL_FAIL); /* never replaced */
  CHECK(stat("out.txt", &st) == 0 && st.st_size == 4 && (st.st_mode & 0777) == 0600);
  CHECK(mkdir("shared", 0700) == 0 && chmod("shared", 0777) == 0);
  CHECK(ctl_write("shared/x", "x", 1, 0644) == CTL_FAIL);
  CHECK(chmod("shared", 0770) == 0);
  CHECK(ctl_write("shared/x", "x", 1, 0644) == CTL_FAIL);
  CHECK(chmod("shared", 01777) == 0); /* sticky /tmp-like: still refused */
  CHECK(ctl_write("shared/x", "x", 1, 0644) == CTL_FAIL);
  CHECK(chmod("shared", 0755) == 0);
  CHECK(ctl_write("shared/x", "x", 1, 0644) == CTL_OK);
  CHECK(stat("shared/x", &st) == 0 && (st.st_mode & 0777) == 0644);
  /* A secret never goes to stdout, even when asked. */
  char *text = ke_secure_alloc(8);
  CHECK(text != NULL);
  if (text) {
    memcpy(text, "secret\n", 7);
    CHECK(ctl_write_text("-", text, 7, 0600, 1) == CTL_FAIL);
  }
  CHECK(access("-", F_OK) != 0);
  char *pub = malloc(8);
  if (pub) {
    memcpy(pub, "public\n", 7);
    CHECK(ctl_write_text("pub.txt", pub, 7, 0644, 0) == CTL_OK);
  }
}

int main(int argc, char **argv)
{
  if (argc != 2 || chdir(argv[1]) != 0) {
    fprintf(stderr, "usage: ctl_unit SCRATCH_DIR\n");
    return 2;
  }
  umask(022);
  ke_init();
  test_read();
  test_getopt();
  test_write();
  return ke_test_result("ctl_unit");
}
