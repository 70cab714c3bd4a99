/* Text codecs: see core/text.h. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "text_internal.h"

/* ---- hex ---------------------------------------------------------------- */

int
core_hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	/* 'A'-'F' become 'a'-'f'; no other character lands there. */
	c = (char) (c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---- base64 ------------------------------------------------------------- */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
core_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	if (cap > 0) {
		out[0] = '\0';
	}
	if (len > CORE_B64_ENCODE_MAX || CORE_B64_ENCODED_LEN(len) >= cap) {
		return -1;
	}
	text_b64_encode(in, len, out, b64_std, true);
	return 0;
}

void
text_b64_encode(const uint8_t *in, size_t len, char *out,
    const char alphabet[64], bool pad)
{
	size_t i, o = 0;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t) in[i] << 16 |
		             (uint32_t) in[i + 1] << 8 | in[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t) in[i] << 16;
		if (i + 1 < len) {
			v |= (uint32_t) in[i + 1] << 8;
		}
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		if (i + 1 < len) {
			out[o++] = alphabet[(v >> 6) & 63];
		} else if (pad) {
			out[o++] = '=';
		}
		if (pad) {
			out[o++] = '=';
		}
	}
	out[o] = '\0';
}

/* Value of one base64 digit of either alphabet, or -1. *alpha remembers
 * which alphabet the text uses (1 standard, 2 URL-safe) so that a mix of
 * both is refused. */
static int
b64_digit(unsigned char ch, int *alpha)
{
	const char *p = memchr(b64_std, ch, 64);
	int v, a = 0;

	if (p != NULL) {
		v = (int) (p - b64_std);
		a = v >= 62 ? 1 : 0; /* '+' or '/' */
	} else if (ch == '-' || ch == '_') {
		v = ch == '-' ? 62 : 63;
		a = 2;
	} else {
		return -1;
	}
	if (a != 0 && *alpha != 0 && *alpha != a) {
		return -1;
	}
	if (a != 0) {
		*alpha = a;
	}
	return v;
}

/* The number of characters before the padding ('=' or "=="). */
static size_t
b64_body(const char *in, size_t len)
{
	if (len > 0 && in[len - 1] == '=') {
		return len - ((len > 1 && in[len - 2] == '=') ? 2 : 1);
	}
	return len;
}

int
core_b64_decoded_len(const char *in, size_t len, size_t *n)
{
	size_t body = b64_body(in, len);

	if (body % 4 == 1 || (body < len && len % 4 != 0)) {
		return -1;
	}
	*n = body / 4 * 3 + (body % 4 == 0 ? 0 : body % 4 - 1);
	return 0;
}

int
core_b64_decode(
    const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t n, body = b64_body(in, len), o = 0;
	uint32_t acc = 0;
	int bits = 0, alpha = 0, d;

	if (core_b64_decoded_len(in, len, &n) != 0 || n > cap) {
		return -1;
	}
	for (size_t i = 0; i < body; i++) {
		if ((d = b64_digit((unsigned char) in[i], &alpha)) < 0) {
			return -1;
		}
		acc = ((acc << 6) | (uint32_t) d) & 0xffffffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t) (acc >> bits);
		}
	}
	*outlen = o;
	return 0;
}

/* ---- RFC 3339 ----------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); plain arithmetic, so no TZ or timegm() involved. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned) (z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
	static const unsigned char days[12] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* ".123", ".123456", ".123456789" or "" for nanos, as frac asks. */
static void
format_frac(int32_t nanos, core_rfc3339_frac frac, char *out, size_t cap)
{
	out[0] = '\0';
	if (frac == CORE_RFC3339_FRAC_MILLIS) {
		snprintf(out, cap, ".%03" PRId32, nanos / 1000000);
		return;
	}
	if (nanos == 0 || frac == CORE_RFC3339_FRAC_NONE) {
		return;
	}
	if (frac == CORE_RFC3339_FRAC_PROTOBUF && nanos % 1000000 == 0) {
		snprintf(out, cap, ".%03" PRId32, nanos / 1000000);
	} else if (frac == CORE_RFC3339_FRAC_PROTOBUF && nanos % 1000 == 0) {
		snprintf(out, cap, ".%06" PRId32, nanos / 1000);
	} else {
		snprintf(out, cap, ".%09" PRId32, nanos);
	}
}

