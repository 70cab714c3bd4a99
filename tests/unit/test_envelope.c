/* The hand-written envelope codec (libcore/src/envelope.c) against
 * protobuf-c: the same bytes out, the same values in, and the same verdict
 * on every malformed input (for a request: protobuf-c's unpack plus the
 * string check the server ran before, core_pb_check_strings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/v1/core.pb-c.h"

#include "core/arena.h"
#include "core/pbcheck.h"
#include "envelope.h"

#define ROUNDS 20000
#define MAX_MSG 4096

static core_arena *arena;

/* xorshift64: the same sequence on every run. */
static uint64_t seed = 0x9e3779b97f4a7c15u;

static uint32_t
rnd(uint32_t n)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return n ? (uint32_t) (seed % n) : 0;
}

/* A random valid UTF-8 string without NUL (empty one time in four). */
static char *
rnd_str(void)
{
	static const char *const pieces[] = {"a", "Z", "-", "0", " ",
	    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "x-request-id",
	    "/test.v1.Echo/Echo"};
	size_t n = rnd(4) == 0 ? 0 : rnd(8), used = 0;
	char *s = core_arena_alloc(arena, 8 * 20 + 1);
	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rnd(10)];
		memcpy(s + used, p, strlen(p));
		used += strlen(p);
	}
	s[used] = '\0';
	return s;
}

static ProtobufCBinaryData
rnd_bytes(void)
{
	ProtobufCBinaryData b = {rnd(3) == 0 ? 0 : rnd(300), NULL};
	b.data = core_arena_alloc(arena, b.len + 1);
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] = (uint8_t) rnd(256);
	}
	if (b.len == 0) {
		b.data = NULL;
	}
	return b;
}

static Core__V1__Request *
rnd_request(void)
{
	Core__V1__Request *r = core_arena_alloc(arena, sizeof(*r));
	core__v1__request__init(r);
	r->method = rnd_str();
	r->payload = rnd_bytes();
	r->n_metadata = rnd(6);
	r->metadata =
	    core_arena_calloc(arena, r->n_metadata + 1, sizeof(void *));
	for (size_t i = 0; i < r->n_metadata; i++) {
		Core__V1__Request__MetadataEntry *e =
		    core_arena_alloc(arena, sizeof(*e));
		core__v1__request__metadata_entry__init(e);
		e->key = rnd_str();
		e->value = rnd_str();
		r->metadata[i] = e;
	}
	return r;
}

static Core__V1__Response *
rnd_response(void)
{
	static const int codes[] = {0, 1, 3, 13, 16, 17, -1, 1000000};
	Core__V1__Response *r = core_arena_alloc(arena, sizeof(*r));
	core__v1__response__init(r);
	r->code = (Core__V1__Code) codes[rnd(8)];
	r->message = rnd_str();
	r->payload = rnd_bytes();
	r->n_details = rnd(4);
	r->details =
	    core_arena_calloc(arena, r->n_details + 1, sizeof(void *));
	for (size_t i = 0; i < r->n_details; i++) {
		Core__V1__ErrorDetail *d = core_arena_alloc(arena, sizeof(*d));
		core__v1__error_detail__init(d);
		d->field = rnd_str();
		d->description = rnd_str();
		r->details[i] = d;
	}
	r->retry_after_s = rnd(3) == 0 ? rnd(UINT32_MAX) : 0;
	return r;
}

static void
same_bytes(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	assert_int_equal(a.len, b.len);
	if (a.len > 0) {
		assert_memory_equal(a.data, b.data, a.len);
	}
}

static void
same_request(const Core__V1__Request *a, const Core__V1__Request *b)
{
	assert_string_equal(a->method, b->method);
	same_bytes(a->payload, b->payload);
	assert_int_equal(a->n_metadata, b->n_metadata);
	for (size_t i = 0; i < a->n_metadata; i++) {
		assert_string_equal(a->metadata[i]->key, b->metadata[i]->key);
		assert_string_equal(
		    a->metadata[i]->value, b->metadata[i]->value);
	}
}

static void
same_response(const Core__V1__Response *a, const Core__V1__Response *b)
{
	assert_int_equal(a->code, b->code);
	assert_string_equal(a->message, b->message);
	same_bytes(a->payload, b->payload);
	assert_int_equal(a->retry_after_s, b->retry_after_s);
	assert_int_equal(a->n_details, b->n_details);
	for (size_t i = 0; i < a->n_details; i++) {
		assert_string_equal(
		    a->details[i]->field, b->details[i]->field);
		assert_string_equal(
		    a->details[i]->description, b->details[i]->description);
	}
}

