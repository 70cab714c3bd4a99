/* Input rules for accounts: pure functions, no I/O. The lengths and the
 * required fields are the rows of proto/rules.c (auth.v1.RegisterRequest,
 * auth.v1.AdminListUsersRequest), in characters; the shapes are checked
 * here. The defines below size buffers; tests/unit/test_rules.c holds them
 * equal to the rows.
 *
 * A message these functions return is static text, or this thread's copy
 * that stays until the same function runs again on this thread. */
#ifndef AUTH_VALIDATE_H
#define AUTH_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_USERNAME_MIN 3
#define AUTH_USERNAME_MAX 32 /* characters, and bytes: ASCII only */
#define AUTH_EMAIL_MAX 254   /* characters, and bytes: ASCII only */

/* Checks a username (3-32 of [A-Za-z0-9_.-]) and writes its stored form,
 * lower-cased, into out (>= AUTH_USERNAME_MAX + 1 bytes). Returns NULL when
 * valid, else a message for the client. */
const char *auth_username_normalize(const char *in, char *out, size_t outlen);

/* Checks an email address (a pragmatic subset of RFC 5321: dot-atom local
 * part up to 64, a domain of at least two labels of [a-z0-9-] with an
 * alphabetic top-level label, at most 254 in all; no spaces, no quotes, no
 * IP literals) and writes it lower-cased into out (>= AUTH_EMAIL_MAX + 1
 * bytes). Returns NULL when valid, else a message for the client. */
const char *auth_email_normalize(const char *in, char *out, size_t outlen);

/* Checks a new password: 8-128 characters of valid UTF-8 without control
 * characters, not the username (ignoring case), not one of the most common
 * passwords. Returns NULL when acceptable, else a message for the client
 * (which never repeats the password). */
const char *auth_password_check(const char *password, const char *username);

/* Whether s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool auth_utf8_valid(const char *s, size_t n);

/* Copies a string from a client into out (len bytes) for storage and
 * logs: cut to fit, and "-" when the result is not valid UTF-8 (bad input,
 * or a cut inside a character). */
void auth_clip(char *out, size_t len, const char *in);

/* Whether s is a UUID in its text form (8-4-4-4-12 hex digits, either
 * case): what users.id holds. */
bool auth_uuid_valid(const char *s);

/* ---- Listing users (AdminListUsers) ------------------------------------ */

/* Characters of a search prefix: the longest email. */
#define AUTH_QUERY_MAX 254
/* A LIKE pattern for a query of AUTH_QUERY_MAX characters fits: each is at
 * most 4 bytes, or 2 when escaped. */
#define AUTH_LIKE_MAX (4 * AUTH_QUERY_MAX + 3)

/* Writes the LIKE pattern (for ESCAPE '\') that matches every string
 * containing query, ASCII letters lower-cased as stored usernames and
 * emails are: '%', '_' and '\' are escaped, so they match only themselves,
 * between a leading and a trailing '%'. out needs AUTH_LIKE_MAX bytes. Returns NULL, or a
 * message for the client when query is longer than AUTH_QUERY_MAX
 * characters. */
const char *auth_like_substring(const char *query, char *out, size_t outlen);

/* Page tokens are opaque to clients: base64url of a version byte (1) and
 * the username the next page starts after. */
#define AUTH_PAGE_TOKEN_MAX 48 /* base64url of 1 + 32 bytes, and a NUL */

/* Writes the token of the page that follows username (a stored username)
 * to out. Returns 0, or -1 when username is not 3..32 bytes or out is too
 * small. */
int auth_page_token_encode(const char *username, char *out, size_t outlen);

/* Reads a token made by auth_page_token_encode back into its username (out
 * needs AUTH_USERNAME_MAX + 1 bytes). Returns 0, or -1 for anything else:
 * not strict base64url, another version, or not a stored username's
 * shape. */
int auth_page_token_decode(const char *token, char *out, size_t outlen);

#endif