int
core_rfc3339_format(
    int64_t secs, int32_t nanos, core_rfc3339_frac frac, char *buf, size_t cap)
{
	int64_t days, rem, y;
	unsigned mo, d;
	char frac_text[12], tmp[48];
	int n;

	if (cap > 0) {
		buf[0] = '\0';
	}
	if (secs < CORE_RFC3339_MIN_SECONDS ||
	    secs > CORE_RFC3339_MAX_SECONDS || nanos < 0 ||
	    nanos > 999999999) {
		return -1;
	}
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &mo, &d);
	format_frac(nanos, frac, frac_text, sizeof(frac_text));
	n = snprintf(tmp, sizeof(tmp),
	    "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u%sZ", y, mo, d,
	    (unsigned) (rem / 3600), (unsigned) (rem / 60 % 60),
	    (unsigned) (rem % 60), frac_text);
	if (n < 0 || (size_t) n >= cap) {
		return -1;
	}
	memcpy(buf, tmp, (size_t) n + 1);
	return 0;
}

/* Reads exactly n digits at s[*i]. */
static bool
digits(const char *s, size_t len, size_t *i, size_t n, unsigned *out)
{
	unsigned v = 0;
	size_t k;

	if (len - *i < n) {
		return false;
	}
	for (k = 0; k < n; k++) {
		char ch = s[*i + k];
		if (ch < '0' || ch > '9') {
			return false;
		}
		v = v * 10 + (unsigned) (ch - '0');
	}
	*i += n;
	*out = v;
	return true;
}

static bool
expect(const char *s, size_t len, size_t *i, char a, char b)
{
	if (*i >= len || (s[*i] != a && s[*i] != b)) {
		return false;
	}
	(*i)++;
	return true;
}

/* The optional ".f{1,9}" at s[*i], scaled to nanoseconds. */
static bool
fraction(const char *s, size_t len, size_t *i, unsigned *nanos)
{
	size_t nd = 0;
	unsigned frac = 0;

	*nanos = 0;
	if (*i >= len || s[*i] != '.') {
		return true;
	}
	for ((*i)++; *i < len && s[*i] >= '0' && s[*i] <= '9'; (*i)++) {
		if (++nd > 9) {
			return false;
		}
		frac = frac * 10 + (unsigned) (s[*i] - '0');
	}
	if (nd == 0) {
		return false;
	}
	for (; nd < 9; nd++) {
		frac *= 10;
	}
	*nanos = frac;
	return true;
}

/* The zone at s[*i], "Z" or "+HH:MM" / "-HH:MM", as seconds east of UTC. */
static bool
zone(const char *s, size_t len, size_t *i, int64_t *off)
{
	unsigned oh = 0, om = 0;

	*off = 0;
	if (*i < len && (s[*i] == 'Z' || s[*i] == 'z')) {
		(*i)++;
		return true;
	}
	if (*i >= len || (s[*i] != '+' && s[*i] != '-')) {
		return false;
	}
	int sign = s[(*i)++] == '-' ? -1 : 1;
	if (!digits(s, len, i, 2, &oh) || !expect(s, len, i, ':', ':') ||
	    !digits(s, len, i, 2, &om) || oh > 23 || om > 59) {
		return false;
	}
	*off = sign * (int64_t) (oh * 3600 + om * 60);
	return true;
}

int
core_rfc3339_parse(const char *s, size_t len, int64_t *secs, int32_t *nanos)
{
	unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, frac = 0;
	size_t i = 0;
	int64_t t, off = 0;

	if (!digits(s, len, &i, 4, &y) || !expect(s, len, &i, '-', '-') ||
	    !digits(s, len, &i, 2, &mo) || !expect(s, len, &i, '-', '-') ||
	    !digits(s, len, &i, 2, &d) || !expect(s, len, &i, 'T', 't') ||
	    !digits(s, len, &i, 2, &h) || !expect(s, len, &i, ':', ':') ||
	    !digits(s, len, &i, 2, &mi) || !expect(s, len, &i, ':', ':') ||
	    !digits(s, len, &i, 2, &se) || !fraction(s, len, &i, &frac) ||
	    !zone(s, len, &i, &off)) {
		return -1;
	}
	if (i != len || y < 1 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59) {
		return -1;
	}
	t = days_from_civil(y, mo, d) * 86400 + (int64_t) h * 3600 +
	    (int64_t) mi * 60 + se - off;
	if (t < CORE_RFC3339_MIN_SECONDS || t > CORE_RFC3339_MAX_SECONDS) {
		return -2;
	}
	*secs = t;
	*nanos = (int32_t) frac;
	return 0;
}

/* ---- UUID --------------------------------------------------------------- */

bool
core_uuid_valid(const char *s)
{
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : core_hex_value(s[i]) < 0) {
			return false; /* also stops at a short string's NUL */
		}
	}
	return s[36] == '\0';
}
