/* Protobuf text format printer: see text_format.h. The rules mirror
 * protobuf's TextFormat::Printer (text_format.cc) with its defaults, which
 * is what `protoc --decode` uses. */
#include <float.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pbfield.h"
#include "text_format.h"

#define TEXT_MAX_BYTES (256u << 20)
/* protoc's budget for guessing that unknown bytes hold a message. */
#define UNKNOWN_RECURSION_BUDGET 10

/* A growing output buffer; after the first failure every write is a no-op
 * and the result is discarded. */
typedef struct tbuf {
	char *p;
	size_t len, cap;
	bool failed;
} tbuf;

static void
put(tbuf *b, const char *s, size_t n)
{
	if (b->failed) {
		return;
	}
	if (n > TEXT_MAX_BYTES - b->len) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1) {
			cap *= 2;
		}
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
put_str(tbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_fmt(tbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short formatted pieces (numbers). */
static void
put_fmt(tbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= sizeof(tmp)) {
		b->failed = true;
		return;
	}
	put(b, tmp, (size_t) n);
}

static void
put_indent(tbuf *b, int depth)
{
	static const char spaces[] = "                                ";
	size_t n = (size_t) depth * 2;
	while (n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		put(b, spaces, k);
		n -= k;
	}
}

/* protobuf's CEscape: quotes, backslash and \n \r \t by name, every other
 * byte outside printable ASCII as three octal digits. */
static void
put_escaped(tbuf *b, const uint8_t *s, size_t n)
{
	put(b, "\"", 1);
	if (n == 0) {
		put(b, "\"", 1);
		return;
	}
	size_t run = 0; /* bytes copied as they are, written in one go */
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		const char *esc = NULL;
		switch (c) {
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '"':
			esc = "\\\"";
			break;
		case '\'':
			esc = "\\'";
			break;
		case '\\':
			esc = "\\\\";
			break;
		default:
			if (c >= 0x20 && c < 0x7f) {
				run++;
				continue;
			}
		}
		put(b, (const char *) s + i - run, run);
		run = 0;
		if (esc != NULL) {
			put_str(b, esc);
		} else {
			put_fmt(b, "\\%03o", c);
		}
	}
	put(b, (const char *) s + n - run, run);
	put(b, "\"", 1);
}

/* SimpleDtoa / SimpleFtoa: the shorter precision unless it loses bits. A
 * float is passed widened (exactly) to double, with single set. */
static void
put_real(tbuf *b, double v, bool single)
{
	char tmp[64];
	int digits = single ? FLT_DIG : DBL_DIG;
	if (v != v) {
		put_str(b, "nan");
		return;
	}
	if (v > DBL_MAX || v < -DBL_MAX) {
		put_str(b, v > 0 ? "inf" : "-inf");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.*g", digits, v);
	if (single ? strtof(tmp, NULL) != (float) v : strtod(tmp, NULL) != v) {
		digits = single ? FLT_DIG + 3 : DBL_DIG + 2;
		snprintf(tmp, sizeof(tmp), "%.*g", digits, v);
	}
	put_str(b, tmp);
}

/* Presence as protoc prints it: protobuf-c's rules (what the wire carries)
 * but for two cases where protobuf's text printer differs: a oneof member
 * counts whenever its case is set, and a proto3 float or double counts
 * unless all its bits are zero (protobuf compares them by bits, so -0.0 is
 * shown). */
static bool
is_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		return core_pb_oneof_case(m, f) == f->id;
	}
	if (f->label == PROTOBUF_C_LABEL_NONE &&
	    (f->type == PROTOBUF_C_TYPE_FLOAT ||
	        f->type == PROTOBUF_C_TYPE_DOUBLE)) {
		static const uint8_t zeros[sizeof(double)];
		return memcmp(core_pb_field_cptr(m, f), zeros,
		           core_pb_type_size(f->type)) != 0;
	}
	return f->label != PROTOBUF_C_LABEL_REPEATED &&
	       core_pb_field_present(m, f);
}

static void put_message(
    tbuf *b, const ProtobufCMessage *m, int depth, bool all_fields);

static void
put_value(tbuf *b, const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		put_fmt(b, "%" PRId32, *(const int32_t *) v);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		put_fmt(b, "%" PRIu32, *(const uint32_t *) v);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		put_fmt(b, "%" PRId64, *(const int64_t *) v);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		put_fmt(b, "%" PRIu64, *(const uint64_t *) v);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_real(b, *(const float *) v, true);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_real(b, *(const double *) v, false);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		put_str(b, *(const protobuf_c_boolean *) v ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int n = *(const int *) v;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, n);
		if (ev != NULL) {
			put_str(b, ev->name);
		} else {
			put_fmt(b, "%d", n);
		}
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *) v;
		s = s != NULL ? s : "";
		put_escaped(b, (const uint8_t *) s, strlen(s));
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *d = v;
		put_escaped(b, d->data, d->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		break; /* put_field writes messages as blocks */
	}
}

/* One "name: value" line or "name {" block. A message value may be NULL
 * (the absent value of a map entry): an empty block. */
