/* The RPC envelope by hand (envelope.h). Replaces protobuf-c's generic,
 * descriptor-driven pack and unpack (and the separate string walk) on the
 * path of every call: per call that was ~2.5k instructions for the request,
 * ~1k for the reply (bench/README.md). */
#include <stdbool.h>
#include <string.h>

#include "core/utf8.h"
#include "envelope.h"

enum { WT_VARINT = 0, WT_64 = 1, WT_LEN = 2, WT_32 = 5 };

/* One field as read off the wire: its number, wire type and, for a
 * length-delimited one, the bytes; for a varint, its value. */
typedef struct field {
	uint32_t tag;
	unsigned wire;
	const uint8_t *v;
	size_t n;
	uint64_t u;
} field;

/* Reads the next field at p[*at..len) as protobuf-c 1.4 scans it: a tag
 * of at most 5 bytes (its bits above 32 dropped), a varint of at most 10,
 * a length prefix of at most 5 (a 32-bit value) whose bytes must all be
 * there, fixed 32/64-bit values; groups and wire types 6 and 7 refused.
 * Field number 0 is refused when its tag has one byte (protobuf-c 1.4's
 * test looks at the first byte only). Returns 0 with *f filled and *at past the field, or -1. */
static int
next_field(const uint8_t *p, size_t len, size_t *at, field *f)
{
	size_t i = *at, max = len - i < 5 ? len - i : 5;
	uint32_t tag = (p[i] & 0x7fu) >> 3;
	unsigned shift = 4;
	size_t k = 0;

	/* protobuf-c refuses field number 0, but only in a one-byte tag. */
	if ((p[i] & 0xf8u) == 0) {
		return -1;
	}
	f->wire = p[i] & 7u;
	while (p[i + k] & 0x80u) {
		if (++k >= max) {
			return -1;
		}
		tag |= (uint32_t) (p[i + k] & 0x7fu) << shift;
		shift += 7;
	}
	f->tag = tag;
	i += k + 1;
	switch (f->wire) {
	case WT_VARINT: {
		uint64_t u = 0;
		for (k = 0;; k++) {
			if (k >= 10 || i + k >= len) {
				return -1;
			}
			u |= (uint64_t) (p[i + k] & 0x7fu) << (7 * k);
			if ((p[i + k] & 0x80u) == 0) {
				break;
			}
		}
		f->u = u;
		i += k + 1;
		break;
	}
	case WT_64:
	case WT_32: {
		size_t w = f->wire == WT_64 ? 8 : 4;
		if (len - i < w) {
			return -1;
		}
		i += w;
		break;
	}
	case WT_LEN: {
		uint32_t n = 0;
		for (k = 0;; k++) {
			if (k >= 5 || i + k >= len) {
				return -1;
			}
			n |= (uint32_t) (p[i + k] & 0x7fu) << (7 * k);
			if ((p[i + k] & 0x80u) == 0) {
				break;
			}
		}
		i += k + 1;
		if (n > len - i) {
			return -1;
		}
		f->v = p + i;
		f->n = n;
		i += n;
		break;
	}
	default:
		return -1;
	}
	*at = i;
	return 0;
}

/* What core_pb_check_strings asks of a string: no NUL, valid UTF-8. */
static bool
string_ok(const uint8_t *v, size_t n)
{
	size_t i = 0;
	while (i < n && v[i] >= 1 && v[i] < 0x80) {
		i++; /* ASCII, the usual case, without the full decoder */
	}
	return i == n || (memchr(v + i, 0, n - i) == NULL &&
	                     core_utf8_valid(v + i, n - i));
}

