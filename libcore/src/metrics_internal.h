/* Internals of the metrics registry (metrics.c) shared with its text
 * rendering (metrics_text.c). */
#ifndef CORE_METRICS_INTERNAL_H
#define CORE_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"

#define NAME_MAX_LEN 128
#define HELP_MAX_LEN 1024
/* The rendered label set of one series: component and four labels, each
 * name="value" with the value escaped (at most twice its length). */
#define LABELS_MAX                                                            \
	((CORE_METRIC_MAX_LABELS + 1) *                                       \
	    (NAME_MAX_LEN + 2 * CORE_METRIC_MAX_VALUE + 4))
/* A scrape larger than this is cut off (and logged): a bound far above
 * what bounded label sets produce. */
#define RENDER_MAX ((size_t) 64 << 20)

struct core_metric_series {
	core_metric_series *next;
	const core_metric *family;
	_Atomic uint64_t whole; /* the sum of whole steps (a gauge's as
	                           int64_t) */
	_Atomic uint64_t bits;  /* a double: gauge value, counter's fractional
	                           steps, histogram's sum */
	char *labels;           /* rendered: component="svc-auth",code="OK" */
	size_t labels_len;
	_Atomic uint64_t buckets[]; /* histogram: n_buckets + 1 (+Inf) */
};

struct core_metric {
	core_metric_type type;
	char name[NAME_MAX_LEN + 1];
	char *help;
	size_t n_labels;
	char label[CORE_METRIC_MAX_LABELS][NAME_MAX_LEN + 1];
	size_t n_buckets;
	double bucket[CORE_METRIC_MAX_BUCKETS];
	core_metric_series *head, *tail;
	size_t n_series;
	bool full_logged;
};

/* A growing text buffer, capped at max bytes; once failed it takes nothing
 * more. A fixed buffer has cap = max + 1 and never grows. */
typedef struct metrics_buf {
	char *p;
	size_t len, cap, max;
	bool failed;
} metrics_buf;

void metrics_put_n(metrics_buf *b, const char *s, size_t n);
void metrics_put(metrics_buf *b, const char *s);
/* s (at most max bytes of it) escaped: backslash, newline, and the double
 * quote when quote is set (label values; HELP text leaves it). */
void metrics_put_escaped(
    metrics_buf *b, const char *s, size_t max, bool quote);

/* The value of a counter or gauge, or a histogram's sum. */
double metrics_series_value(const core_metric_series *s);

/* Appends the family's HELP, TYPE and samples. */
void metrics_render_family(metrics_buf *b, const core_metric *m);

#endif
