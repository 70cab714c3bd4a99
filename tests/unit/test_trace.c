/* W3C trace context (core/trace.h): the traceparent parser against the
 * specification's rules, ids, the thread's context, the log lines that
 * carry it, and the RPC server continuing a caller's trace in a span of
 * its own (rpc_server_handle, no transport). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/v1/core.pb-c.h"
#include "test/v1/test.pb-c.h"

#include "core/arena.h"
#include "core/log.h"
#include "core/rpc.h"
#include "core/trace.h"
#include "rpc_internal.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"
#define GOOD "00-" TID "-" PID "-01"

static bool
lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		        (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return s[n] == '\0';
}

static void
test_trace_parse_accepts_version_00(void **state)
{
	(void) state;
	core_trace t;
	assert_int_equal(core_trace_parse(GOOD, &t), 0);
	assert_string_equal(t.trace_id, TID);
	assert_string_equal(t.span_id, PID);
	assert_int_equal(t.flags, CORE_TRACE_SAMPLED);
	assert_int_equal(core_trace_parse("00-" TID "-" PID "-00", &t), 0);
	assert_int_equal(t.flags, 0);
	/* Flags other than sampled are undefined in version 00: dropped. */
	assert_int_equal(core_trace_parse("00-" TID "-" PID "-ff", &t), 0);
	assert_int_equal(t.flags, CORE_TRACE_SAMPLED);
	assert_int_equal(core_trace_parse("00-" TID "-" PID "-fe", &t), 0);
	assert_int_equal(t.flags, 0);
}

static void
test_trace_parse_rejects_every_malformed_value(void **state)
{
	(void) state;
	static const char *const bad[] = {
	    "",
	    "00",
	    /* Lengths: one short, one long, fields of the wrong size. */
	    "00-" TID "-" PID "-0",
	    "00-" TID "-" PID "-011",
	    "00-" TID "-" PID "-01-",
	    "00-" TID "-" PID "-01 ",
	    "00-" TID "a-" PID "-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e473-" PID "-01",
	    "00-" TID "-00f067aa0ba902b-01",
	    "00-" TID "-00f067aa0ba902b71-01",
	    "0-" TID "-" PID "-01",
	    "000-" TID "-" PID "-01",
	    /* Uppercase hex anywhere. */
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01",
	    "00-" TID "-00F067AA0BA902B7-01",
	    "00-" TID "-" PID "-0A",
	    "0A-" TID "-" PID "-01",
	    /* Not hex. */
	    "00-4bf92f3577b34da6a3ce929d0e0e473g-" PID "-01",
	    "00-" TID "-00f067aa0ba902bz-01",
	    "00-" TID "-" PID "-0x",
	    "xx-" TID "-" PID "-01",
	    /* All-zero ids. */
	    "00-00000000000000000000000000000000-" PID "-01",
	    "00-" TID "-0000000000000000-01",
	    /* Separators. */
	    "00_" TID "-" PID "-01",
	    "00-" TID "_" PID "-01",
	    "00-" TID "-" PID "_01",
	    " 00-" TID "-" PID "-01",
	    /* Version ff is invalid; a later version needs the end or a
	     * dash after the flags. */
	    "ff-" TID "-" PID "-01",
	    "cc-" TID "-" PID "-01.extra",
	    "cc-" TID "-" PID "-01x",
	    "cc-" TID "-" PID,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		core_trace t = {.trace_id = "untouched"};
		if (core_trace_parse(bad[i], &t) != -1) {
			fail_msg("accepted \"%s\"", bad[i]);
		}
		assert_string_equal(t.trace_id, "untouched");
	}
	core_trace t;
	assert_int_equal(core_trace_parse(NULL, &t), -1);
	/* A NUL inside: what follows is not read. */
	char cut[] = GOOD;
	cut[54] = '\0';
	assert_int_equal(core_trace_parse(cut, &t), -1);
}

/* Every byte just outside the digits' ranges, uppercase, and bytes with
 * the top bit set, at every position of both ids. */