/* Copies n bytes to a NUL-terminated string in a (NULL: out of memory). */
static char *
copy_str(core_arena *a, const uint8_t *v, size_t n)
{
	char *s = core_arena_alloc(a, n + 1);
	if (s != NULL) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

/* A length-delimited string field, last one wins: v and n remember it. */
static int
take_str(const field *f, bool check, const uint8_t **v, size_t *n)
{
	if (f->wire != WT_LEN || (check && !string_ok(f->v, f->n))) {
		return -1;
	}
	*v = f->v;
	*n = f->n;
	return 0;
}

/* Decodes a message of two string fields (a metadata entry, an error
 * detail) into *s1, *s2 (copies in a; absent ones stay as they are). */
static int
decode_pair(const uint8_t *p, size_t len, bool check, core_arena *a, char **s1,
    char **s2)
{
	const uint8_t *v[2] = {NULL, NULL};
	size_t n[2] = {0, 0};
	size_t at = 0;
	field f;
	while (at < len) {
		if (next_field(p, len, &at, &f) != 0) {
			return -1;
		}
		if ((f.tag == 1 || f.tag == 2) &&
		    take_str(&f, check, &v[f.tag - 1], &n[f.tag - 1]) != 0) {
			return -1;
		}
	}
	char **out[2] = {s1, s2};
	for (int i = 0; i < 2; i++) {
		if (v[i] != NULL &&
		    (*out[i] = copy_str(a, v[i], n[i])) == NULL) {
			return -1;
		}
	}
	return 0;
}

/* Appends a new element (zeroed, size bytes) to the array *arr of *n with
 * room for *cap, doubling it in a when full. NULL: out of memory. */
static void *
push(core_arena *a, void ***arr, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 4;
		void **bigger = core_arena_alloc(a, ncap * sizeof(void *));
		if (bigger == NULL) {
			return NULL;
		}
		if (*n > 0) {
			memcpy(bigger, *arr, *n * sizeof(void *));
		}
		*arr = bigger;
		*cap = ncap;
	}
	void *e = core_arena_alloc(a, size);
	if (e != NULL) {
		(*arr)[(*n)++] = e;
	}
	return e;
}

static int
add_metadata(
    core_arena *a, Core__V1__Request *req, size_t *cap, const field *f)
{
	if (f->wire != WT_LEN) {
		return -1;
	}
	Core__V1__Request__MetadataEntry *e = push(
	    a, (void ***) &req->metadata, &req->n_metadata, cap, sizeof(*e));
	if (e == NULL) {
		return -1;
	}
	core__v1__request__metadata_entry__init(e);
	return decode_pair(f->v, f->n, true, a, &e->key, &e->value);
}

int
rpc_env_request_decode(
    const uint8_t *p, size_t len, core_arena *a, Core__V1__Request *req)
{
	const uint8_t *method = NULL;
	size_t method_len = 0, cap = 0, at = 0;
	field f;

	core__v1__request__init(req);
	while (at < len) {
		if (next_field(p, len, &at, &f) != 0) {
			return -1;
		}
		int rv = 0;
		switch (f.tag) {
		case 1:
			rv = take_str(&f, true, &method, &method_len);
			break;
		case 2:
			rv = f.wire == WT_LEN ? 0 : -1;
			/* protobuf-c leaves an empty payload's data NULL. */
			req->payload.data =
			    f.n > 0 ? (uint8_t *) (uintptr_t) f.v : NULL;
			req->payload.len = f.n;
			break;
		case 3:
			rv = add_metadata(a, req, &cap, &f);
			break;
		default:
			break; /* unknown: skipped */
		}
		if (rv != 0) {
			return -1;
		}
	}
	if (method != NULL &&
	    (req->method = copy_str(a, method, method_len)) == NULL) {
		return -1;
	}
	return 0;
}

/* ---- encoding ---- */

static size_t
varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *
put_varint(uint8_t *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t) v;
	return o;
}

/* A length-delimited field's size with its (one-byte) tag. */
static size_t
len_field_size(size_t n)
{
	return 1 + varint_size(n) + n;
}

static uint8_t *
put_len_field(uint8_t *o, unsigned tag, const void *v, size_t n)
{
	*o++ = (uint8_t) (tag << 3 | WT_LEN);
	o = put_varint(o, n);
	if (n > 0) {
		memcpy(o, v, n);
	}
	return o + n;
}

/* proto3 leaves out empty strings (NULL or ""). */
static size_t
str_len(const char *s)
{
	return s == NULL ? 0 : strlen(s);
}

static size_t
pair_size(const char *s1, const char *s2)
{
	size_t n1 = str_len(s1), n2 = str_len(s2);
	return (n1 ? len_field_size(n1) : 0) + (n2 ? len_field_size(n2) : 0);
}

static uint8_t *
put_pair(uint8_t *o, unsigned tag, const char *s1, const char *s2)
{
	size_t n1 = str_len(s1), n2 = str_len(s2);
	*o++ = (uint8_t) (tag << 3 | WT_LEN);
	o = put_varint(o, pair_size(s1, s2));
	if (n1) {
		o = put_len_field(o, 1, s1, n1);
	}
	if (n2) {
		o = put_len_field(o, 2, s2, n2);
	}
	return o;
}

size_t
rpc_env_request_size(const Core__V1__Request *req)
{
	size_t n = str_len(req->method), size = 0;
	if (n) {
		size += len_field_size(n);
	}
	if (req->payload.len) {
		size += len_field_size(req->payload.len);
	}
	for (size_t i = 0; i < req->n_metadata; i++) {
		const Core__V1__Request__MetadataEntry *e = req->metadata[i];
		size += len_field_size(pair_size(e->key, e->value));
	}
	return size;
}

