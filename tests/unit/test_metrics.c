/* Unit tests of the metrics registry and its text format (core/metrics.h).
 * The registry is process-wide, so each test uses families of its own. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/metrics.h"

/* The rendered text, which must hold want. */
static void
assert_rendered(const char *want)
{
	size_t len = 0;
	char *text = core_metrics_render(&len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	if (strstr(text, want) == NULL) {
		fprintf(stderr, "missing:\n%s\nin:\n%s\n", want, text);
		fail();
	}
	free(text);
}

static void
assert_not_rendered(const char *unwanted)
{
	char *text = core_metrics_render(NULL);
	assert_non_null(text);
	assert_null(strstr(text, unwanted));
	free(text);
}

static void
test_counter_renders_help_type_and_component(void **state)
{
	(void) state;
	static const char *const labels[] = {"method", "code", NULL};
	core_metric *m =
	    core_metric_family(CORE_METRIC_COUNTER, "t_calls_total",
	        "Calls by method\\code.\nSecond line.", labels, NULL, 0);
	assert_non_null(m);
	assert_rendered(
	    "# HELP t_calls_total Calls by method\\\\code.\\nSecond "
	    "line.\n# TYPE t_calls_total counter\n");
	assert_not_rendered("t_calls_total{");

	const char *const v[] = {"/a.v1.A/Login", "OK"};
	core_metric_series *s = core_metric_series_get(m, "svc-auth", v);
	assert_non_null(s);
	core_metric_inc(s);
	core_metric_add(s, 2);
	core_metric_add(s, -5); /* a counter never goes down */
	assert_rendered(
	    "t_calls_total{component=\"svc-auth\",method=\"/a.v1.A/"
	    "Login\",code=\"OK\"} 3\n");
	core_metric_add(s, 0.5);
	assert_rendered(
	    "t_calls_total{component=\"svc-auth\",method=\"/a.v1.A/"
	    "Login\",code=\"OK\"} 3.5\n");
	assert_true(core_metric_value(s) == 3.5);
}

static void
test_same_labels_give_the_same_series(void **state)
{
	(void) state;
	static const char *const labels[] = {"code", NULL};
	core_metric *m = core_metric_family(
	    CORE_METRIC_COUNTER, "t_same_total", "Same.", labels, NULL, 0);
	core_metric *again = core_metric_family(CORE_METRIC_COUNTER,
	    "t_same_total", "Other help.", labels, NULL, 0);
	assert_ptr_equal(m, again);
	const char *const ok[] = {"OK"};
	const char *const nf[] = {"NOT_FOUND"};
	core_metric_series *a = core_metric_series_get(m, "x", ok);
	assert_ptr_equal(a, core_metric_series_get(m, "x", ok));
	assert_ptr_not_equal(a, core_metric_series_get(m, "y", ok));
	assert_ptr_not_equal(a, core_metric_series_get(m, "x", nf));
}

static void
test_component_defaults_to_the_log_service_and_empty_omits_it(void **state)
{
	(void) state;
	core_log_init("svc-test", CORE_LOG_ERROR, true);
	core_metric *m = core_metric_family(
	    CORE_METRIC_GAUGE, "t_gauge", "A gauge.", NULL, NULL, 0);
	core_metric_series *own = core_metric_series_get(m, NULL, NULL);
	core_metric_series *wide = core_metric_series_get(m, "", NULL);
	core_metric_set(own, 7);
	core_metric_set(wide, -1.25);
	assert_rendered(
	    "# TYPE t_gauge gauge\nt_gauge{component=\"svc-test\"} "
	    "7\nt_gauge -1.25\n");
	core_metric_inc(own);
	core_metric_dec(own);
	core_metric_dec(own);
	core_metric_add(own, 0.5);
	assert_true(core_metric_value(own) == 6.5);
	core_metric_set(own, INFINITY);
	assert_rendered("t_gauge{component=\"svc-test\"} +Inf\n");
}

static void
test_label_values_are_escaped_and_cut(void **state)
{
	(void) state;
	static const char *const labels[] = {"v", NULL};
	core_metric *m = core_metric_family(
	    CORE_METRIC_GAUGE, "t_escape", "Escapes.", labels, NULL, 0);
	const char *const v[] = {"a\"b\\c\nd"};
	core_metric_set(core_metric_series_get(m, "c\"", v), 1);
	assert_rendered(
	    "t_escape{component=\"c\\\"\",v=\"a\\\"b\\\\c\\nd\"} 1\n");

	char longv[CORE_METRIC_MAX_VALUE + 50];
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	const char *const lv[] = {longv};
	core_metric_set(core_metric_series_get(m, "", lv), 2);
	char want[CORE_METRIC_MAX_VALUE + 64];
	snprintf(want, sizeof(want), "t_escape{v=\"%.*s\"} 2\n",
	    CORE_METRIC_MAX_VALUE, longv);
	assert_rendered(want);

	/* Cut on a character boundary; invalid bytes end the value. */
	char utf[CORE_METRIC_MAX_VALUE + 8];
	memset(utf, 'y', CORE_METRIC_MAX_VALUE - 1);
	memcpy(utf + CORE_METRIC_MAX_VALUE - 1, "\xc3\xa9z", 4);
	const char *const uv[] = {utf};
	core_metric_set(core_metric_series_get(m, "u", uv), 3);
	snprintf(want, sizeof(want),
	    "t_escape{component=\"u\",v=\"%.*s\"} 3\n",
	    CORE_METRIC_MAX_VALUE - 1, utf);
	assert_rendered(want);
	const char *const bad[] = {"ok\xffrest"};
	core_metric_set(core_metric_series_get(m, "b", bad), 4);
	assert_rendered("t_escape{component=\"b\",v=\"ok\"} 4\n");
}

static void
test_histogram_renders_cumulative_buckets_sum_and_count(void **state)
{
	(void) state;
	static const char *const labels[] = {"method", NULL};
	static const double b[] = {0.1, 1, 2.5};
	core_metric *m = core_metric_family(
	    CORE_METRIC_HISTOGRAM, "t_seconds", "Durations.", labels, b, 3);
	const char *const v[] = {"m"};
	core_metric_series *s = core_metric_series_get(m, "c", v);
	core_metric_observe(s, 0.05);
	core_metric_observe(s, 0.1); /* le is inclusive */
	core_metric_observe(s, 2);
	core_metric_observe(s, 100);
	core_metric_observe(s, NAN); /* ignored */
	assert_rendered(
	    "# TYPE t_seconds histogram\n"
	    "t_seconds_bucket{component=\"c\",method=\"m\",le=\"0.1\"} 2\n"
	    "t_seconds_bucket{component=\"c\",method=\"m\",le=\"1\"} 2\n"
	    "t_seconds_bucket{component=\"c\",method=\"m\",le=\"2.5\"} 3\n"
	    "t_seconds_bucket{component=\"c\",method=\"m\",le=\"+Inf\"} 4\n"
	    "t_seconds_sum{component=\"c\",method=\"m\"} 102.15\n"
	    "t_seconds_count{component=\"c\",method=\"m\"} 4\n");
	assert_true(core_metric_value(s) == 4);

	core_metric *lat = core_metric_family(
	    CORE_METRIC_HISTOGRAM, "t_lat_seconds", "Latency.", NULL, NULL, 0);
	core_metric_observe(core_metric_series_get(lat, "", NULL), 0.0003);
	assert_rendered("t_lat_seconds_bucket{le=\"0.0001\"} 0\n"
	                "t_lat_seconds_bucket{le=\"0.00025\"} 0\n"
	                "t_lat_seconds_bucket{le=\"0.0005\"} 1\n");
	assert_rendered("t_lat_seconds_bucket{le=\"10\"} 1\n"
	                "t_lat_seconds_bucket{le=\"+Inf\"} 1\n"
	                "t_lat_seconds_sum 0.0003\nt_lat_seconds_count 1\n");
	assert_int_equal(core_metric_latency_buckets_n, 16);
}

static void
test_bad_definitions_are_refused(void **state)
{
	(void) state;
	static const char *const code[] = {"code", NULL};
	static const char *const other[] = {"other", NULL};
	static const char *const comp[] = {"component", NULL};
	static const char *const le[] = {"le", NULL};
	static const char *const under[] = {"__x", NULL};
	static const char *const dup[] = {"a", "a", NULL};
	static const char *const five[] = {"a", "b", "c", "d", "e", NULL};
	static const double unsorted[] = {1, 0.5};
	core_metric_type C = CORE_METRIC_COUNTER;

	assert_non_null(core_metric_family(C, "t_def", "D.", code, NULL, 0));
	assert_null(core_metric_family(C, "t_def", "D.", other, NULL, 0));
	assert_null(core_metric_family(C, "t_def", "D.", NULL, NULL, 0));
	assert_null(core_metric_family(
	    CORE_METRIC_GAUGE, "t_def", "D.", code, NULL, 0));
	assert_null(core_metric_family(C, "1bad", "D.", NULL, NULL, 0));
	assert_null(core_metric_family(C, "bad-name", "D.", NULL, NULL, 0));
	assert_null(core_metric_family(C, "", "D.", NULL, NULL, 0));
	assert_null(core_metric_family(C, NULL, "D.", NULL, NULL, 0));
	assert_null(core_metric_family(C, "t_nohelp", NULL, NULL, NULL, 0));
	assert_null(core_metric_family(C, "t_comp", "D.", comp, NULL, 0));
	assert_null(core_metric_family(C, "t_under", "D.", under, NULL, 0));
	assert_null(core_metric_family(C, "t_dup", "D.", dup, NULL, 0));
	assert_null(core_metric_family(C, "t_five", "D.", five, NULL, 0));
	assert_non_null(core_metric_family(C, "t_le", "D.", le, NULL, 0));
	assert_null(core_metric_family(
	    CORE_METRIC_HISTOGRAM, "t_hle", "D.", le, NULL, 0));
	assert_null(core_metric_family(
	    CORE_METRIC_HISTOGRAM, "t_unsorted", "D.", NULL, unsorted, 2));
	assert_not_rendered("t_five");
	assert_not_rendered("t_unsorted");

	/* Updates on a refused family or series are no-ops. */
	assert_null(core_metric_series_get(NULL, "", NULL));
	core_metric_inc(NULL);
	core_metric_add(NULL, 1);
	core_metric_set(NULL, 1);
	core_metric_observe(NULL, 1);
	assert_true(core_metric_value(NULL) == 0);
}

static void
test_series_are_bounded_per_family(void **state)
{
	(void) state;
	static const char *const labels[] = {"n", NULL};
	core_metric *m = core_metric_family(
	    CORE_METRIC_COUNTER, "t_bounded_total", "B.", labels, NULL, 0);
	char v[16];
	const char *const vals[] = {v};
	for (int i = 0; i < CORE_METRIC_MAX_SERIES; i++) {
		snprintf(v, sizeof(v), "%d", i);
		assert_non_null(core_metric_series_get(m, "", vals));
	}
	snprintf(v, sizeof(v), "%d", CORE_METRIC_MAX_SERIES);
	assert_null(core_metric_series_get(m, "", vals));
	snprintf(v, sizeof(v), "%d", 7);
	assert_non_null(core_metric_series_get(m, "", vals));
}

static int collected;

static void
collect(void *arg)
{
	core_metric_set(core_metric_series_get(arg, "", NULL), ++collected);
}

static void
test_collectors_run_before_each_render(void **state)
{
	(void) state;
	core_metric *m = core_metric_family(
	    CORE_METRIC_GAUGE, "t_collected", "C.", NULL, NULL, 0);
	core_metrics_on_collect(collect, m);
	assert_rendered("t_collected 1\n");
	assert_rendered("t_collected 2\n");
}

static void
test_listen_addresses_are_checked(void **state)
{
	(void) state;
	static const char *const good[] = {"127.0.0.1:9100", "0.0.0.0:1",
	    "localhost:65535", "[::1]:9100", "[::]:9101", "metrics.local:80"};
	static const char *const bad[] = {"nonsense", "127.0.0.1", ":9100",
	    "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1",
	    "127.0.0.1:9x", "127.0.0.1: 91", "::1:9100", "[::1]9100",
	    "[::1:9100", "[]:9100"};
	char err[256];
	int on;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(
		    core_metrics_listen_check(good[i], &on, err, sizeof(err)),
		    0);
		assert_int_equal(on, 1);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		on = 1;
		if (core_metrics_listen_check(bad[i], &on, err, sizeof(err)) !=
		    -1) {
			fail_msg("accepted \"%s\"", bad[i]);
		}
		assert_int_equal(on, 0);
		assert_non_null(strstr(err, "METRICS_LISTEN"));
	}
	assert_int_equal(core_metrics_listen_check("off", &on, err, 8), 0);
	assert_int_equal(on, 0);
	assert_int_equal(core_metrics_listen_check("", &on, err, 8), 0);
	assert_int_equal(on, 0);
	core_metrics_listener *l = (core_metrics_listener *) &on;
	assert_int_equal(core_metrics_listener_start("off", &l), 0);
	assert_null(l);
	core_metrics_listener_stop(NULL);
}

