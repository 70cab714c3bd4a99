/* UTF-8 validation, shared by the RPC string checks, the JSON codec and
 * input rules. Strict: no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequence. */
#ifndef CORE_UTF8_H
#define CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence that starts s
 * (at most n bytes are read), or 0 when s does not start with one (or n is
 * 0). For walking text character by character, e.g. to replace or show
 * each invalid byte. */
size_t core_utf8_seq_len(const void *s, size_t n);

/* Whether s[0..n) is valid UTF-8 (a run of core_utf8_seq_len sequences).
 * NUL bytes are valid UTF-8; callers that refuse them check separately. */
bool core_utf8_valid(const void *s, size_t n);

/* The length of the longest prefix of s, at most max bytes (and not past
 * its NUL), that is valid UTF-8: where a text is cut so that a cut never
 * splits a character and no byte that is not UTF-8 goes on (e.g. an RPC
 * reply's message, whose strings are proto3 strings). */
size_t core_utf8_prefix(const char *s, size_t max);

/* Copies the text src into dst (room for cap bytes, cap >= 1) as valid
 * UTF-8, NUL-terminated: each byte that does not begin a well-formed
 * sequence becomes U+FFFD (EF BF BD), and the copy stops before the first
 * character (or replacement) that does not fit whole, so a cut never
 * splits one. For client text passed on in a string field or shown in a
 * problem document. Returns the length copied. */
size_t core_utf8_clean(char *dst, size_t cap, const char *src);

#endif
