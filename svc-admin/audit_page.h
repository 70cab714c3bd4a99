/* Page tokens of ListAudit: opaque to clients, keyset pagination inside.
 *
 * A token carries the id of the last entry of the page it follows (the next
 * page holds ids below it) and a fingerprint of the filters it was made
 * for, so a token replayed with other filters is refused instead of paging
 * through a different result. Pure functions, unit-tested in
 * tests/unit/test_admin_logic.c. */
#ifndef AUDIT_PAGE_H
#define AUDIT_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_PAGE_TOKEN_MAX 32 /* bytes of a token, NUL included */

/* The filters a token is bound to (NULL strings count as ""). */
typedef struct audit_page_filters {
	const char *actor;
	const char *target;
	const char *action;
	const char *kind; /* "changes", "reads", or "" / "all" */
	bool has_since;
	int64_t since_us;
} audit_page_filters;

/* Writes the token that continues after last_id (> 0) under f to out
 * (AUDIT_PAGE_TOKEN_MAX bytes). */
void audit_page_token_encode(
    int64_t last_id, const audit_page_filters *f, char *out);

/* Decodes token for f: returns 0 and writes *last_id (> 0), or -1 when the
 * token is malformed or was made for other filters. */
int audit_page_token_decode(
    const char *token, const audit_page_filters *f, int64_t *last_id);

#endif
