/* The metrics registry and its text rendering (core/metrics.h).
 *
 * Families sit in one array, each with a list of series appended under the
 * registry's lock; rendering walks them under the same lock. Updates touch
 * only the series' atomics, with relaxed order: a scrape needs each number
 * to be one that was true at some moment, not a snapshot across numbers.
 *
 * A double that must be added to atomically (a gauge, a fractional counter
 * step, a histogram's sum) is kept as its bit pattern in an atomic uint64
 * and updated with compare-and-swap. Whole steps of counters and gauges —
 * almost all of them: calls, connections, calls in flight — go to a
 * separate integer with one fetch-add, which contended cores never have to
 * retry. A histogram's count is the sum of its buckets
 * at rendering, so _count always equals the +Inf bucket. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "metrics_internal.h"

const double core_metric_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001,
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t core_metric_latency_buckets_n =
    sizeof(core_metric_latency_buckets) /
    sizeof(core_metric_latency_buckets[0]);

typedef struct collector {
	void (*fn)(void *arg);
	void *arg;
} collector;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static core_metric *families[CORE_METRIC_MAX_FAMILIES];
static size_t n_families;
static collector collectors[CORE_METRIC_MAX_COLLECTORS];
static size_t n_collectors;

/* ---- doubles in atomics ------------------------------------------------ */

static uint64_t
to_bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u;
}

static double
from_bits(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

static void
add_double(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(a, &old,
	    to_bits(from_bits(old) + v), memory_order_relaxed,
	    memory_order_relaxed)) {
	}
}

/* ---- updates ------------------------------------------------------------ */

void
core_metric_inc(core_metric_series *s)
{
	core_metric_add(s, 1.0);
}

void
core_metric_dec(core_metric_series *s)
{
	core_metric_add(s, -1.0);
}

void
core_metric_add(core_metric_series *s, double v)
{
	if (s == NULL || isnan(v)) {
		return;
	}
	switch (s->family->type) {
	case CORE_METRIC_COUNTER:
		if (!(v >= 0)) {
			return; /* a counter never goes down */
		}
		if (v < 9007199254740992.0 && v == (double) (uint64_t) v) {
			atomic_fetch_add_explicit(
			    &s->whole, (uint64_t) v, memory_order_relaxed);
		} else {
			add_double(&s->bits, v);
		}
		return;
	case CORE_METRIC_GAUGE:
		if (fabs(v) < 9007199254740992.0 &&
		    v == (double) (int64_t) v) {
			/* Two's complement: adding the cast of a negative
			 * step subtracts. */
			atomic_fetch_add_explicit(&s->whole,
			    (uint64_t) (int64_t) v, memory_order_relaxed);
		} else {
			add_double(&s->bits, v);
		}
		return;
	case CORE_METRIC_HISTOGRAM:
		return;
	}
}

void
core_metric_set(core_metric_series *s, double v)
{
	if (s != NULL && s->family->type == CORE_METRIC_GAUGE) {
		/* Not one atomic step with a concurrent core_metric_inc: a
		 * gauge is either set or moved, not both at once. */
		atomic_store_explicit(&s->whole, 0, memory_order_relaxed);
		atomic_store_explicit(
		    &s->bits, to_bits(v), memory_order_relaxed);
	}
}

void
core_metric_counter_set(core_metric_series *s, double v)
{
	if (s != NULL && s->family->type == CORE_METRIC_COUNTER && v >= 0) {
		atomic_store_explicit(&s->whole, 0, memory_order_relaxed);
		atomic_store_explicit(
		    &s->bits, to_bits(v), memory_order_relaxed);
	}
}

void
core_metric_observe(core_metric_series *s, double v)
{
	if (s == NULL || s->family->type != CORE_METRIC_HISTOGRAM ||
	    isnan(v)) {
		return;
	}
	const core_metric *m = s->family;
	size_t i = 0;
	while (i < m->n_buckets && v > m->bucket[i]) {
		i++;
	}
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	add_double(&s->bits, v);
}

static uint64_t
histogram_count(const core_metric_series *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i <= s->family->n_buckets; i++) {
		n +=
		    atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
	}
	return n;
}

double
metrics_series_value(const core_metric_series *s)
{
	double v =
	    from_bits(atomic_load_explicit(&s->bits, memory_order_relaxed));
	uint64_t whole = atomic_load_explicit(&s->whole, memory_order_relaxed);
	if (s->family->type == CORE_METRIC_COUNTER) {
		v += (double) whole;
	} else if (s->family->type == CORE_METRIC_GAUGE) {
		v += (double) (int64_t) whole;
	}
	return v;
}

double
core_metric_value(const core_metric_series *s)
{
	if (s == NULL) {
		return 0;
	}
	if (s->family->type == CORE_METRIC_HISTOGRAM) {
		return (double) histogram_count(s);
	}
	return metrics_series_value(s);
}

/* ---- families ----------------------------------------------------------- */

