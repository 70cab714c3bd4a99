/* SQL for the profiles table of apidb. All statements are parameterized. */
#ifndef USER_PROFILES_REPO_H
#define USER_PROFILES_REPO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pg.h"
#include "profile_validate.h"

typedef struct user_profile {
	char user_id[37];
	char username[64];
	/* Characters of up to 4 bytes; the URL and the tag are ASCII. */
	char display_name[4 * USER_DISPLAY_NAME_MAX + 4];
	char bio[4 * USER_BIO_MAX + 4];
	char avatar_url[USER_AVATAR_URL_MAX + 1];
	char locale[USER_LOCALE_MAX + 1];
	int64_t version;
	int64_t created_us;
	int64_t updated_us;
} user_profile;

/* The profile of user_id, created (empty, with username) if it does not
 * exist yet; *created says whether this call made it. CORE_UNAVAILABLE
 * when the database is down. */
core_status user_profiles_get_or_create(core_pg *pg, const char *user_id,
    const char *username, user_profile *out, bool *created);

/* Takes back a profile this worker has just made: deletes user_id's row
 * only while it is still at version (nothing changed it since). */
core_status user_profiles_uncreate(
    core_pg *pg, const char *user_id, int64_t version);

/* Which fields an update sets (NULL: keep). */
typedef struct user_profile_update {
	const char *display_name;
	const char *bio;
	const char *avatar_url;
	const char *locale;
	const int64_t *expected_version; /* NULL: no check */
} user_profile_update;

/* Applies u to user_id's profile (which must exist) in one statement,
 * bumping its version, and writes the profile as it now is to *out. An
 * update that would change nothing (no field, or every field to the value
 * it has) leaves the row alone: CORE_OK with the current version and
 * *changed false. CORE_FAILED_PRECONDITION when expected_version does not
 * match (whether or not anything would change); CORE_NOT_FOUND when there
 * is no profile; CORE_ABORTED when concurrent updates kept changing it. */
core_status user_profiles_update(core_pg *pg, const char *user_id,
    const user_profile_update *u, user_profile *out, bool *changed);

/* Deletes user_id's profile (a UUID); *deleted says whether there was
 * one. CORE_UNAVAILABLE when the database is down. */
core_status user_profiles_delete(
    core_pg *pg, const char *user_id, bool *deleted);

#endif
