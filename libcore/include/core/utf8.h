/* UTF-8 validation, shared by the RPC string checks and input rules. */
#ifndef CORE_UTF8_H
#define CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..n) is valid UTF-8: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequence. NUL bytes are valid UTF-8; callers
 * that refuse them check separately. */
bool core_utf8_valid(const void *s, size_t n);

#endif
