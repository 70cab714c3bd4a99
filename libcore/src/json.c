/* protobuf <-> JSON codec driven by protobuf-c descriptors.
 *
 * docs/internals/codec.md describes the mapping, the limits and the
 * deliberate deviations from the proto3 JSON spec. The parser builds
 * messages exactly as protobuf_c_message_unpack() lays them out, so that
 * protobuf_c_message_free_unpacked() releases them, also half-built ones on
 * the error paths: every pointer in a message under construction is at all
 * times either its initial value or memory from the caller's allocator. */
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/pbfield.h"
#include "core/text.h"
#include "core/utf8.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#define TIMESTAMP_NAME "google.protobuf.Timestamp"
#define STRUCT_NAME "google.protobuf.Struct"
#define VALUE_NAME "google.protobuf.Value"
#define LIST_VALUE_NAME "google.protobuf.ListValue"
/* The longest REST enum name (core_json_enum_rest_name()) handled. */
#define REST_NAME_MAX 64
/* Keys echoed in paths and messages are cut to this many bytes. */
#define SHOWN_KEY_MAX 64

typedef struct parse_ctx {
	ProtobufCAllocator *alloc; /* NULL = malloc/free, as protobuf-c's */
	core_json_error *err;
	int max_depth;
	int depth;
	bool rest; /* CORE_JSON_REST: the REST style */
	size_t path_len;
	char path[sizeof(((core_json_error *) 0)->field)];
} parse_ctx;

static int parse_value(parse_ctx *c, const ProtobufCFieldDescriptor *f,
    const json_t *v, void *dst);
static json_t *value_to_json(
    const ProtobufCFieldDescriptor *f, const void *member, unsigned flags);

/* --- small helpers ------------------------------------------------------ */

/* jansson's object iteration takes a non-const json_t although it does not
 * modify it; the public API promises const, so the cast lives here once. */
static json_t *
unconst(const json_t *v)
{
	return (json_t *) (uintptr_t) v;
}

static bool
is_named(const ProtobufCMessageDescriptor *d, const char *name)
{
	return d != NULL && strcmp(d->name, name) == 0;
}

static bool
is_timestamp(const ProtobufCMessageDescriptor *d)
{
	return is_named(d, TIMESTAMP_NAME);
}

/* Whether f holds a google.protobuf.Value, the one message type whose
 * JSON null is a value (null_value) rather than "not set". */
static bool
is_value_field(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_MESSAGE &&
	       is_named(f->descriptor, VALUE_NAME);
}

/* Whether null is an element of a list or a map value of field f: a
 * Value's null, or in the REST style an enum's zero value, which has no
 * name there. */
static bool
null_element_ok(const parse_ctx *c, const ProtobufCFieldDescriptor *f)
{
	return is_value_field(f) ||
	       (c->rest && f->type == PROTOBUF_C_TYPE_ENUM);
}

/* The .proto name of a type, for error messages. */
static const char *
type_name(ProtobufCType t)
{
	const char *name = core_pb_type_name(t);

	return name != NULL ? name : "value";
}

/* Renders an input key for display in a path or message: at most
 * SHOWN_KEY_MAX bytes, cut on a character boundary ("..." marks the cut),
 * with '"' and '\' escaped and control bytes or invalid UTF-8 shown as '?',
 * so that whatever a client sent is safe to echo back to it. */
static void
show_key(char *out, size_t size, const char *key, size_t n)
{
	const unsigned char *p = (const unsigned char *) key;
	size_t o = 0, i = 0, k;
	size_t cap = size - 4; /* room for "..." and NUL */

	if (cap > SHOWN_KEY_MAX)
		cap = SHOWN_KEY_MAX;
	while (i < n) {
		k = core_utf8_seq_len(p + i, n - i);
		if (k == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			if (o + 1 > cap)
				break;
			out[o++] = '?';
			i++;
		} else if (p[i] == '"' || p[i] == '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = '\\';
			out[o++] = (char) p[i++];
		} else {
			if (o + k > cap)
				break;
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		}
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* --- allocation, errors and the field path ------------------------------ */

static void *
pb_alloc(parse_ctx *c, size_t n)
{
	if (n == 0)
		n = 1; /* keep NULL meaning "out of memory" */
	if (c->alloc == NULL)
		return malloc(n);
	return c->alloc->alloc(c->alloc->allocator_data, n);
}

static void
pb_free(parse_ctx *c, void *p)
{
	if (p == NULL)
		return;
	if (c->alloc == NULL)
		free(p);
	else
		c->alloc->free(c->alloc->allocator_data, p);
}

static int fail(parse_ctx *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

static int
fail(parse_ctx *c, const char *fmt, ...)
{
	core_json_error *e = c->err;
	va_list ap;

	memcpy(e->field, c->path, c->path_len + 1);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	e->line = 0;
	e->column = 0;
	e->position = 0;
	return -1;
}

static int
fail_oom(parse_ctx *c)
{
	return fail(c, "out of memory");
}

/* Appends s to the path. A segment that does not fit is cut with "..." and
 * fills the buffer, so that no later, shorter segment can follow it and
 * spell a path that does not exist. */
static void
path_put(parse_ctx *c, const char *s, size_t n)
{
	size_t room = sizeof(c->path) - 1 - c->path_len;

	if (n <= room) {
		memcpy(c->path + c->path_len, s, n);
		c->path_len += n;
	} else {
		size_t cut = room >= 3 ? room - 3 : 0;

		while (cut > 0 && ((unsigned char) s[cut] & 0xc0) == 0x80)
			cut--;
		memcpy(c->path + c->path_len, s, cut);
		c->path_len += cut;
		n = room - cut < 3 ? room - cut : 3;
		memcpy(c->path + c->path_len, "...", n);
		c->path_len = sizeof(c->path) - 1;
	}
	c->path[c->path_len] = '\0';
}

static size_t
path_push_name(parse_ctx *c, const char *name, size_t n)
{
	size_t old = c->path_len;

	if (old > 0)
		path_put(c, ".", 1);
	path_put(c, name, n);
	return old;
}

static size_t
path_push_index(parse_ctx *c, size_t i)
{
	size_t old = c->path_len;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "[%zu]", i);

	path_put(c, buf, (size_t) n);
	return old;
}

static size_t
path_push_key(parse_ctx *c, const char *key, size_t n)
{
	size_t old = c->path_len;
	char shown[SHOWN_KEY_MAX + 4];

	show_key(shown, sizeof(shown), key, n);
	path_put(c, "[\"", 2);
	path_put(c, shown, strlen(shown));
	path_put(c, "\"]", 2);
	return old;
}

static void
path_pop(parse_ctx *c, size_t old)
{
	c->path_len = old;
	c->path[old] = '\0';
}

static int
depth_enter(parse_ctx *c)
{
	if (c->depth >= c->max_depth)
		return fail(c, "nesting deeper than %d levels", c->max_depth);
	c->depth++;
	return 0;
}

/* --- numbers ------------------------------------------------------------ */

/* Parses "-?[0-9]+" spanning all of s[0..n) into a sign and a magnitude.
 * Written out instead of strtoll() because that skips leading blanks,
 * takes '+', needs a NUL-terminated string and is locale-aware; JSON wants
 * none of that. Canonical form (for map keys, where "1" and "01" would be
 * two spellings of one key) also rejects leading zeros and "-0".
 * Returns 0, -1 on bad syntax, 1 when the magnitude exceeds UINT64_MAX. */
static int
parse_decimal(
    const char *s, size_t n, bool canonical, bool *neg, uint64_t *mag)
{
	size_t i = 0;
	uint64_t m = 0;

	*neg = false;
	if (n > 0 && s[0] == '-') {
		*neg = true;
		i = 1;
	}
	if (i == n)
		return -1;
	if (canonical && s[i] == '0' && (n - i > 1 || *neg))
		return -1;
	for (; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned) (s[i] - '0');
		if (m > (UINT64_MAX - d) / 10) {
			/* Keep checking the syntax: "99...9x" is not a number.
			 */
			for (i++; i < n; i++) {
				if (s[i] < '0' || s[i] > '9')
					return -1;
			}
			return 1;
		}
		m = m * 10 + d;
	}
	*mag = m;
	return 0;
}

/* Signed value of a sign and magnitude; false when it does not fit. */
static bool
signed_of(bool neg, uint64_t mag, int64_t *out)
{
	if (!neg) {
		if (mag > (uint64_t) INT64_MAX)
			return false;
		*out = (int64_t) mag;
	} else {
		if (mag > (uint64_t) INT64_MAX + 1)
			return false;
		*out = mag == (uint64_t) INT64_MAX + 1 ? INT64_MIN
		                                       : -(int64_t) mag;
	}
	return true;
}

/* The integer a JSON value holds (a number without a fraction, or a
 * decimal string) as a sign and a magnitude, for get_signed() and
 * get_unsigned() to range-check. */
static int
get_integer(
    parse_ctx *c, ProtobufCType t, const json_t *v, bool *neg, uint64_t *mag)
{
	json_int_t i;
	double d;
	int rc;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		i = json_integer_value(v);
		*neg = i < 0;
		*mag = *neg ? (uint64_t) 0 - (uint64_t) i : (uint64_t) i;
		return 0;
	case JSON_REAL:
		d = json_real_value(v);
		if (!isfinite(d) || d != floor(d))
			break;
		/* 2^64 is exact in a double; anything at or past it (either
		 * sign) would overflow the conversion. */
		if (fabs(d) >= 18446744073709551616.0)
			return fail(
			    c, "value out of range for %s", type_name(t));
		*neg = d < 0;
		*mag = (uint64_t) fabs(d);
		return 0;
	case JSON_STRING:
		rc = parse_decimal(json_string_value(v), json_string_length(v),
		    false, neg, mag);
		if (rc > 0)
			return fail(
			    c, "value out of range for %s", type_name(t));
		if (rc == 0)
			return 0;
		break;
	default:
		break;
	}
	return fail(c, "expected an integer for %s", type_name(t));
}

