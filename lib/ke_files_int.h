/*
 * ke_files_int.h - field access for the JSON file parsers (ke_files.c).
 * Not part of the public contract.
 *
 * Every kf_* getter takes the object, the field name and a context ("manifest",
 * "share file: field \"kdf\"", ...) used to build the error text, and returns
 * a ke_rc; on error it has already filled `err` (which may be NULL).
 */
#ifndef KE_FILES_INT_H
#define KE_FILES_INT_H

#include <jansson.h>

#include "ke_files.h"

#if defined(__GNUC__)
#define KF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KF_PRINTF(f, a)
/* The optional "requester" member of a request file (ke_retrieval.c):
 * every field checked, the fingerprint recomputed; the signature is
 * verified by the request parser, which knows the id and E. */
ke_rc kf_requester_parse(ke_retrieval_signed *s, json_t *obj, ke_ferr *err);
json_t *kf_requester_json(const ke_retrieval_signed *s);

#endif

/* Fill err (if not NULL) and return rc. */
ke_rc kf_err(ke_ferr *err, ke_rc rc, const char *fmt, ...) KF_PRINTF(3, 4);

/* Parse at most KE_FILE_MAX bytes of JSON whose top level is an object. */
ke_rc kf_load(json_t **root, const char *json, size_t len, const char *ctx, ke_ferr *err);
/* The same for another format's limit (drill files). */
ke_rc kf_load_max(json_t **root, const char *json, size_t len, unsigned max, const char *ctx,
                  ke_ferr *err);
/* Exactly the listed fields (NULL terminated), no others. */
ke_rc kf_fields(json_t *obj, const char *ctx, const char *const *fields, ke_ferr *err);
/* kf_fields plus "version": 1. */
ke_rc kf_header(json_t *obj, const char *ctx, const char *const *fields, ke_ferr *err);

ke_rc kf_uint(unsigned *out, json_t *obj, const char *key, unsigned lo, unsigned hi,
              const char *ctx, ke_ferr *err);
ke_rc kf_const_str(json_t *obj, const char *key, const char *want, const char *ctx, ke_ferr *err);
ke_rc kf_str(char *out, size_t outsize, json_t *obj, const char *key, const char *ctx,
             ke_ferr *err);
ke_rc kf_label(char *out, json_t *obj, const char *key, size_t max, const char *ctx, ke_ferr *err);
ke_rc kf_id(char out[KE_ID_MAX + 1], json_t *obj, const char *key, const char *ctx, ke_ferr *err);
ke_rc kf_time(char out[KE_TIME_LEN + 1], json_t *obj, const char *key, const char *ctx,
              ke_ferr *err);
/* Lower-case hex of exactly len bytes. */
ke_rc kf_hex(uint8_t *out, size_t len, json_t *obj, const char *key, const char *ctx, ke_ferr *err);
ke_rc kf_b64_fixed(uint8_t *out, size_t len, json_t *obj, const char *key, const char *ctx,
                   ke_ferr *err);
/* base64url of min..max bytes into out (room for max). */
ke_rc kf_b64_var(uint8_t *out, size_t *outlen, size_t min, size_t max, json_t *obj, const char *key,
                 const char *ctx, ke_ferr *err);
ke_rc kf_point(ke_point *out, json_t *obj, const char *key, const char *ctx, ke_ferr *err);
/* Same for a value that is not an object member; `name` describes it. */
ke_rc kf_val_point(ke_point *out, json_t *v, const char *name, const char *ctx, ke_ferr *err);

/* Writers. */
int kf_set(json_t *obj, const char *key, json_t *v); /* 1 on failure; steals v */
json_t *kf_b64(const uint8_t *b, size_t len);
ke_rc kf_dump(json_t *root, char **out, size_t *outlen);
/* The same for files that may be larger: at most max bytes of JSON. */
ke_rc kf_dump_max(json_t *root, size_t max, char **out, size_t *outlen);
/* Wipe a string value in place before the tree is freed (secret fields). */
void kf_wipe_string(json_t *v);

/* The optional "requester" member of a request file (ke_retrieval.c):
 * every field checked, the fingerprint recomputed; the signature is
 * verified by the request parser, which knows the id and E. */
ke_rc kf_requester_parse(ke_retrieval_signed *s, json_t *obj, ke_ferr *err);
json_t *kf_requester_json(const ke_retrieval_signed *s);

#endif
