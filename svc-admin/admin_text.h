/* Small text rules of svc-admin: what may go into an audit row. Pure
 * functions, unit-tested in tests/unit/test_admin_logic.c. */
#ifndef ADMIN_TEXT_H
#define ADMIN_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s is a UUID in its canonical text form: 8-4-4-4-12 hex digits,
 * either case. */
bool admin_uuid_valid(const char *s);

/* Copies at most cap - 1 bytes of the UTF-8 string s into out (cap >= 1),
 * cutting only between characters, so a clipped copy is still valid UTF-8
 * when s is. Returns true when all of s fit. */
bool admin_utf8_clip(const char *s, char *out, size_t cap);

/* Whether s is an IPv4 or IPv6 address in text form (what the edge sends
 * as client-ip metadata). */
bool admin_ip_valid(const char *s);

#endif
