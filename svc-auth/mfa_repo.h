/* SQL for two-factor login (migration 007_mfa.sql): the TOTP secret of a
 * user and their recovery codes. All statements are parameterized; each
 * change and the notice mail it sends are one statement (the outbox row
 * is written with the change or not at all). */
#ifndef AUTH_MFA_REPO_H
#define AUTH_MFA_REPO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pg.h"
#include "totp.h"

/* A notice for the outbox; its recipient is the user's email. */
typedef struct auth_mfa_mail {
	const char *subject;
	const char *text;
	const char *html;
} auth_mfa_mail;

/* A user's TOTP row. */
typedef struct auth_mfa_totp {
	uint8_t sealed[AUTH_TOTP_SEALED_BYTES];
	bool enabled;
	int64_t last_step;
	int64_t age_s; /* since the enrolment began */
} auth_mfa_totp;

/* The TOTP row of user_id into *out; CORE_NOT_FOUND when there is none. */
core_status auth_mfa_totp_get(
    core_pg *pg, const char *user_id, auth_mfa_totp *out);

/* Whether two-factor login is on for user_id, and how many unused
 * recovery codes are left. */
core_status auth_mfa_status(
    core_pg *pg, const char *user_id, bool *enabled, int *codes_left);

/* Stores a pending enrolment (sealed secret, not enabled), replacing an
 * earlier pending one. CORE_FAILED_PRECONDITION when two-factor login is
 * on already (nothing is written). */
core_status auth_mfa_enroll(core_pg *pg, const char *user_id,
    const uint8_t sealed[AUTH_TOTP_SEALED_BYTES]);

/* Turns the pending enrolment of user_id on, if it began less than
 * max_age_s ago, with step as the step of the last code used and the
 * recovery codes of hashes (AUTH_RECOVERY_CODES hex SHA-256s), and queues
 * mail. *done says whether it did. */
core_status auth_mfa_confirm(core_pg *pg, const char *user_id, int64_t step,
    int max_age_s, char hashes[AUTH_RECOVERY_CODES][65],
    const auth_mfa_mail *mail, bool *done);

/* Uses time step step of user_id's enabled TOTP: only a step later than
 * the last one used is taken (one UPDATE: a code works once, across
 * replicas). *ok says whether it was. */
core_status auth_mfa_use_step(
    core_pg *pg, const char *user_id, int64_t step, bool *ok);

/* Uses the unused recovery code whose hash is hash_hex, while two-factor
 * login is on (one UPDATE: of callers presenting it at once, exactly one
 * gets *ok). */
core_status auth_mfa_use_recovery(
    core_pg *pg, const char *user_id, const char *hash_hex, bool *ok);

/* Replaces the recovery codes of user_id (while two-factor login is on)
 * with hashes, and queues mail. *done says whether it did. */
core_status auth_mfa_replace_codes(core_pg *pg, const char *user_id,
    char hashes[AUTH_RECOVERY_CODES][65], const auth_mfa_mail *mail,
    bool *done);

/* Removes the TOTP secret (pending or on) and the recovery codes of
 * user_id; when it was on, queues mail. *was_enabled says whether it was
 * on. */
core_status auth_mfa_remove(core_pg *pg, const char *user_id,
    const auth_mfa_mail *mail, bool *was_enabled);

#endif
