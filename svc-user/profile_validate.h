/* Rules for profile fields: pure functions, no I/O. Each returns NULL when
 * the value is acceptable, else a message for the client. */
#ifndef USER_PROFILE_VALIDATE_H
#define USER_PROFILE_VALIDATE_H

#define USER_DISPLAY_NAME_MAX 64 /* characters */
#define USER_BIO_MAX 500         /* characters */
#define USER_AVATAR_URL_MAX 2048 /* bytes */
#define USER_LOCALE_MAX 35       /* bytes */

/* Up to 64 characters, no control characters (valid UTF-8 is checked by
 * the RPC core before any handler runs). */
const char *user_display_name_check(const char *s);
/* Up to 500 characters; newlines and tabs allowed, other controls not. */
const char *user_bio_check(const char *s);
/* Empty, or an https:// URL with a host, no spaces or controls, at most
 * 2048 bytes. */
const char *user_avatar_url_check(const char *s);
/* Empty, or a BCP 47 shaped tag: 2-3 letter language, then subtags of 1-8
 * letters or digits separated by '-' ("en", "pt-BR", "zh-Hant-TW"). */
const char *user_locale_check(const char *s);

#endif
