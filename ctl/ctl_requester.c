/*
 * ctl_requester.c - the requester's key against the custodian's pins
 * (ctl_requester.h).
 */
#include "ctl_requester.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ctl_cmd.h"
#include "ctl_pins.h"
#include "ke_util.h"

/* "registered T, 3 keys on the account (2 replaced)" from the server's view. */
static void key_age(char *out, size_t n, const json_t *kv)
{
  const char *reg = ctl_jstr(kv, "registered");
  json_int_t keys = ctl_jint(kv, "keys");
  int current = json_is_true(json_object_get(kv, "current"));

  if (!kv) {
    snprintf(out, n, "(offline: the server's key history is not at hand)");
    return;
  }
  snprintf(out, n, "registered %s; %lld key%s on the account so far%s", reg ? reg : "(unknown)",
           (long long)keys, keys == 1 ? "" : "s", current ? "" : "; NOT the account's current key");
}

void ctl_requester_show(const ke_request *r, const json_t *kv)
{
  const ke_retrieval_signed *q = &r->requester;
  char fg[80], age[200], named[600];
  json_t *e;
  size_t i;

  ctl_hex_groups(fg, q->fingerprint);
  key_age(age, sizeof age, kv);
  if (q->record[0])
    snprintf(named, sizeof named, "record %s by its id (an older key may be asked for so)",
             q->record);
  else if (q->key_id[0])
    snprintf(named, sizeof named, "Key ID prefix %s", q->key_id);
  else
    snprintf(named, sizeof named, "device %s%s%s", q->device, q->volume[0] ? ", volume " : "",
             q->volume);
  ctl_notef("  signed by          %s, client key\n"
            "                     %s\n"
            "                     %s\n"
            "  signed request     %s; reason \"%s\"; ticket %s",
            q->user, fg, age, named, q->reason, q->ticket);
  json_array_foreach (json_object_get(kv, "history"), i, e) {
    const char *f = ctl_jstr(e, "fingerprint");
    const char *rep = ctl_jstr(e, "replaced");
    ctl_notef("    key %zu  %.16s...  registered %s%s%s", i + 1, f ? f : "?",
              ctl_jstr(e, "registered") ?: "?", rep ? ", replaced " : " (current)", rep ? rep : "");
  }
}

static int changed(const ke_request *r, const char *pinned, const char *since, const json_t *kv)
{
  const ke_retrieval_signed *q = &r->requester;
  char now[CTL_PIN_FPR_LEN + 1], pg[80], ng[80];
  uint8_t pb[32];
  const char *reg = ctl_jstr(kv, "registered");

  ke_hex_encode(now, q->fingerprint, sizeof q->fingerprint);
  if (ke_hex_decode(pb, sizeof pb, pinned) == KE_OK)
    ctl_hex_groups(pg, pb);
  else
    snprintf(pg, sizeof pg, "%s", pinned);
  ctl_hex_groups(ng, q->fingerprint);
  return ctl_err(CTL_FAIL,
                 "REFUSING: the request is signed by a client key of %s that is NOT the "
                 "one you pinned.\n  pinned key           %s  (pinned %s)\n"
                 "  signed with          %s\n  that key registered  %s\n"
                 "Whoever controls the server can register a key of its own for %s and sign with "
                 "it; no part is made.  Ask %s in person, or on a call whose voice you know, "
                 "whether they replaced their key, and have them read `escrowctl key show`.  Only "
                 "if it is theirs:\n  escrowctl pin add %s %s\nthen approve again.",
                 q->user, pg, since && *since ? since : "?", ng, reg ? reg : "(not known here)",
                 q->user, q->user, q->user, now);
}

int ctl_requester_check(const ke_request *r, const char *pin_opt, const json_t *kv)
{
  const ke_retrieval_signed *q = &r->requester;
  char fpr[CTL_PIN_FPR_LEN + 1], pinned[CTL_PIN_FPR_LEN + 1] = "", since[32] = "", fg[80];
  ctl_pin_state st;
  int rc;

  if (!r->has_requester)
    return ctl_err(CTL_FAIL, "the request carries no signature of its requester (made before the "
                             "server kept them?): refusing; the requester must ask again");
  ke_hex_encode(fpr, q->fingerprint, sizeof q->fingerprint);
  if ((rc = ctl_pin_lookup(q->user, fpr, &st, pinned, since)))
    return rc;
  if (st == CTL_PIN_MATCH) {
    ctl_notef("  requester key      pinned for %s since %s: the signature over this request "
              "and its one-time key verifies",
              q->user, since);
    return CTL_OK;
  }
  if (st == CTL_PIN_CHANGED)
    return changed(r, pinned, since, kv);
  ctl_hex_groups(fg, q->fingerprint);
  ctl_notef("You have no pinned client key for %s.  The request is signed by the key\n"
            "  %s\n"
            "Confirm it with %s out of band (in person, or on a call whose voice you know):\n"
            "they read it from `escrowctl key show`.  Once pinned, a different key is refused.",
            q->user, fg, q->user);
  if (pin_opt) {
    if (strlen(pin_opt) != CTL_PIN_FPR_LEN || strcasecmp(pin_opt, fpr) != 0)
      return ctl_err(CTL_FAIL,
                     "--pin-requester is not the fingerprint of the key that signed this "
                     "request: refusing (signed with %s)",
                     fpr);
  } else if (!ctl_interactive()) {
    return ctl_err(CTL_USAGE,
                   "not a terminal: after checking the fingerprint with %s, pass "
                   "--pin-requester FINGERPRINT (as they read it to you), or run `escrowctl pin "
                   "add %s FINGERPRINT`",
                   q->user, q->user);
  } else if (!ctl_confirm("Did the requester confirm exactly this fingerprint to you out of "
                          "band? [y/N] ")) {
    return ctl_err(CTL_FAIL, "not confirmed; nothing pinned, no part made");
  }
  if ((rc = ctl_pin_store(q->user, fpr)))
    return rc;
  ctl_notef("  requester key      pinned for %s now: %s", q->user, fpr);
  return CTL_OK;
}