/* What the server accepted before: the string check, then protobuf-c. */
static Core__V1__Request *
old_request(const uint8_t *p, size_t len)
{
	char field[128];
	const char *why = "";
	if (core_pb_check_strings(&core__v1__request__descriptor, p, len,
	        field, sizeof(field), &why) != 0) {
		return NULL;
	}
	return core__v1__request__unpack(core_arena_allocator(arena), len, p);
}

/* Both decoders on p: the same verdict, and the same values when both
 * accept. Returns whether they accepted. */
static bool
check_request(const uint8_t *p, size_t len)
{
	Core__V1__Request *want = old_request(p, len);
	Core__V1__Request got;
	int rv = rpc_env_request_decode(p, len, arena, &got);
	if ((want != NULL) != (rv == 0)) {
		fprintf(stderr, "request verdict differs (protobuf-c %s):",
		    want ? "accepts" : "refuses");
		for (size_t i = 0; i < len; i++) {
			fprintf(stderr, " %02x", p[i]);
		}
		fprintf(stderr, "\n");
		fail();
	}
	if (want != NULL) {
		same_request(want, &got);
	}
	return want != NULL;
}

static bool
check_response(const uint8_t *p, size_t len)
{
	Core__V1__Response *want =
	    core__v1__response__unpack(core_arena_allocator(arena), len, p);
	Core__V1__Response got;
	int rv = rpc_env_response_decode(p, len, arena, &got);
	if ((want != NULL) != (rv == 0)) {
		fprintf(stderr, "response verdict differs (protobuf-c %s):",
		    want ? "accepts" : "refuses");
		for (size_t i = 0; i < len; i++) {
			fprintf(stderr, " %02x", p[i]);
		}
		fprintf(stderr, "\n");
		fail();
	}
	if (want != NULL) {
		same_response(want, &got);
	}
	return want != NULL;
}

/* Changes buf (of *len, room for MAX_MSG) in one of the ways a broken or
 * hostile peer would: a byte changed, cut short, a field inserted. */
static void
mutate(uint8_t *buf, size_t *len)
{
	/* Length first, then the bytes. */
	static const uint8_t inserts[][5] = {{2, 0x08, 0x01},
	    {3, 0x0a, 0x01, 0xff}, {4, 0x1a, 0x02, 0x0a, 0x00},
	    {3, 0x1a, 0x01, 0x08}, {1, 0x23}, {1, 0x26}, {2, 0x22, 0x7f},
	    {2, 0x21, 0x01}, {3, 0x0a, 0x01, 0x00}, {2, 0x12, 0x80},
	    {4, 0x1a, 0x02, 0x12, 0x01}, {4, 0x2d, 0x01, 0x02, 0x03},
	    {2, 0x80, 0x80}, {2, 0x00, 0x00}, {2, 0x20, 0xff},
	    {2, 0x12, 0x00}};
	switch (rnd(3)) {
	case 0:
		if (*len > 0) {
			buf[rnd((uint32_t) *len)] = (uint8_t) rnd(256);
		}
		break;
	case 1:
		*len = rnd((uint32_t) *len + 1);
		break;
	default: {
		const uint8_t *ins = inserts[rnd(16)] + 1;
		size_t n = ins[-1], at = rnd((uint32_t) *len + 1);
		if (*len + n <= MAX_MSG) {
			memmove(buf + at + n, buf + at, *len - at);
			memcpy(buf + at, ins, n);
			*len += n;
		}
	}
	}
}

static void
test_request_random(void **state)
{
	(void) state;
	uint8_t a[MAX_MSG], b[MAX_MSG];
	size_t accepted = 0, refused = 0;
	for (int i = 0; i < ROUNDS; i++) {
		core_arena_reset(arena);
		Core__V1__Request *r = rnd_request();
		size_t n = core__v1__request__get_packed_size(r);
		assert_true(n <= MAX_MSG);
		assert_int_equal(rpc_env_request_size(r), n);
		core__v1__request__pack(r, a);
		assert_int_equal(rpc_env_request_pack(r, b), n);
		assert_memory_equal(a, b, n);
		assert_true(check_request(a, n));
		for (int m = 1 + (int) rnd(3); m > 0; m--) {
			mutate(a, &n);
		}
		*(check_request(a, n) ? &accepted : &refused) += 1;
	}
	/* The mutations must reach both verdicts often. */
	assert_true(accepted > ROUNDS / 20);
	assert_true(refused > ROUNDS / 20);
}

