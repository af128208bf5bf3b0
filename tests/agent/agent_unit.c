/*
 * agent_unit.c - unit tests of escrow-agent's parts that need no server:
 * BitLocker password checksum and manage-bde parsing (recorded outputs in
 * English, German and French, good and bad), FileVault plist parsing, the
 * low-entropy rule, the LUKS recovery passphrase format, state files,
 * local secret sealing, receipt verification, request messages and the
 * command runner.
 *
 *   agent_unit FIXTURE_DIR WORK_DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "agent_escrow.h"
#include "agent_luks.h"
#include "agent_parse.h"
#include "agent_run.h"
#include "agent_sign.h"
#include "agent_state.h"
#include "ke_bitlocker.h"
#include "ke_note.h"
#include "ke_secret.h"
#include "ke_test.h"

static const char *fixdir, *workdir;

static char *slurp(const char *name, size_t *len)
{
  char path[1024];
  FILE *f;
  char *buf;
  long n;

  snprintf(path, sizeof path, "%s/%s", fixdir, name);
  f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
    exit(2);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* ---- BitLocker ---------------------------------------------------------------- */
static void test_bitlocker_password(void)
{
  char out[KE_BITLOCKER_PASSWORD_LEN + 1];
  uint8_t key[KE_BITLOCKER_KEY_LEN], want[KE_BITLOCKER_KEY_LEN];
  char pw[80], spaced[80], bare[80];
  int bad;

  /* Blocks are 11 * v for the 16-bit little-endian halves of the key. */
  for (int i = 0; i < 16; i++)
    want[i] = (uint8_t)(i * 37 + 5);
  pw[0] = spaced[0] = bare[0] = '\0';
  for (int b = 0; b < 8; b++) {
    unsigned v = (unsigned)(want[2 * b] | want[2 * b + 1] << 8) * 11;
    char blk[8];
    snprintf(blk, sizeof blk, "%06u", v);
    strcat(pw, b ? "-" : "");
    strcat(pw, blk);
    strcat(spaced, b ? " " : "");
    strcat(spaced, blk);
    strcat(bare, blk);
  }
  CHECK(ke_bitlocker_password_parse(out, pw, strlen(pw), &bad) == KE_OK && !strcmp(out, pw));
  CHECK(ke_bitlocker_password_parse(out, spaced, strlen(spaced), NULL) == KE_OK &&
        !strcmp(out, pw));
  CHECK(ke_bitlocker_password_parse(out, bare, strlen(bare), NULL) == KE_OK && !strcmp(out, pw));
  CHECK(ke_bitlocker_password_key(key, pw) == KE_OK && !memcmp(key, want, 16));
  CHECK(ke_bitlocker_password_key(key, spaced) == KE_ERR_FORMAT); /* canonical only */
  /* Each block in turn off by one: caught, and named. */
  for (int b = 0; b < 8; b++) {
    char t[64];
    strcpy(t, pw);
    t[b * 7 + 5] = t[b * 7 + 5] == '9' ? '0' : (char)(t[b * 7 + 5] + 1);
    CHECK(ke_bitlocker_password_parse(out, t, strlen(t), &bad) == KE_ERR_FORMAT && bad == b + 1 &&
          out[0] == '\0');
  }
  /* 720896 = 65536 * 11 is divisible by 11 but out of range. */
  CHECK(ke_bitlocker_block_valid(720885) && !ke_bitlocker_block_valid(720896) &&
        !ke_bitlocker_block_valid(12) && ke_bitlocker_block_valid(0));
  {
    char t[64];
    strcpy(t, pw);
    memcpy(t + 14, "720896", 6);
    CHECK(ke_bitlocker_password_parse(out, t, strlen(t), &bad) == KE_ERR_FORMAT && bad == 3);
  }
  /* Shapes that are refused. */
  CHECK(ke_bitlocker_password_parse(out, pw, strlen(pw) - 1, &bad) == KE_ERR_FORMAT && !bad);
  {
    char t[80];
    strcpy(t, pw);
    strcat(t, "-");
    CHECK(ke_bitlocker_password_parse(out, t, strlen(t), NULL) == KE_ERR_FORMAT);
    strcpy(t, pw);
    t[13] = ' '; /* mixed separators */
    CHECK(ke_bitlocker_password_parse(out, t, strlen(t), &bad) == KE_ERR_FORMAT && !bad);
    strcpy(t, pw);
    t[2] = 'a';
    CHECK(ke_bitlocker_password_parse(out, t, strlen(t), NULL) == KE_ERR_FORMAT);
  }
  CHECK(ke_bitlocker_password_parse(out, NULL, 0, NULL) == KE_ERR_FORMAT);
  CHECK(ke_bitlocker_guid_parse(out, "{8f3a2b1c-0000-4abc-9def-0123456789ab}", 38) == KE_OK &&
        !strcmp(out, "{8F3A2B1C-0000-4ABC-9DEF-0123456789AB}"));
  CHECK(ke_bitlocker_guid_parse(out, "8f3a2b1c-0000-4abc-9def-0123456789ab", 36) != KE_OK);
  CHECK(ke_bitlocker_guid_parse(out, "{8f3a2b1c_0000-4abc-9def-0123456789ab}", 38) != KE_OK);
  CHECK(ke_bitlocker_guid_parse(out, "{8f3a2b1g-0000-4abc-9def-0123456789ab}", 38) != KE_OK);
}

