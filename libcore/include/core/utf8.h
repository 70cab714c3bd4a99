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

#endif