static int
get_signed(parse_ctx *c, ProtobufCType t, const json_t *v, int64_t min,
    int64_t max, int64_t *out)
{
	bool neg;
	uint64_t mag;
	int64_t i;

	if (get_integer(c, t, v, &neg, &mag) != 0)
		return -1;
	if (!signed_of(neg, mag, &i) || i < min || i > max)
		return fail(c, "value out of range for %s", type_name(t));
	*out = i;
	return 0;
}

static int
get_unsigned(parse_ctx *c, ProtobufCType t, const json_t *v, uint64_t max,
    uint64_t *out)
{
	bool neg;
	uint64_t mag;

	if (get_integer(c, t, v, &neg, &mag) != 0)
		return -1;
	if ((neg && mag != 0) || mag > max)
		return fail(c, "value out of range for %s", type_name(t));
	*out = mag;
	return 0;
}

/* True if s[0..n) is a JSON number:
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
is_json_number(const char *s, size_t n)
{
	size_t i = 0, start;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else {
		start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	if (i < n && s[i] == '.') {
		start = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	return i == n;
}

static int
get_double(parse_ctx *c, ProtobufCType t, const json_t *v, double *out)
{
	const char *s;
	size_t n;
	double d;
	json_t *num;
	json_error_t jerr;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		d = (double) json_integer_value(v);
		break;
	case JSON_REAL:
		d = json_real_value(v);
		break;
	case JSON_STRING:
		s = json_string_value(v);
		n = json_string_length(v);
		if (n == 3 && memcmp(s, "NaN", 3) == 0) {
			d = NAN;
		} else if (n == 8 && memcmp(s, "Infinity", 8) == 0) {
			d = INFINITY;
		} else if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
			d = -INFINITY;
		} else {
			if (!is_json_number(s, n))
				return fail(c, "expected a number for %s",
				    type_name(t));
			/* Let jansson convert: it already deals with the
			 * locale's decimal point, which strtod() does not. A
			 * well-formed number only fails here on overflow. */
			num = json_loadb(s, n,
			    JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
			if (num == NULL)
				return fail(c, "value out of range for %s",
				    type_name(t));
			d = json_real_value(num);
			json_decref(num);
		}
		break;
	default:
		return fail(c, "expected a number for %s", type_name(t));
	}
	if (t == PROTOBUF_C_TYPE_FLOAT && isfinite(d) && fabs(d) > FLT_MAX)
		return fail(c, "value out of range for float");
	*out = d;
	return 0;
}

/* --- strings and bytes -------------------------------------------------- */

static int
check_text(parse_ctx *c, const char *s, size_t n)
{
	/* protobuf-c strings are C strings: a NUL would silently cut them. */
	if (memchr(s, '\0', n) != NULL)
		return fail(c, "string contains a NUL character");
	/* jansson validates what it parses, but a caller-built json_t may
	 * come from json_string_nocheck(). */
	if (!core_utf8_valid(s, n))
		return fail(c, "string is not valid UTF-8");
	return 0;
}

static int
dup_text(parse_ctx *c, const char *s, size_t n, char **out)
{
	char *copy;

	if (check_text(c, s, n) != 0)
		return -1;
	if ((copy = pb_alloc(c, n + 1)) == NULL)
		return fail_oom(c);
	memcpy(copy, s, n);
	copy[n] = '\0';
	*out = copy;
	return 0;
}

/* Decodes standard or URL-safe base64, padded or not, into freshly
 * allocated exact-size memory (NULL for empty, as protobuf-c unpacks). */