static void test_bde_fixtures(void)
{
  agent_bde_protector p[AGENT_BDE_MAX];
  size_t n, len, elen;
  int bad, lines = 0;
  char *exp = slurp("bde-expected.txt", &elen), *save = NULL;

  for (char *line = strtok_r(exp, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *w[16], *s2 = NULL;
    int k = 0;
    if (line[0] == '#')
      continue;
    for (char *t = strtok_r(line, " ", &s2); t && k < 16; t = strtok_r(NULL, " ", &s2))
      w[k++] = t;
    char *text = slurp(w[0], &len);
    agent_parse_rc rc = agent_bde_parse(text, len, p, AGENT_BDE_MAX, &n, &bad);
    CHECK(rc == AGENT_PARSE_OK && n == (size_t)(k - 1) / 2);
    for (size_t i = 0; rc == AGENT_PARSE_OK && i < n && 2 * i + 2 < (size_t)k; i++) {
      CHECK(!strcmp(p[i].id, w[1 + 2 * i]));
      CHECK(!strcmp(p[i].password, w[2 + 2 * i]));
    }
    if (rc)
      fprintf(stderr, "  (fixture %s)\n", w[0]);
    free(text);
    lines++;
  }
  CHECK(lines == 5);
  free(exp);
  struct {
    const char *file;
    agent_parse_rc rc;
    int block;
    size_t n;
  } bads[] = {
    {"bde-badsum.txt", AGENT_PARSE_CHECKSUM, 5, 0}, {"bde-toobig.txt", AGENT_PARSE_CHECKSUM, 3, 0},
    {"bde-none.txt", AGENT_PARSE_OK, 0, 0},         {"bde-orphan.txt", AGENT_PARSE_FORMAT, 0, 0},
    {"bde-twice.txt", AGENT_PARSE_FORMAT, 0, 0},
  };
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    char *text = slurp(bads[i].file, &len);
    agent_parse_rc rc = agent_bde_parse(text, len, p, AGENT_BDE_MAX, &n, &bad);
    CHECK(rc == bads[i].rc && n == bads[i].n);
    if (bads[i].rc == AGENT_PARSE_CHECKSUM)
      CHECK(bad == bads[i].block);
    if (rc != bads[i].rc)
      fprintf(stderr, "  (fixture %s gave %d)\n", bads[i].file, rc);
    free(text);
  }
  /* More protectors than room. */
  {
    char *text = slurp("bde-all-en.txt", &len);
    CHECK(agent_bde_parse(text, len, p, 1, &n, &bad) == AGENT_PARSE_TOO_MANY && n == 0);
    free(text);
  }
}

static void test_fv_fixtures(void)
{
  agent_fv_plist pl;
  size_t len;
  char *t = slurp("fv-changerecovery.plist", &len);

  CHECK(agent_fv_parse(t, len, &pl) == AGENT_PARSE_OK);
  CHECK(!strcmp(pl.recovery_key, "AU2A-PHMK-WBGX-PWKX-M3X3-VAPY"));
  CHECK(!strcmp(pl.lv_uuid, "1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9"));
  CHECK(!strcmp(pl.serial, "C02XK1ABJGH5"));
  free(t);
  t = slurp("fv-enable-apfs.plist", &len);
  CHECK(agent_fv_parse(t, len, &pl) == AGENT_PARSE_OK);
  CHECK(!strcmp(pl.recovery_key, "7XQ4-K2LM-9DPR-W3VT-HN6C-ZB8F"));
  CHECK(pl.lv_uuid[0] == '\0' && !strcmp(pl.hardware_uuid, "564D8E4B-1C2F-5A3E-9B7D-0E6F1A2B3C4D"));
  CHECK(!strcmp(pl.serial, "C02&X1")); /* entities decoded */
  free(t);
  const char *bad[] = {"fv-badkey.plist", "fv-nokey.plist", "fv-dupkey.plist", "fv-truncated.plist",
                       "bde-en.txt"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = slurp(bad[i], &len);
    CHECK(agent_fv_parse(t, len, &pl) == AGENT_PARSE_FORMAT && pl.recovery_key[0] == '\0');
    free(t);
  }
  CHECK(agent_fv_key_valid("AU2A-PHMK-WBGX-PWKX-M3X3-VAPY"));
  CHECK(!agent_fv_key_valid("AU2A-PHMK-WBGX-PWKX-M3X3-VAP"));
  CHECK(!agent_fv_key_valid("AU2A_PHMK-WBGX-PWKX-M3X3-VAPY"));
}

