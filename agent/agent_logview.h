/*
 * agent_logview.h - the agent's memory of the audit log (docs/agent-protocol.md
 * section 4, "Log consistency").
 *
 * A receipt is signed with the log key, but the server holds that key: it
 * could sign a receipt for a leaf that the log the auditors see does not
 * hold (a forked or rewritten log).  So, like escrowctl (ctl_logview.h), the
 * agent keeps the last checkpoint it accepted ("audit_checkpoint" in
 * state.json, root-only like the rest of the state) and accepts a newer one
 * only with a consistency proof from it.  An escrow counts only once its
 * event is proven in such a checkpoint; every check-in proves that the log
 * still extends the saved checkpoint.  A refusal is logged naming both tree
 * sizes and exits AGENT_BADANSWER.
 */
#ifndef AGENT_LOGVIEW_H
#define AGENT_LOGVIEW_H

#include "agent_state.h"

/* The escrow whose answer carried `event` (the leaf's exact text) at `leaf`:
 * the event must name record_id, volume_id, this device and the envelope's
 * SHA-256 (hex), and be included in the server's fresh checkpoint, which
 * must verify with the pinned log key and extend the saved one.  event NULL
 * (check-in): only the checkpoint and its consistency.  On success the
 * checkpoint replaces the saved one in c->st (the caller saves the state).
 * AGENT_OK, AGENT_BADANSWER (logged) or the HTTP error. */
int agent_logview_check(agent_ctx *c, const char *volume_id, const char *record_id,
                        const char *sha_hex, json_int_t leaf, const char *event);

#endif
