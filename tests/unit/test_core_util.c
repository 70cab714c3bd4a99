/* Unit tests for libcore's small modules: status names, arena, config,
 * request ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test/v1/test.pb-c.h"

#include "core/arena.h"
#include "core/pbcheck.h"
#include "core/config.h"
#include "core/log.h"
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

/* The first block is kept across a reset, so what a call left there can
 * be looked at: nothing of a password may remain. */
static void
test_arena_reset_wipes_what_was_handed_out(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	assert_non_null(a);
	char *pw = core_arena_strdup(a, "correct horse battery staple");
	assert_non_null(pw);
	core_arena_reset(a);
	/* pw points into the kept first block: allocated, readable. */
	for (size_t i = 0; i < sizeof("correct horse battery staple"); i++) {
		assert_int_equal(pw[i], 0);
	}
	core_arena_free(a);
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

	static const char *const bad_ints[] = {
	    "11", "0", "5x", "", " 5", "99999999999999999999"};
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

/* In a component's scope (microcore): PREFIX_NAME first, then the scope's
 * fixed value, then NAME; a NAME already prefixed is read as is. */
static void
test_config_scope_prefers_the_component_own_variable(void **state)
{
	(void) state;
	const char *shared = NULL, *dial = NULL, *own = NULL;
	core_config_item items[] = {
	    {"CORE_TEST_SHARED", "d1", CORE_CONFIG_STR, 0, 0, false, "",
	        &shared},
	    {"CORE_TEST_DIAL", "d2", CORE_CONFIG_STR, 0, 0, false, "", &dial},
	    {"CMP_OWN", "d3", CORE_CONFIG_STR, 0, 0, false, "", &own},
	};
	static const char *const fixed[] = {
	    "CORE_TEST_DIAL", "inproc://x/from/cmp", NULL};
	const core_config_scope scope = {"CMP", fixed};
	char err[128], buf[64];
	setenv("CORE_TEST_SHARED", "everyone", 1);
	setenv("CORE_TEST_DIAL", "tcp://elsewhere", 1);
	setenv("CMP_OWN", "mine", 1);
	unsetenv("CMP_CORE_TEST_SHARED");
	unsetenv("CMP_CORE_TEST_DIAL");
	core_config_enter(&scope);
	assert_int_equal(core_config_load(items, 3, err, sizeof(err)), 0);
	assert_string_equal(shared, "everyone");
	assert_string_equal(dial, "inproc://x/from/cmp");
	assert_string_equal(own, "mine");
	setenv("CMP_CORE_TEST_SHARED", "component", 1);
	setenv("CMP_CORE_TEST_DIAL", "tcp://chosen", 1);
	assert_int_equal(core_config_load(items, 3, err, sizeof(err)), 0);
	assert_string_equal(shared, "component");
	assert_string_equal(dial, "tcp://chosen");
	assert_string_equal(
	    core_config_var("CORE_TEST_SHARED", buf, sizeof(buf)),
	    "CMP_CORE_TEST_SHARED");
	assert_string_equal(
	    core_config_var("CMP_OWN", buf, sizeof(buf)), "CMP_OWN");
	/* An error names the variable that was read. */
	setenv("CMP_CORE_TEST_SHARED_FILE", "/nonexistent", 1);
	assert_int_equal(core_config_load(items, 3, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CMP_CORE_TEST_SHARED"));
	unsetenv("CMP_CORE_TEST_SHARED_FILE");
	/* Out of the scope: the plain variables again. */
	core_config_enter(NULL);
	assert_int_equal(core_config_load(items, 3, err, sizeof(err)), 0);
	assert_string_equal(shared, "everyone");
	assert_string_equal(dial, "tcp://elsewhere");
	unsetenv("CORE_TEST_SHARED");
	unsetenv("CORE_TEST_DIAL");
	unsetenv("CMP_OWN");
	unsetenv("CMP_CORE_TEST_SHARED");
	unsetenv("CMP_CORE_TEST_DIAL");
}

/* A file in a fresh temporary directory, with len bytes of data; its path
 * goes to path (PATH_MAX-sized). */
static void
write_temp_file(
    char *path, size_t pathlen, const char *name, const void *data, size_t len)
{
	const char *base = getenv("TEST_TMPDIR");
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/config-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, pathlen, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
remove_temp_file(const char *path)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	unlink(path);
	rmdir(dir);
}

/* Loads one string item named CORE_TEST_SECRET; returns what
 * core_config_load returned. */
static int
load_secret(const char **out, char *err, size_t errlen)
{
	core_config_item items[] = {
	    {"CORE_TEST_SECRET", "dflt", CORE_CONFIG_STR, 0, 0, true, "", out},
	};
	return core_config_load(items, 1, err, errlen);
}

static void
test_config_reads_name_file_and_trims_line_ends(void **state)
{
	(void) state;
	char path[512], err[256];
	const char *v = NULL;
	unsetenv("CORE_TEST_SECRET");
	write_temp_file(path, sizeof(path), "secret", "s3cret \r\n\n", 10);
	setenv("CORE_TEST_SECRET_FILE", path, 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), 0);
	/* Only line ends at the end go; a trailing blank stays. */
	assert_string_equal(v, "s3cret ");

	/* An empty NAME counts as unset, as it does without a file. */
	setenv("CORE_TEST_SECRET", "", 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), 0);
	assert_string_equal(v, "s3cret ");

	/* An empty NAME_FILE counts as unset too. */
	setenv("CORE_TEST_SECRET_FILE", "", 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), 0);
	assert_string_equal(v, "dflt");
	setenv("CORE_TEST_SECRET", "from-env", 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), 0);
	assert_string_equal(v, "from-env");

	unsetenv("CORE_TEST_SECRET");
	unsetenv("CORE_TEST_SECRET_FILE");
	remove_temp_file(path);
}

