/* W3C trace context: parsing, formatting, ids, the thread's context. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "core/trace.h"

static const char hex[] = "0123456789abcdef";

static _Thread_local core_trace current;

/* ---- Ids ------------------------------------------------------------------ */

/* An id is SipHash (libsodium's crypto_shorthash: 64 bits for a span id,
 * its 128-bit variant for a trace id) under a random per-process key, of
 * the pair (thread number, the thread's counter): never the same input
 * twice in a process, so ids do not repeat, and without the key they
 * cannot be told from random ones. No lock, no atomic per id and no
 * system call (randombytes_buf makes one per call: bench/README.md). A
 * forked child draws a new key. */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static unsigned char key[crypto_shorthash_siphashx24_KEYBYTES];
static atomic_uint_fast64_t n_threads;
static _Thread_local uint64_t thread_no; /* 0: not numbered yet */
static _Thread_local uint64_t counter;

static void
key_seed(void)
{
	randombytes_buf(key, sizeof(key));
}

static void
key_init(void)
{
	/* Fails only when no random source can be opened at all; then
	 * randombytes_buf aborts itself, as libsodium does everywhere. */
	if (sodium_init() < 0) {
		core_log_error("libsodium cannot be initialised");
	}
	key_seed();
	pthread_atfork(NULL, NULL, key_seed);
}

/* The next input of this thread (in the machine's byte order: it only
 * has to differ from every other). */
static void
next_input(unsigned char in[16])
{
	if (thread_no == 0) {
		pthread_once(&key_once, key_init);
		thread_no = (uint64_t) atomic_fetch_add(&n_threads, 1) + 1;
	}
	uint64_t n = counter++;
	memcpy(in, &thread_no, 8);
	memcpy(in + 8, &n, 8);
}

static void
to_hex(char *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool
all_zero(const unsigned char *b, size_t n)
{
	unsigned char acc = 0;
	for (size_t i = 0; i < n; i++) {
		acc |= b[i];
	}
	return acc == 0;
}

/* An id of only zeros is invalid: a hash that gives one (2^-64) is
 * replaced by the next input's. */
static void
new_span_id(char *out)
{
	unsigned char in[16], h[crypto_shorthash_siphash24_BYTES];
	do {
		next_input(in);
		crypto_shorthash_siphash24(h, in, sizeof(in), key);
	} while (all_zero(h, sizeof(h)));
	to_hex(out, h, sizeof(h));
}

static void
new_trace_id(char *out)
{
	unsigned char in[16], h[crypto_shorthash_siphashx24_BYTES];
	do {
		next_input(in);
		crypto_shorthash_siphashx24(h, in, sizeof(in), key);
	} while (all_zero(h, sizeof(h)));
	to_hex(out, h, sizeof(h));
}

void
core_trace_new(core_trace *out)
{
	new_trace_id(out->trace_id);
	new_span_id(out->span_id);
	out->flags = CORE_TRACE_SAMPLED;
}

void
core_trace_child(const core_trace *parent, core_trace *out)
{
	if (out != parent) {
		memcpy(out->trace_id, parent->trace_id, sizeof(out->trace_id));
		out->flags = parent->flags;
	}
	new_span_id(out->span_id);
}

/* ---- traceparent ---------------------------------------------------------- */

/* 1 + the value of each lowercase hex digit; 0 for every other byte
 * (uppercase too: the specification allows only lowercase). */
static const unsigned char digit1[256] = {['0'] = 1,
    ['1'] = 2,
    ['2'] = 3,
    ['3'] = 4,
    ['4'] = 5,
    ['5'] = 6,
    ['6'] = 7,
    ['7'] = 8,
    ['8'] = 9,
    ['9'] = 10,
    ['a'] = 11,
    ['b'] = 12,
    ['c'] = 13,
    ['d'] = 14,
    ['e'] = 15,
    ['f'] = 16};

/* Whether the two bytes at s are lowercase hex (version and flags). */
static bool
hex2(const char *s)
{
	return digit1[(unsigned char) s[0]] != 0 &&
	       digit1[(unsigned char) s[1]] != 0;
}

#define BYTES(b) (UINT64_C(0x0101010101010101) * (b))

/* Whether s[0..n) (n a multiple of 8) is lowercase hex and not only
 * zeros. Eight bytes at a time, without a branch per byte: a byte below
 * 0x80 plus 0x80 - lo has its top bit set when it is >= lo, plus 0x7f - hi
 * when it is > hi (no carry out of a byte below 0x80); a byte from 0x80 up
 * is refused by its own top bit. */
static bool
hex_id(const char *s, size_t n)
{
	uint64_t bad = 0, zero = BYTES(0x80);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		uint64_t digit = (x + BYTES(0x50)) & ~(x + BYTES(0x46));
		uint64_t alpha = (x + BYTES(0x1f)) & ~(x + BYTES(0x19));
		bad |= x | ~(digit | alpha);
		zero &= x == BYTES('0') ? BYTES(0x80) : 0;
	}
	return ((bad | zero) & BYTES(0x80)) == 0;
}

