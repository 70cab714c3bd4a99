/* libFuzzer harness: the protobuf <-> JSON codec on every message type.
 *
 * Input: byte 0 picks the message type (every input and output of every
 * service in the registry, the types nested in them, and test.v1.AllTypes,
 * sorted by name), byte 1 the mode, the rest is the document:
 *   mode even: JSON text -> message. What parses must print, and the print
 *              must parse again and print the very same text (a fixed
 *              point), so no accepted document is lost or changed on the
 *              way through the edge and back.
 *   mode odd:  protobuf binary -> message (what a service might answer) ->
 *              JSON, which must always print; when the binary passes the
 *              RPC string checks and every nested Timestamp can be written
 *              as RFC 3339 (the codec renders one that cannot as an object
 *              the parser refuses: docs/internals/codec.md) the print must
 *              parse again to the same text.
 * Both modes check the fixed point in the proto3 mapping and in the REST
 * style (CORE_JSON_REST), the latter after one pass (check_both_styles).
 * A failed property aborts (a finding), like a sanitizer report. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "test/v1/test.pb-c.h"

#include "core/json.h"
#include "core/log.h"
#include "core/pbcheck.h"
#include "core/text.h"
#include "fuzz_util.h"
#include "registry.h"

#define MAX_TYPES 256

static bool sub_ok(
    const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m);

static const ProtobufCMessageDescriptor *types[MAX_TYPES];
static size_t n_types;

static void
add_type(const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < n_types; i++) {
		if (types[i] == d) {
			return;
		}
	}
	FUZZ_CHECK(n_types < MAX_TYPES);
	types[n_types++] = d;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE) {
			add_type(d->fields[i].descriptor);
		}
	}
}

static int
by_name(const void *a, const void *b)
{
	const ProtobufCMessageDescriptor *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	core_log_init("fuzz", CORE_LOG_ERROR, false);
	size_t n;
	const registry_service *s = registry_services(&n);
	for (size_t i = 0; i < n; i++) {
		for (unsigned k = 0; k < s[i].desc->n_methods; k++) {
			add_type(s[i].desc->methods[k].input);
			add_type(s[i].desc->methods[k].output);
		}
	}
	add_type(&test__v1__all_types__descriptor);
	qsort(types, n_types, sizeof(types[0]), by_name);
	if (getenv("FUZZ_JSON_LIST_TYPES") != NULL) {
		/* Byte 0 of an input for each type, for writing seeds. */
		for (size_t i = 0; i < n_types; i++) {
			printf("%zu %s\n", i, types[i]->name);
		}
	}
	return 0;
}

/* Prints m in the style flags says, which must succeed. */
static char *
print(const ProtobufCMessage *m, unsigned flags, size_t *len)
{
	char *text = core_pb_to_json(m, flags, len);
	FUZZ_CHECK(text != NULL);
	return text;
}

/* Parses text, a print in the style flags says, and prints the message
 * again: that text (*len2 its length; the caller frees it), or NULL when
 * it does not parse, which aborts if must_parse. */
static char *
reprint(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
    bool must_parse, unsigned flags, size_t *len2)
{
	ProtobufCMessage *again = NULL;
	core_json_error err;
	core_json_limits lim = {.flags = flags};
	if (core_json_to_pb(d, text, len, &lim, NULL, &again, &err) != 0) {
		if (must_parse) {
			fprintf(stderr,
			    "%s: print does not parse: %s: %s\n%s\n", d->name,
			    err.field, err.message, text);
			abort();
		}
		return NULL;
	}
	char *text2 = print(again, flags, len2);
	protobuf_c_message_free_unpacked(again, NULL);
	return text2;
}

/* Parses the print of a message back and prints it again: the same text. */
static void
check_fixed_point(const ProtobufCMessageDescriptor *d, const char *text,
    size_t len, bool must_parse, unsigned flags)
{
	size_t len2;
	char *text2 = reprint(d, text, len, must_parse, flags, &len2);
	if (text2 != NULL && (len2 != len || memcmp(text, text2, len) != 0)) {
		fprintf(stderr, "%s: print is not a fixed point:\n%s\n%s\n",
		    d->name, text, text2);
		abort();
	}
	free(text2);
}

/* Both styles of m. The REST style reaches its fixed point after one
 * pass: a number an enum does not name prints as null, which reads back
 * as the enum's zero value, and that has a name unless it is
 * *_UNSPECIFIED (core.v1's ServingStatus UNKNOWN: "unknown"). */
static void
check_both_styles(
    const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m, bool must)
{
	size_t len, len2;
	char *text = print(m, 0, &len);
	check_fixed_point(d, text, len, must, 0);
	free(text);
	text = print(m, CORE_JSON_REST, &len);
	char *text2 = reprint(d, text, len, must, CORE_JSON_REST, &len2);
	if (text2 != NULL) {
		check_fixed_point(d, text2, len2, true, CORE_JSON_REST);
	}
	free(text2);
	free(text);
}

static void
from_json(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	ProtobufCMessage *m = NULL;
	core_json_error err;
	memset(&err, 0, sizeof(err));
	if (core_json_to_pb(d, (const char *) p, n, NULL, NULL, &m, &err) !=
	    0) {
		FUZZ_CHECK(m == NULL && err.message[0] != '\0');
		FUZZ_CHECK(
		    memchr(err.message, 0, sizeof(err.message)) != NULL);
		FUZZ_CHECK(memchr(err.field, 0, sizeof(err.field)) != NULL);
		return;
	}
	check_both_styles(d, m, true);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Whether every Timestamp below the top level of m is within RFC 3339's
 * range. */
static bool
timestamps_ok(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *) m + f->offset;
		const ProtobufCMessage *const *v;
		size_t n = 1;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
			continue;
		}
		if (!fuzz_field_present(m, f)) {
			continue; /* another member of its oneof is set */
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *) (const void
			        *) ((const char *) m + f->quantifier_offset);
			v = *(const ProtobufCMessage *const *const
			        *) (const void *) base;
		} else {
			v = (const ProtobufCMessage *const *) (const void *)
			    base;
		}
		for (size_t k = 0; k < n; k++) {
			if (v[k] != NULL && !sub_ok(f->descriptor, v[k])) {
				return false;
			}
		}
	}
	return true;
}

static bool
sub_ok(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m)
{
	if (strcmp(d->name, "google.protobuf.Timestamp") != 0) {
		return timestamps_ok(m);
	}
	const Google__Protobuf__Timestamp *t =
	    (const Google__Protobuf__Timestamp *) m;
	char buf[CORE_RFC3339_BUFSIZE];
	return core_rfc3339_format(t->seconds, t->nanos,
	           CORE_RFC3339_FRAC_PROTOBUF, buf, sizeof(buf)) == 0;
}

static void
from_binary(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p);
	if (m == NULL) {
		return;
	}
	char field[128];
	const char *why = NULL;
	bool strict =
	    core_pb_check_strings(d, p, n, field, sizeof(field), &why) == 0 &&
	    timestamps_ok(m);
	check_both_styles(d, m, strict);
	protobuf_c_message_free_unpacked(m, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2) {
		return 0;
	}
	const ProtobufCMessageDescriptor *d = types[data[0] % n_types];
	if (data[1] & 1) {
		from_binary(d, data + 2, size - 2);
	} else {
		from_json(d, data + 2, size - 2);
	}
	return 0;
}