size_t
rpc_env_request_pack(const Core__V1__Request *req, uint8_t *out)
{
	uint8_t *o = out;
	size_t n = str_len(req->method);
	if (n) {
		o = put_len_field(o, 1, req->method, n);
	}
	if (req->payload.len) {
		o = put_len_field(o, 2, req->payload.data, req->payload.len);
	}
	for (size_t i = 0; i < req->n_metadata; i++) {
		const Core__V1__Request__MetadataEntry *e = req->metadata[i];
		o = put_pair(o, 3, e->key, e->value);
	}
	return (size_t) (o - out);
}

/* An enum is an int32: a negative one goes out sign-extended (10 bytes),
 * as protobuf-c writes it. */
static uint64_t
enum_wire(int v)
{
	return (uint64_t) (int64_t) v;
}

size_t
rpc_env_response_size(const Core__V1__Response *r)
{
	size_t size = 0, n = str_len(r->message);
	if (r->code != 0) {
		size += 1 + varint_size(enum_wire(r->code));
	}
	if (n) {
		size += len_field_size(n);
	}
	if (r->payload.len) {
		size += len_field_size(r->payload.len);
	}
	for (size_t i = 0; i < r->n_details; i++) {
		const Core__V1__ErrorDetail *d = r->details[i];
		size += len_field_size(pair_size(d->field, d->description));
	}
	if (r->retry_after_s != 0) {
		size += 1 + varint_size(r->retry_after_s);
	}
	return size;
}

size_t
rpc_env_response_pack(const Core__V1__Response *r, uint8_t *out)
{
	uint8_t *o = out;
	size_t n = str_len(r->message);
	if (r->code != 0) {
		*o++ = 1 << 3 | WT_VARINT;
		o = put_varint(o, enum_wire(r->code));
	}
	if (n) {
		o = put_len_field(o, 2, r->message, n);
	}
	if (r->payload.len) {
		o = put_len_field(o, 3, r->payload.data, r->payload.len);
	}
	for (size_t i = 0; i < r->n_details; i++) {
		const Core__V1__ErrorDetail *d = r->details[i];
		o = put_pair(o, 4, d->field, d->description);
	}
	if (r->retry_after_s != 0) {
		*o++ = 5 << 3 | WT_VARINT;
		o = put_varint(o, r->retry_after_s);
	}
	return (size_t) (o - out);
}

/* ---- the client's side: a Response ---- */

static int
add_detail(core_arena *a, Core__V1__Response *r, size_t *cap, const field *f)
{
	if (f->wire != WT_LEN) {
		return -1;
	}
	Core__V1__ErrorDetail *d =
	    push(a, (void ***) &r->details, &r->n_details, cap, sizeof(*d));
	if (d == NULL) {
		return -1;
	}
	core__v1__error_detail__init(d);
	return decode_pair(f->v, f->n, false, a, &d->field, &d->description);
}

static int
response_field(core_arena *a, Core__V1__Response *r, size_t *cap,
    const field *f, const uint8_t **msg, size_t *msg_len)
{
	switch (f->tag) {
	case 1: /* int32 enum: the low 32 bits */
	case 5:
		if (f->wire != WT_VARINT) {
			return -1;
		}
		if (f->tag == 1) {
			r->code = (Core__V1__Code) (int32_t) (uint32_t) f->u;
		} else {
			r->retry_after_s = (uint32_t) f->u;
		}
		return 0;
	case 2:
		return take_str(f, false, msg, msg_len);
	case 3:
		if (f->wire != WT_LEN) {
			return -1;
		}
		r->payload.len = f->n;
		r->payload.data = NULL;
		if (f->n > 0 && (r->payload.data = core_arena_memdup(
		                     a, f->v, f->n)) == NULL) {
			return -1;
		}
		return 0;
	case 4:
		return add_detail(a, r, cap, f);
	default:
		return 0;
	}
}

int
rpc_env_response_decode(
    const uint8_t *p, size_t len, core_arena *a, Core__V1__Response *r)
{
	const uint8_t *msg = NULL;
	size_t msg_len = 0, cap = 0, at = 0;
	field f;

	core__v1__response__init(r);
	while (at < len) {
		if (next_field(p, len, &at, &f) != 0 ||
		    response_field(a, r, &cap, &f, &msg, &msg_len) != 0) {
			return -1;
		}
	}
	if (msg != NULL && (r->message = copy_str(a, msg, msg_len)) == NULL) {
		return -1;
	}
	return 0;
}
