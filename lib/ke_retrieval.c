/*
 * ke_retrieval.c - the signed statement of a retrieval request.
 */
#include "ke_retrieval.h"

#include <stdio.h>
#include <string.h>

static int ke_retrieval_field_ok(const char *s)
{
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 0;
  return 1;
}

size_t ke_retrieval_statement(char out[KE_RETRIEVAL_STMT_MAX], const ke_retrieval_fields *f)
{
  const char *v[8] = {f->id, f->device, f->volume, f->key_id, f->E, f->reason, f->ticket,
                      f->nonce};
  int n;

  for (size_t i = 0; i < 8; i++)
    if (!ke_retrieval_field_ok(v[i]))
      return 0;
  n = snprintf(out, KE_RETRIEVAL_STMT_MAX,
               "keyescrow-v1-retrieval-request\nid=%s\ndevice=%s\nvolume=%s\nkey_id=%s\n"
               "E=%s\nreason=%s\nticket=%s\nnonce=%s\n",
               f->id ? f->id : "", f->device ? f->device : "", f->volume ? f->volume : "",
               f->key_id ? f->key_id : "", f->E ? f->E : "", f->reason ? f->reason : "",
               f->ticket ? f->ticket : "", f->nonce ? f->nonce : "");
  if (n <= 0 || n >= KE_RETRIEVAL_STMT_MAX)
    return 0;
  return (size_t)n;
}
