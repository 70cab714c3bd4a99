/* SQL of the password flows (password.c) in authdb: the reset_password
 * one-time tokens (migration 005_password_reset.sql) and the password
 * changes, each with its mail written to the outbox in the same statement.
 * All statements are parameterized. */
#ifndef AUTH_PASSWORD_REPO_H
#define AUTH_PASSWORD_REPO_H

#include <stdbool.h>

#include "core/pg.h"
#include "users_repo.h"

/* Whom a reset is for: enough to address and greet them. */
typedef struct auth_reset_user {
	char id[37];
	char username[33];
	char email[255];
} auth_reset_user;

/* The active user whose (normalised) email this is into *u; *found =
 * false when there is none (or the account is disabled). */
core_status auth_reset_find_by_email(
    core_pg *pg, const char *email, auth_reset_user *u, bool *found);

/* A new reset_password token for u, replacing the user's previous one (its
 * link stops working), and its mail (to u's address), in one statement,
 * only while u is still active with that address. *done says whether it
 * was written. */
core_status auth_reset_token_write(core_pg *pg, const auth_reset_user *u,
    const auth_users_mail *mail, bool *done);

/* The user of the live (unexpired) reset_password token whose SHA-256 is
 * hash_hex, without using it; *found = false for a wrong, used, expired,
 * other-purpose token or a disabled user. */
core_status auth_reset_token_peek(
    core_pg *pg, const char *hash_hex, auth_reset_user *u, bool *found);

/* Uses the reset_password token hash_hex of user_id: deletes it (it works
 * once) and, when it had not expired and its user is still active, sets
 * the password hash and queues the notice mail (subject, text, html) to
 * the user's address, in one statement. *done says whether it did; a
 * token used meanwhile is *done = false with CORE_OK. Concurrent uses of
 * one token: the row lock of the delete lets exactly one of them see it. */
core_status auth_reset_token_use(core_pg *pg, const char *hash_hex,
    const char *user_id, const char *password_hash,
    const auth_users_mail *notice, bool *done);

/* Sets the password hash of the active user user_id, voids any reset link
 * of theirs and queues the notice mail to their address, in one
 * statement. *done = false when the user is gone or disabled. */
core_status auth_password_set(core_pg *pg, const char *user_id,
    const char *password_hash, const auth_users_mail *notice, bool *done);

#endif
