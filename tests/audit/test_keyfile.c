/*
 * test_keyfile.c - the signed-note key file: created 0600 and never
 * overwritten, refused when group or others may read it, damaged contents
 * refused, and ke_note_key_load_or_create including a race of processes.
 *
 * usage: test_keyfile SCRATCH_DIR
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ke_test.h"
#include "ke_note.h"

/* golang.org/x/mod/sumdb/note, package documentation example. */
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"

static char scratch[512];

static const char *path_in(const char *name)
{
  static char p[600];
  snprintf(p, sizeof p, "%s/%s", scratch, name);
  return p;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
  FILE *f;

  unlink(path);
  REQUIRE((f = fopen(path, "w")) && fputs(text, f) >= 0 && fclose(f) == 0);
  REQUIRE(chmod(path, mode) == 0);
}

static char *replace(const char *s, const char *from, const char *to)
{
  const char *at = strstr(s, from);
  size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
  char *r = malloc(n);

  REQUIRE(at && r);
  snprintf(r, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
  return r;
}

static int no_temp_files(void);

static void test_key_file(void)
{
  ke_note_key *k = NULL, *l = NULL;
  ke_note_verifier v, w;
  struct stat st;
  const char *p = path_in("log.key");
  char *note = NULL, *bad;
  uint8_t root[32] = {1};
  ke_note_checkpoint cp;
  FILE *f;
  char buf[300];
  size_t len;

  unlink(p);
  CHECK_RC(ke_note_key_generate(&k, "escrow.example.org/audit"), KE_OK);
  REQUIRE(k);
  ke_note_key_verifier(k, &v);
  /* created 0600 even under a permissive umask */
  {
    mode_t old = umask(0);
    CHECK_RC(ke_note_key_save(k, p), KE_OK);
    umask(old);
  }
  CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
  /* never overwritten */
  errno = 0;
  CHECK_RC(ke_note_key_save(k, p), KE_ERR_IO);
  CHECK(errno == EEXIST);
  CHECK(stat(p, &st) == 0 && st.st_size > 0);
  /* loads back to the same key, and signs what the old one verifies */
  CHECK_RC(ke_note_key_load(&l, p), KE_OK);
  REQUIRE(l);
  ke_note_key_verifier(l, &w);
  CHECK(memcmp(&v, &w, sizeof v) == 0);
  CHECK_RC(ke_note_checkpoint_sign(l, 1, root, &note, &len), KE_OK);
  CHECK_RC(ke_note_checkpoint_open(&v, note, len, &cp), KE_OK);
  free(note);
  ke_note_key_free(l);
  l = NULL;
  /* the file's text */
  REQUIRE((f = fopen(p, "r")) && fgets(buf, sizeof buf, f));
  fclose(f);
  CHECK(strncmp(buf, "PRIVATE+KEY+escrow.example.org/audit+", 37) == 0);
  CHECK(buf[strlen(buf) - 1] == '\n');

  /* readable by group or others: refused, with errno EPERM */
  chmod(p, 0644);
  errno = 0;
  CHECK_RC(ke_note_key_load(&l, p), KE_ERR_IO);
  CHECK(errno == EPERM && l == NULL);
  chmod(p, 0640);
  CHECK_RC(ke_note_key_load(&l, p), KE_ERR_IO);
  chmod(p, 0604);
  CHECK_RC(ke_note_key_load(&l, p), KE_ERR_IO);
  chmod(p, 0400);
  CHECK_RC(ke_note_key_load(&l, p), KE_OK);
  ke_note_key_free(l);
  l = NULL;
  /* a symlink to it, a directory, a missing file */
  unlink(path_in("link.key"));
  CHECK(symlink(p, path_in("link.key")) == 0);
  CHECK_RC(ke_note_key_load(&l, path_in("link.key")), KE_ERR_IO);
  CHECK_RC(ke_note_key_load(&l, scratch), KE_ERR_IO);
  CHECK_RC(ke_note_key_load(&l, path_in("missing.key")), KE_ERR_IO);
  unlink(path_in("link.key"));
  /* damaged contents */
  buf[strlen(buf) - 1] = '\0';
  write_file(path_in("nonl.key"), buf, 0600); /* no final newline */
  CHECK_RC(ke_note_key_load(&l, path_in("nonl.key")), KE_ERR_FORMAT);
  bad = replace(GO_SKEY "\n", "c74f20a3", "c74f20a4"); /* ID does not match */
  write_file(path_in("id.key"), bad, 0600);
  CHECK_RC(ke_note_key_load(&l, path_in("id.key")), KE_ERR_FORMAT);
  free(bad);
  bad = replace(GO_SKEY "\n", "PRIVATE+KEY+", "PRIVATE+KEYS+");
  write_file(path_in("pfx.key"), bad, 0600);
  CHECK_RC(ke_note_key_load(&l, path_in("pfx.key")), KE_ERR_FORMAT);
  free(bad);
  write_file(path_in("two.key"), GO_SKEY "\n\n", 0600);
  CHECK_RC(ke_note_key_load(&l, path_in("two.key")), KE_ERR_FORMAT);
  write_file(path_in("empty.key"), "", 0600);
  CHECK_RC(ke_note_key_load(&l, path_in("empty.key")), KE_ERR_FORMAT);
  CHECK(l == NULL);
  /* a directory that does not exist */
  CHECK_RC(ke_note_key_save(k, path_in("no/such/dir.key")), KE_ERR_IO);
  unlink(p);
  ke_note_key_free(k);
  CHECK(no_temp_files());
}

/* ke_note_key_save leaves no temporary files behind, on success or not. */
static int no_temp_files(void)
{
  DIR *d = opendir(scratch);
  struct dirent *e;
  int clean = 1;

  REQUIRE(d);
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp")) {
      fprintf(stderr, "left behind: %s\n", e->d_name);
      clean = 0;
    }
  closedir(d);
  return clean;
}

