/* The raw Argon2id rate: THREADS threads each verify the same password
 * against one crypto_pwhash_str hash made at T iterations and M_KIB KiB
 * (svc-auth's AUTH_ARGON2_T and AUTH_ARGON2_M_KIB) for SECONDS, with
 * libsodium and nothing else: the ceiling of logins/s on these cores.
 *   argon2_rate T M_KIB THREADS SECONDS
 * Prints verifies/s and p50/p99 in microseconds. */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

static const char password[] = "bench-password-argon2";
static char hash[crypto_pwhash_STRBYTES];

typedef struct worker {
	atomic_bool *stop;
	hist h;
	uint64_t failures;
} worker;

static void *
run(void *arg)
{
	worker *w = arg;
	while (!atomic_load(w->stop)) {
		int64_t t0 = now_ns();
		if (crypto_pwhash_str_verify(
		        hash, password, sizeof(password) - 1) == 0) {
			hist_add(&w->h, now_ns() - t0);
		} else {
			w->failures++;
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(
		    stderr, "usage: %s T M_KIB THREADS SECONDS\n", argv[0]);
		return 2;
	}
	long t_cost = strtol(argv[1], NULL, 10);
	long m_kib = strtol(argv[2], NULL, 10);
	int threads = (int) strtol(argv[3], NULL, 10);
	int seconds = (int) strtol(argv[4], NULL, 10);
	if (t_cost < 1 || m_kib < 8 || threads < 1 || threads > 1024 ||
	    seconds < 1) {
		fprintf(stderr, "T >= 1, M_KIB >= 8, THREADS 1..1024 and "
		                "SECONDS >= 1\n");
		return 2;
	}
	if (sodium_init() < 0 ||
	    crypto_pwhash_str_alg(hash, password, sizeof(password) - 1,
	        (unsigned long long) t_cost, (size_t) m_kib * 1024,
	        crypto_pwhash_ALG_ARGON2ID13) != 0) {
		fprintf(stderr, "hashing failed (out of memory?)\n");
		return 1;
	}
	atomic_bool stop = false;
	worker *w = calloc((size_t) threads, sizeof(*w));
	pthread_t *t = calloc((size_t) threads, sizeof(*t));
	int64_t t0 = now_ns();
	for (int i = 0; i < threads; i++) {
		w[i] = (worker){.stop = &stop};
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	sleep((unsigned) seconds);
	atomic_store(&stop, true);
	static hist all;
	uint64_t failures = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		hist_merge(&all, &w[i].h);
		failures += w[i].failures;
	}
	double secs = (double) (now_ns() - t0) / 1e9;
	printf("argon2id t=%ld m_kib=%ld threads=%d ok_per_s=%.1f p50_us=%.0f "
	       "p99_us=%.0f failures=%llu\n",
	    t_cost, m_kib, threads, (double) all.n / secs,
	    hist_quantile(&all, 0.5), hist_quantile(&all, 0.99),
	    (unsigned long long) failures);
	free(w);
	free(t);
	return 0;
}