static void
test_trace_parse_rejects_a_bad_byte_anywhere_in_the_ids(void **state)
{
	(void) state;
	static const char bad[] = {'/', ':', '`', 'g', 'A', 'F', ' ', '-',
	    '\x7f', '\x80', '\xb0', '\xe6', '\xff'};
	for (size_t pos = 3; pos < 52; pos++) {
		if (pos == 35) {
			continue; /* the dash between them */
		}
		for (size_t k = 0; k < sizeof(bad); k++) {
			char s[] = GOOD;
			s[pos] = bad[k];
			core_trace t;
			if (core_trace_parse(s, &t) != -1) {
				fail_msg("accepted byte 0x%02x at %zu",
				    (unsigned char) bad[k], pos);
			}
		}
		/* And every digit is taken there. */
		for (const char *d = "0123456789abcdef"; *d != '\0'; d++) {
			char s[] = GOOD;
			s[pos] = *d;
			core_trace t;
			assert_int_equal(core_trace_parse(s, &t), 0);
		}
	}
}

static void
test_trace_parse_reads_a_later_version_as_00(void **state)
{
	(void) state;
	core_trace t;
	assert_int_equal(core_trace_parse("cc-" TID "-" PID "-01", &t), 0);
	assert_string_equal(t.trace_id, TID);
	assert_int_equal(
	    core_trace_parse("01-" TID "-" PID "-00-what-ever", &t), 0);
	assert_string_equal(t.span_id, PID);
	assert_int_equal(t.flags, 0);
	/* Sent on as version 00. */
	char buf[CORE_TRACEPARENT_LEN + 1];
	core_trace_format(&t, buf);
	assert_string_equal(buf, "00-" TID "-" PID "-00");
}

static void
test_trace_format_round_trips(void **state)
{
	(void) state;
	core_trace t;
	char buf[CORE_TRACEPARENT_LEN + 1];
	assert_int_equal(core_trace_parse(GOOD, &t), 0);
	core_trace_format(&t, buf);
	assert_string_equal(buf, GOOD);
	core_trace_new(&t);
	core_trace_format(&t, buf);
	assert_int_equal(strlen(buf), CORE_TRACEPARENT_LEN);
	core_trace u;
	assert_int_equal(core_trace_parse(buf, &u), 0);
	assert_string_equal(u.trace_id, t.trace_id);
	assert_string_equal(u.span_id, t.span_id);
	assert_int_equal(u.flags, CORE_TRACE_SAMPLED);
}

#define N_IDS 2000

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_trace_ids_are_new_lowercase_and_never_repeat(void **state)
{
	(void) state;
	static char traces[N_IDS][CORE_TRACE_ID_LEN + 1];
	static char spans[2 * N_IDS][CORE_SPAN_ID_LEN + 1];
	for (int i = 0; i < N_IDS; i++) {
		core_trace t, c;
		core_trace_new(&t);
		core_trace_child(&t, &c);
		assert_true(lower_hex(t.trace_id, CORE_TRACE_ID_LEN));
		assert_true(lower_hex(t.span_id, CORE_SPAN_ID_LEN));
		assert_string_equal(c.trace_id, t.trace_id);
		assert_string_not_equal(c.span_id, t.span_id);
		assert_int_equal(c.flags, t.flags);
		memcpy(traces[i], t.trace_id, sizeof(traces[i]));
		memcpy(spans[2 * i], t.span_id, sizeof(spans[0]));
		memcpy(spans[2 * i + 1], c.span_id, sizeof(spans[0]));
	}
	qsort(traces, N_IDS, sizeof(traces[0]), cmp_str);
	qsort(spans, 2 * N_IDS, sizeof(spans[0]), cmp_str);
	for (int i = 1; i < N_IDS; i++) {
		assert_string_not_equal(traces[i - 1], traces[i]);
	}
	for (int i = 1; i < 2 * N_IDS; i++) {
		assert_string_not_equal(spans[i - 1], spans[i]);
	}
}

static void *
other_thread_trace(void *arg)
{
	core_trace_new(arg);
	return NULL;
}