static void
test_config_name_file_feeds_range_checked_integers(void **state)
{
	(void) state;
	char path[512], err[256];
	long n = 0;
	core_config_item items[] = {
	    {"CORE_TEST_INT", "5", CORE_CONFIG_INT, 1, 10, false, "", &n},
	};
	unsetenv("CORE_TEST_INT");
	write_temp_file(path, sizeof(path), "n", "7\n", 2);
	setenv("CORE_TEST_INT_FILE", path, 1);
	assert_int_equal(core_config_load(items, 1, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	remove_temp_file(path);

	write_temp_file(path, sizeof(path), "n", "70\n", 3);
	setenv("CORE_TEST_INT_FILE", path, 1);
	assert_int_equal(core_config_load(items, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CORE_TEST_INT: expected an integer"));
	unsetenv("CORE_TEST_INT_FILE");
	remove_temp_file(path);
}

static void
test_config_refuses_name_and_name_file_together(void **state)
{
	(void) state;
	char path[512], err[256];
	const char *v = NULL;
	write_temp_file(path, sizeof(path), "secret", "a", 1);
	setenv("CORE_TEST_SECRET", "b", 1);
	setenv("CORE_TEST_SECRET_FILE", path, 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), -1);
	assert_non_null(
	    strstr(err, "CORE_TEST_SECRET and CORE_TEST_SECRET_FILE"));
	unsetenv("CORE_TEST_SECRET");
	unsetenv("CORE_TEST_SECRET_FILE");
	remove_temp_file(path);
}

static void
test_config_refuses_unreadable_name_file(void **state)
{
	(void) state;
	char path[512], err[256];
	const char *v = NULL;
	unsetenv("CORE_TEST_SECRET");
	setenv("CORE_TEST_SECRET_FILE", "/nonexistent/microcore/secret", 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CORE_TEST_SECRET_FILE: cannot read "
	                            "/nonexistent/microcore/secret"));

	/* A directory (or a FIFO, a device) is not a value. */
	write_temp_file(path, sizeof(path), "secret", "a", 1);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	setenv("CORE_TEST_SECRET_FILE", dir, 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CORE_TEST_SECRET_FILE"));
	assert_non_null(strstr(err, "not a regular file"));
	unsetenv("CORE_TEST_SECRET_FILE");
	remove_temp_file(path);
}

static void
test_config_bounds_name_file_size(void **state)
{
	(void) state;
	char path[512], err[256];
	const char *v = NULL;
	char *big = malloc(CORE_CONFIG_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, 'k', CORE_CONFIG_FILE_MAX + 1);
	unsetenv("CORE_TEST_SECRET");

	/* Exactly the limit is accepted. */
	write_temp_file(path, sizeof(path), "big", big, CORE_CONFIG_FILE_MAX);
	setenv("CORE_TEST_SECRET_FILE", path, 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), 0);
	assert_int_equal(strlen(v), CORE_CONFIG_FILE_MAX);
	remove_temp_file(path);

	/* One byte more is not, not even when it is a line end. */
	big[CORE_CONFIG_FILE_MAX] = '\n';
	write_temp_file(
	    path, sizeof(path), "big", big, CORE_CONFIG_FILE_MAX + 1);
	setenv("CORE_TEST_SECRET_FILE", path, 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CORE_TEST_SECRET_FILE"));
	assert_non_null(strstr(err, "larger than 65536 bytes"));
	unsetenv("CORE_TEST_SECRET_FILE");
	remove_temp_file(path);
	free(big);
}

static void
test_config_refuses_nul_and_empty_name_file(void **state)
{
	(void) state;
	char path[512], err[256];
	const char *v = NULL;
	unsetenv("CORE_TEST_SECRET");
	write_temp_file(path, sizeof(path), "nul", "ab\0cd\n", 6);
	setenv("CORE_TEST_SECRET_FILE", path, 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CORE_TEST_SECRET_FILE"));
	assert_non_null(strstr(err, "NUL byte"));
	remove_temp_file(path);

	/* Nothing but line ends is a mistake, not the default. */
	write_temp_file(path, sizeof(path), "empty", "\n\n", 2);
	setenv("CORE_TEST_SECRET_FILE", path, 1);
	assert_int_equal(load_secret(&v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CORE_TEST_SECRET_FILE"));
	assert_non_null(strstr(err, "is empty"));
	unsetenv("CORE_TEST_SECRET_FILE");
	remove_temp_file(path);
}

static void
test_config_log_names_the_file_never_the_value(void **state)
{
	(void) state;
	char path[512], err[256], urlpath[512];
	const char *secret = NULL, *url = NULL;
	core_config_item items[] = {
	    {"CORE_TEST_SECRET", "", CORE_CONFIG_STR, 0, 0, true, "", &secret},
	    {"CORE_TEST_URL", "", CORE_CONFIG_STR, 0, 0, false, "", &url},
	};
	unsetenv("CORE_TEST_SECRET");
	unsetenv("CORE_TEST_URL");
	write_temp_file(path, sizeof(path), "kek", "topsecretvalue\n", 15);
	write_temp_file(urlpath, sizeof(urlpath), "url",
	    "postgresql://svc:hunter2pw@db:5432/authdb\n", 42);
	setenv("CORE_TEST_SECRET_FILE", path, 1);
	setenv("CORE_TEST_URL_FILE", urlpath, 1);
	assert_int_equal(core_config_load(items, 2, err, sizeof(err)), 0);
	assert_string_equal(url, "postgresql://svc:hunter2pw@db:5432/authdb");

	/* Capture the log line written to stderr. */
	char logpath[512];
	write_temp_file(logpath, sizeof(logpath), "log", "", 0);
	fflush(stderr);
	int saved = dup(2);
	FILE *f = fopen(logpath, "w");
	assert_non_null(f);
	assert_true(dup2(fileno(f), 2) >= 0);
	core_log_init("test", CORE_LOG_INFO, true);
	core_config_log(items, 2);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	fclose(f);

	char line[4096] = "";
	f = fopen(logpath, "r");
	assert_non_null(f);
	size_t got = fread(line, 1, sizeof(line) - 1, f);
	line[got] = '\0';
	fclose(f);
	char want[700];
	snprintf(want, sizeof(want), "\"CORE_TEST_SECRET_FILE\":\"%s\"", path);
	assert_non_null(strstr(line, want));
	snprintf(want, sizeof(want), "\"CORE_TEST_URL_FILE\":\"%s\"", urlpath);
	assert_non_null(strstr(line, want));
	assert_non_null(strstr(line, "\"CORE_TEST_SECRET\":\"********\""));
	assert_non_null(
	    strstr(line, "postgresql://svc:********@db:5432/authdb"));
	assert_null(strstr(line, "topsecretvalue"));
	assert_null(strstr(line, "hunter2pw"));

	unsetenv("CORE_TEST_SECRET_FILE");
	unsetenv("CORE_TEST_URL_FILE");
	remove_temp_file(path);
	remove_temp_file(urlpath);
	remove_temp_file(logpath);
}

static void
test_config_mask_hides_whole_passwords(void **state)
{
	(void) state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"postgresql://svc:pw@db:5432/authdb",
	        "postgresql://svc:********@db:5432/authdb"},
	    /* '@', ':' and '/' inside the password: masked whole. */
	    {"postgresql://svc:p@ss@db/authdb",
	        "postgresql://svc:********@db/authdb"},
	    {"redis://:a@b:c@cache:6379/0", "redis://:********@cache:6379/0"},
	    {"postgresql://svc:a/b@c@db/x", "postgresql://svc:********@db/x"},
	    /* Nothing to hide. */
	    {"postgresql://svc@db:5432/x", "postgresql://svc@db:5432/x"},
	    {"redis://cache:6379/0", "redis://cache:6379/0"},
	    {"tcp://127.0.0.1:7001", "tcp://127.0.0.1:7001"},
	    {"", ""},
	    /* A password as a query parameter or libpq keyword. */
	    {"postgresql://db/x?user=svc&password=s3cret&sslmode=require",
	        "postgresql://db/x?user=svc&password=********&sslmode=require"},
	    {"host=db password=s3cret dbname=x",
	        "host=db password=******** dbname=x"},
	    {"host=db password='a b\\' c' dbname=x",
	        "host=db password=******** dbname=x"},
	    {"password='unterminated", "password=********"},
	};
	char buf[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		core_config_mask(cases[i].in, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	/* A short buffer is cut, never overrun, never holds the password. */
	char small[12];
	core_config_mask("postgresql://svc:p@ss@db/x", small, sizeof(small));
	assert_string_equal(small, "postgresql:");
	core_config_mask("x", small, 0);
}

static void
test_config_split_bounds_the_list(void **state)
{
	(void) state;
	char buf[64];
	const char *out[3];
	assert_int_equal(
	    core_config_split("a, b,,c", buf, sizeof(buf), out, 3), 3);
	assert_string_equal(out[0], "a");
	assert_string_equal(out[1], "b");
	assert_string_equal(out[2], "c");
	assert_int_equal(
	    core_config_split("a,b,c,d", buf, sizeof(buf), out, 3), -1);
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
	/* Consecutive ids differ in their second half (a keyed hash of a
	 * counter: no visible sequence) and share the process's prefix. */
	char next[33];
	core_rpc_new_request_id(next);
	assert_true(core_rpc_request_id_valid(next));
	assert_memory_equal(id, next, 16);
	assert_string_not_equal(id + 16, next + 16);
	for (int i = 0; i < 32; i++) {
		assert_true(strchr("0123456789abcdef", next[i]) != NULL);
	}
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
	assert_int_equal(
	    core_pb_check_strings(d, buf, n, field, sizeof(field), &why), 0);

	n = put_bytes(buf, 0, 14, "ada\0evil", 8);
	assert_int_equal(
	    core_pb_check_strings(d, buf, n, field, sizeof(field), &why), -1);
	assert_string_equal(field, "f_string");
	assert_non_null(strstr(why, "NUL"));

	/* Nested: f_message { name = "\xff" }. */
	size_t m = put_bytes(inner, 0, 1, "\xff", 1);
	n = put_bytes(buf, 0, 17, inner, m);
	assert_int_equal(
	    core_pb_check_strings(d, buf, n, field, sizeof(field), &why), -1);
	assert_string_equal(field, "f_message.name");
	assert_non_null(strstr(why, "UTF-8"));

	/* The second element of a repeated string; an overlong encoding. */
	n = put_bytes(buf, 0, 23, "fine", 4);
	n = put_bytes(buf, n, 23, "\xc0\xaf", 2);
	assert_int_equal(
	    core_pb_check_strings(d, buf, n, field, sizeof(field), &why), -1);
	assert_string_equal(field, "r_string");

	/* Truncated or garbage encodings are left to the unpacker. */
	static const uint8_t bad[] = {0x72, 0x7f, 'a'};
	assert_int_equal(core_pb_check_strings(
	                     d, bad, sizeof(bad), field, sizeof(field), &why),
	    0);
	static const uint8_t junk[] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
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
	    cmocka_unit_test(
	        test_config_loads_defaults_env_and_rejects_bad_values),
	    cmocka_unit_test(test_config_reads_name_file_and_trims_line_ends),
	    cmocka_unit_test(
	        test_config_name_file_feeds_range_checked_integers),
	    cmocka_unit_test(test_config_refuses_name_and_name_file_together),
	    cmocka_unit_test(test_config_refuses_unreadable_name_file),
	    cmocka_unit_test(test_config_bounds_name_file_size),
	    cmocka_unit_test(test_config_refuses_nul_and_empty_name_file),
	    cmocka_unit_test(test_config_log_names_the_file_never_the_value),
	    cmocka_unit_test(test_config_mask_hides_whole_passwords),
	    cmocka_unit_test(test_arena_reset_wipes_what_was_handed_out),
	    cmocka_unit_test(test_config_split_bounds_the_list),
	    cmocka_unit_test(
	        test_config_scope_prefers_the_component_own_variable),
	    cmocka_unit_test(test_request_ids_are_validated),
	    cmocka_unit_test(
	        test_string_check_finds_nul_bytes_and_bad_utf8_with_their_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