static int
b64_decode(parse_ctx *c, const char *s, size_t n, ProtobufCBinaryData *bd)
{
	size_t len;
	uint8_t *out;

	if (core_b64_decoded_len(s, n, &len) != 0)
		return fail(c, "invalid base64");
	if (len == 0) {
		/* Only "" gets here (a lone digit was refused above). */
		bd->data = NULL;
		bd->len = 0;
		return 0;
	}
	if ((out = pb_alloc(c, len)) == NULL)
		return fail_oom(c);
	if (core_b64_decode(s, n, out, len, &len) != 0) {
		pb_free(c, out);
		return fail(c, "invalid base64");
	}
	bd->data = out;
	bd->len = len;
	return 0;
}

static json_t *
b64_encode(const uint8_t *p, size_t n)
{
	size_t cap;
	char *buf;
	json_t *s;

	if (n > CORE_B64_ENCODE_MAX)
		return NULL;
	cap = CORE_B64_ENCODED_LEN(n) + 1;
	if ((buf = malloc(cap)) == NULL)
		return NULL;
	if (core_b64_encode(p, n, buf, cap) != 0) {
		free(buf);
		return NULL;
	}
	s = json_stringn_nocheck(buf, cap - 1);
	free(buf);
	return s;
}

/* --- timestamps --------------------------------------------------------- */

/* The seconds and nanos fields of a Timestamp, found by name rather than
 * through the generated struct, so the codec needs no generated code. */
static bool
ts_fields(const ProtobufCMessageDescriptor *d,
    const ProtobufCFieldDescriptor **sf, const ProtobufCFieldDescriptor **nf)
{
	*sf = protobuf_c_message_descriptor_get_field_by_name(d, "seconds");
	*nf = protobuf_c_message_descriptor_get_field_by_name(d, "nanos");
	return *sf != NULL && *nf != NULL &&
	       (*sf)->type == PROTOBUF_C_TYPE_INT64 &&
	       (*nf)->type == PROTOBUF_C_TYPE_INT32 &&
	       (*sf)->label != PROTOBUF_C_LABEL_REPEATED &&
	       (*nf)->label != PROTOBUF_C_LABEL_REPEATED;
}

static int
parse_timestamp(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *v, ProtobufCMessage **out)
{
	const ProtobufCFieldDescriptor *sf, *nf;
	ProtobufCMessage *m;
	int64_t secs;
	int32_t nanos;
	int rc;

	if (!ts_fields(d, &sf, &nf))
		return fail(c, "unsupported %s descriptor", d->name);
	if (!json_is_string(v))
		return fail(c, "expected an RFC 3339 timestamp string");
	rc = core_rfc3339_parse(
	    json_string_value(v), json_string_length(v), &secs, &nanos);
	if (rc == -2)
		return fail(c, "timestamp out of range");
	if (rc != 0)
		return fail(c, "invalid RFC 3339 timestamp");
	if ((m = pb_alloc(c, d->sizeof_message)) == NULL)
		return fail_oom(c);
	d->message_init(m);
	*(int64_t *) core_pb_field_ptr(m, sf) = secs;
	*(int32_t *) core_pb_field_ptr(m, nf) = nanos;
	*out = m;
	return 0;
}

/* NULL when the value cannot be written as RFC 3339. */
static json_t *
timestamp_to_json(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *sf, *nf;
	char buf[CORE_RFC3339_BUFSIZE];

	if (!ts_fields(m->descriptor, &sf, &nf) ||
	    core_rfc3339_format(*(const int64_t *) core_pb_field_cptr(m, sf),
	        *(const int32_t *) core_pb_field_cptr(m, nf),
	        CORE_RFC3339_FRAC_PROTOBUF, buf, sizeof(buf)) != 0)
		return NULL;
	return json_string_nocheck(buf);
}

/* --- JSON -> protobuf --------------------------------------------------- */

/* The field a JSON key names: its proto name, or in the proto3 style its
 * JSON name too; a key with a NUL in it names no field. */
static const ProtobufCFieldDescriptor *
find_field(const parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const char *key, size_t n)
{
	if (strlen(key) != n)
		return NULL;
	if (c->rest)
		return protobuf_c_message_descriptor_get_field_by_name(d, key);
	return core_pb_field_find(d, key);
}

static int parse_object(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *obj, ProtobufCMessage **out);
static int parse_map(parse_ctx *c, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *v);
static int parse_repeated(parse_ctx *c, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *v);

/* The field called name of a well-known type's descriptor d, if it has
 * type t (and is repeated when repeated is true); NULL when d is not the
 * shape the codec knows. */
static const ProtobufCFieldDescriptor *
wkt_field(const ProtobufCMessageDescriptor *d, const char *name,
    ProtobufCType t, bool repeated)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, name);

	if (f == NULL || f->type != t ||
	    (f->label == PROTOBUF_C_LABEL_REPEATED) != repeated)
		return NULL;
	return f;
}

/* A Struct or ListValue: its one field (the map "fields", the repeated
 * "values") holds the JSON object or array v. */
static int
parse_container(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *v, ProtobufCMessage **out)
{
	bool is_struct = is_named(d, STRUCT_NAME);
	const ProtobufCFieldDescriptor *f = wkt_field(
	    d, is_struct ? "fields" : "values", PROTOBUF_C_TYPE_MESSAGE, true);
	ProtobufCMessage *m;
	int rc;

	if (f == NULL || (is_struct && !core_pb_is_map_field(f)))
		return fail(c, "unsupported %s descriptor", d->name);
	if (is_struct ? !json_is_object(v) : !json_is_array(v))
		return fail(
		    c, is_struct ? "expected an object" : "expected an array");
	if ((m = pb_alloc(c, d->sizeof_message)) == NULL)
		return fail_oom(c);
	d->message_init(m);
	rc = is_struct ? parse_map(c, m, f, v) : parse_repeated(c, m, f, v);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(m, c->alloc);
		return -1;
	}
	*out = m;
	return 0;
}

/* A google.protobuf.Value: any JSON value, held by the member of its oneof
 * "kind" that fits the value's JSON type. */