int
core_trace_parse(const char *s, core_trace *out)
{
	/* 00-<32>-<16>-<2>: the dashes at 2, 35 and 52. */
	if (s == NULL) {
		return -1;
	}
	size_t len = strnlen(s, CORE_TRACEPARENT_LEN + 1);
	if (len < CORE_TRACEPARENT_LEN || !hex2(s) ||
	    memcmp(s, "ff", 2) == 0 || s[2] != '-' || s[35] != '-' ||
	    s[52] != '-' || !hex_id(s + 3, CORE_TRACE_ID_LEN) ||
	    !hex_id(s + 36, CORE_SPAN_ID_LEN) || !hex2(s + 53)) {
		return -1;
	}
	/* Version 00 has nothing after the flags; a later version may
	 * (unknown fields, after a dash). */
	bool v00 = s[0] == '0' && s[1] == '0';
	if (len > CORE_TRACEPARENT_LEN && (v00 || s[55] != '-')) {
		return -1;
	}
	memcpy(out->trace_id, s + 3, CORE_TRACE_ID_LEN);
	out->trace_id[CORE_TRACE_ID_LEN] = '\0';
	memcpy(out->span_id, s + 36, CORE_SPAN_ID_LEN);
	out->span_id[CORE_SPAN_ID_LEN] = '\0';
	/* Of the flags only the sampled bit, the low bit of the last digit. */
	out->flags = (uint8_t) ((digit1[(unsigned char) s[54]] - 1) &
	                        CORE_TRACE_SAMPLED);
	return 0;
}

bool
core_trace_start(const char *traceparent, core_trace *out)
{
	if (core_trace_parse(traceparent, out) == 0) {
		core_trace_child(out, out);
		return true;
	}
	core_trace_new(out);
	return false;
}

void
core_trace_format(const core_trace *t, char *buf)
{
	buf[0] = '0';
	buf[1] = '0';
	buf[2] = '-';
	memcpy(buf + 3, t->trace_id, CORE_TRACE_ID_LEN);
	buf[35] = '-';
	memcpy(buf + 36, t->span_id, CORE_SPAN_ID_LEN);
	buf[52] = '-';
	buf[53] = hex[(t->flags >> 4) & 15];
	buf[54] = hex[t->flags & 15];
	buf[55] = '\0';
}

/* ---- The thread's context ------------------------------------------------- */

void
core_trace_set(const core_trace *t)
{
	if (t == NULL || t->trace_id[0] == '\0') {
		current.trace_id[0] = '\0';
		return;
	}
	current = *t;
}

const core_trace *
core_trace_current(void)
{
	return current.trace_id[0] != '\0' ? &current : NULL;
}

void
core_trace_save(core_trace *t)
{
	if (current.trace_id[0] == '\0') {
		t->trace_id[0] = '\0';
		return;
	}
	*t = current;
}

void
core_trace_swap(core_trace *t)
{
	core_trace tmp = current;
	current = *t;
	*t = tmp;
}

bool
core_trace_traceparent(char *buf)
{
	if (current.trace_id[0] == '\0') {
		return false;
	}
	core_trace_format(&current, buf);
	return true;
}
