/* Unit tests for libcore's small modules: status names, arena, config,
 * request ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test/v1/test.pb-c.h"

#include "core/arena.h"
#include "core/pbcheck.h"
#include "core/config.h"
#include "core/rpc.h"
#include "core/status.h"

static void
test_status_names_match_grpc(void **state)
{
	(void) state;
	assert_string_equal(core_status_str(CORE_OK), "OK");
	assert_string_equal(core_status_str(3), "INVALID_ARGUMENT");
	assert_string_equal(core_status_str(16), "UNAUTHENTICATED");
	assert_string_equal(core_status_str(-1), "UNKNOWN");
	assert_string_equal(core_status_str(17), "UNKNOWN");
	core_status st;
	assert_int_equal(core_status_parse("unavailable", &st), 0);
	assert_int_equal(st, CORE_UNAVAILABLE);
	assert_int_equal(core_status_parse("NOPE", &st), -1);
}

static void
test_arena_allocations_are_aligned_and_reset(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	assert_non_null(a);
	for (int i = 1; i < 2000; i++) {
		unsigned char *p = core_arena_alloc(a, (size_t) i);
		assert_non_null(p);
		assert_int_equal((uintptr_t) p % 16, 0);
		memset(p, 0xab, (size_t) i); /* ASan catches overruns */
	}
	assert_true(core_arena_used(a) > 2000);
	core_arena_reset(a);
	assert_int_equal(core_arena_used(a), 0);
	char *s = core_arena_printf(a, "%s-%d", "x", 42);
	assert_string_equal(s, "x-42");
	assert_string_equal(core_arena_strndup(a, "hello", 3), "hel");
	core_arena_free(a);
	core_arena_free(NULL);
}

static void
test_arena_refuses_beyond_its_cap(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(4096);
	assert_non_null(core_arena_alloc(a, 4000));
	assert_null(core_arena_alloc(a, 200));
	assert_null(core_arena_calloc(a, SIZE_MAX / 2, 4));
	assert_null(core_arena_alloc(a, SIZE_MAX));
	core_arena_reset(a);
	assert_non_null(core_arena_alloc(a, 4096));
	core_arena_free(a);
}

static void
test_arena_allocator_serves_protobuf_unpack(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	ProtobufCAllocator *pa = core_arena_allocator(a);
	void *p = pa->alloc(pa->allocator_data, 100);
	assert_non_null(p);
	pa->free(pa->allocator_data, p); /* a no-op, must not crash */
	core_arena_free(a);
}