static int
parse_json_value(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *v, ProtobufCMessage **out)
{
	const ProtobufCFieldDescriptor *f = NULL;
	ProtobufCMessage *m;
	double num;
	int rc = 0;

	switch (json_typeof(v)) {
	case JSON_NULL:
		f = wkt_field(d, "null_value", PROTOBUF_C_TYPE_ENUM, false);
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		f = wkt_field(
		    d, "number_value", PROTOBUF_C_TYPE_DOUBLE, false);
		break;
	case JSON_STRING:
		f = wkt_field(
		    d, "string_value", PROTOBUF_C_TYPE_STRING, false);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		f = wkt_field(d, "bool_value", PROTOBUF_C_TYPE_BOOL, false);
		break;
	case JSON_OBJECT:
		f = wkt_field(
		    d, "struct_value", PROTOBUF_C_TYPE_MESSAGE, false);
		break;
	case JSON_ARRAY:
		f = wkt_field(d, "list_value", PROTOBUF_C_TYPE_MESSAGE, false);
		break;
	}
	if (f == NULL || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return fail(c, "unsupported %s descriptor", d->name);
	if ((m = pb_alloc(c, d->sizeof_message)) == NULL)
		return fail_oom(c);
	d->message_init(m);
	if (json_is_null(v)) {
		*(int *) core_pb_field_ptr(m, f) = 0; /* NULL_VALUE */
	} else if (json_is_number(v)) {
		/* JSON has no NaN or infinity, and a Value's number must
		 * stay JSON (jansson refuses such literals in text; this
		 * catches a caller-built value). */
		num = json_number_value(v);
		if (!isfinite(num))
			rc = fail(c, "a number must be finite");
		else
			*(double *) core_pb_field_ptr(m, f) = num;
	} else {
		rc = parse_value(c, f, v, core_pb_field_ptr(m, f));
	}
	if (rc != 0) {
		protobuf_c_message_free_unpacked(m, c->alloc);
		return -1;
	}
	core_pb_field_mark_present(m, f);
	*out = m;
	return 0;
}

/* A message-typed value: an object; a string for a Timestamp; for Struct,
 * ListValue and Value the JSON object, array or value they stand for. */
static int
parse_submessage(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *v, ProtobufCMessage **out)
{
	if (is_timestamp(d))
		return parse_timestamp(c, d, v, out);
	if (is_named(d, STRUCT_NAME) || is_named(d, LIST_VALUE_NAME))
		return parse_container(c, d, v, out);
	if (is_named(d, VALUE_NAME))
		return parse_json_value(c, d, v, out);
	return parse_object(c, d, v, out);
}

/* The REST names of ed's values, quoted and comma-separated, into out
 * (cut with "..." when they do not fit). */
static void
rest_names(const ProtobufCEnumDescriptor *ed, char *out, size_t size)
{
	char name[REST_NAME_MAX + 1];
	size_t o = 0, i, k;

	out[0] = '\0';
	for (i = 0; i < ed->n_values; i++) {
		if (core_json_enum_rest_name(
		        ed, &ed->values[i], name, sizeof(name)) == 0)
			continue;
		k = strlen(name) + (o > 0 ? 4 : 2);
		if (o + k + 4 > size) {
			snprintf(
			    out + o, size - o, "%s", o > 0 ? ", ..." : "...");
			return;
		}
		o += (size_t) snprintf(
		    out + o, size - o, "%s\"%s\"", o > 0 ? ", " : "", name);
	}
}

/* An enum in the REST style: only its short lower-case name
 * (core_json_enum_rest_name()); the zero *_UNSPECIFIED value has none, so
 * "none" is said by leaving the member out, or with null where a member
 * cannot be left out (an element of a list or a map value), as the output
 * says it. */
static int
parse_enum_rest(
    parse_ctx *c, const ProtobufCEnumDescriptor *ed, const json_t *v, int *dst)
{
	char name[REST_NAME_MAX + 1], names[128];
	char shown[SHOWN_KEY_MAX + 4];
	const char *s;
	size_t n, i;

	if (json_is_null(v)) {
		*dst = 0;
		return 0;
	}
	rest_names(ed, names, sizeof(names));
	if (!json_is_string(v))
		return fail(c, "expected one of %s", names);
	s = json_string_value(v);
	n = json_string_length(v);
	for (i = 0; i < ed->n_values; i++) {
		size_t k = core_json_enum_rest_name(
		    ed, &ed->values[i], name, sizeof(name));

		if (k > 0 && k == n && memcmp(name, s, n) == 0) {
			*dst = ed->values[i].value;
			return 0;
		}
	}
	show_key(shown, sizeof(shown), s, n);
	if (n == 0 || (n == 11 && memcmp(s, "unspecified", 11) == 0))
		return fail(c,
		    "\"%s\" is no value of %s: leave the member out to give "
		    "none, or give one of %s",
		    shown, ed->short_name, names);
	return fail(c, "unknown value \"%s\" for %s: expected one of %s",
	    shown, ed->short_name, names);
}

static int
parse_enum(
    parse_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v, int *dst)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCEnumValue *ev;
	char shown[SHOWN_KEY_MAX + 4];
	int64_t i = 0;

	if (c->rest)
		return parse_enum_rest(c, ed, v, dst);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		ev = strlen(s) == n
		         ? protobuf_c_enum_descriptor_get_value_by_name(ed, s)
		         : NULL;
		if (ev == NULL) {
			show_key(shown, sizeof(shown), s, n);
			return fail(c, "unknown value \"%s\" for enum %s",
			    shown, ed->name);
		}
		*dst = ev->value;
		return 0;
	}
	if (!json_is_number(v))
		return fail(c, "expected an enum name or number");
	/* proto3 enums are open: any int32 is a valid value. */
	if (get_signed(c, f->type, v, INT32_MIN, INT32_MAX, &i) != 0)
		return -1;
	*dst = (int) i;
	return 0;
}

/* Parses one non-null value of field f's type into dst, the field's storage
 * (a struct member or an element of a repeated array). */
static int
parse_value(parse_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
    void *dst)
{
	int64_t i = 0;
	uint64_t u = 0;
	double d;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (get_signed(c, f->type, v, INT32_MIN, INT32_MAX, &i) != 0)
			return -1;
		*(int32_t *) dst = (int32_t) i;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (get_signed(c, f->type, v, INT64_MIN, INT64_MAX, &i) != 0)
			return -1;
		*(int64_t *) dst = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (get_unsigned(c, f->type, v, UINT32_MAX, &u) != 0)
			return -1;
		*(uint32_t *) dst = (uint32_t) u;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (get_unsigned(c, f->type, v, UINT64_MAX, &u) != 0)
			return -1;
		*(uint64_t *) dst = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		if (get_double(c, f->type, v, &d) != 0)
			return -1;
		*(float *) dst = (float) d;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (get_double(c, f->type, v, &d) != 0)
			return -1;
		*(double *) dst = d;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return fail(c, "expected true or false");
		*(protobuf_c_boolean *) dst = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return parse_enum(c, f, v, dst);
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(v))
			return fail(c, "expected a string");
		return dup_text(
		    c, json_string_value(v), json_string_length(v), dst);
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_is_string(v))
			return fail(c, "expected a base64 string");
		return b64_decode(
		    c, json_string_value(v), json_string_length(v), dst);
	case PROTOBUF_C_TYPE_MESSAGE:
		return parse_submessage(c, f->descriptor, v, dst);
	}
	return fail(c, "unsupported field type");
}

/* Allocates a zeroed array of n elements and hangs it into the message
 * right away, so that free_unpacked() finds it if a later element fails. */
static void *
attach_array(parse_ctx *c, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, size_t n, size_t size)
{
	void *arr;

	if (n > SIZE_MAX / size)
		return NULL;
	if ((arr = pb_alloc(c, n * size)) == NULL)
		return NULL;
	memset(arr, 0, n * size);
	core_pb_repeated_set(m, f, arr, n);
	return arr;
}

