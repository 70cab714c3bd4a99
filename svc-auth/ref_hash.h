/* The reference hash: an Argon2id hash of a random password with the login
 * parameters, what a login for an unknown username is verified against, so
 * that it costs the same Argon2id work as a login for a known one and its
 * timing does not tell whether the name exists.
 *
 * Computing it is the slowest step of svc-auth's start (one Argon2id hash,
 * AUTH_ARGON2_M_KIB of memory), so it is computed in a thread of its own
 * once the service listens (svc-auth's started hook), off the way to ready. Every login, known
 * username or not, waits for it (auth_ref_hash_get) before it looks the
 * user up: in the few milliseconds after the start when it is not there
 * yet, both kinds of login wait alike, so the wait tells nothing either. */
#ifndef AUTH_REF_HASH_H
#define AUTH_REF_HASH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct auth_ref_hash {
	pthread_mutex_t mu;
	pthread_cond_t done_cv;
	pthread_t thread;
	bool threaded; /* thread to join */
	int state;     /* 0: computing; 1: hash is set; -1: it failed */
	unsigned long long opslimit;
	size_t memlimit;
	char hash[128];
} auth_ref_hash;

/* Checks the parameters (as crypto_pwhash_str_alg would take them) and
 * readies r; nothing is computed yet. Returns 0, or -1 for parameters
 * Argon2id refuses. */
int auth_ref_hash_init(
    auth_ref_hash *r, unsigned long long opslimit, size_t memlimit);

/* Starts computing the hash in a thread of its own (in this one when no
 * thread can be made). Once, after init. */
void auth_ref_hash_compute(auth_ref_hash *r);

/* The hash, once computed (waits for it: after auth_ref_hash_compute
 * only); NULL if computing it failed (out of memory). */
const char *auth_ref_hash_get(auth_ref_hash *r);

/* Waits for the computation, if one was started, and frees what init
 * made. After init only; the hash is no longer available. */
void auth_ref_hash_stop(auth_ref_hash *r);

#endif