#define N_THREADS 4
#define N_INCS 100000

static void *
hammer(void *arg)
{
	core_metric_series **s = arg;
	for (int i = 0; i < N_INCS; i++) {
		core_metric_inc(s[0]);
		core_metric_add(s[1], 0.5);
		core_metric_observe(s[2], 0.001);
	}
	return NULL;
}

static void
test_concurrent_updates_are_not_lost(void **state)
{
	(void) state;
	core_metric_series *s[3] = {
	    core_metric_series_get(core_metric_family(CORE_METRIC_COUNTER,
	                               "t_race_total", "R.", NULL, NULL, 0),
	        "", NULL),
	    core_metric_series_get(core_metric_family(CORE_METRIC_GAUGE,
	                               "t_race_gauge", "R.", NULL, NULL, 0),
	        "", NULL),
	    core_metric_series_get(core_metric_family(CORE_METRIC_HISTOGRAM,
	                               "t_race_seconds", "R.", NULL, NULL, 0),
	        "", NULL)};
	pthread_t t[N_THREADS];
	for (int i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_create(&t[i], NULL, hammer, s), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	assert_true(core_metric_value(s[0]) == N_THREADS * N_INCS);
	assert_true(core_metric_value(s[1]) == N_THREADS * N_INCS * 0.5);
	assert_true(core_metric_value(s[2]) == N_THREADS * N_INCS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counter_renders_help_type_and_component),
	    cmocka_unit_test(test_same_labels_give_the_same_series),
	    cmocka_unit_test(
	        test_component_defaults_to_the_log_service_and_empty_omits_it),
	    cmocka_unit_test(test_label_values_are_escaped_and_cut),
	    cmocka_unit_test(
	        test_histogram_renders_cumulative_buckets_sum_and_count),
	    cmocka_unit_test(test_bad_definitions_are_refused),
	    cmocka_unit_test(test_series_are_bounded_per_family),
	    cmocka_unit_test(test_collectors_run_before_each_render),
	    cmocka_unit_test(test_concurrent_updates_are_not_lost),
	    cmocka_unit_test(test_listen_addresses_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
