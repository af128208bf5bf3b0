/*
 * ctl_config.h - escrowctl's stored login: which server, the bearer token it
 * issued, when that expires, and the CA certificate and public key pins
 * pinned for it.
 *
 * Kept as JSON in $XDG_CONFIG_HOME/escrowctl/login.json (default
 * ~/.config/escrowctl/): the directory is 0700 and the file 0600, because
 * the token is a credential.  A file that others can read is refused.
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ctl_login {
  char *server;    /* base URL, no trailing slash */
  char *user;      /* who logged in (informational) */
  char *token;     /* bearer token; wiped when freed */
  int64_t expires; /* Unix seconds; 0 = unknown */
  char *cacert;    /* absolute path of the pinned CA PEM, or NULL */
  char *pin;       /* SPKI pins ("sha256//B64[;...]", --pin-sha256), or NULL */
} ctl_login;

/* The configuration directory (without creating it).  CTL_OK or CTL_FAIL
 * (printed) when neither $XDG_CONFIG_HOME nor $HOME is usable. */
int ctl_config_dir(char *out, size_t outlen);

/* Load the stored login.  *found = 0 (and CTL_OK) when there is none.
 * A malformed file or one readable by others is CTL_FAIL (printed). */
int ctl_login_load(ctl_login *l, int *found);

/* Replace the stored login atomically (0600 from the start; the directory
 * is created 0700 if needed). */
int ctl_login_save(const ctl_login *l);

void ctl_login_free(ctl_login *l);

#endif
