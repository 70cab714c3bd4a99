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

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#define TIMESTAMP_NAME "google.protobuf.Timestamp"
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the RFC 3339 range. */
#define TS_MIN_SECONDS INT64_C(-62135596800)
#define TS_MAX_SECONDS INT64_C(253402300799)
/* Keys echoed in paths and messages are cut to this many bytes. */
#define SHOWN_KEY_MAX 64

typedef struct parse_ctx {
	ProtobufCAllocator *alloc; /* NULL = malloc/free, as protobuf-c's */
	core_json_error *err;
	int max_depth;
	int depth;
	size_t path_len;
	char path[sizeof(((core_json_error *)0)->field)];
} parse_ctx;

static int parse_value(parse_ctx *c, const ProtobufCFieldDescriptor *f,
    const json_t *v, void *dst);
static json_t *value_to_json(
    const ProtobufCFieldDescriptor *f, const void *member);

/* --- small helpers ------------------------------------------------------ */

/* jansson's object iteration takes a non-const json_t although it does not
 * modify it; the public API promises const, so the cast lives here once. */
static json_t *
unconst(const json_t *v)
{
	return (json_t *)(uintptr_t)v;
}

static void *
member_at(void *msg, unsigned offset)
{
	return (char *)msg + offset;
}

static const void *
cmember_at(const void *msg, unsigned offset)
{
	return (const char *)msg + offset;
}

static bool
is_timestamp(const ProtobufCMessageDescriptor *d)
{
	return d != NULL && strcmp(d->name, TIMESTAMP_NAME) == 0;
}

/* protobuf-c has no map type: map<K,V> is a repeated field of a generated
 * "<Name>Entry" message with key = 1 and value = 2. */
static bool
is_map_field(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n;

	if (f->label != PROTOBUF_C_LABEL_REPEATED ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE || d == NULL ||
	    d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2)
		return false;
	n = strlen(d->short_name);
	return n >= 5 && strcmp(d->short_name + n - 5, "Entry") == 0;
}