static int
parse_repeated(parse_ctx *c, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *v)
{
	size_t n, i, size = core_pb_type_size(f->type), old;
	char *arr;

	if (!json_is_array(v))
		return fail(c, "expected an array");
	if (depth_enter(c) != 0)
		return -1;
	if ((n = json_array_size(v)) > 0) {
		if ((arr = attach_array(c, m, f, n, size)) == NULL)
			return fail_oom(c);
		for (i = 0; i < n; i++) {
			const json_t *e = json_array_get(v, i);

			old = path_push_index(c, i);
			if (json_is_null(e) && !null_element_ok(c, f))
				return fail(
				    c, "null is not allowed in an array");
			if (parse_value(c, f, e, arr + i * size) != 0)
				return -1;
			path_pop(c, old);
		}
	}
	c->depth--;
	return 0;
}

/* Map keys are JSON strings; integer keys must be canonical decimals so
 * that two distinct JSON keys can never name the same map key. */
static int
parse_map_key(parse_ctx *c, const ProtobufCFieldDescriptor *kf,
    const char *key, size_t n, void *dst)
{
	bool neg;
	uint64_t mag;
	int64_t i;
	int rc;

	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		return dup_text(c, key, n, dst);
	case PROTOBUF_C_TYPE_BOOL:
		if (n == 4 && memcmp(key, "true", 4) == 0)
			*(protobuf_c_boolean *) dst = 1;
		else if (n == 5 && memcmp(key, "false", 5) == 0)
			*(protobuf_c_boolean *) dst = 0;
		else
			return fail(
			    c, "map key must be \"true\" or \"false\"");
		return 0;
	default:
		break;
	}
	rc = parse_decimal(key, n, true, &neg, &mag);
	if (rc < 0)
		return fail(
		    c, "map key is not a canonical %s", type_name(kf->type));
	switch (kf->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (rc > 0 || !signed_of(neg, mag, &i) || i < INT32_MIN ||
		    i > INT32_MAX)
			break;
		*(int32_t *) dst = (int32_t) i;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (rc > 0 || !signed_of(neg, mag, &i))
			break;
		*(int64_t *) dst = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (rc > 0 || neg || mag > UINT32_MAX)
			break;
		*(uint32_t *) dst = (uint32_t) mag;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (rc > 0 || neg)
			break;
		*(uint64_t *) dst = mag;
		return 0;
	default:
		return fail(
		    c, "unsupported map key type %s", type_name(kf->type));
	}
	return fail(c, "map key out of range for %s", type_name(kf->type));
}

static int
parse_map(parse_ctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const json_t *v)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0];
	const ProtobufCFieldDescriptor *vf = &ed->fields[1];
	ProtobufCMessage **arr;
	size_t n, i = 0, old;
	void *it;

	if (!json_is_object(v))
		return fail(c, "expected an object");
	if (depth_enter(c) != 0)
		return -1;
	if ((n = json_object_size(v)) > 0) {
		arr = attach_array(c, m, f, n, sizeof(ProtobufCMessage *));
		if (arr == NULL)
			return fail_oom(c);
		for (it = json_object_iter(unconst(v)); it != NULL && i < n;
		     it = json_object_iter_next(unconst(v), it)) {
			const char *key = json_object_iter_key(it);
			size_t kn = json_object_iter_key_len(it);
			const json_t *val = json_object_iter_value(it);
			ProtobufCMessage *e;

			old = path_push_key(c, key, kn);
			if ((e = pb_alloc(c, ed->sizeof_message)) == NULL)
				return fail_oom(c);
			ed->message_init(e);
			arr[i++] = e;
			if (parse_map_key(
			        c, kf, key, kn, core_pb_field_ptr(e, kf)) != 0)
				return -1;
			if (json_is_null(val) && !null_element_ok(c, vf))
				return fail(c, "null is not allowed as a map "
				               "value");
			if (parse_value(
			        c, vf, val, core_pb_field_ptr(e, vf)) != 0)
				return -1;
			path_pop(c, old);
		}
	}
	c->depth--;
	return 0;
}

/* Parses the non-null value of one field into m and records its presence
 * the way protobuf-c does (oneof case, has_ flag, n_ count). */
static int
parse_field(parse_ctx *c, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *v)
{
	uint32_t which;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (core_pb_is_map_field(f))
			return parse_map(c, m, f, v);
		return parse_repeated(c, m, f, v);
	}
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    (which = core_pb_oneof_case(m, f)) != 0 && which != f->id) {
		const ProtobufCFieldDescriptor *o =
		    protobuf_c_message_descriptor_get_field(
		        m->descriptor, which);

		return fail(c, "oneof already set by field \"%s\"",
		    o != NULL ? o->name : "?");
	}
	if (parse_value(c, f, v, core_pb_field_ptr(m, f)) != 0)
		return -1;
	/* Marked only now: free_unpacked() frees the member a oneof case
	 * names, which must hold a complete value by then. */
	core_pb_field_mark_present(m, f);
	return 0;
}

/* Required fields (proto2) without a default must be present, as
 * protobuf_c_message_unpack() demands. */
static int
check_required(
    parse_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *given)
{
	unsigned i;
	size_t old;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->label == PROTOBUF_C_LABEL_REQUIRED && !given[i] &&
		    f->default_value == NULL) {
			old = path_push_name(c, f->name, strlen(f->name));
			fail(c, "missing required field \"%s\"", f->name);
			path_pop(c, old);
			return -1;
		}
	}
	return 0;
}

/* Seen-field flags: key seen (duplicate check) and value given. */
#define SEEN_KEY 1u
#define SEEN_VALUE 2u

static int
fill_fields(
    parse_ctx *c, ProtobufCMessage *m, const json_t *obj, uint8_t *seen)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	void *it;
	char shown[SHOWN_KEY_MAX + 4];

	for (it = json_object_iter(unconst(obj)); it != NULL;
	     it = json_object_iter_next(unconst(obj), it)) {
		const char *key = json_object_iter_key(it);
		size_t kn = json_object_iter_key_len(it);
		const json_t *val = json_object_iter_value(it);
		const ProtobufCFieldDescriptor *f = find_field(c, d, key, kn);
		const ProtobufCFieldDescriptor *alt;
		size_t old, idx;

		if (f == NULL) {
			show_key(shown, sizeof(shown), key, kn);
			path_push_name(c, shown, strlen(shown));
			/* The REST style takes proto names only; say which
			 * one a JSON name stands for. */
			alt = c->rest && strlen(key) == kn
			          ? core_pb_field_find(d, key)
			          : NULL;
			if (alt != NULL)
				return fail(c,
				    "unknown field \"%s\" (the name is \"%s\")",
				    shown, alt->name);
			return fail(c, "unknown field \"%s\"", shown);
		}
		old = path_push_name(c, f->name, strlen(f->name));
		idx = (size_t) (f - d->fields);
		/* jansson already refuses duplicate keys, but the same
		 * field can also arrive under both of its names. */
		if (seen[idx] & SEEN_KEY)
			return fail(c, "duplicate field \"%s\"", f->name);
		seen[idx] |= SEEN_KEY;
		/* null is "not set", except for a Value, whose null is
		 * the value null. */
		if (!json_is_null(val) ||
		    (f->label != PROTOBUF_C_LABEL_REPEATED &&
		        is_value_field(f))) {
			if (parse_field(c, m, f, val) != 0)
				return -1;
			seen[idx] |= SEEN_VALUE;
		}
		path_pop(c, old);
	}
	return 0;
}