static bool
valid_name(const char *s, bool colon)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > NAME_MAX_LEN || (s[0] >= '0' && s[0] <= '9')) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' ||
		        (colon && c == ':'))) {
			return false;
		}
	}
	return true;
}

static bool
valid_label(const char *l, core_metric_type type)
{
	return valid_name(l, false) && strncmp(l, "__", 2) != 0 &&
	       strcmp(l, "component") != 0 &&
	       !(type == CORE_METRIC_HISTOGRAM && strcmp(l, "le") == 0);
}

/* Checks the family's definition; 0, or -1 with the reason logged. */
static int
check_def(core_metric_type type, const char *name, const char *help,
    const char *const *labels, size_t n_labels, const double *buckets,
    size_t n_buckets)
{
	const char *why = NULL;
	if ((unsigned) type > CORE_METRIC_HISTOGRAM) {
		why = "unknown type";
	} else if (!valid_name(name, true)) {
		why = "invalid name";
	} else if (help == NULL || strlen(help) > HELP_MAX_LEN) {
		why = "no help, or help too long";
	} else if (n_labels > CORE_METRIC_MAX_LABELS) {
		why = "too many labels";
	} else if (n_buckets > CORE_METRIC_MAX_BUCKETS ||
	           (buckets != NULL && n_buckets == 0)) {
		why = "bad number of buckets";
	}
	for (size_t i = 0; why == NULL && i < n_labels; i++) {
		if (!valid_label(labels[i], type)) {
			why = "invalid label name";
		}
		for (size_t j = 0; why == NULL && j < i; j++) {
			if (strcmp(labels[i], labels[j]) == 0) {
				why = "duplicate label name";
			}
		}
	}
	for (size_t i = 0; why == NULL && buckets != NULL && i < n_buckets;
	     i++) {
		if (!isfinite(buckets[i]) ||
		    (i > 0 && buckets[i] <= buckets[i - 1])) {
			why = "buckets not finite and strictly increasing";
		}
	}
	if (why != NULL) {
		core_log_kv(CORE_LOG_ERROR, "metric family refused", "metric",
		    valid_name(name, true) ? name : "(invalid)", "error", why,
		    NULL);
		return -1;
	}
	return 0;
}

static bool
same_def(const core_metric *m, core_metric_type type,
    const char *const *labels, size_t n_labels, const double *buckets,
    size_t n_buckets)
{
	if (m->type != type || m->n_labels != n_labels) {
		return false;
	}
	for (size_t i = 0; i < n_labels; i++) {
		if (strcmp(m->label[i], labels[i]) != 0) {
			return false;
		}
	}
	if (type == CORE_METRIC_HISTOGRAM) {
		if (m->n_buckets != n_buckets) {
			return false;
		}
		for (size_t i = 0; i < n_buckets; i++) {
			if (m->bucket[i] != buckets[i]) {
				return false;
			}
		}
	}
	return true;
}

static core_metric *
family_new(core_metric_type type, const char *name, const char *help,
    const char *const *labels, size_t n_labels, const double *buckets,
    size_t n_buckets)
{
	core_metric *m = calloc(1, sizeof(*m));
	char *h = strdup(help);
	if (m == NULL || h == NULL) {
		free(m);
		free(h);
		return NULL;
	}
	m->type = type;
	memcpy(m->name, name, strlen(name) + 1);
	m->help = h;
	m->n_labels = n_labels;
	for (size_t i = 0; i < n_labels; i++) {
		memcpy(m->label[i], labels[i], strlen(labels[i]) + 1);
	}
	if (type == CORE_METRIC_HISTOGRAM) {
		m->n_buckets = n_buckets;
		memcpy(m->bucket, buckets, n_buckets * sizeof(double));
	}
	return m;
}

core_metric *
core_metric_family(core_metric_type type, const char *name, const char *help,
    const char *const *labels, const double *buckets, size_t n_buckets)
{
	size_t n_labels = 0;
	while (labels != NULL && n_labels <= CORE_METRIC_MAX_LABELS &&
	       labels[n_labels] != NULL) {
		n_labels++;
	}
	if (type == CORE_METRIC_HISTOGRAM && buckets == NULL) {
		buckets = core_metric_latency_buckets;
		n_buckets = core_metric_latency_buckets_n;
	}
	if (check_def(
	        type, name, help, labels, n_labels, buckets, n_buckets) != 0) {
		return NULL;
	}
	core_metric *m = NULL;
	const char *why = NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_families; i++) {
		if (strcmp(families[i]->name, name) == 0) {
			m = families[i];
			break;
		}
	}
	if (m != NULL) {
		if (!same_def(m, type, labels, n_labels, buckets, n_buckets)) {
			m = NULL;
			why = "registered before with another type, labels or "
			      "buckets";
		}
	} else if (n_families == CORE_METRIC_MAX_FAMILIES) {
		why = "too many families";
	} else {
		m = family_new(
		    type, name, help, labels, n_labels, buckets, n_buckets);
		if (m != NULL) {
			families[n_families++] = m;
		} else {
			why = "out of memory";
		}
	}
	pthread_mutex_unlock(&lock);
	if (why != NULL) {
		core_log_kv(CORE_LOG_ERROR, "metric family refused", "metric",
		    name, "error", why, NULL);
	}
	return m;
}

