/*
 * test_cli.c - the client runtime (ke_cli.h): the atomic write (never
 * replacing, or replacing; mode from the start; no temporary file left),
 * capped reads, the buffer, and number and hex parsing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ke_cli.h"
#include "ke_test.h"

/* Entries of the current directory other than . and .. */
static int entries(void)
{
  DIR *d = opendir(".");
  struct dirent *de;
  int n = 0;
  while (d && (de = readdir(d)))
    n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  if (d)
    closedir(d);
  return n;
}

static void test_write(void)
{
  ke_io_err e;
  struct stat st;
  ke_buf b;
  CHECK_RC(ke_write_file("a", "one\n", 4, 0640, 0, &e), KE_OK);
  CHECK(stat("a", &st) == 0 && (st.st_mode & 0777) == 0640);
  CHECK_RC(ke_write_file("a", "two\n", 4, 0600, 0, &e), KE_ERR_IO);
  CHECK(e.step == KE_IO_PUBLISH && e.err == EEXIST);
  CHECK_RC(ke_read_file(&b, "a", 100, 0, &e), KE_OK);
  CHECK(b.len == 4 && strcmp(b.p, "one\n") == 0); /* never replaced */
  ke_buf_free(&b);
  CHECK_RC(ke_write_file("a", "three\n", 6, 0600, KE_WRITE_REPLACE, &e), KE_OK);
  CHECK_RC(ke_read_file(&b, "a", 100, 1, &e), KE_OK);
  CHECK(b.len == 6 && strcmp(b.p, "three\n") == 0 && b.secure);
  ke_buf_free(&b);
  CHECK(b.p == NULL && b.len == 0);
  CHECK(stat("a", &st) == 0 && (st.st_mode & 0777) == 0600);
  CHECK(entries() == 1); /* no temporary file left behind */
  CHECK_RC(ke_write_file("nodir/a", "x", 1, 0600, 0, &e), KE_ERR_IO);
  CHECK(e.step == KE_IO_CREATE && e.err == ENOENT);
  CHECK(mkdir("shared", 0777) == 0 && chmod("shared", 0777) == 0);
  CHECK_RC(ke_write_file("shared/x", "x", 1, 0600, KE_WRITE_SAFE_DIR, &e), KE_ERR_IO);
  CHECK(e.step == KE_IO_DIR_UNSAFE && e.err == 1 && strcmp(e.where, "shared") == 0);
  CHECK_RC(ke_write_file("shared/x", "x", 1, 0600, 0, &e), KE_OK);
  char dir[64];
  ke_path_dir(dir, sizeof dir, "/x");
  CHECK(strcmp(dir, "/") == 0);
  ke_path_dir(dir, sizeof dir, "x");
  CHECK(strcmp(dir, ".") == 0);
}

static void test_read(void)
{
  ke_io_err e;
  ke_buf b;
  char big[101];
  memset(big, 'x', sizeof big);
  CHECK_RC(ke_write_file("big", big, 101, 0600, 0, &e), KE_OK);
  CHECK_RC(ke_read_file(&b, "big", 100, 0, &e), KE_ERR_LENGTH);
  CHECK(e.step == KE_IO_TOO_LARGE && b.p == NULL);
  CHECK_RC(ke_read_file(&b, "big", 101, 0, &e), KE_OK);
  CHECK(b.len == 101 && b.p[101] == '\0');
  ke_buf_free(&b);
  CHECK_RC(ke_write_file("empty", "", 0, 0600, 0, &e), KE_OK);
  CHECK_RC(ke_read_file(&b, "empty", 100, 0, &e), KE_OK);
  CHECK(b.p && b.len == 0 && b.p[0] == '\0');
  ke_buf_free(&b);
  CHECK_RC(ke_read_file(&b, "missing", 100, 0, &e), KE_ERR_IO);
  CHECK(e.step == KE_IO_OPEN && e.err == ENOENT);
  /* Appending grows a secure buffer past its first block. */
  b = (ke_buf){.secure = 1};
  for (int i = 0; i < 30; i++)
    CHECK_RC(ke_buf_append(&b, big, 100), KE_OK);
  CHECK(b.len == 3000 && b.p[2999] == 'x' && b.p[3000] == '\0');
  ke_buf_free(&b);
}

static void test_values(void)
{
  unsigned v = 7;
  uint8_t h[2];
  CHECK_RC(ke_parse_uint(&v, "42", 1, 100), KE_OK);
  CHECK(v == 42);
  CHECK_RC(ke_parse_uint(&v, "0", 0, 0), KE_OK);
  const char *bad[] = {"", "+5", " 5", "-1", "5x", "101", "0", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_RC(ke_parse_uint(&v, bad[i], 1, 100), KE_ERR_FORMAT);
  CHECK_RC(ke_parse_hex_exact(h, 2, "aBcd"), KE_OK);
  CHECK(h[0] == 0xab && h[1] == 0xcd);
  CHECK_RC(ke_parse_hex_exact(h, 2, "abc"), KE_ERR_FORMAT);
  CHECK_RC(ke_parse_hex_exact(h, 2, "abcde0"), KE_ERR_FORMAT);
  CHECK_RC(ke_parse_hex_exact(h, 2, "abzz"), KE_ERR_FORMAT);
}

int main(int argc, char **argv)
{
  if (argc != 2 || chdir(argv[1]) != 0) {
    fprintf(stderr, "usage: test_cli EMPTY-DIR\n");
    return 2;
  }
  umask(022);
  test_write();
  test_read();
  test_values();
  return ke_test_result("test_cli");
}