static void
test_response_random(void **state)
{
	(void) state;
	uint8_t a[MAX_MSG], b[MAX_MSG];
	size_t accepted = 0, refused = 0;
	for (int i = 0; i < ROUNDS; i++) {
		core_arena_reset(arena);
		Core__V1__Response *r = rnd_response();
		size_t n = core__v1__response__get_packed_size(r);
		assert_true(n <= MAX_MSG);
		assert_int_equal(rpc_env_response_size(r), n);
		core__v1__response__pack(r, a);
		assert_int_equal(rpc_env_response_pack(r, b), n);
		assert_memory_equal(a, b, n);
		assert_true(check_response(a, n));
		for (int m = 1 + (int) rnd(3); m > 0; m--) {
			mutate(a, &n);
		}
		*(check_response(a, n) ? &accepted : &refused) += 1;
	}
	assert_true(accepted > ROUNDS / 20);
	assert_true(refused > ROUNDS / 20);
}

/* One malformed-input class per line, with the verdict protobuf-c (and
 * the old string check) gives it. */
typedef struct hand_case {
	const char *what;
	const char *bytes;
	size_t len;
	bool ok;
} hand_case;

#define HC(what, s, ok)                                                       \
	{                                                                     \
		what, s, sizeof(s) - 1, ok                                    \
	}

static const hand_case request_cases[] = {
    HC("empty", "", true),
    HC("method", "\x0a\x02/x", true),
    HC("method twice, last wins",
        "\x0a\x01"
        "a\x0a\x01"
        "b",
        true),
    HC("tag cut short", "\x8a", false),
    HC("tag of 5 bytes", "\xa0\x80\x80\x80\x00\x01", true),
    HC("tag of 6 bytes", "\xa0\x80\x80\x80\x80\x00\x01", false),
    HC("field number 0", "\x00\x00", false),
    HC("field number 0 in two bytes", "\x80\x00\x00", true),
    HC("varint of 10 bytes", "\x20\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
        true),
    HC("varint of 11 bytes",
        "\x20\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", false),
    HC("varint cut short", "\x20\x80", false),
    HC("length of 5 bytes", "\x0a\x81\x80\x80\x80\x00x", true),
    HC("length of 6 bytes", "\x0a\x81\x80\x80\x80\x80\x00x", false),
    HC("length past the end",
        "\x0a\x05"
        "ab",
        false),
    HC("length cut short", "\x0a", false),
    HC("method as varint", "\x08\x01", false),
    HC("payload as 32-bit", "\x15\x01\x02\x03\x04", false),
    HC("metadata as varint", "\x18\x01", false),
    HC("metadata key as varint", "\x1a\x02\x08\x01", false),
    HC("group (unknown field)", "\x23\x24", false),
    HC("wire type 6", "\x26", false),
    HC("wire type 7", "\x27", false),
    HC("unknown varint", "\x20\x96\x01", true),
    HC("unknown 64-bit", "\x21\x01\x02\x03\x04\x05\x06\x07\x08", true),
    HC("unknown 64-bit cut short", "\x21\x01\x02\x03", false),
    HC("unknown 32-bit", "\x25\x01\x02\x03\x04", true),
    HC("unknown 32-bit cut short", "\x25\x01", false),
    HC("unknown bytes, not UTF-8", "\x22\x01\xff", true),
    HC("unknown field in an entry", "\x1a\x03\x18\x01\x00", false),
    HC("unknown field in an entry, whole", "\x1a\x04\x18\x01\x0a\x00", true),
    HC("method not UTF-8", "\x0a\x01\xff", false),
    HC("method overlong UTF-8", "\x0a\x02\xc0\xaf", false),
    HC("method with NUL",
        "\x0a\x03"
        "a\x00"
        "b",
        false),
    HC("bad method, overwritten",
        "\x0a\x01\xff\x0a\x01"
        "a",
        false),
    HC("key not UTF-8", "\x1a\x03\x0a\x01\xff", false),
    HC("value with NUL", "\x1a\x05\x0a\x00\x12\x01\x00", false),
    HC("entry without key or value", "\x1a\x00", true),
    HC("entry cut short",
        "\x1a\x03\x0a\x05"
        "a",
        false),
    HC("duplicate keys",
        "\x1a\x06\x0a\x01k\x12\x01"
        "1\x1a\x06\x0a\x01k"
        "\x12\x01"
        "2",
        true),
    HC("payload not UTF-8", "\x12\x02\xff\x00", true),
};

