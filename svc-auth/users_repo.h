/* SQL for the users table of authdb. All statements are parameterized. */
#ifndef AUTH_USERS_REPO_H
#define AUTH_USERS_REPO_H

#include <stdbool.h>
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
	bool email_verified;
} auth_user;

/* The verification mail written with a new user: the token's hash (hex),
 * its life, and the rendered message (its recipient is the user's
 * email). */
typedef struct auth_users_mail {
	const char *token_hash_hex;
	int token_ttl_s;
	const char *subject;
	const char *text;
	const char *html;
} auth_users_mail;

/* Inserts a new active user with role "user", in the same transaction
 * its email verification token and mail (into the outbox). Returns CORE_OK and fills
 * out; CORE_ALREADY_EXISTS when the username or the email is taken;
 * CORE_UNAVAILABLE when the database is unreachable; CORE_INTERNAL else. */
core_status auth_users_insert(core_pg *pg, const char *username,
    const char *email, const char *password_hash, const auth_users_mail *mail,
    auth_user *out);

/* Whether a user has this (normalised) username (*name_taken) and whether
 * one has this email (*email_taken). Registration asks before it hashes;
 * the insert still decides a race. */
core_status auth_users_taken(core_pg *pg, const char *username,
    const char *email, bool *name_taken, bool *email_taken);

/* Finds a user by (normalised) username and copies the password hash into
 * hash (hashlen bytes). CORE_NOT_FOUND when there is none. */
core_status auth_users_find_by_username(core_pg *pg, const char *username,
    auth_user *out, char *hash, size_t hashlen);

/* Finds a user by id. CORE_NOT_FOUND when there is none (or id is not a
 * UUID). */
core_status auth_users_find_by_id(core_pg *pg, const char *id, auth_user *out);

/* Which users auth_users_list returns. NULL members match everything. */
typedef struct auth_users_filter {
	const char *like;   /* LIKE pattern (ESCAPE '\'): username or email */
	const char *status; /* "active" or "disabled" */
	const char *role;   /* "user" or "admin" */
	const char *after;  /* only usernames after this one */
} auth_users_filter;

#define AUTH_USERS_LIST_MAX 201 /* rows one call returns at most */

/* Up to limit (1..AUTH_USERS_LIST_MAX) users matching f, ordered by
 * username byte for byte (so "after" continues a listing exactly where the
 * previous page ended, however many users were added meanwhile), into
 * out[0..*n). */
core_status auth_users_list(core_pg *pg, const auth_users_filter *f, int limit,
    auth_user *out, size_t *n);

/* How many users match f, "after" left out. A substring LIKE cannot use an
 * index: a sequential scan, fine at the thousands of accounts this serves
 * (docs/operations.md). */
core_status auth_users_count(
    core_pg *pg, const auth_users_filter *f, int64_t *total);

/* A change of a user's access: status and role, NULL to keep. */
typedef struct auth_access_change {
	const char *status; /* "active" or "disabled" */
	const char *role;   /* "user" or "admin" */
} auth_access_change;

/* Applies ch to the user with this id, in one transaction that every
 * change of access takes in turn (a transaction-level advisory lock), with
 * the target row locked: when actor_id is not NULL, the actor must be an
 * active admin at that moment; a change that would leave no active admin
 * at all is refused. Fills before and after (equal when nothing changed:
 * then nothing is written). Returns CORE_OK, CORE_NOT_FOUND (no such user,
 * or id is not a UUID), CORE_PERMISSION_DENIED (the actor is not an active
 * admin), CORE_FAILED_PRECONDITION (the last active admin), or the
 * database's error. */
core_status auth_users_set_access(core_pg *pg, const char *actor_id,
    const char *id, const auth_access_change *ch, auth_user *before,
    auth_user *after);

/* The same for the user with this (normalised) username and no actor: how
 * the first admin is made (svc-auth promote-admin). */
core_status auth_users_set_access_by_username(core_pg *pg,
    const char *username, const auth_access_change *ch, auth_user *before,
    auth_user *after);

/* Deletes the user with this id, in the transaction every change of
 * access takes in turn, with the same checks as disabling them: when
 * actor_id is not NULL the actor must be an active admin at that moment,
 * and the last active admin is not deleted. Fills before with the row as
 * it was. Returns CORE_OK, CORE_NOT_FOUND (no such user, or id is not a
 * UUID), CORE_PERMISSION_DENIED, CORE_FAILED_PRECONDITION (the last
 * active admin), or the database's error. */
core_status auth_users_delete(
    core_pg *pg, const char *actor_id, const char *id, auth_user *before);

/* Whether the user with this id is the only active admin (*last): what
 * auth_users_delete would refuse, asked before a deletion undoes anything.
 * CORE_NOT_FOUND when there is no such user. */
core_status auth_users_is_last_admin(core_pg *pg, const char *id, bool *last);

#endif