/* ---- the low-entropy rule and the LUKS passphrase --------------------------------- */
static int weak(const char *s)
{
  return ke_secret_weak_reason((const uint8_t *)s, strlen(s)) != NULL;
}

static void test_secret_rule(void)
{
  char pass[AGENT_LUKS_PASS_LEN + 1], prev[AGENT_LUKS_PASS_LEN + 1] = "";
  /* 32 random bytes, as a key file holds: 16 sit at the estimator's edge
   * (at most 4 bits of byte entropy a byte over 16 bytes, ~75 bits
   * estimated against the 64-bit line), where chance collisions and the
   * dictionary pass made it refuse a random draw now and then. */
  uint8_t rnd[32];

  CHECK(weak("aaaaaaaaaaaaaaaaaaaa"));
  CHECK(weak("abcdefghijklmnopqrst"));
  CHECK(weak("correcthorsecorrecthorse")); /* a repeated block */
  CHECK(weak("4829163750918273"));         /* 16 random digits: ~53 bits */
  CHECK(weak("passwordpassword"));
  CHECK(!weak("3f9a0c7e5b21d864e0")); /* 18 hex digits: over the line */
  CHECK(weak("x"));
  CHECK(!weak("541772-440143-582263-513117-171534-587862-296956-456676"));
  CHECK(!weak("AU2A-PHMK-WBGX-PWKX-M3X3-VAPY"));
  CHECK(!weak("Tr0ub4dor&3-and-some-more-words!"));
  CHECK(ke_random(rnd, sizeof rnd) == KE_OK);
  CHECK(ke_secret_weak_reason(rnd, sizeof rnd) == NULL);
  for (int i = 0; i < 200; i++) {
    CHECK(agent_luks_passphrase(pass) == AGENT_OK);
    CHECK(strlen(pass) == AGENT_LUKS_PASS_LEN && agent_luks_passphrase_valid(pass, strlen(pass)));
    CHECK(!weak(pass));
    CHECK(strcmp(pass, prev) != 0);
    strcpy(prev, pass);
  }
  CHECK(!agent_luks_passphrase_valid("ABCDE-FGHIJ-KLMNO-PQRST-UVWXY-Z2345-67ABC-DEFG1", 47));
}

/* ---- state files, local sealing ------------------------------------------------------ */
static void test_files(void)
{
  char path[2048], dir[1024];
  struct stat st;
  ke_buf b;

  snprintf(dir, sizeof dir, "%s/priv", workdir);
  CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
  CHECK(agent_check_private(dir, 1) == AGENT_OK);
  snprintf(path, sizeof path, "%s/state.json", dir);
  CHECK(agent_write_atomic(path, "{\"a\":1}\n", 8, 0600) == AGENT_OK);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  CHECK(agent_write_atomic(path, "{\"a\":2}\n", 8, 0600) == AGENT_OK); /* replaces */
  CHECK(agent_read_file(&b, path, 100, 0, "t") == AGENT_OK && b.p && !strcmp(b.p, "{\"a\":2}\n"));
  ke_buf_free(&b);
  CHECK(agent_read_file(&b, path, 4, 0, "t") == AGENT_FAIL); /* larger than max */
  CHECK(agent_check_private(path, 0) == AGENT_OK);
  CHECK(chmod(path, 0640) == 0 && agent_check_private(path, 0) == AGENT_FAIL);
  CHECK(chmod(dir, 0750) == 0 && agent_check_private(dir, 1) == AGENT_FAIL);
  CHECK(chmod(dir, 0700) == 0);
  CHECK(agent_check_private(path, 1) == AGENT_FAIL); /* not a directory */
  /* No temporary file is left beside it. */
  snprintf(path, sizeof path, "ls -A %s | grep -c tmp >/dev/null", dir);
  CHECK(system(path) != 0);
}

