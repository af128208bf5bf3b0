/*
 * srv_ep_static.c - GET / and GET /ui/{file}: the web console's static files
 * (web/ in the source tree, installed under web_dir).
 *
 * The console is a handful of flat files, so the server serves exactly
 * that: one path segment whose name is plain ASCII with a known extension,
 * opened with openat(O_NOFOLLOW) under a directory descriptor taken at
 * start.  A name can therefore never climb out of web_dir (no '/', no "..",
 * no leading dot, no symlink as the last component), whatever the decoding
 * in front of it did.  Everything else is 404 in the registry's JSON shape.
 *
 * Every answer of these routes, errors included, carries the console's
 * security headers: the Content-Security-Policy allows scripts and styles
 * from this origin only (the pages contain no inline script or style, so no
 * 'unsafe-inline'), the console cannot be framed (clickjacking of the
 * approve queue), and no Referer leaks device names to other sites.
 * srv_http adds X-Content-Type-Options: nosniff and Cache-Control: no-store
 * to every response; no-store suits the console too: it is a few kilobytes,
 * a shared workstation keeps nothing of it on disk, and after an upgrade no
 * browser runs a stale app.js against a newer API.
 */
#include "srv_routes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ke_log.h"

#define SRV_STATIC_NAME_MAX 64
/* The whole console is far below this; a bigger file is a mistake. */
#define SRV_STATIC_FILE_MAX (2u * 1024 * 1024)

/* The directory descriptor of web_dir, or -1 (no console).  Set once by
 * srv_static_init before the HTTP daemon starts; read-only afterwards. */
static int srv_static_dirfd = -1;

static const struct {
  const char *ext;
  const char *mime;
} srv_static_mime[] = {
  {".html", "text/html; charset=utf-8"},
  {".js", "text/javascript; charset=utf-8"},
  {".css", "text/css; charset=utf-8"},
  {".svg", "image/svg+xml"},
  {".png", "image/png"},
  {".ico", "image/x-icon"},
  {".txt", "text/plain; charset=utf-8"},
};

static const struct {
  const char *name;
  const char *value;
} srv_static_headers[] = {
  {"Content-Security-Policy",
   "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
   "object-src 'none'"},
  {"X-Frame-Options", "DENY"},
  {"Referrer-Policy", "no-referrer"},
  {"Cross-Origin-Opener-Policy", "same-origin"},
};

int srv_static_init(const struct srv_config *cfg)
{
  int fd;

  if (srv_static_dirfd >= 0)
    return 0;
  if (!cfg->web_dir || !cfg->web_dir[0])
    return -1;
  fd = open(cfg->web_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    /* Not fatal: the API serves agents and escrowctl without a console. */
    ke_log(KE_LOG_WARN, "web_dir cannot be opened: the web console is off",
           json_pack("{s:s,s:s}", "web_dir", cfg->web_dir, "reason", strerror(errno)));
    return -1;
  }
  srv_static_dirfd = fd;
  return 0;
}

void srv_static_shutdown(void)
{
  if (srv_static_dirfd >= 0)
    close(srv_static_dirfd);
  srv_static_dirfd = -1;
}

/* A servable name: [A-Za-z0-9][A-Za-z0-9._-]*, no "..", bounded. */
static int srv_static_name_ok(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > SRV_STATIC_NAME_MAX || name[0] == '.' || name[0] == '-' ||
      strstr(name, "..") != NULL)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

static const char *srv_static_type(const char *name)
{
  const char *dot = strrchr(name, '.');

  if (!dot)
    return NULL;
  for (size_t i = 0; i < sizeof srv_static_mime / sizeof srv_static_mime[0]; i++)
    if (strcmp(dot, srv_static_mime[i].ext) == 0)
      return srv_static_mime[i].mime;
  return NULL;
}

/* Read a regular file of at most SRV_STATIC_FILE_MAX bytes; NULL if it is
 * absent, not regular, a symlink, too big or unreadable. */
static char *srv_static_read(const char *name, size_t *len)
{
  struct stat st;
  char *buf = NULL;
  size_t got = 0;
  int fd;

  fd = openat(srv_static_dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      (unsigned long long)st.st_size > SRV_STATIC_FILE_MAX)
    goto fail;
  buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    goto fail;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      goto fail; /* error, or the file shrank under us */
    got += (size_t)r;
  }
  close(fd);
  *len = got;
  return buf;
fail:
  free(buf);
  close(fd);
  return NULL;
}

enum MHD_Result srv_ep_static(struct srv_request *req)
{
  const char *name = srv_request_param(req, "file");
  const char *type;
  enum MHD_Result ret;
  size_t len = 0;
  char *body;

  for (size_t i = 0; i < sizeof srv_static_headers / sizeof srv_static_headers[0]; i++)
    if (srv_reply_header(req, srv_static_headers[i].name, srv_static_headers[i].value) != 0)
      return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (!name)
    name = "index.html"; /* the route "/" */
  type = srv_static_name_ok(name) ? srv_static_type(name) : NULL;
  if (!type)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such file in the web console.");
  if (srv_static_dirfd < 0)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND,
                           "The web console is not installed on this server (web_dir).");
  body = srv_static_read(name, &len);
  if (!body)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such file in the web console.");
  ret = srv_reply_text(req, MHD_HTTP_OK, type, body, len);
  free(body);
  return ret;
}
