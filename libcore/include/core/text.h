/* Small text codecs shared by libcore and its users: hex digits, standard
 * base64 (RFC 4648 section 4), RFC 3339 timestamps and UUID syntax. UTF-8
 * validation is in core/utf8.h; base64url for tokens in core/b64url.h.
 *
 * Pure functions on caller-provided memory: nothing allocates, no global
 * state, thread-safe, locale and TZ play no part. */
#ifndef CORE_TEXT_H
#define CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Hex ---------------------------------------------------------------- */

/* The value (0 to 15) of the hex digit c, either case; -1 when c is not
 * one. */
int core_hex_value(char c);

/* ---- Base64, standard alphabet ------------------------------------------ */

/* Length of the padded base64 text for n bytes, without the NUL. Valid
 * for n up to CORE_B64_ENCODE_MAX. */
#define CORE_B64_ENCODED_LEN(n) (((size_t) (n) + 2) / 3 * 4)
/* The most bytes core_b64_encode takes (so that the length cannot
 * overflow). */
#define CORE_B64_ENCODE_MAX ((SIZE_MAX / 4 - 1) * 3)

/* Writes base64(in[0..len)), standard alphabet with '=' padding, and a NUL
 * to out. Returns 0, or -1 when len exceeds CORE_B64_ENCODE_MAX or out
 * (cap bytes) is too small; out is then left empty if cap > 0. */
int core_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* The number of bytes that in[0..len) decodes to, judged by its length and
 * padding alone: writes it to *n and returns 0, or returns -1 when no
 * base64 text has that shape (one character left over, or padding in a
 * text whose length is not a multiple of 4). For sizing the output of
 * core_b64_decode; the characters themselves are checked there. */
int core_b64_decoded_len(const char *in, size_t len, size_t *n);

/* Decodes in[0..len) leniently, as proto3 JSON wants bytes read: the
 * standard (+/) or the URL-safe (-_) alphabet but not both in one text,
 * '=' padding optional (when present the length is a multiple of 4), the
 * unused low bits of the last character ignored; no whitespace. Returns 0
 * and writes *outlen bytes (core_b64_decoded_len's count) to out, or -1 on
 * any other character, a mix of alphabets, a bad length, or when out
 * (cap bytes) is too small (out may then be partly written). */
int core_b64_decode(
    const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen);

/* ---- RFC 3339 timestamps ------------------------------------------------ */

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range RFC 3339 can
 * write (and google.protobuf.Timestamp allows), in Unix seconds. */
#define CORE_RFC3339_MIN_SECONDS INT64_C(-62135596800)
#define CORE_RFC3339_MAX_SECONDS INT64_C(253402300799)

/* Buffer size that holds any formatted timestamp and its NUL
 * ("9999-12-31T23:59:59.999999999Z"). */
#define CORE_RFC3339_BUFSIZE 32

/* How core_rfc3339_format writes the fraction of a second. */
typedef enum core_rfc3339_frac {
	CORE_RFC3339_FRAC_NONE,     /* none: to the second, nanos dropped */
	CORE_RFC3339_FRAC_PROTOBUF, /* 0, 3, 6 or 9 digits, as protobuf's
	                               JSON mapping prints them */
	CORE_RFC3339_FRAC_NANOS,    /* 9 digits, none when nanos is 0 */
	CORE_RFC3339_FRAC_MILLIS,   /* always 3 digits (milliseconds,
	                               truncated), as the log writes them */
} core_rfc3339_frac;

/* Writes the UTC time secs + nanos/1e9 (Unix time) as RFC 3339,
 * "YYYY-MM-DDTHH:MM:SS[.fff]Z", and a NUL to buf. Returns 0, or -1 when
 * secs is outside CORE_RFC3339_MIN/MAX_SECONDS, nanos outside 0 to
 * 999999999, or buf (cap bytes; CORE_RFC3339_BUFSIZE always suffices) too
 * small; buf is then left empty if cap > 0. */
int core_rfc3339_format(int64_t secs, int32_t nanos, core_rfc3339_frac frac,
    char *buf, size_t cap);

/* Reads an RFC 3339 date-time, all of s[0..len):
 * YYYY-MM-DD(T|t)HH:MM:SS[.f{1,9}](Z|z|(+|-)HH:MM), a valid calendar date,
 * hours 0-23, minutes and seconds 0-59 (no leap second). Writes the Unix
 * time as *secs and *nanos and returns 0; returns -1 when malformed, -2
 * when well-formed but outside years 0001 to 9999 once converted to UTC
 * (outputs untouched on error). */
int core_rfc3339_parse(
    const char *s, size_t len, int64_t *secs, int32_t *nanos);

/* ---- UUID --------------------------------------------------------------- */

/* Whether s is a UUID in its text form: exactly 36 characters, 8-4-4-4-12
 * hex digits of either case separated by '-', and then the NUL. */
bool core_uuid_valid(const char *s);

#endif