static void
test_trace_ids_differ_between_threads(void **state)
{
	(void) state;
	core_trace a, b;
	pthread_t t1, t2;
	assert_int_equal(pthread_create(&t1, NULL, other_thread_trace, &a), 0);
	pthread_join(t1, NULL);
	assert_int_equal(pthread_create(&t2, NULL, other_thread_trace, &b), 0);
	pthread_join(t2, NULL);
	/* Each thread's first id: same counter, different thread. */
	assert_string_not_equal(a.trace_id, b.trace_id);
	assert_string_not_equal(a.span_id, b.span_id);
}

static void
test_trace_start_continues_a_valid_parent_only(void **state)
{
	(void) state;
	core_trace t;
	assert_true(core_trace_start(GOOD, &t));
	assert_string_equal(t.trace_id, TID);
	assert_string_not_equal(t.span_id, PID);
	assert_int_equal(t.flags, CORE_TRACE_SAMPLED);
	assert_false(core_trace_start(NULL, &t));
	assert_string_not_equal(t.trace_id, TID);
	assert_false(core_trace_start("00-" TID "-" PID "-1", &t));
	assert_string_not_equal(t.trace_id, TID);
	assert_true(lower_hex(t.trace_id, CORE_TRACE_ID_LEN));
}

static void
test_trace_thread_context_set_save_swap(void **state)
{
	(void) state;
	char buf[CORE_TRACEPARENT_LEN + 1] = "untouched";
	core_trace_set(NULL);
	assert_null(core_trace_current());
	assert_false(core_trace_traceparent(buf));
	assert_string_equal(buf, "untouched");

	core_trace t, saved;
	assert_int_equal(core_trace_parse(GOOD, &t), 0);
	core_trace_set(&t);
	assert_non_null(core_trace_current());
	assert_string_equal(core_trace_current()->trace_id, TID);
	assert_true(core_trace_traceparent(buf));
	assert_string_equal(buf, GOOD);

	core_trace_save(&saved);
	core_trace_set(NULL);
	core_trace_swap(&saved); /* saved: none; current: GOOD's */
	assert_string_equal(core_trace_current()->span_id, PID);
	core_trace_swap(&saved);
	assert_null(core_trace_current());
	core_trace_save(&saved);
	assert_string_equal(saved.trace_id, "");
}

/* Runs fn with stderr in a file; returns what was written (static). */
static const char *
captured(void (*fn)(void))
{
	static char out[8192];
	char path[] = "/tmp/test_trace_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	assert_true(dup2(fd, 2) >= 0);
	fn();
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	unlink(path);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void
log_with_and_without(void)
{
	core_trace t;
	assert_int_equal(core_trace_parse(GOOD, &t), 0);
	core_trace_set(&t);
	core_log_info("inside");
	core_log_kv(CORE_LOG_INFO, "kv inside", "k", "v", NULL);
	core_trace_set(NULL);
	core_log_info("outside");
}

static void
test_log_lines_carry_the_context_json(void **state)
{
	(void) state;
	core_log_init("test", CORE_LOG_INFO, true);
	const char *out = captured(log_with_and_without);
	const char *tag = "\"trace_id\":\"" TID "\",\"span_id\":\"" PID "\"";
	const char *inside = strstr(out, "\"msg\":\"inside\"");
	const char *kv = strstr(out, "\"msg\":\"kv inside\"");
	const char *outside = strstr(out, "\"msg\":\"outside\"");
	assert_non_null(inside);
	assert_non_null(kv);
	assert_non_null(outside);
	const char *first = strstr(out, tag);
	assert_true(first != NULL && first < inside);
	const char *second = strstr(first + 1, tag);
	assert_true(second != NULL && second > inside && second < kv);
	assert_null(strstr(second + strlen(tag), "trace_id"));
}

static void
test_log_lines_carry_the_context_text(void **state)
{
	(void) state;
	core_log_init("test", CORE_LOG_INFO, false);
	const char *out = captured(log_with_and_without);
	assert_non_null(
	    strstr(out, "trace_id=" TID " span_id=" PID " inside"));
	assert_non_null(
	    strstr(out, "trace_id=" TID " span_id=" PID " kv inside k=v"));
	const char *outside = strstr(out, "outside");
	assert_non_null(outside);
	assert_null(strstr(outside, "trace_id"));
	core_log_init("test", CORE_LOG_ERROR, false);
}

/* ---- The server's side, through rpc_server_handle ------------------------ */

static core_trace seen;
static bool seen_set;

static core_status
record(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) c;
	(void) in;
	(void) out;
	const core_trace *t = core_trace_current();
	seen_set = t != NULL;
	if (t != NULL) {
		seen = *t;
	}
	return CORE_OK;
}