static void
put_field(tbuf *b, const ProtobufCFieldDescriptor *f, const void *v, int depth,
    bool map_entry)
{
	put_indent(b, depth);
	put_str(b, f->name);
	if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
		put(b, ": ", 2);
		put_value(b, f, v);
		put(b, "\n", 1);
		return;
	}
	put(b, " {\n", 3);
	const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) v;
	if (sub != NULL) {
		put_message(b, sub, depth + 1, map_entry);
	}
	put_indent(b, depth);
	put(b, "}\n", 2);
}

/* ---- maps --------------------------------------------------------------- */

typedef struct map_item {
	const ProtobufCMessage *entry;
	size_t index; /* position on the wire: ties keep it (a stable sort) */
	const char *s;
	int64_t i;
	uint64_t u;
} map_item;

static int
cmp_item(const map_item *x, const map_item *y)
{
	int c = 0;
	if (x->s != NULL) {
		c = strcmp(x->s, y->s);
	} else if (x->i != y->i) {
		c = x->i < y->i ? -1 : 1;
	} else if (x->u != y->u) {
		c = x->u < y->u ? -1 : 1;
	}
	if (c == 0 && x->index != y->index) {
		c = x->index < y->index ? -1 : 1;
	}
	return c;
}

static int
cmp_items(const void *a, const void *b)
{
	return cmp_item(a, b);
}

/* Fills item's sort key from the entry's key field. */
static void
map_key(map_item *it, const ProtobufCFieldDescriptor *kf)
{
	const void *k = core_pb_field_cptr(it->entry, kf);
	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		it->s = *(const char *const *) k;
		it->s = it->s != NULL ? it->s : "";
		break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		it->i = *(const int32_t *) k;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		it->i = *(const int64_t *) k;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		it->u = *(const uint32_t *) k;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		it->u = *(const uint64_t *) k;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		it->u = *(const protobuf_c_boolean *) k != 0;
		break;
	default:
		break; /* not a valid map key type: wire order */
	}
}

/* Map entries sorted by key, each with both its key and value. */
static void
put_map(tbuf *b, const ProtobufCFieldDescriptor *f,
    const ProtobufCMessage *const *entries, size_t n, int depth)
{
	map_item *items = calloc(n, sizeof(*items));
	if (items == NULL) {
		b->failed = true;
		return;
	}
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (entries[i] == NULL) {
			continue;
		}
		items[k].entry = entries[i];
		items[k].index = i;
		map_key(&items[k], &ed->fields[0]);
		k++;
	}
	qsort(items, k, sizeof(*items), cmp_items);
	for (size_t i = 0; i < k; i++) {
		put_field(b, f, &items[i].entry, depth, true);
	}
	free(items);
}

/* ---- unknown fields ----------------------------------------------------- */

typedef struct wire_field {
	uint32_t number;
	unsigned type;
	uint64_t value;      /* varint, fixed32, fixed64 */
	const uint8_t *data; /* length-delimited payload, or group body */
	size_t len;
} wire_field;

static bool
read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	size_t n = core_pb_varint_read(p + *pos, len - *pos, out);
	*pos += n;
	return n > 0;
}

/* The little-endian value of p[0..n), n at most 8 (fixed32, fixed64). */
static uint64_t
le_value(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		v |= (uint64_t) p[i] << (8 * i);
	}
	return v;
}

static bool read_field(const uint8_t *p, size_t len, size_t *pos, int budget,
    wire_field *f, bool *end_group);

/* Skips a group's fields up to its END_GROUP tag; *pos ends after it. */
static bool
skip_group(
    const uint8_t *p, size_t len, size_t *pos, uint32_t number, int budget)
{
	if (budget <= 0) {
		return false;
	}
	for (;;) {
		wire_field f;
		bool end = false;
		if (!read_field(p, len, pos, budget - 1, &f, &end)) {
			return false;
		}
		if (end) {
			return f.number == number;
		}
	}
}

/* Reads one field at *pos, as protobuf's WireFormat::SkipField would.
 * *end_group is set (and f->number filled) for an END_GROUP tag. */
static bool
read_field(const uint8_t *p, size_t len, size_t *pos, int budget,
    wire_field *f, bool *end_group)
{
	uint64_t tag, v;
	if (!read_varint(p, len, pos, &tag) || tag == 0 || tag > UINT32_MAX) {
		return false;
	}
	f->number = (uint32_t) (tag >> 3);
	f->type = (unsigned) (tag & 7);
	f->data = NULL;
	f->len = 0;
	switch (f->type) {
	case 0:
		return read_varint(p, len, pos, &f->value);
	case 1:
	case 5: {
		size_t n = f->type == 1 ? 8 : 4;
		if (len - *pos < n) {
			return false;
		}
		f->value = le_value(p + *pos, n);
		*pos += n;
		return true;
	}
	case 2:
		if (!read_varint(p, len, pos, &v) || v > len - *pos) {
			return false;
		}
		f->data = p + *pos;
		f->len = (size_t) v;
		*pos += (size_t) v;
		return true;
	case 3: {
		size_t start = *pos;
		if (!skip_group(p, len, pos, f->number, budget)) {
			return false;
		}
		/* The body up to and including its END_GROUP tag, where
		 * put_wire_fields stops when it prints the group. */
		f->data = p + start;
		f->len = *pos - start;
		return true;
	}
	case 4:
		*end_group = true;
		return true;
	default:
		return false;
	}
}