static void test_local_seal(void)
{
  agent_ctx c;
  char *a = NULL, *b = NULL;
  uint8_t *s = NULL;
  size_t n = 0;
  const char secret[] = "K3MZQ-7TBXA-ABCDE-FGHIJ-KLMNO-PQRST-UVWXY-Z2345";

  memset(&c, 0, sizeof c);
  c.lock_fd = -1;
  c.dir = workdir;
  c.device_id = "dev-aaaaaaaaaaaaaaaaaaaaaaaaaa";
  CHECK(agent_local_seal(&c, "luks-1", (const uint8_t *)secret, sizeof secret - 1, &a) == 0);
  CHECK(agent_local_seal(&c, "luks-1", (const uint8_t *)secret, sizeof secret - 1, &b) == 0);
  CHECK(a && b && strcmp(a, b) != 0); /* fresh nonce each time */
  CHECK(agent_local_open(&c, "luks-1", a, &s, &n) == 0 && n == sizeof secret - 1 &&
        !memcmp(s, secret, n));
  ke_secure_free(s, n);
  CHECK(agent_local_open(&c, "luks-2", a, &s, &n) == AGENT_FAIL && !s); /* other volume */
  c.device_id = "dev-bbbbbbbbbbbbbbbbbbbbbbbbbb";
  CHECK(agent_local_open(&c, "luks-1", a, &s, &n) == AGENT_FAIL); /* other device */
  c.device_id = "dev-aaaaaaaaaaaaaaaaaaaaaaaaaa";
  a[20] = a[20] == 'A' ? 'B' : 'A';
  CHECK(agent_local_open(&c, "luks-1", a, &s, &n) == AGENT_FAIL); /* tampered */
  CHECK(agent_local_open(&c, "luks-1", "short", &s, &n) == AGENT_FAIL);
  {
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/local.key", workdir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);
  }
  free(a);
  free(b);
  ke_secure_free(c.local_key, AGENT_LOCAL_KEY_LEN);
}

/* ---- receipts ------------------------------------------------------------------------- */
static void test_receipt(void)
{
  ke_note_key *k = NULL, *other = NULL;
  ke_note_verifier v;
  char *note = NULL, when[KE_TIME_LEN + 1];
  size_t len;
  const char *dev = "dev-aaaaaaaaaaaaaaaaaaaaaaaaaa";
  const char *sha = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
  char text[512];

  CHECK(ke_note_key_generate(&k, "escrow.test/audit") == KE_OK);
  CHECK(ke_note_key_generate(&other, "escrow.test/audit") == KE_OK);
  ke_note_key_verifier(k, &v);
  snprintf(text, sizeof text, "keyescrow-v1-receipt\n%s\nC:\nrec-7\n%s\n41\n2024-05-01T10:11:12Z\n",
           dev, sha);
  CHECK(ke_note_sign_statement(k, text, strlen(text), &note, &len) == KE_OK);
  CHECK(agent_receipt_check(&v, note, dev, "C:", "rec-7", sha, 41, when) == AGENT_OK &&
        !strcmp(when, "2024-05-01T10:11:12Z"));
  CHECK(agent_receipt_check(&v, note, "dev-bbbbbbbbbbbbbbbbbbbbbbbbbb", "C:", "rec-7", sha, 41,
                            when) == AGENT_BADANSWER);
  CHECK(agent_receipt_check(&v, note, dev, "D:", "rec-7", sha, 41, when) == AGENT_BADANSWER);
  CHECK(agent_receipt_check(&v, note, dev, "C:", "rec-8", sha, 41, when) == AGENT_BADANSWER);
  CHECK(agent_receipt_check(&v, note, dev, "C:", "rec-7", sha, 42, when) == AGENT_BADANSWER);
  CHECK(agent_receipt_check(&v, note, dev, "C:", "rec-7",
                            "0000000000000000000000000000000000000000000000000000000000000000", 41,
                            when) == AGENT_BADANSWER);
  free(note);
  /* Signed by another key with the same name: refused. */
  CHECK(ke_note_sign_statement(other, text, strlen(text), &note, &len) == KE_OK);
  CHECK(agent_receipt_check(&v, note, dev, "C:", "rec-7", sha, 41, when) == AGENT_BADANSWER);
  free(note);
  /* An extra line, or another statement type. */
  snprintf(text, sizeof text,
           "keyescrow-v1-receipt\n%s\nC:\nrec-7\n%s\n41\n2024-05-01T10:11:12Z\nextra\n", dev, sha);
  CHECK(ke_note_sign_statement(k, text, strlen(text), &note, &len) == KE_OK);
  CHECK(agent_receipt_check(&v, note, dev, "C:", "rec-7", sha, 41, when) == AGENT_BADANSWER);
  free(note);
  snprintf(text, sizeof text, "keyescrow-v1-drill\n%s\nC:\nrec-7\n%s\n41\n2024-05-01T10:11:12Z\n",
           dev, sha);
  CHECK(ke_note_sign_statement(k, text, strlen(text), &note, &len) == KE_OK);
  CHECK(agent_receipt_check(&v, note, dev, "C:", "rec-7", sha, 41, when) == AGENT_BADANSWER);
  free(note);
  ke_note_key_free(k);
  ke_note_key_free(other);
}

