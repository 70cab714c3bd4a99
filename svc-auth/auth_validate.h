/* Input rules for accounts: pure functions, no I/O. */
#ifndef AUTH_VALIDATE_H
#define AUTH_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_USERNAME_MIN 3
#define AUTH_USERNAME_MAX 32
#define AUTH_EMAIL_MAX 254
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 128

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

/* Checks a new password: 8-128 bytes of valid UTF-8 without control
 * characters, not the username (ignoring case), not one of the most common
 * passwords. Returns NULL when acceptable, else a message for the client
 * (which never repeats the password). */
const char *auth_password_check(const char *password, const char *username);

/* Whether s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool auth_utf8_valid(const char *s, size_t n);

#endif
