/* The reference hash of svc-auth (svc-auth/ref_hash.c): computed after the
 * start, every reader (even one that came before the computation began)
 * waits for the one hash, parameters Argon2id refuses fail the start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>
#include <sodium.h>

#include "ref_hash.h"

#define OPS 1ULL
#define MEM (64u * 1024u)
#define READERS 4

static void *
read_hash(void *arg)
{
	return (void *) (uintptr_t) auth_ref_hash_get(arg);
}

/* Readers that ask before the hash can be there all get the same
 * complete hash: an Argon2id hash with the parameters given, of a password
 * nobody knows. */
static void
test_readers_wait_for_the_hash(void **state)
{
	(void) state;
	auth_ref_hash r;
	pthread_t t[READERS];
	const char *got[READERS];
	assert_int_equal(auth_ref_hash_init(&r, OPS, MEM), 0);
	/* Readers first: they wait for a computation not begun yet. */
	for (int i = 0; i < READERS; i++) {
		assert_int_equal(
		    pthread_create(&t[i], NULL, read_hash, &r), 0);
	}
	auth_ref_hash_compute(&r);
	const char *h = auth_ref_hash_get(&r);
	for (int i = 0; i < READERS; i++) {
		void *p;
		pthread_join(t[i], &p);
		got[i] = p;
	}
	assert_non_null(h);
	for (int i = 0; i < READERS; i++) {
		assert_ptr_equal(got[i], h);
	}
	assert_int_equal(strncmp(h, "$argon2id$", 10), 0);
	assert_int_equal(crypto_pwhash_str_needs_rehash(h, OPS, MEM), 0);
	assert_int_not_equal(crypto_pwhash_str_verify(h, "", 0), 0);
	assert_int_not_equal(crypto_pwhash_str_verify(h, "password", 8), 0);
	auth_ref_hash_stop(&r);
}

/* Two starts: two different random passwords, two different hashes. */
static void
test_each_start_hashes_a_new_password(void **state)
{
	(void) state;
	auth_ref_hash a, b;
	assert_int_equal(auth_ref_hash_init(&a, OPS, MEM), 0);
	assert_int_equal(auth_ref_hash_init(&b, OPS, MEM), 0);
	auth_ref_hash_compute(&a);
	auth_ref_hash_compute(&b);
	assert_non_null(auth_ref_hash_get(&a));
	assert_non_null(auth_ref_hash_get(&b));
	assert_string_not_equal(auth_ref_hash_get(&a), auth_ref_hash_get(&b));
	auth_ref_hash_stop(&a);
	auth_ref_hash_stop(&b);
}

/* Parameters Argon2id refuses are refused at the start, not at the first
 * login. */
static void
test_bad_parameters_fail_the_start(void **state)
{
	(void) state;
	auth_ref_hash r;
	assert_int_equal(auth_ref_hash_init(&r, 0, MEM), -1);
	assert_int_equal(auth_ref_hash_init(&r, OPS, 1024), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_readers_wait_for_the_hash),
	    cmocka_unit_test(test_each_start_hashes_a_new_password),
	    cmocka_unit_test(test_bad_parameters_fail_the_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
