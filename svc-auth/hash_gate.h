/* The password-hash gate: a counting semaphore shared by every RPC worker
 * of svc-auth that bounds how many Argon2id computations (registrations'
 * hashes, logins' verifications) run at once, so that they never ask more
 * of the cores than there is, and bounds how many calls may wait for one.
 *
 * Waiting calls queue in two classes: logins are served before
 * registrations, and a login that finds the queue full takes the place of
 * the newest waiting registration (which is refused). A flood of
 * registrations therefore delays a login by at most the hashes already
 * running. A waiter gives up at its deadline. See docs/operations.md. */
#ifndef AUTH_HASH_GATE_H
#define AUTH_HASH_GATE_H

#include <stdint.h>

#include "core/status.h"

typedef struct auth_hash_gate auth_hash_gate;

/* Who asks for a slot; the lower value is served first. */
typedef enum auth_hash_kind {
	AUTH_HASH_LOGIN = 0,
	AUTH_HASH_REGISTER = 1,
} auth_hash_kind;

/* A gate with slots concurrent hashes (>= 1) and at most queue_max (>= 0)
 * waiting calls. NULL when out of memory or an argument is out of range. */
auth_hash_gate *auth_hash_gate_new(int slots, int queue_max);

/* Frees g; nobody may hold or wait for a slot. NULL is a no-op. */
void auth_hash_gate_free(auth_hash_gate *g);

/* Takes a slot for one hash, waiting for at most wait_ms (< 0: no limit).
 * CORE_OK: the caller holds a slot and must give it back with
 * auth_hash_gate_leave. CORE_RESOURCE_EXHAUSTED: the queue is full (or a
 * login took this registration's place); *retry_after_s is a hint of when
 * the queue will have drained (>= 1). CORE_DEADLINE_EXCEEDED: no slot came
 * within wait_ms. */
core_status auth_hash_gate_enter(auth_hash_gate *g, auth_hash_kind kind,
    int64_t wait_ms, uint32_t *retry_after_s)
    __attribute__((warn_unused_result));

/* What auth_hash_gate_enter would answer now if it refused at once
 * (CORE_RESOURCE_EXHAUSTED, counted and with *retry_after_s as there), or
 * CORE_OK: a cheap early refusal before the work that precedes a hash. A
 * later enter may still refuse. */
core_status auth_hash_gate_check(
    auth_hash_gate *g, auth_hash_kind kind, uint32_t *retry_after_s);

/* Gives back a slot taken by auth_hash_gate_enter; hash_us is how long the
 * hash took (for the retry hint and the expected hash time). */
void auth_hash_gate_leave(auth_hash_gate *g, int64_t hash_us);

/* The expected duration of one hash, in ms (a moving average; 0 before
 * the first one). */
int64_t auth_hash_gate_expected_ms(auth_hash_gate *g);

/* Counters since start, for logs and tests. */
typedef struct auth_hash_gate_stats {
	uint64_t hashes[2];    /* slots granted, by kind */
	uint64_t refused[2];   /* queue full, by kind (evictions included) */
	uint64_t timed_out[2]; /* gave up at the deadline, by kind */
	int running;           /* slots held now */
	int waiting;           /* calls queued now */
} auth_hash_gate_stats;

void auth_hash_gate_stats_get(auth_hash_gate *g, auth_hash_gate_stats *out);

#endif
