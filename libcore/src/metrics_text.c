/* The Prometheus text format (0.0.4) of one family (metrics.c holds the
 * registry and the lock under which this runs). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

static const char *const type_names[] = {"counter", "gauge", "histogram"};

void
metrics_put_n(metrics_buf *b, const char *s, size_t n)
{
	if (b->failed) {
		return;
	}
	if (n > b->max - b->len) {
		b->failed = true;
		return;
	}
	if (n + 1 > b->cap - b->len) {
		size_t cap = b->cap * 2 + n + 1;
		if (cap > b->max + 1) {
			cap = b->max + 1;
		}
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
metrics_put(metrics_buf *b, const char *s)
{
	metrics_put_n(b, s, strlen(s));
}

void
metrics_put_escaped(metrics_buf *b, const char *s, size_t max, bool quote)
{
	for (size_t i = 0; s[i] != '\0' && i < max; i++) {
		if (s[i] == '\\') {
			metrics_put_n(b, "\\\\", 2);
		} else if (s[i] == '\n') {
			metrics_put_n(b, "\\n", 2);
		} else if (quote && s[i] == '"') {
			metrics_put_n(b, "\\\"", 2);
		} else {
			metrics_put_n(b, &s[i], 1);
		}
	}
}

/* v as Prometheus writes numbers: integers whole, others in the fewest
 * digits that read back as the same double, and +Inf, -Inf, NaN. */
static void
put_number(metrics_buf *b, double v)
{
	char s[40];
	if (isnan(v)) {
		metrics_put(b, "NaN");
		return;
	}
	if (isinf(v)) {
		metrics_put(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (fabs(v) < 1e15 && v == floor(v)) {
		snprintf(s, sizeof(s), "%.0f", v);
	} else {
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(s, sizeof(s), "%.*g", prec, v);
			if (strtod(s, NULL) == v) {
				break;
			}
		}
	}
	metrics_put(b, s);
}

/* name{labels,extra} or name{extra} or name. */
static void
put_sample_name(metrics_buf *b, const char *name, const char *suffix,
    const core_metric_series *s, const char *extra)
{
	metrics_put(b, name);
	metrics_put(b, suffix);
	bool any = s->labels_len > 0 || extra != NULL;
	if (any) {
		metrics_put_n(b, "{", 1);
	}
	metrics_put_n(b, s->labels, s->labels_len);
	if (extra != NULL) {
		if (s->labels_len > 0) {
			metrics_put_n(b, ",", 1);
		}
		metrics_put(b, extra);
	}
	if (any) {
		metrics_put_n(b, "}", 1);
	}
	metrics_put_n(b, " ", 1);
}

static void
render_histogram(
    metrics_buf *b, const core_metric *m, const core_metric_series *s)
{
	uint64_t cum = 0;
	char le[48], num[32];
	for (size_t i = 0; i <= m->n_buckets; i++) {
		cum +=
		    atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < m->n_buckets) {
			metrics_buf nb = {.p = num,
			    .cap = sizeof(num),
			    .max = sizeof(num) - 1};
			put_number(&nb, m->bucket[i]);
			snprintf(le, sizeof(le), "le=\"%s\"", num);
		} else {
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		}
		put_sample_name(b, m->name, "_bucket", s, le);
		snprintf(num, sizeof(num), "%" PRIu64 "\n", cum);
		metrics_put(b, num);
	}
	put_sample_name(b, m->name, "_sum", s, NULL);
	put_number(b, metrics_series_value(s));
	metrics_put_n(b, "\n", 1);
	put_sample_name(b, m->name, "_count", s, NULL);
	snprintf(num, sizeof(num), "%" PRIu64 "\n", cum);
	metrics_put(b, num);
}

void
metrics_render_family(metrics_buf *b, const core_metric *m)
{
	metrics_put(b, "# HELP ");
	metrics_put(b, m->name);
	metrics_put_n(b, " ", 1);
	metrics_put_escaped(b, m->help, HELP_MAX_LEN, false);
	metrics_put(b, "\n# TYPE ");
	metrics_put(b, m->name);
	metrics_put_n(b, " ", 1);
	metrics_put(b, type_names[m->type]);
	metrics_put_n(b, "\n", 1);
	for (const core_metric_series *s = m->head; s != NULL; s = s->next) {
		if (m->type == CORE_METRIC_HISTOGRAM) {
			render_histogram(b, m, s);
			continue;
		}
		put_sample_name(b, m->name, "", s, NULL);
		put_number(b, metrics_series_value(s));
		metrics_put_n(b, "\n", 1);
	}
}
