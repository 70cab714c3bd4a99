/* Argon2id inside a call: every hash and every verification of svc-auth's
 * handlers goes through the password-hash gate (hash_gate.h), waiting for a
 * slot no longer than the call's deadline allows. */
#ifndef AUTH_PASSWORDS_H
#define AUTH_PASSWORDS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rpc.h"
#include "hash_gate.h"

/* Refuses a registration at once when the gate would (RESOURCE_EXHAUSTED
 * with a retry-after, answered on c), before any other work is done for
 * it: under a flood, refusing must cost next to nothing. */
core_status auth_password_admit(core_call *c);

/* The Argon2id hash of password (with the configured limits) into out
 * (outlen >= crypto_pwhash_STRBYTES). A refusal of the gate is answered on
 * c and returned: RESOURCE_EXHAUSTED with a retry-after when the queue is
 * full, DEADLINE_EXCEEDED when no slot came in time. */
core_status auth_password_hash(
    core_call *c, const char *password, char *out, size_t outlen);

/* Whether password matches hash (*match), with the same gate and answers
 * as auth_password_hash. */
core_status auth_password_verify(
    core_call *c, const char *hash, const char *password, bool *match);

#endif