static int
parse_object(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *obj, ProtobufCMessage **out)
{
	ProtobufCMessage *m = NULL;
	uint8_t seen_small[64];
	uint8_t *seen = seen_small;
	unsigned i;

	if (!json_is_object(obj))
		return fail(c, "expected an object");
	if (depth_enter(c) != 0)
		return -1;
	if (d->n_fields > sizeof(seen_small) &&
	    (seen = calloc(d->n_fields, 1)) == NULL)
		return fail_oom(c);
	if (seen == seen_small)
		memset(seen_small, 0, sizeof(seen_small));
	if ((m = pb_alloc(c, d->sizeof_message)) == NULL) {
		fail_oom(c);
		goto fail;
	}
	d->message_init(m);
	if (fill_fields(c, m, obj, seen) != 0)
		goto fail;
	for (i = 0; i < d->n_fields; i++)
		seen[i] = (seen[i] & SEEN_VALUE) != 0;
	if (check_required(c, d, seen) != 0)
		goto fail;
	if (seen != seen_small)
		free(seen);
	c->depth--;
	*out = m;
	return 0;

fail:
	/* The message is consistent at every step, so the library's own
	 * destructor releases whatever was built. */
	protobuf_c_message_free_unpacked(m, c->alloc);
	if (seen != seen_small)
		free(seen);
	return -1;
}

static int
resolve_limits(const core_json_limits *limits, size_t *max_bytes, int *depth,
    unsigned *flags)
{
	*max_bytes = CORE_JSON_DEFAULT_MAX_BYTES;
	*depth = CORE_JSON_DEFAULT_MAX_DEPTH;
	*flags = 0;
	if (limits != NULL) {
		if (limits->flags & ~CORE_JSON_REST)
			return -1;
		*flags = limits->flags;
		if (limits->max_bytes != 0)
			*max_bytes = limits->max_bytes;
		if (limits->max_depth < 0)
			return -1;
		if (limits->max_depth != 0)
			*depth = limits->max_depth;
	}
	return 0;
}

static int
value_to_pb(const ProtobufCMessageDescriptor *desc, const json_t *value,
    int max_depth, unsigned flags, ProtobufCAllocator *alloc,
    ProtobufCMessage **out, core_json_error *err)
{
	parse_ctx c;

	memset(&c, 0, sizeof(c));
	c.alloc = alloc;
	c.err = err;
	c.max_depth = max_depth;
	c.rest = (flags & CORE_JSON_REST) != 0;
	if (desc == NULL)
		return fail(&c, "no message type given");
	if (value == NULL || !json_is_object(value))
		return fail(&c, "expected a JSON object");
	/* A Struct at the top is the object itself. */
	if (is_named(desc, STRUCT_NAME))
		return parse_container(&c, desc, value, out);
	return parse_object(&c, desc, value, out);
}

int
core_json_value_to_pb(const ProtobufCMessageDescriptor *desc,
    const json_t *value, const core_json_limits *limits,
    ProtobufCAllocator *alloc, ProtobufCMessage **out, core_json_error *err)
{
	core_json_error scratch;
	size_t max_bytes;
	int max_depth;
	unsigned flags;

	if (err == NULL)
		err = &scratch;
	if (resolve_limits(limits, &max_bytes, &max_depth, &flags) != 0) {
		memset(err, 0, sizeof(*err));
		snprintf(err->message, sizeof(err->message), "invalid limits");
		return -1;
	}
	return value_to_pb(desc, value, max_depth, flags, alloc, out, err);
}

/* Finds where text first nests deeper than max_depth, before jansson
 * builds a tree for it: bounds the parser's memory by the limit and gives
 * the position of the offending bracket. */
static bool
too_deep(const char *text, size_t len, int max_depth, size_t *at)
{
	bool in_str = false, esc = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char ch = text[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > max_depth) {
				*at = i;
				return true;
			}
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return false;
}

static void
syntax_error(core_json_error *err, const char *msg, int line, int column,
    size_t position)
{
	memset(err, 0, sizeof(*err));
	snprintf(err->message, sizeof(err->message), "%s", msg);
	err->line = line;
	err->column = column;
	err->position = position;
}

/* The nesting error of the pre-scan, placed where jansson would place it:
 * lines from 1, columns in characters from 1, position just past the
 * bracket. */
