/* The reference hash; see ref_hash.h. */
#include <string.h>

#include <sodium.h>

#include "ref_hash.h"

static void *
compute(void *arg)
{
	auth_ref_hash *r = arg;
	char pw[33], hash[sizeof(r->hash)];
	unsigned char raw[16];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(pw, sizeof(pw), raw, sizeof(raw));
	int rv = crypto_pwhash_str_alg(hash, pw, strlen(pw), r->opslimit,
	    r->memlimit, crypto_pwhash_ALG_ARGON2ID13);
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(raw, sizeof(raw));
	pthread_mutex_lock(&r->mu);
	if (rv == 0) {
		memcpy(r->hash, hash, sizeof(hash));
	}
	r->state = rv == 0 ? 1 : -1;
	pthread_cond_broadcast(&r->done_cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int
auth_ref_hash_init(
    auth_ref_hash *r, unsigned long long opslimit, size_t memlimit)
{
	if (sodium_init() < 0 || opslimit < crypto_pwhash_OPSLIMIT_MIN ||
	    opslimit > crypto_pwhash_OPSLIMIT_MAX ||
	    memlimit < crypto_pwhash_MEMLIMIT_MIN ||
	    memlimit > crypto_pwhash_MEMLIMIT_MAX) {
		return -1;
	}
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->done_cv, NULL);
	r->opslimit = opslimit;
	r->memlimit = memlimit;
	return 0;
}

void
auth_ref_hash_compute(auth_ref_hash *r)
{
	r->threaded = pthread_create(&r->thread, NULL, compute, r) == 0;
	if (!r->threaded) {
		compute(r); /* in this thread, then */
	}
}

const char *
auth_ref_hash_get(auth_ref_hash *r)
{
	pthread_mutex_lock(&r->mu);
	while (r->state == 0) {
		pthread_cond_wait(&r->done_cv, &r->mu);
	}
	int state = r->state;
	pthread_mutex_unlock(&r->mu);
	/* Written once, before state became 1, and never again. */
	return state == 1 ? r->hash : NULL;
}

void
auth_ref_hash_stop(auth_ref_hash *r)
{
	if (r->threaded) {
		pthread_join(r->thread, NULL);
		r->threaded = false;
	}
	sodium_memzero(r->hash, sizeof(r->hash));
	pthread_cond_destroy(&r->done_cv);
	pthread_mutex_destroy(&r->mu);
}