/* ---- series ------------------------------------------------------------- */

static void
put_label(metrics_buf *b, const char *name, const char *value)
{
	if (b->len > 0) {
		metrics_put_n(b, ",", 1);
	}
	metrics_put(b, name);
	metrics_put_n(b, "=\"", 2);
	/* Cut to the bound on a character boundary, and before any byte
	 * that is not UTF-8: the format wants valid UTF-8. */
	metrics_put_escaped(b, value,
	    core_utf8_prefix(value, strnlen(value, CORE_METRIC_MAX_VALUE)),
	    true);
	metrics_put_n(b, "\"", 1);
}

/* Renders the series' label set into b (a fixed buffer: b->max is its
 * size less one). */
static void
series_labels(metrics_buf *b, const core_metric *m, const char *component,
    const char *const *values)
{
	if (component[0] != '\0') {
		put_label(b, "component", component);
	}
	for (size_t i = 0; i < m->n_labels; i++) {
		put_label(b, m->label[i], values[i] != NULL ? values[i] : "");
	}
}

static core_metric_series *
series_new(const core_metric *m, const char *labels, size_t len)
{
	size_t nb = m->type == CORE_METRIC_HISTOGRAM ? m->n_buckets + 1 : 0;
	core_metric_series *s =
	    calloc(1, sizeof(*s) + nb * sizeof(s->buckets[0]));
	if (s == NULL) {
		return NULL;
	}
	s->labels = malloc(len + 1);
	if (s->labels == NULL) {
		free(s);
		return NULL;
	}
	memcpy(s->labels, labels, len + 1);
	s->labels_len = len;
	s->family = m;
	atomic_init(&s->whole, 0);
	atomic_init(&s->bits, to_bits(0.0));
	for (size_t i = 0; i < nb; i++) {
		atomic_init(&s->buckets[i], 0);
	}
	return s;
}

core_metric_series *
core_metric_series_get(
    core_metric *m, const char *component, const char *const *values)
{
	if (m == NULL || (values == NULL && m->n_labels > 0)) {
		return NULL;
	}
	if (component == NULL) {
		component = core_log_service();
	}
	char text[LABELS_MAX + 1];
	metrics_buf b = {.p = text, .cap = sizeof(text), .max = LABELS_MAX};
	text[0] = '\0';
	series_labels(&b, m, component, values);
	if (b.failed) {
		return NULL; /* cannot happen: LABELS_MAX is the longest */
	}
	core_metric_series *s;
	bool full = false;
	pthread_mutex_lock(&lock);
	for (s = m->head; s != NULL; s = s->next) {
		if (s->labels_len == b.len &&
		    memcmp(s->labels, text, b.len) == 0) {
			break;
		}
	}
	if (s == NULL && m->n_series == CORE_METRIC_MAX_SERIES) {
		full = !m->full_logged;
		m->full_logged = true;
	} else if (s == NULL) {
		s = series_new(m, text, b.len);
		if (s != NULL) {
			if (m->tail != NULL) {
				m->tail->next = s;
			} else {
				m->head = s;
			}
			m->tail = s;
			m->n_series++;
		}
	}
	pthread_mutex_unlock(&lock);
	if (full) {
		core_log_kv(CORE_LOG_ERROR,
		    "metric has too many series; new label sets are dropped",
		    "metric", m->name, NULL);
	}
	return s;
}

/* ---- rendering ---------------------------------------------------------- */

void
core_metrics_on_collect(void (*fn)(void *arg), void *arg)
{
	bool full = false;
	pthread_mutex_lock(&lock);
	if (n_collectors < CORE_METRIC_MAX_COLLECTORS) {
		collectors[n_collectors++] = (collector){fn, arg};
	} else {
		full = true;
	}
	pthread_mutex_unlock(&lock);
	if (full) {
		core_log_error("too many metric collectors; one is dropped");
	}
}

static void
run_collectors(void)
{
	collector todo[CORE_METRIC_MAX_COLLECTORS];
	pthread_mutex_lock(&lock);
	size_t n = n_collectors;
	memcpy(todo, collectors, n * sizeof(todo[0]));
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < n; i++) {
		todo[i].fn(todo[i].arg);
	}
}

char *
core_metrics_render(size_t *len)
{
	run_collectors();
	metrics_buf b = {.p = malloc(16384), .cap = 16384, .max = RENDER_MAX};
	if (b.p == NULL) {
		return NULL;
	}
	b.p[0] = '\0';
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_families && !b.failed; i++) {
		metrics_render_family(&b, families[i]);
	}
	pthread_mutex_unlock(&lock);
	if (b.failed) {
		core_log_error("metrics: rendering failed (out of memory or "
		               "over %zu bytes)",
		    (size_t) RENDER_MAX);
		free(b.p);
		return NULL;
	}
	if (len != NULL) {
		*len = b.len;
	}
	return b.p;
}