static const core_rpc_method methods[] = {
    {"/test.v1.Echo/Echo", record, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {"/test.v1.Echo/Types", record, CORE_RULE_PUBLIC, 0, NULL, NULL},
};

/* Runs one Echo call through the server's dispatch with this traceparent
 * metadata (NULL: none). */
static void
serve_one(const char *traceparent)
{
	static const core_rpc_service svc = {
	    &test__v1__echo__descriptor, methods, 2, NULL};
	const char *urls[] = {"inproc://unused"};
	core_rpc_server_config cfg = {
	    .name = "test", .listen_urls = urls, .n_listen = 1, .workers = 1};
	core_rpc_server *server = NULL;
	core_arena *arena = core_arena_new(1 << 20);
	assert_int_equal(core_rpc_server_new(&cfg, &svc, 1, &server), 0);

	Core__V1__Request req;
	core__v1__request__init(&req);
	Core__V1__Request__MetadataEntry e;
	Core__V1__Request__MetadataEntry *ep = &e;
	core__v1__request__metadata_entry__init(&e);
	e.key = CORE_MD_TRACEPARENT;
	e.value = (char *) (uintptr_t) traceparent;
	req.method = "/test.v1.Echo/Echo";
	req.n_metadata = traceparent != NULL;
	req.metadata = &ep;
	nng_msg *m;
	assert_int_equal(
	    nng_msg_alloc(&m, core__v1__request__get_packed_size(&req)), 0);
	core__v1__request__pack(&req, nng_msg_body(m));
	seen_set = false;
	nng_msg *reply = rpc_server_handle(server, m, NULL, arena);
	assert_non_null(reply);
	nng_msg_free(reply);
	core_arena_free(arena);
	core_rpc_server_free(server);
}

static void
test_server_continues_the_callers_trace_in_a_span_of_its_own(void **state)
{
	(void) state;
	core_log_init("test", CORE_LOG_ERROR, false);
	serve_one(GOOD);
	assert_true(seen_set);
	assert_string_equal(seen.trace_id, TID);
	assert_string_not_equal(seen.span_id, PID);
	assert_true(lower_hex(seen.span_id, CORE_SPAN_ID_LEN));
	/* Cleared once the call is answered. */
	assert_null(core_trace_current());
}

static void
test_server_starts_a_trace_without_a_valid_traceparent(void **state)
{
	(void) state;
	serve_one(NULL);
	assert_true(seen_set);
	core_trace first = seen;
	serve_one("00-" TID "-" PID "-1"); /* malformed: a new trace */
	assert_true(seen_set);
	assert_string_not_equal(seen.trace_id, TID);
	assert_string_not_equal(seen.trace_id, first.trace_id);
	assert_null(core_trace_current());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trace_parse_accepts_version_00),
	    cmocka_unit_test(test_trace_parse_rejects_every_malformed_value),
	    cmocka_unit_test(
	        test_trace_parse_rejects_a_bad_byte_anywhere_in_the_ids),
	    cmocka_unit_test(test_trace_parse_reads_a_later_version_as_00),
	    cmocka_unit_test(test_trace_format_round_trips),
	    cmocka_unit_test(
	        test_trace_ids_are_new_lowercase_and_never_repeat),
	    cmocka_unit_test(test_trace_ids_differ_between_threads),
	    cmocka_unit_test(test_trace_start_continues_a_valid_parent_only),
	    cmocka_unit_test(test_trace_thread_context_set_save_swap),
	    cmocka_unit_test(test_log_lines_carry_the_context_json),
	    cmocka_unit_test(test_log_lines_carry_the_context_text),
	    cmocka_unit_test(
	        test_server_continues_the_callers_trace_in_a_span_of_its_own),
	    cmocka_unit_test(
	        test_server_starts_a_trace_without_a_valid_traceparent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
