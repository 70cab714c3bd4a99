/* Small text rules of svc-admin: what may go into an audit row. Pure
 * functions, unit-tested in tests/unit/test_admin_logic.c. */
#ifndef ADMIN_TEXT_H
#define ADMIN_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Copies at most cap - 1 bytes of the UTF-8 string s into out (cap >= 1),
 * cutting only between characters, so a clipped copy is still valid UTF-8
 * when s is. Returns true when all of s fit. */
bool admin_utf8_clip(const char *s, char *out, size_t cap);

/* A JSON string of s (NULL counts as ""). jansson refuses invalid UTF-8,
 * which request strings cannot hold (the RPC server checks them), so its
 * U+FFFD stand-in is only a guard. NULL only when out of memory. */
json_t *admin_json_str(const char *s);

/* Whether s is an IPv4 or IPv6 address in text form (what the edge sends
 * as client-ip metadata). */
bool admin_ip_valid(const char *s);

#endif
