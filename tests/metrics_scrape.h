/* The tests' reading of the metrics registry (core/metrics.h) as a
 * scrape would see it. Include after cmocka.h. */
#ifndef TESTS_METRICS_SCRAPE_H
#define TESTS_METRICS_SCRAPE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

/* The value of sample (name and labels, exactly as rendered) in the
 * registry's text, or absent when the text has no such sample. */
static inline double
metrics_scraped(const char *sample, double absent)
{
	char *text = core_metrics_render(NULL);
	assert_non_null(text);
	char key[256];
	snprintf(key, sizeof(key), "\n%s ", sample);
	const char *at = strstr(text, key);
	double v = at != NULL ? strtod(at + strlen(key), NULL) : absent;
	free(text);
	return v;
}

#endif
