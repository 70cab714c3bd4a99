/* Latency histogram and timing shared by the benchmark programs. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* 1 us buckets up to 10 ms, then 100 us buckets up to ~1 s. */
#define HIST_FINE 10000
#define HIST_COARSE 10000

typedef struct hist {
	uint32_t b[HIST_FINE + HIST_COARSE + 1];
	uint64_t n;
} hist;

static inline int64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void
hist_add(hist *h, int64_t ns)
{
	int64_t us = ns / 1000;
	size_t i;
	if (us < HIST_FINE) {
		i = (size_t) us;
	} else if (us < HIST_FINE + (int64_t) HIST_COARSE * 100) {
		i = HIST_FINE + (size_t) ((us - HIST_FINE) / 100);
	} else {
		i = HIST_FINE + HIST_COARSE;
	}
	h->b[i]++;
	h->n++;
}

static inline void
hist_merge(hist *into, const hist *h)
{
	for (size_t i = 0; i < sizeof(h->b) / sizeof(h->b[0]); i++) {
		into->b[i] += h->b[i];
	}
	into->n += h->n;
}

/* The q-quantile (0..1) in microseconds. */
static inline double
hist_quantile(const hist *h, double q)
{
	uint64_t want = (uint64_t) (q * (double) h->n);
	uint64_t seen = 0;
	for (size_t i = 0; i < sizeof(h->b) / sizeof(h->b[0]); i++) {
		seen += h->b[i];
		if (seen > want) {
			return i < HIST_FINE
			           ? (double) i
			           : HIST_FINE +
			                 (double) (i - HIST_FINE) * 100;
		}
	}
	return -1;
}

#endif