static void
depth_error(core_json_error *err, const char *text, size_t at, int max_depth)
{
	char msg[sizeof(err->message)];
	int line = 1, col = 1;
	size_t i;

	for (i = 0; i < at; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char) text[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	snprintf(msg, sizeof(msg), "nesting deeper than %d levels", max_depth);
	syntax_error(err, msg, line, col, at + 1);
}

int
core_json_to_pb(const ProtobufCMessageDescriptor *desc, const char *text,
    size_t len, const core_json_limits *limits, ProtobufCAllocator *alloc,
    ProtobufCMessage **out, core_json_error *err)
{
	core_json_error scratch;
	json_error_t jerr;
	json_t *root;
	size_t max_bytes, at;
	int max_depth, rc;
	unsigned flags;
	char msg[sizeof(err->message)];

	if (err == NULL)
		err = &scratch;
	if (resolve_limits(limits, &max_bytes, &max_depth, &flags) != 0) {
		syntax_error(err, "invalid limits", 0, 0, 0);
		return -1;
	}
	if (text == NULL && len > 0) {
		syntax_error(err, "no input text", 0, 0, 0);
		return -1;
	}
	if (len > max_bytes) {
		snprintf(msg, sizeof(msg), "input larger than %zu bytes",
		    max_bytes);
		syntax_error(err, msg, 0, 0, 0);
		return -1;
	}
	if (too_deep(text, len, max_depth, &at)) {
		depth_error(err, text, at, max_depth);
		return -1;
	}
	/* JSON_DECODE_ANY so that a scalar at the top gets our "expected a
	 * JSON object" rather than jansson's wording. */
	root = json_loadb(text != NULL ? text : "", len,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		/* jansson's wording is fine for clients except where it
		 * names its own flag or speaks of decoding. */
		syntax_error(err,
		    strstr(jerr.text, "JSON_ALLOW_NUL") != NULL
		        ? "\\u0000 is not allowed in strings"
		    : strstr(jerr.text, "unable to decode byte") != NULL
		        ? "the text is not valid UTF-8"
		        : jerr.text,
		    jerr.line, jerr.column, (size_t) jerr.position);
		return -1;
	}
	rc = value_to_pb(desc, root, max_depth, flags, alloc, out, err);
	json_decref(root);
	return rc;
}

/* --- protobuf -> JSON --------------------------------------------------- */

/* A jansson string from a protobuf string. protobuf-c does not validate
 * UTF-8 when unpacking, and jansson refuses invalid text; rather than fail
 * the whole rendering, each bad byte becomes U+FFFD. */
static json_t *
text_to_json(const char *s, size_t n, char **scratch)
{
	const unsigned char *p = (const unsigned char *) s;
	char *buf;
	size_t i = 0, o = 0, k;

	*scratch = NULL;
	if (core_utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	if (n > (SIZE_MAX - 1) / 3 || (buf = malloc(n * 3 + 1)) == NULL)
		return NULL;
	while (i < n) {
		if ((k = core_utf8_seq_len(p + i, n - i)) == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, p + i, k);
			o += k;
			i += k;
		}
	}
	buf[o] = '\0';
	*scratch = buf;
	return json_stringn_nocheck(buf, o);
}

static json_t *
string_to_json(const char *s)
{
	char *scratch;
	json_t *v;

	if (s == NULL)
		s = "";
	v = text_to_json(s, strlen(s), &scratch);
	free(scratch);
	return v;
}

/* jansson cannot encode NaN or infinities; proto3 JSON spells them as
 * strings. */
static json_t *
real_to_json(double d)
{
	if (isnan(d))
		return json_string_nocheck("NaN");
	if (isinf(d))
		return json_string_nocheck(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

static json_t *
int64_to_json(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string_nocheck(buf);
}

static json_t *
uint64_to_json(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string_nocheck(buf);
}

static json_t *message_to_json(const ProtobufCMessage *m, unsigned flags);
static json_t *array_to_json(const ProtobufCFieldDescriptor *f,
    const char *arr, size_t n, unsigned flags);
static json_t *map_to_json(const ProtobufCFieldDescriptor *f,
    ProtobufCMessage *const *entries, size_t n, unsigned flags);

/* The repeated field called name of a Struct or ListValue m (its map
 * "fields", its "values"), as the JSON object or array it stands for;
 * NULL when m is not the shape the codec knows. */
static json_t *
container_to_json(const ProtobufCMessage *m, const char *name, unsigned flags)
{
	const ProtobufCFieldDescriptor *f =
	    wkt_field(m->descriptor, name, PROTOBUF_C_TYPE_MESSAGE, true);
	const void *arr;
	size_t n;

	if (f == NULL)
		return NULL;
	n = core_pb_repeated_count(m, f);
	arr = *(const void *const *) core_pb_field_cptr(m, f);
	if (strcmp(name, "fields") == 0)
		return core_pb_is_map_field(f) ? map_to_json(f, arr, n, flags)
		                               : NULL;
	return array_to_json(f, arr, n, flags);
}

/* A Value's number: integral ones as integers (a count stays 3, not
 * 3.0); NaN and infinities, which JSON cannot hold, as null. */
static json_t *
json_number_to_json(double d)
{
	if (!isfinite(d))
		return json_null();
	if (d == floor(d) && fabs(d) < 9007199254740992.0) /* 2^53 */
		return json_integer((json_int_t) d);
	return json_real(d);
}

/* A google.protobuf.Value: the JSON value its set "kind" member holds;
 * null for null_value and for a Value with no kind set. */
static json_t *
json_value_to_json(const ProtobufCMessage *m, unsigned flags)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned i;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *member = core_pb_field_cptr(m, f);

		if (f->label == PROTOBUF_C_LABEL_REPEATED ||
		    !core_pb_field_present(m, f))
			continue;
		if (f->type == PROTOBUF_C_TYPE_ENUM)
			return json_null();
		if (f->type == PROTOBUF_C_TYPE_DOUBLE)
			return json_number_to_json(*(const double *) member);
		return value_to_json(f, member, flags);
	}
	return json_null();
}

static json_t *
submessage_to_json(const ProtobufCMessageDescriptor *d,
    const ProtobufCMessage *m, unsigned flags)
{
	json_t *v;

	/* A NULL element (only reachable in hand-built messages) is
	 * rendered as the empty message, as protobuf-c would pack it. */
	if (m == NULL) {
		if (is_timestamp(d))
			return json_string_nocheck("1970-01-01T00:00:00Z");
		if (is_named(d, VALUE_NAME))
			return json_null();
		if (is_named(d, LIST_VALUE_NAME))
			return json_array();
		return json_object();
	}
	if (is_timestamp(d) && (v = timestamp_to_json(m)) != NULL)
		return v;
	if (is_named(d, STRUCT_NAME) &&
	    (v = container_to_json(m, "fields", flags)) != NULL)
		return v;
	if (is_named(d, LIST_VALUE_NAME) &&
	    (v = container_to_json(m, "values", flags)) != NULL)
		return v;
	if (is_named(d, VALUE_NAME))
		return json_value_to_json(m, flags);
	return message_to_json(m, flags);
}

/* An enum value in the REST style: its short name; null for the zero
 * *_UNSPECIFIED value and numbers the enum does not name, which have no
 * REST name. */
static json_t *
enum_rest_to_json(const ProtobufCEnumDescriptor *ed, int value)
{
	const ProtobufCEnumValue *ev =
	    protobuf_c_enum_descriptor_get_value(ed, value);
	char name[REST_NAME_MAX + 1];

	if (ev == NULL ||
	    core_json_enum_rest_name(ed, ev, name, sizeof(name)) == 0)
		return json_null();
	return json_string(name);
}

static json_t *
value_to_json(
    const ProtobufCFieldDescriptor *f, const void *member, unsigned flags)
{
	const ProtobufCEnumValue *ev;
	const ProtobufCBinaryData *bd;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *) member);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *) member);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return int64_to_json(*(const int64_t *) member);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return uint64_to_json(*(const uint64_t *) member);
	case PROTOBUF_C_TYPE_FLOAT:
		return real_to_json(*(const float *) member);
	case PROTOBUF_C_TYPE_DOUBLE:
		return real_to_json(*(const double *) member);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *) member);
	case PROTOBUF_C_TYPE_ENUM:
		if (flags & CORE_JSON_REST)
			return enum_rest_to_json(
			    f->descriptor, *(const int *) member);
		ev = protobuf_c_enum_descriptor_get_value(
		    f->descriptor, *(const int *) member);
		if (ev == NULL)
			return json_integer(*(const int *) member);
		return json_string_nocheck(ev->name);
	case PROTOBUF_C_TYPE_STRING:
		return string_to_json(*(char *const *) member);
	case PROTOBUF_C_TYPE_BYTES:
		bd = member;
		return b64_encode(bd->data, bd->len);
	case PROTOBUF_C_TYPE_MESSAGE:
		return submessage_to_json(
		    f->descriptor, *(ProtobufCMessage *const *) member, flags);
	}
	return NULL;
}