static void
test_config_loads_defaults_env_and_rejects_bad_values(void **state)
{
	(void) state;
	const char *s = NULL;
	long n = 0;
	bool b = false;
	core_config_item items[] = {
	    {"CORE_TEST_STR", "dflt", CORE_CONFIG_STR, 0, 0, false, "", &s},
	    {"CORE_TEST_INT", "5", CORE_CONFIG_INT, 1, 10, false, "", &n},
	    {"CORE_TEST_BOOL", "no", CORE_CONFIG_BOOL, 0, 0, false, "", &b},
	};
	char err[128];
	unsetenv("CORE_TEST_STR");
	unsetenv("CORE_TEST_INT");
	unsetenv("CORE_TEST_BOOL");
	assert_int_equal(core_config_load(items, 3, err, sizeof(err)), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(n, 5);
	assert_false(b);

	setenv("CORE_TEST_STR", "given", 1);
	setenv("CORE_TEST_INT", "10", 1);
	setenv("CORE_TEST_BOOL", "on", 1);
	assert_int_equal(core_config_load(items, 3, err, sizeof(err)), 0);
	assert_string_equal(s, "given");
	assert_int_equal(n, 10);
	assert_true(b);

	static const char *const bad_ints[] = {"11", "0", "5x", "", " 5",
	    "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad_ints) / sizeof(bad_ints[0]); i++) {
		setenv("CORE_TEST_INT", bad_ints[i], 1);
		int rv = core_config_load(items, 3, err, sizeof(err));
		if (bad_ints[i][0] == '\0') {
			/* Empty means "use the default". */
			assert_int_equal(rv, 0);
			continue;
		}
		assert_int_equal(rv, -1);
		assert_non_null(strstr(err, "CORE_TEST_INT"));
	}
	setenv("CORE_TEST_INT", "3", 1);
	setenv("CORE_TEST_BOOL", "maybe", 1);
	assert_int_equal(core_config_load(items, 3, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CORE_TEST_BOOL"));
	unsetenv("CORE_TEST_STR");
	unsetenv("CORE_TEST_INT");
	unsetenv("CORE_TEST_BOOL");
}

static void
test_config_split_bounds_the_list(void **state)
{
	(void) state;
	char buf[64];
	const char *out[3];
	assert_int_equal(core_config_split("a, b,,c", buf, sizeof(buf), out, 3),
	    3);
	assert_string_equal(out[0], "a");
	assert_string_equal(out[1], "b");
	assert_string_equal(out[2], "c");
	assert_int_equal(core_config_split("a,b,c,d", buf, sizeof(buf), out, 3),
	    -1);
	assert_int_equal(core_config_split("", buf, sizeof(buf), out, 3), 0);
	char big[100];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(core_config_split(big, buf, sizeof(buf), out, 3), -1);
}

static void
test_request_ids_are_validated(void **state)
{
	(void) state;
	char id[33];
	core_rpc_new_request_id(id);
	assert_int_equal(strlen(id), 32);
	assert_true(core_rpc_request_id_valid(id));
	assert_true(core_rpc_request_id_valid("abc-DEF_1.2"));
	assert_false(core_rpc_request_id_valid(""));
	assert_false(core_rpc_request_id_valid("a b"));
	assert_false(core_rpc_request_id_valid("a\"b"));
	assert_false(core_rpc_request_id_valid("\n"));
	char longid[70];
	memset(longid, 'a', 65);
	longid[65] = '\0';
	assert_false(core_rpc_request_id_valid(longid));
	longid[64] = '\0';
	assert_true(core_rpc_request_id_valid(longid));
}

/* Appends a length-delimited field (wire type 2) to buf. */
static size_t
put_bytes(uint8_t *buf, size_t at, unsigned id, const void *v, size_t n)
{
	unsigned key = id << 3 | 2;
	while (key >= 0x80) { /* varint */
		buf[at++] = (uint8_t) (key | 0x80);
		key >>= 7;
	}
	buf[at++] = (uint8_t) key;
	buf[at++] = (uint8_t) n;
	memcpy(buf + at, v, n);
	return at + n;
}

static void
test_string_check_finds_nul_bytes_and_bad_utf8_with_their_path(void **state)
{
	(void) state;
	const ProtobufCMessageDescriptor *d = &test__v1__all_types__descriptor;
	uint8_t buf[256], inner[64];
	char field[64];
	const char *why = NULL;
	size_t n = 0;

	/* f_int32 = 7, f_string = "ok é", f_bytes may hold anything. */
	buf[n++] = 1 << 3;
	buf[n++] = 7;
	n = put_bytes(buf, n, 14, "ok \xc3\xa9", 5);
	n = put_bytes(buf, n, 15, "\x00\xff", 2);
	assert_int_equal(core_pb_check_strings(d, buf, n, field, sizeof(field),
	                     &why),
	    0);

	n = put_bytes(buf, 0, 14, "ada\0evil", 8);
	assert_int_equal(core_pb_check_strings(d, buf, n, field, sizeof(field),
	                     &why),
	    -1);
	assert_string_equal(field, "f_string");
	assert_non_null(strstr(why, "NUL"));

	/* Nested: f_message { name = "\xff" }. */
	size_t m = put_bytes(inner, 0, 1, "\xff", 1);
	n = put_bytes(buf, 0, 17, inner, m);
	assert_int_equal(core_pb_check_strings(d, buf, n, field, sizeof(field),
	                     &why),
	    -1);
	assert_string_equal(field, "f_message.name");
	assert_non_null(strstr(why, "UTF-8"));

	/* The second element of a repeated string; an overlong encoding. */
	n = put_bytes(buf, 0, 23, "fine", 4);
	n = put_bytes(buf, n, 23, "\xc0\xaf", 2);
	assert_int_equal(core_pb_check_strings(d, buf, n, field, sizeof(field),
	                     &why),
	    -1);
	assert_string_equal(field, "r_string");

	/* Truncated or garbage encodings are left to the unpacker. */
	static const uint8_t bad[] = {0x72, 0x7f, 'a'};
	assert_int_equal(core_pb_check_strings(d, bad, sizeof(bad), field,
	                     sizeof(field), &why),
	    0);
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(core_pb_check_strings(d, junk, sizeof(junk), field,
	                     sizeof(field), &why),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names_match_grpc),
	    cmocka_unit_test(test_arena_allocations_are_aligned_and_reset),
	    cmocka_unit_test(test_arena_refuses_beyond_its_cap),
	    cmocka_unit_test(test_arena_allocator_serves_protobuf_unpack),
	    cmocka_unit_test(test_config_loads_defaults_env_and_rejects_bad_values),
	    cmocka_unit_test(test_config_split_bounds_the_list),
	    cmocka_unit_test(test_request_ids_are_validated),
	    cmocka_unit_test(
	        test_string_check_finds_nul_bytes_and_bad_utf8_with_their_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