static void test_load_or_create(void)
{
  const char *p = path_in("server.key");
  ke_note_key *a = NULL, *b = NULL;
  ke_note_verifier va, vb;
  struct stat st;
  int created = -1;

  unlink(p);
  CHECK_RC(ke_note_key_load_or_create(&a, p, "escrow.example.org/audit", &created), KE_OK);
  CHECK(a && created == 1);
  CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
  CHECK_RC(ke_note_key_load_or_create(&b, p, "escrow.example.org/audit", &created), KE_OK);
  CHECK(b && created == 0);
  REQUIRE(a && b);
  ke_note_key_verifier(a, &va);
  ke_note_key_verifier(b, &vb);
  CHECK(memcmp(&va, &vb, sizeof va) == 0);
  ke_note_key_free(b);
  b = NULL;
  /* the origin was changed in the configuration: refused, file untouched */
  CHECK_RC(ke_note_key_load_or_create(&b, p, "escrow.example.org/other", &created), KE_ERR_FORMAT);
  CHECK(b == NULL && created == 0);
  /* an unsafe existing file is an error, never a reason to make a new key */
  chmod(p, 0644);
  CHECK_RC(ke_note_key_load_or_create(&b, p, "escrow.example.org/audit", &created), KE_ERR_IO);
  CHECK(b == NULL && created == 0);
  chmod(p, 0600);
  CHECK_RC(ke_note_key_load_or_create(&b, path_in("no/such/dir.key"), "escrow.example.org/audit",
                                      &created),
           KE_ERR_IO);
  CHECK_RC(ke_note_key_load_or_create(&b, p, "bad name", &created), KE_ERR_FORMAT);
  unlink(p);
  ke_note_key_free(a);
  CHECK(no_temp_files());
}

/* Several servers starting at once on a fresh path: exactly one creates the
 * key and all of them end up with it. */
static void test_create_race(void)
{
  enum { N = 6 };
  const char *p = path_in("race.key");
  char got[N][KE_NOTE_MAX_NAME + 64];
  int fds[N][2], i, creators = 0, status;
  pid_t pid[N];

  unlink(p);
  for (i = 0; i < N; i++) {
    REQUIRE(pipe(fds[i]) == 0);
    REQUIRE((pid[i] = fork()) >= 0);
    if (pid[i] == 0) {
      ke_note_key *k = NULL;
      ke_note_verifier v;
      char *vk = NULL, line[KE_NOTE_MAX_NAME + 64];
      int created = 0, n;
      close(fds[i][0]);
      if (ke_note_key_load_or_create(&k, p, "escrow.example.org/audit", &created) != KE_OK)
        _exit(1);
      ke_note_key_verifier(k, &v);
      if (ke_note_vkey_format(&v, &vk) != KE_OK)
        _exit(1);
      n = snprintf(line, sizeof line, "%d %s", created, vk);
      _exit(write(fds[i][1], line, (size_t)n + 1) == n + 1 ? 0 : 1);
    }
    close(fds[i][1]);
  }
  for (i = 0; i < N; i++) {
    ssize_t r = read(fds[i][0], got[i], sizeof got[i] - 1);
    got[i][r > 0 ? r : 0] = '\0';
    close(fds[i][0]);
    CHECK(waitpid(pid[i], &status, 0) == pid[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    creators += got[i][0] == '1';
    CHECK(strlen(got[i]) > 2 && strcmp(got[i] + 2, got[0] + 2) == 0);
  }
  CHECK(creators == 1);
  unlink(p);
  CHECK(no_temp_files());
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  snprintf(scratch, sizeof scratch, "%s", argv[1]);
  if (mkdir(scratch, 0700) != 0 && errno != EEXIST) {
    perror(scratch);
    return 2;
  }
  test_key_file();
  test_load_or_create();
  test_create_race();
  return ke_test_result("keyfile");
}
