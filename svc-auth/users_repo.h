/* SQL for the users table of authdb. All statements are parameterized. */
#ifndef AUTH_USERS_REPO_H
#define AUTH_USERS_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "core/pg.h"

typedef struct auth_user {
	char id[37];
	char username[33];
	char email[255];
	char role[8];
	char status[10];
	int64_t created_us; /* Unix time, microseconds */
	int64_t updated_us;
} auth_user;

/* Inserts a new active user with role "user". Returns CORE_OK and fills
 * out; CORE_ALREADY_EXISTS when the username or the email is taken;
 * CORE_UNAVAILABLE when the database is unreachable; CORE_INTERNAL else. */
core_status auth_users_insert(core_pg *pg, const char *username,
    const char *email, const char *password_hash, auth_user *out);

/* Finds a user by (normalised) username and copies the password hash into
 * hash (hashlen bytes). CORE_NOT_FOUND when there is none. */
core_status auth_users_find_by_username(core_pg *pg, const char *username,
    auth_user *out, char *hash, size_t hashlen);

/* Finds a user by id. CORE_NOT_FOUND when there is none (or id is not a
 * UUID). */
core_status auth_users_find_by_id(core_pg *pg, const char *id, auth_user *out);

#endif