size_t
core_pb_type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(int32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static const char *
type_name(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
		return "int32";
	case PROTOBUF_C_TYPE_SINT32:
		return "sint32";
	case PROTOBUF_C_TYPE_SFIXED32:
		return "sfixed32";
	case PROTOBUF_C_TYPE_INT64:
		return "int64";
	case PROTOBUF_C_TYPE_SINT64:
		return "sint64";
	case PROTOBUF_C_TYPE_SFIXED64:
		return "sfixed64";
	case PROTOBUF_C_TYPE_UINT32:
		return "uint32";
	case PROTOBUF_C_TYPE_FIXED32:
		return "fixed32";
	case PROTOBUF_C_TYPE_UINT64:
		return "uint64";
	case PROTOBUF_C_TYPE_FIXED64:
		return "fixed64";
	case PROTOBUF_C_TYPE_FLOAT:
		return "float";
	case PROTOBUF_C_TYPE_DOUBLE:
		return "double";
	case PROTOBUF_C_TYPE_BOOL:
		return "bool";
	case PROTOBUF_C_TYPE_ENUM:
		return "enum";
	case PROTOBUF_C_TYPE_STRING:
		return "string";
	case PROTOBUF_C_TYPE_BYTES:
		return "bytes";
	case PROTOBUF_C_TYPE_MESSAGE:
		return "message";
	}
	return "value";
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0.
 * Strict: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, cp = s[0] & 0x1fu, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0fu, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, cp = s[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool
utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if ((k = utf8_seq(p + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

/* Renders an input key for display in a path or message: at most
 * SHOWN_KEY_MAX bytes, cut on a character boundary ("..." marks the cut),
 * with '"' and '\' escaped and control bytes or invalid UTF-8 shown as '?',
 * so that whatever a client sent is safe to echo back to it. */
static void
show_key(char *out, size_t size, const char *key, size_t n)
{
	const unsigned char *p = (const unsigned char *)key;
	size_t o = 0, i = 0, k;
	size_t cap = size - 4; /* room for "..." and NUL */

	if (cap > SHOWN_KEY_MAX)
		cap = SHOWN_KEY_MAX;
	while (i < n) {
		k = utf8_seq(p + i, n - i);
		if (k == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			if (o + 1 > cap)
				break;
			out[o++] = '?';
			i++;
		} else if (p[i] == '"' || p[i] == '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = '\\';
			out[o++] = (char)p[i++];
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

		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
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

	path_put(c, buf, (size_t)n);
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
		d = (unsigned)(s[i] - '0');
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
		if (mag > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX + 1)
			return false;
		*out =
		    mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	}
	return true;
}

static int
get_signed(parse_ctx *c, ProtobufCType t, const json_t *v, int64_t min,
    int64_t max, int64_t *out)
{
	int64_t i;
	double d;
	bool neg;
	uint64_t mag;
	int rc;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		i = json_integer_value(v);
		break;
	case JSON_REAL:
		d = json_real_value(v);
		if (!isfinite(d) || d != floor(d))
			return fail(
			    c, "expected an integer for %s", type_name(t));
		/* 2^63 is exact in a double; anything at or past it (or
		 * below -2^63) would overflow the conversion. */
		if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
			return fail(
			    c, "value out of range for %s", type_name(t));
		i = (int64_t)d;
		break;
	case JSON_STRING:
		rc = parse_decimal(json_string_value(v), json_string_length(v),
		    false, &neg, &mag);
		if (rc < 0)
			return fail(
			    c, "expected an integer for %s", type_name(t));
		if (rc > 0 || !signed_of(neg, mag, &i))
			return fail(
			    c, "value out of range for %s", type_name(t));
		break;
	default:
		return fail(c, "expected an integer for %s", type_name(t));
	}
	if (i < min || i > max)
		return fail(c, "value out of range for %s", type_name(t));
	*out = i;
	return 0;
}

static int
get_unsigned(parse_ctx *c, ProtobufCType t, const json_t *v, uint64_t max,
    uint64_t *out)
{
	uint64_t u;
	double d;
	bool neg;
	int rc;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		if (json_integer_value(v) < 0)
			return fail(
			    c, "value out of range for %s", type_name(t));
		u = (uint64_t)json_integer_value(v);
		break;
	case JSON_REAL:
		d = json_real_value(v);
		if (!isfinite(d) || d != floor(d))
			return fail(
			    c, "expected an integer for %s", type_name(t));
		if (d < 0 || d >= 18446744073709551616.0)
			return fail(
			    c, "value out of range for %s", type_name(t));
		u = (uint64_t)d;
		break;
	case JSON_STRING:
		rc = parse_decimal(json_string_value(v), json_string_length(v),
		    false, &neg, &u);
		if (rc < 0)
			return fail(
			    c, "expected an integer for %s", type_name(t));
		if (rc > 0 || (neg && u != 0))
			return fail(
			    c, "value out of range for %s", type_name(t));
		break;
	default:
		return fail(c, "expected an integer for %s", type_name(t));
	}
	if (u > max)
		return fail(c, "value out of range for %s", type_name(t));
	*out = u;
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
		d = (double)json_integer_value(v);
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
	if (!utf8_valid(s, n))
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

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of one base64 digit of either alphabet, or -1. *alpha remembers
 * which alphabet the text uses (1 standard, 2 URL-safe) so that a mix of
 * both is refused. */
static int
b64_digit(unsigned char ch, int *alpha)
{
	int a = 0, v;

	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '/')
		a = 1, v = ch == '+' ? 62 : 63;
	else if (ch == '-' || ch == '_')
		a = 2, v = ch == '-' ? 62 : 63;
	else
		return -1;
	if (*alpha != 0 && *alpha != a)
		return -1;
	*alpha = a;
	return v;
}

/* Decodes standard or URL-safe base64, padded or not, into freshly
 * allocated exact-size memory (NULL for empty, as protobuf-c unpacks). */
static int
b64_decode(parse_ctx *c, const char *s, size_t n, ProtobufCBinaryData *bd)
{
	size_t pad = 0, body, len, i, o = 0;
	uint32_t acc = 0;
	int bits = 0, alpha = 0, d;
	uint8_t *out = NULL;

	if (n > 0 && s[n - 1] == '=')
		pad = (n > 1 && s[n - 2] == '=') ? 2 : 1;
	body = n - pad;
	if (body % 4 == 1 || (pad > 0 && (n % 4 != 0)))
		return fail(c, "invalid base64");
	len = body / 4 * 3 + (body % 4 == 0 ? 0 : body % 4 - 1);
	if (len == 0) {
		/* Only "" gets here (a lone digit was refused above). */
		bd->data = NULL;
		bd->len = 0;
		return 0;
	}
	if ((out = pb_alloc(c, len)) == NULL)
		return fail_oom(c);
	for (i = 0; i < body; i++) {
		if ((d = b64_digit((unsigned char)s[i], &alpha)) < 0) {
			pb_free(c, out);
			return fail(c, "invalid base64");
		}
		acc = ((acc << 6) | (uint32_t)d) & 0xffffffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	bd->data = out;
	bd->len = len;
	return 0;
}

static json_t *
b64_encode(const uint8_t *p, size_t n)
{
	size_t olen, i, o = 0;
	char *buf;
	json_t *s;

	if (n > (SIZE_MAX / 4 - 1) * 3)
		return NULL;
	olen = (n + 2) / 3 * 4;
	if ((buf = malloc(olen + 1)) == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		buf[o++] = b64_std[v >> 18];
		buf[o++] = b64_std[(v >> 12) & 63];
		buf[o++] = b64_std[(v >> 6) & 63];
		buf[o++] = b64_std[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		buf[o++] = b64_std[v >> 18];
		buf[o++] = b64_std[(v >> 12) & 63];
		buf[o++] = (char)(i + 1 < n ? b64_std[(v >> 6) & 63] : '=');
		buf[o++] = '=';
	}
	s = json_stringn_nocheck(buf, o);
	free(buf);
	return s;
}

/* --- timestamps --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); plain arithmetic, so no TZ or timegm() involved. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
	static const unsigned char days[12] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at s[*i]. */
static bool
digits(const char *s, size_t len, size_t *i, size_t n, unsigned *out)
{
	unsigned v = 0;
	size_t k;

	if (len - *i < n)
		return false;
	for (k = 0; k < n; k++) {
		char ch = s[*i + k];

		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (unsigned)(ch - '0');
	}
	*i += n;
	*out = v;
	return true;
}

static bool
expect(const char *s, size_t len, size_t *i, char a, char b)
{
	if (*i >= len || (s[*i] != a && s[*i] != b))
		return false;
	(*i)++;
	return true;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|(+|-)HH:MM).
 * Returns 0, -1 if malformed, 1 if outside years 0001..9999 (UTC). */
static int
parse_rfc3339(const char *s, size_t len, int64_t *secs, int32_t *nanos)
{
	unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, oh = 0, om = 0,
	    frac = 0, scale;
	size_t i = 0, nd = 0;
	int64_t t, off = 0;

	if (!digits(s, len, &i, 4, &y) || !expect(s, len, &i, '-', '-') ||
	    !digits(s, len, &i, 2, &mo) || !expect(s, len, &i, '-', '-') ||
	    !digits(s, len, &i, 2, &d) || !expect(s, len, &i, 'T', 't') ||
	    !digits(s, len, &i, 2, &h) || !expect(s, len, &i, ':', ':') ||
	    !digits(s, len, &i, 2, &mi) || !expect(s, len, &i, ':', ':') ||
	    !digits(s, len, &i, 2, &se))
		return -1;
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (++nd > 9)
				return -1;
			frac = frac * 10 + (unsigned)(s[i] - '0');
		}
		if (nd == 0)
			return -1;
		for (scale = (unsigned)nd; scale < 9; scale++)
			frac *= 10;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i++] == '-' ? -1 : 1;

		if (!digits(s, len, &i, 2, &oh) ||
		    !expect(s, len, &i, ':', ':') ||
		    !digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (int64_t)(oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (i != len || y < 1 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
	    (int64_t)mi * 60 + se - off;
	if (t < TS_MIN_SECONDS || t > TS_MAX_SECONDS)
		return 1;
	*secs = t;
	*nanos = (int32_t)frac;
	return 0;
}

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
	rc = parse_rfc3339(
	    json_string_value(v), json_string_length(v), &secs, &nanos);
	if (rc < 0)
		return fail(c, "invalid RFC 3339 timestamp");
	if (rc > 0)
		return fail(c, "timestamp out of range");
	if ((m = pb_alloc(c, d->sizeof_message)) == NULL)
		return fail_oom(c);
	d->message_init(m);
	*(int64_t *)member_at(m, sf->offset) = secs;
	*(int32_t *)member_at(m, nf->offset) = nanos;
	*out = m;
	return 0;
}

/* NULL when the value cannot be written as RFC 3339. */
static json_t *
timestamp_to_json(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *sf, *nf;
	int64_t secs, days, rem, y;
	int32_t nanos = 0;
	unsigned mo, d;
	char buf[48], frac[12] = "";

	if (!ts_fields(m->descriptor, &sf, &nf))
		return NULL;
	secs = *(const int64_t *)cmember_at(m, sf->offset);
	nanos = *(const int32_t *)cmember_at(m, nf->offset);
	if (secs < TS_MIN_SECONDS || secs > TS_MAX_SECONDS || nanos < 0 ||
	    nanos > 999999999)
		return NULL;
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &mo, &d);
	/* As protobuf prints it: 0, 3, 6 or 9 fractional digits. */
	if (nanos == 0)
		frac[0] = '\0';
	else if (nanos % 1000000 == 0)
		snprintf(frac, sizeof(frac), ".%03" PRId32, nanos / 1000000);
	else if (nanos % 1000 == 0)
		snprintf(frac, sizeof(frac), ".%06" PRId32, nanos / 1000);
	else
		snprintf(frac, sizeof(frac), ".%09" PRId32, nanos);
	snprintf(buf, sizeof(buf), "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u%sZ",
	    y, mo, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
	    (unsigned)(rem % 60), frac);
	return json_string_nocheck(buf);
}

/* --- JSON -> protobuf --------------------------------------------------- */

/* True if key is the lowerCamelCase JSON name protoc derives from name:
 * every '_' is dropped and the letter after it upper-cased. */
static bool
json_name_equals(const char *name, const char *key)
{
	bool up = false;

	for (; *name != '\0'; name++) {
		char ch = *name;

		if (ch == '_') {
			up = true;
			continue;
		}
		if (up && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		up = false;
		if (*key++ != ch)
			return false;
	}
	return *key == '\0';
}

static const ProtobufCFieldDescriptor *
find_field(const ProtobufCMessageDescriptor *d, const char *key, size_t n)
{
	const ProtobufCFieldDescriptor *f;
	unsigned i;

	if (strlen(key) != n)
		return NULL; /* a key with a NUL in it names no field */
	if ((f = protobuf_c_message_descriptor_get_field_by_name(d, key)))
		return f;
	for (i = 0; i < d->n_fields; i++) {
		if (json_name_equals(d->fields[i].name, key))
			return &d->fields[i];
	}
	return NULL;
}

static int parse_object(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *obj, ProtobufCMessage **out);

/* A message-typed value: an object, or a string for a Timestamp. */
static int
parse_submessage(parse_ctx *c, const ProtobufCMessageDescriptor *d,
    const json_t *v, ProtobufCMessage **out)
{
	if (is_timestamp(d))
		return parse_timestamp(c, d, v, out);
	return parse_object(c, d, v, out);
}

static int
parse_enum(
    parse_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v, int *dst)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCEnumValue *ev;
	char shown[SHOWN_KEY_MAX + 4];
	int64_t i = 0;

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
	*dst = (int)i;
	return 0;
}

/* Parses one non-null value of field f's type into dst, the field's storage
 * (a struct member or an element of a repeated array). */
static int
parse_value(parse_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
    void *dst)
{
	int64_t i = 0;
	uint64_t u;
	double d;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (get_signed(c, f->type, v, INT32_MIN, INT32_MAX, &i) != 0)
			return -1;
		*(int32_t *)dst = (int32_t)i;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (get_signed(c, f->type, v, INT64_MIN, INT64_MAX, &i) != 0)
			return -1;
		*(int64_t *)dst = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (get_unsigned(c, f->type, v, UINT32_MAX, &u) != 0)
			return -1;
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (get_unsigned(c, f->type, v, UINT64_MAX, &u) != 0)
			return -1;
		*(uint64_t *)dst = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		if (get_double(c, f->type, v, &d) != 0)
			return -1;
		*(float *)dst = (float)d;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (get_double(c, f->type, v, &d) != 0)
			return -1;
		*(double *)dst = d;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return fail(c, "expected true or false");
		*(protobuf_c_boolean *)dst = json_is_true(v);
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
	*(size_t *)member_at(m, f->quantifier_offset) = n;
	*(void **)member_at(m, f->offset) = arr;
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
			if (json_is_null(e))
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
			*(protobuf_c_boolean *)dst = 1;
		else if (n == 5 && memcmp(key, "false", 5) == 0)
			*(protobuf_c_boolean *)dst = 0;
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
		*(int32_t *)dst = (int32_t)i;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (rc > 0 || !signed_of(neg, mag, &i))
			break;
		*(int64_t *)dst = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (rc > 0 || neg || mag > UINT32_MAX)
			break;
		*(uint32_t *)dst = (uint32_t)mag;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (rc > 0 || neg)
			break;
		*(uint64_t *)dst = mag;
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
			        c, kf, key, kn, member_at(e, kf->offset)) != 0)
				return -1;
			if (json_is_null(val))
				return fail(c, "null is not allowed as a map "
				               "value");
			if (parse_value(
			        c, vf, val, member_at(e, vf->offset)) != 0)
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
	void *dst = member_at(m, f->offset);

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (is_map_field(f))
			return parse_map(c, m, f, v);
		return parse_repeated(c, m, f, v);
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *which = member_at(m, f->quantifier_offset);

		if (*which != 0 && *which != f->id) {
			const ProtobufCFieldDescriptor *o =
			    protobuf_c_message_descriptor_get_field(
			        m->descriptor, *which);

			return fail(c, "oneof already set by field \"%s\"",
			    o != NULL ? o->name : "?");
		}
		if (parse_value(c, f, v, dst) != 0)
			return -1;
		/* Set only now: free_unpacked() frees the member the case
		 * names, which must hold a complete value by then. */
		*which = f->id;
		return 0;
	}
	if (parse_value(c, f, v, dst) != 0)
		return -1;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	    f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)member_at(m, f->quantifier_offset) = 1;
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
		const ProtobufCFieldDescriptor *f = find_field(d, key, kn);
		size_t old, idx;

		if (f == NULL) {
			show_key(shown, sizeof(shown), key, kn);
			path_push_name(c, shown, strlen(shown));
			return fail(c, "unknown field \"%s\"", shown);
		}
		old = path_push_name(c, f->name, strlen(f->name));
		idx = (size_t)(f - d->fields);
		/* jansson already refuses duplicate keys, but the same
		 * field can also arrive under both of its names. */
		if (seen[idx] & SEEN_KEY)
			return fail(c, "duplicate field \"%s\"", f->name);
		seen[idx] |= SEEN_KEY;
		if (!json_is_null(val)) {
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
resolve_limits(const core_json_limits *limits, size_t *max_bytes, int *depth)
{
	*max_bytes = CORE_JSON_DEFAULT_MAX_BYTES;
	*depth = CORE_JSON_DEFAULT_MAX_DEPTH;
	if (limits != NULL) {
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
    int max_depth, ProtobufCAllocator *alloc, ProtobufCMessage **out,
    core_json_error *err)
{
	parse_ctx c;

	memset(&c, 0, sizeof(c));
	c.alloc = alloc;
	c.err = err;
	c.max_depth = max_depth;
	if (desc == NULL)
		return fail(&c, "no message type given");
	if (value == NULL || !json_is_object(value))
		return fail(&c, "expected a JSON object");
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

	if (err == NULL)
		err = &scratch;
	if (resolve_limits(limits, &max_bytes, &max_depth) != 0) {
		memset(err, 0, sizeof(*err));
		snprintf(err->message, sizeof(err->message), "invalid limits");
		return -1;
	}
	return value_to_pb(desc, value, max_depth, alloc, out, err);
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
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
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
	char msg[sizeof(err->message)];

	if (err == NULL)
		err = &scratch;
	if (resolve_limits(limits, &max_bytes, &max_depth) != 0) {
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
		    jerr.line, jerr.column, (size_t)jerr.position);
		return -1;
	}
	rc = value_to_pb(desc, root, max_depth, alloc, out, err);
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
	const unsigned char *p = (const unsigned char *)s;
	char *buf;
	size_t i = 0, o = 0, k;

	*scratch = NULL;
	if (utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	if (n > (SIZE_MAX - 1) / 3 || (buf = malloc(n * 3 + 1)) == NULL)
		return NULL;
	while (i < n) {
		if ((k = utf8_seq(p + i, n - i)) == 0) {
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

static json_t *message_to_json(const ProtobufCMessage *m);

static json_t *
submessage_to_json(
    const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m)
{
	json_t *v;

	/* A NULL element (only reachable in hand-built messages) is
	 * rendered as the empty message, as protobuf-c would pack it. */
	if (m == NULL) {
		if (is_timestamp(d))
			return json_string_nocheck("1970-01-01T00:00:00Z");
		return json_object();
	}
	if (is_timestamp(d) && (v = timestamp_to_json(m)) != NULL)
		return v;
	return message_to_json(m);
}

static json_t *
value_to_json(const ProtobufCFieldDescriptor *f, const void *member)
{
	const ProtobufCEnumValue *ev;
	const ProtobufCBinaryData *bd;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)member);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)member);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return int64_to_json(*(const int64_t *)member);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return uint64_to_json(*(const uint64_t *)member);
	case PROTOBUF_C_TYPE_FLOAT:
		return real_to_json(*(const float *)member);
	case PROTOBUF_C_TYPE_DOUBLE:
		return real_to_json(*(const double *)member);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)member);
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(
		    f->descriptor, *(const int *)member);
		if (ev == NULL)
			return json_integer(*(const int *)member);
		return json_string_nocheck(ev->name);
	case PROTOBUF_C_TYPE_STRING:
		return string_to_json(*(char *const *)member);
	case PROTOBUF_C_TYPE_BYTES:
		bd = member;
		return b64_encode(bd->data, bd->len);
	case PROTOBUF_C_TYPE_MESSAGE:
		return submessage_to_json(
		    f->descriptor, *(ProtobufCMessage *const *)member);
	}
	return NULL;
}