/* ---- request message, ids, runner ------------------------------------------------------- */
static void test_request_message(void)
{
  uint8_t *m = NULL;
  size_t n;
  const char want[] =
    "keyescrow-v1-request\nPUT\n/v1/devices/dev-x/keys/C:\n1714557072\nAAECAwQFBgcICQoLDA0ODw\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";

  CHECK(agent_request_message(&m, &n, "PUT", "/v1/devices/dev-x/keys/C:", "1714557072",
                              "AAECAwQFBgcICQoLDA0ODw", NULL, 0) == KE_OK);
  CHECK(m && n == sizeof want - 1 && !memcmp(m, want, n));
  free(m);
  CHECK(agent_request_message(&m, &n, "PUT", "/a\nb", "1", "n", NULL, 0) == KE_ERR_FORMAT);
  CHECK(agent_volume_id_valid("C:") && agent_volume_id_valid("luks-0b1c-x.y_z"));
  CHECK(!agent_volume_id_valid("") && !agent_volume_id_valid("a/b") &&
        !agent_volume_id_valid("a b") && !agent_volume_id_valid("%2e"));
  CHECK(agent_device_id_valid("dev-abcdefghijklmnopqrstuvwxyz"));
  CHECK(!agent_device_id_valid("dev-abcdefghijklmnopqrstuvwxy"));
  CHECK(agent_device_id_valid("dev-abcdefghijklmnopqrstuvwx23"));
  CHECK(!agent_device_id_valid("dev-ABCDEFGHIJKLMNOPQRSTUVWX23"));
  CHECK(!agent_device_id_valid("dev-abcdefghijklmnopqrstuvwx18"));
  CHECK(agent_key_id_valid("{8F3A2B1C-0000-4ABC-9DEF-0123456789AB}") &&
        !agent_key_id_valid("a\tb"));
  CHECK(agent_time_parse("2024-05-01T10:11:12Z") == 1714558272LL);
  CHECK(agent_time_parse("2024-05-01 10:11:12") == -1);
}

static void test_run(void)
{
  const char *cat[] = {"/bin/sh", "-c", "cat; echo done; exit 3", NULL};
  const char *missing[] = {"/nonexistent/tool", NULL};
  const char *quick[] = {"/bin/sh", "-c", "exit 0", NULL};
  ke_buf out;
  int status;
  static char big[200000];

  memset(big, 'x', sizeof big);
  CHECK(agent_run(cat, "hello\n", 6, &out, &status) == AGENT_OK && status == 3 &&
        !strcmp(out.p, "hello\ndone\n") && out.secure);
  ke_buf_free(&out);
  /* A tool that does not read its input: no hang, no SIGPIPE. */
  CHECK(agent_run(quick, big, sizeof big, &out, &status) == AGENT_OK && status == 0 &&
        out.len == 0);
  ke_buf_free(&out);
  CHECK(agent_run(cat, big, sizeof big, &out, &status) == AGENT_OK && status == 3 &&
        out.len == sizeof big + 5);
  ke_buf_free(&out);
  CHECK(agent_run(missing, NULL, 0, &out, &status) == AGENT_FAIL);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: agent_unit FIXTURE_DIR WORK_DIR\n");
    return 2;
  }
  fixdir = argv[1];
  workdir = argv[2];
  setenv("ESCROW_AGENT_SYSLOG", "0", 1);
  agent_log_init("unit");
  {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", workdir);
    if (strchr(workdir, '\'') || system(cmd) != 0 || chmod(workdir, 0700) != 0) {
      fprintf(stderr, "cannot create %s\n", workdir);
      return 2;
    }
  }
  test_bitlocker_password();
  test_bde_fixtures();
  test_fv_fixtures();
  test_secret_rule();
  test_files();
  test_local_seal();
  test_receipt();
  test_request_message();
  test_run();
  return ke_test_result("agent_unit");
}