static json_t *
array_to_json(const ProtobufCFieldDescriptor *f, const char *arr, size_t n,
    unsigned flags)
{
	size_t size = core_pb_type_size(f->type), i;
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(
		        a, value_to_json(f, arr + i * size, flags))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
map_to_json(const ProtobufCFieldDescriptor *f,
    ProtobufCMessage *const *entries, size_t n, unsigned flags)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0];
	const ProtobufCFieldDescriptor *vf = &ed->fields[1];
	json_t *obj = json_object();
	size_t i;

	if (obj == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];
		const void *k;
		json_t *kv, *vv;
		int rc;

		if (e == NULL)
			continue;
		k = core_pb_field_cptr(e, kf);
		/* Keys are rendered with the value rules (64-bit integers
		 * are strings already), then used as the key text. */
		if (kf->type == PROTOBUF_C_TYPE_BOOL)
			kv = json_string_nocheck(
			    *(const protobuf_c_boolean *) k ? "true"
			                                    : "false");
		else if (kf->type == PROTOBUF_C_TYPE_STRING)
			kv = string_to_json(*(char *const *) k);
		else if (kf->type == PROTOBUF_C_TYPE_INT32 ||
		         kf->type == PROTOBUF_C_TYPE_SINT32 ||
		         kf->type == PROTOBUF_C_TYPE_SFIXED32)
			kv = int64_to_json(*(const int32_t *) k);
		else if (kf->type == PROTOBUF_C_TYPE_UINT32 ||
		         kf->type == PROTOBUF_C_TYPE_FIXED32)
			kv = uint64_to_json(*(const uint32_t *) k);
		else
			kv = value_to_json(kf, k, flags);
		vv = value_to_json(vf, core_pb_field_cptr(e, vf), flags);
		if (kv == NULL || vv == NULL || !json_is_string(kv)) {
			json_decref(kv);
			json_decref(vv);
			json_decref(obj);
			return NULL;
		}
		/* A repeated key (possible in unpacked wire data) keeps the
		 * last value, as protobuf's map semantics say. */
		rc = json_object_setn_new_nocheck(
		    obj, json_string_value(kv), json_string_length(kv), vv);
		json_decref(kv);
		if (rc != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static json_t *
field_to_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    unsigned flags)
{
	const void *member = core_pb_field_cptr(m, f);

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = core_pb_repeated_count(m, f);
		const void *arr = *(const void *const *) member;

		if (core_pb_is_map_field(f))
			return map_to_json(f, arr, n, flags);
		return array_to_json(f, arr, n, flags);
	}
	return value_to_json(f, member, flags);
}

/* An absent field in the REST style, where every member is written: an
 * unset message as null; anything else as its default ("", 0, false, [],
 * {}), which its storage holds. */
static json_t *
absent_to_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED &&
	    f->type == PROTOBUF_C_TYPE_MESSAGE)
		return json_null();
	return field_to_json(m, f, CORE_JSON_REST);
}

static json_t *
message_to_json(const ProtobufCMessage *m, unsigned flags)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *obj = json_object();
	unsigned i;

	if (obj == NULL)
		return NULL;
	/* Descriptor order is field-number order, which is the order the
	 * keys are inserted and therefore dumped. */
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v;

		/* Presence by protobuf_c_message_pack()'s rules, so that
		 * JSON carries exactly what the wire would. The REST style
		 * writes absent fields too, except the members of a oneof
		 * that is not set (or set to a sibling). */
		if (core_pb_field_present(m, f))
			v = field_to_json(m, f, flags);
		else if ((flags & CORE_JSON_REST) &&
		         !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			v = absent_to_json(m, f);
		else
			continue;
		if (json_object_set_new_nocheck(obj, f->name, v) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

json_t *
core_pb_to_json_value(const ProtobufCMessage *msg)
{
	return core_pb_to_json_value_flags(msg, 0);
}

json_t *
core_pb_to_json_value_flags(const ProtobufCMessage *msg, unsigned flags)
{
	if (msg == NULL)
		return NULL;
	/* A Struct at the top is the object itself. */
	if (is_named(msg->descriptor, STRUCT_NAME))
		return submessage_to_json(msg->descriptor, msg, flags);
	return message_to_json(msg, flags);
}

size_t
core_json_enum_rest_name(const ProtobufCEnumDescriptor *d,
    const ProtobufCEnumValue *v, char *out, size_t outlen)
{
	char prefix[128];
	size_t np = 0, n;
	const char *name = v->name;
	static const char unspecified[] = "_UNSPECIFIED";
	size_t nu = sizeof(unspecified) - 1;

	if (outlen > 0)
		out[0] = '\0';
	n = strlen(name);
	if (v->value == 0 && n >= nu &&
	    strcmp(name + n - nu, unspecified) == 0)
		return 0;
	/* UserStatus -> USER_STATUS_: an underscore before each capital
	 * that follows a lower-case letter or digit. */
	for (const char *p = d->short_name; *p != '\0'; p++) {
		char ch = *p;
		bool upper = ch >= 'A' && ch <= 'Z';
		bool after =
		    p > d->short_name && ((p[-1] >= 'a' && p[-1] <= 'z') ||
		                             (p[-1] >= '0' && p[-1] <= '9'));
		if (np + 3 > sizeof(prefix))
			return 0;
		if (upper && after)
			prefix[np++] = '_';
		prefix[np++] = (char) (ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
	}
	prefix[np++] = '_';
	if (n > np && strncmp(name, prefix, np) == 0) {
		name += np;
		n -= np;
	}
	if (n + 1 > outlen)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		out[i] = (char) (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	out[n] = '\0';
	return n;
}

typedef struct dump_buf {
	char *p;
	size_t len, cap;
} dump_buf;

static int
dump_cb(const char *s, size_t n, void *data)
{
	dump_buf *b = data;

	if (n >= b->cap - b->len) {
		size_t cap = b->cap * 2;
		char *p;

		while (n >= cap - b->len) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		if ((p = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

char *
core_pb_to_json(const ProtobufCMessage *msg, unsigned flags, size_t *len)
{
	json_t *v = NULL;
	dump_buf b = {NULL, 0, 256};
	size_t jflags = JSON_PRESERVE_ORDER;

	jflags |= (flags & CORE_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
	if ((v = core_pb_to_json_value_flags(msg, flags & CORE_JSON_REST)) ==
	    NULL)
		goto fail;
	/* Dumped through our own buffer rather than json_dumps(): the
	 * contract says free(), and jansson's allocator may be replaced. */
	if ((b.p = malloc(b.cap)) == NULL)
		goto fail;
	b.p[0] = '\0';
	if (json_dump_callback(v, dump_cb, &b, jflags) != 0)
		goto fail;
	json_decref(v);
	if (len != NULL)
		*len = b.len;
	return b.p;

fail:
	free(b.p);
	json_decref(v);
	return NULL;
}