static json_t *
array_to_json(const ProtobufCFieldDescriptor *f, const char *arr, size_t n)
{
	size_t size = core_pb_type_size(f->type), i;
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(
		        a, value_to_json(f, arr + i * size))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
map_to_json(const ProtobufCFieldDescriptor *f,
    ProtobufCMessage *const *entries, size_t n)
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
		k = cmember_at(e, kf->offset);
		/* Keys are rendered with the value rules (64-bit integers
		 * are strings already), then used as the key text. */
		if (kf->type == PROTOBUF_C_TYPE_BOOL)
			kv = json_string_nocheck(
			    *(const protobuf_c_boolean *)k ? "true" : "false");
		else if (kf->type == PROTOBUF_C_TYPE_STRING)
			kv = string_to_json(*(char *const *)k);
		else if (kf->type == PROTOBUF_C_TYPE_INT32 ||
		         kf->type == PROTOBUF_C_TYPE_SINT32 ||
		         kf->type == PROTOBUF_C_TYPE_SFIXED32)
			kv = int64_to_json(*(const int32_t *)k);
		else if (kf->type == PROTOBUF_C_TYPE_UINT32 ||
		         kf->type == PROTOBUF_C_TYPE_FIXED32)
			kv = uint64_to_json(*(const uint32_t *)k);
		else
			kv = value_to_json(kf, k);
		vv = value_to_json(vf, cmember_at(e, vf->offset));
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

/* Whether a field is present, by the rules protobuf_c_message_pack()
 * applies, so that JSON carries exactly what the wire would. */
static bool
is_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *member = cmember_at(m, f->offset);
	const void *q = cmember_at(m, f->quantifier_offset);
	bool ptr_type = f->type == PROTOBUF_C_TYPE_STRING ||
	                f->type == PROTOBUF_C_TYPE_MESSAGE;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)q > 0;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)q != f->id)
		return false;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
	    f->label == PROTOBUF_C_LABEL_OPTIONAL) {
		if (ptr_type) {
			const void *p = *(const void *const *)member;

			return p != NULL && p != f->default_value;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			return true;
		return *(const protobuf_c_boolean *)q != 0;
	}
	/* LABEL_NONE: proto3 implicit presence, i.e. "not zero". */
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)member != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)member != 0;
	case PROTOBUF_C_TYPE_ENUM:
		return *(const int *)member != 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)member != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)member != 0; /* -0.0 counts as 0 */
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)member != 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)member;

		return s != NULL && s[0] != '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)member)->len != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)member != NULL;
	}
	return false;
}

static json_t *
field_to_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *member = cmember_at(m, f->offset);

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n =
		    *(const size_t *)cmember_at(m, f->quantifier_offset);
		const void *arr = *(const void *const *)member;

		if (is_map_field(f))
			return map_to_json(f, arr, n);
		return array_to_json(f, arr, n);
	}
	return value_to_json(f, member);
}

static json_t *
message_to_json(const ProtobufCMessage *m)
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

		if (!is_present(m, f))
			continue;
		if (json_object_set_new_nocheck(
		        obj, f->name, field_to_json(m, f)) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

json_t *
core_pb_to_json_value(const ProtobufCMessage *msg)
{
	if (msg == NULL)
		return NULL;
	return message_to_json(msg);
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
	if ((v = core_pb_to_json_value(msg)) == NULL)
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
