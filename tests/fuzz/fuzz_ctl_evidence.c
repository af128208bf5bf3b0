/*
 * fuzz_ctl_evidence.c - the log checks of `report verify-evidence`
 * (ctl_evidence_check.c) on hostile JSON.
 *
 * The input is one JSON object {"cov":..., "ret":..., "drills":...,
 * "proofs":...} standing for the bundle's files; the checkpoint is a fixed
 * one of a log whose key the fuzzer does not hold.  Whatever the input, the
 * checks must not crash, leak or overflow, and they must never pass: a
 * report's pin needs a checkpoint note signed by the log key, which no
 * input can carry (abort() if one ever does).
 */
#include <stdio.h>
#include <stdlib.h>

#include "ctl_evidence.h"
#include "ctl_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ke_note_verifier vk;
static ke_note_checkpoint cp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  static const uint8_t seed[KE_NOTE_SEED_LEN] = {7};
  ke_note_key *k = NULL;

  (void)argc;
  (void)argv;
  if (ke_note_key_from_seed(&k, "fuzz.example/log", seed) != KE_OK)
    abort();
  ke_note_key_verifier(k, &vk);
  ke_note_key_free(k);
  snprintf(cp.origin, sizeof cp.origin, "fuzz.example/log");
  cp.size = 5;
  for (size_t i = 0; i < sizeof cp.root; i++)
    cp.root[i] = (uint8_t)i;
  /* The checks' messages go nowhere (libFuzzer reports on stderr too). */
  if (!freopen("/dev/null", "w", stdout))
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *in = json_loadb((const char *)data, size, 0, NULL);

  if (!in)
    return 0;
  if (ctl_evidence_check_log(json_object_get(in, "cov"), json_object_get(in, "ret"),
                             json_object_get(in, "drills"), json_object_get(in, "proofs"), &vk,
                             &cp) == CTL_OK)
    abort();
  json_decref(in);
  return 0;
}