/* Whether data parses completely as a sequence of fields (what protoc
 * takes as "probably an embedded message"). */
static bool
parses_as_message(const uint8_t *data, size_t len, int budget)
{
	size_t pos = 0;
	while (pos < len) {
		wire_field f;
		bool end = false;
		if (!read_field(data, len, &pos, budget, &f, &end) || end) {
			return false;
		}
	}
	return true;
}

static void put_wire_fields(
    tbuf *b, const uint8_t *data, size_t len, int depth, int budget);

static void
put_wire_field(tbuf *b, const wire_field *f, int depth, int budget)
{
	put_indent(b, depth);
	put_fmt(b, "%" PRIu32, f->number);
	switch (f->type) {
	case 0:
		put_fmt(b, ": %" PRIu64 "\n", f->value);
		return;
	case 5:
		put_fmt(b, ": 0x%08" PRIx64 "\n", f->value);
		return;
	case 1:
		put_fmt(b, ": 0x%016" PRIx64 "\n", f->value);
		return;
	case 3:
		put(b, " {\n", 3);
		put_wire_fields(b, f->data, f->len, depth + 1, budget - 1);
		put_indent(b, depth);
		put(b, "}\n", 2);
		return;
	default:
		break;
	}
	if (f->len > 0 && budget > 0 &&
	    parses_as_message(f->data, f->len, budget)) {
		put(b, " {\n", 3);
		put_wire_fields(b, f->data, f->len, depth + 1, budget - 1);
		put_indent(b, depth);
		put(b, "}\n", 2);
		return;
	}
	put(b, ": ", 2);
	put_escaped(b, f->data, f->len);
	put(b, "\n", 1);
}

/* Fields of bytes already known to parse (a group body ends at its
 * END_GROUP tag). */
static void
put_wire_fields(
    tbuf *b, const uint8_t *data, size_t len, int depth, int budget)
{
	size_t pos = 0;
	while (pos < len && !b->failed) {
		wire_field f;
		bool end = false;
		if (!read_field(data, len, &pos, budget + 1, &f, &end) ||
		    end) {
			return;
		}
		put_wire_field(b, &f, depth, budget);
	}
}

/* protobuf-c keeps an unknown field as its tag and its raw value bytes
 * (for length-delimited ones, length prefix included). */
static void
put_unknown(tbuf *b, const ProtobufCMessageUnknownField *u, int depth)
{
	wire_field f = {.number = u->tag, .type = (unsigned) u->wire_type};
	size_t pos = 0;
	switch (u->wire_type) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		if (!read_varint(u->data, u->len, &pos, &f.value)) {
			return;
		}
		break;
	case PROTOBUF_C_WIRE_TYPE_32BIT:
	case PROTOBUF_C_WIRE_TYPE_64BIT:
		f.value = le_value(u->data, u->len < 8 ? u->len : 8);
		break;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
		uint64_t n;
		if (!read_varint(u->data, u->len, &pos, &n) ||
		    n != u->len - pos) {
			return;
		}
		f.data = u->data + pos;
		f.len = (size_t) n;
		break;
	}
	default:
		return;
	}
	put_wire_field(b, &f, depth, UNKNOWN_RECURSION_BUDGET);
}

/* ---- messages ----------------------------------------------------------- */

/* A message's fields at depth. all_fields: a map entry, whose key and
 * value are shown even at their defaults. */
static void
put_message(tbuf *b, const ProtobufCMessage *m, int depth, bool all_fields)
{
	if (depth > RPCCTL_TEXT_MAX_DEPTH) {
		b->failed = true;
		return;
	}
	const ProtobufCMessageDescriptor *d = m->descriptor;
	/* protoc-c emits the fields sorted by number (protobuf-c's unpacker
	 * relies on it too), which is the order protoc prints them in. */
	for (unsigned i = 0; i < d->n_fields && !b->failed; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *v = core_pb_field_cptr(m, f);
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			if (all_fields || is_present(m, f)) {
				put_field(b, f, v, depth, false);
			}
			continue;
		}
		size_t n = core_pb_repeated_count(m, f);
		const char *arr = *(const char *const *) v;
		if (n == 0 || arr == NULL) {
			continue;
		}
		if (core_pb_is_map_field(f)) {
			put_map(b, f, (const ProtobufCMessage *const *) arr, n,
			    depth);
			continue;
		}
		size_t size = core_pb_type_size(f->type);
		for (size_t k = 0; k < n; k++) {
			put_field(b, f, arr + k * size, depth, false);
		}
	}
	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		put_unknown(b, &m->unknown_fields[i], depth);
	}
}

char *
rpcctl_text_format(const ProtobufCMessage *msg, size_t *len)
{
	tbuf b = {0};
	put(&b, "", 0); /* an empty message is "" */
	put_message(&b, msg, 0, false);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	if (len != NULL) {
		*len = b.len;
	}
	return b.p;
}