static void
test_request_cases(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(request_cases) / sizeof(*request_cases);
	     i++) {
		const hand_case *c = &request_cases[i];
		core_arena_reset(arena);
		bool ok = check_request((const uint8_t *) c->bytes, c->len);
		if (ok != c->ok) {
			fail_msg("%s: expected %s", c->what,
			    c->ok ? "accepted" : "refused");
		}
	}
}

/* Values the cases above leave to the comparison: spelled out here. */
static void
test_request_values(void **state)
{
	(void) state;
	static const uint8_t dup[] = {0x0a, 0x01, 'a', 0x1a, 0x06, 0x0a, 0x01,
	    'k', 0x12, 0x01, '1', 0x1a, 0x00, 0x0a, 0x01, 'b', 0x1a, 0x06,
	    0x0a, 0x01, 'k', 0x12, 0x01, '2', 0x12, 0x02, 'p', 'q'};
	Core__V1__Request r;
	core_arena_reset(arena);
	assert_int_equal(
	    rpc_env_request_decode(dup, sizeof(dup), arena, &r), 0);
	assert_string_equal(r.method, "b");
	assert_int_equal(r.n_metadata, 3);
	assert_string_equal(r.metadata[0]->value, "1");
	assert_string_equal(r.metadata[1]->key, "");
	assert_string_equal(r.metadata[1]->value, "");
	assert_string_equal(r.metadata[2]->value, "2");
	/* Zero-copy: the payload is the message's own bytes. */
	assert_ptr_equal(r.payload.data, dup + 26);
	assert_int_equal(r.payload.len, 2);
}

static const hand_case response_cases[] = {
    HC("empty", "", true),
    HC("code", "\x08\x0d", true),
    HC("code negative", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", true),
    HC("code as bytes", "\x0a\x00", false),
    HC("message as varint", "\x10\x01", false),
    HC("message not UTF-8 (not checked)", "\x12\x01\xff", true),
    HC("payload as varint", "\x18\x01", false),
    HC("detail", "\x22\x04\x0a\x00\x12\x00", true),
    HC("detail as varint", "\x20\x01", false),
    HC("detail field as varint", "\x22\x02\x08\x01", false),
    HC("retry as 64-bit", "\x29\x01\x02\x03\x04\x05\x06\x07\x08", false),
    HC("retry above 32 bits", "\x28\xff\xff\xff\xff\x7f", true),
    HC("length past the end",
        "\x12\x03"
        "ab",
        false),
    HC("group", "\x33\x34", false),
    HC("unknown of every wire type",
        "\x30\x01\x39\x01\x02\x03\x04\x05\x06\x07\x08\x42\x00\x4d\x01\x02"
        "\x03\x04",
        true),
};

static void
test_response_cases(void **state)
{
	(void) state;
	for (size_t i = 0;
	     i < sizeof(response_cases) / sizeof(*response_cases); i++) {
		const hand_case *c = &response_cases[i];
		core_arena_reset(arena);
		bool ok = check_response((const uint8_t *) c->bytes, c->len);
		if (ok != c->ok) {
			fail_msg("%s: expected %s", c->what,
			    c->ok ? "accepted" : "refused");
		}
	}
}

/* An arena too small refuses, never crashes; a big enough one accepts. */
static void
test_no_memory(void **state)
{
	(void) state;
	uint8_t buf[MAX_MSG];
	core_arena_reset(arena);
	Core__V1__Request *r = rnd_request();
	while (r->n_metadata < 3) {
		core_arena_reset(arena);
		r = rnd_request();
	}
	size_t n = rpc_env_request_pack(r, buf);
	int last = -1;
	for (size_t cap = 16; cap <= 8192; cap += 16) {
		core_arena *tiny = core_arena_new(cap);
		Core__V1__Request got;
		last = rpc_env_request_decode(buf, n, tiny, &got);
		if (last == 0) {
			same_request(r, &got);
		}
		core_arena_free(tiny);
	}
	assert_int_equal(last, 0);
}

int
main(void)
{
	arena = core_arena_new(1 << 20);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_random),
	    cmocka_unit_test(test_response_random),
	    cmocka_unit_test(test_request_cases),
	    cmocka_unit_test(test_request_values),
	    cmocka_unit_test(test_response_cases),
	    cmocka_unit_test(test_no_memory),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	core_arena_free(arena);
	return rv;
}
