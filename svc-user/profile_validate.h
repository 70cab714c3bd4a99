/* Rules for profile fields: pure functions, no I/O. Each returns NULL when
 * the value is acceptable, else a message for the client: static text, or
 * this thread's copy that stays until the same function runs again on this
 * thread. The lengths are the rows of user.v1.UpdateProfileRequest in
 * proto/rules.c, in characters; the shapes are checked here. */
#ifndef USER_PROFILE_VALIDATE_H
#define USER_PROFILE_VALIDATE_H

/* Sizes of the profile's buffers (profiles_repo.h), equal to the rows'
 * limits (tests/unit/test_rules.c). */
#define USER_DISPLAY_NAME_MAX 64 /* characters */
#define USER_BIO_MAX 500         /* characters */
/* Characters, and bytes: a valid URL or tag is ASCII. */
#define USER_AVATAR_URL_MAX 2048
#define USER_LOCALE_MAX 35

/* Up to 64 characters, no control characters (valid UTF-8 is checked by
 * the RPC core before any handler runs). */
const char *user_display_name_check(const char *s);
/* Up to 500 characters; newlines and tabs allowed, other controls not. */
const char *user_bio_check(const char *s);
/* Empty, or an https:// URL with a host, no spaces or controls, at most
 * 2048 characters. */
const char *user_avatar_url_check(const char *s);
/* Empty, or a BCP 47 shaped tag of at most 35 characters: 2-3 letter
 * language, then subtags of 1-8 letters or digits separated by '-' ("en",
 * "pt-BR", "zh-Hant-TW"). */
const char *user_locale_check(const char *s);

#endif
