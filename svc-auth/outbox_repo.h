/* SQL for the outbox and the one-time tokens of authdb (migration
 * 004_mail.sql). All statements are parameterized. */
#ifndef AUTH_OUTBOX_REPO_H
#define AUTH_OUTBOX_REPO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pg.h"
#include "core/trace.h"
#include "mail.h"
#include "users_repo.h"

/* Uses the verify_email token whose SHA-256 is hash_hex: deletes it (it
 * works once) and, when it had not expired, marks its user's email
 * verified. *ok says whether it did; a wrong, used, expired or
 * other-purpose token is *ok = false with CORE_OK. Concurrent uses of one
 * token: the row lock of the delete lets exactly one of them see it. */
core_status auth_tokens_verify_email(
    core_pg *pg, const char *hash_hex, bool *ok, char user_id[37]);

/* A new verify_email token for u (replacing any earlier one of u: the
 * previous link stops working) and its mail, in one statement, only while
 * u's email is still u->email and unverified. *done says whether it was
 * written. */
core_status auth_tokens_resend_verification(
    core_pg *pg, const auth_user *u, const auth_users_mail *mail, bool *done);

/* The traceparent a mail queued now keeps: the calling thread's trace
 * context (the call's), written into buf (CORE_TRACEPARENT_LEN + 1 bytes);
 * NULL (SQL NULL) when the thread has none. The sender's lines about the
 * mail then carry the trace id of the call that queued it. Every statement
 * that inserts into outbox passes it. */
const char *auth_outbox_trace(char *buf);

/* A claimed outbox row: what the sender delivers. Strings are the
 * result's (valid until auth_outbox_row_free). */
typedef struct auth_outbox_row {
	int64_t id;
	int attempts; /* counting this one */
	const char *recipient, *subject, *text, *html;
	const char *traceparent; /* of the call that queued it, or NULL */
	PGresult *r;
} auth_outbox_row;

/* Claims one due row (queued and due, or sending with an expired lease:
 * its sender died), skipping rows another sender holds locked (FOR UPDATE
 * SKIP LOCKED), setting it to sending with a lease of lease_s and one more
 * attempt. *found = false when there is none. */
core_status auth_outbox_claim(
    core_pg *pg, int lease_s, auth_outbox_row *row, bool *found);

void auth_outbox_row_free(auth_outbox_row *row);

/* Marks the row sent (and clears its bodies: they may hold a token). */
core_status auth_outbox_sent(core_pg *pg, int64_t id);

/* A failed attempt: queued again after retry_s, or dead when dead is
 * true; error (no secret in it) is kept in last_error. */
core_status auth_outbox_failed(
    core_pg *pg, int64_t id, int retry_s, bool dead, const char *error);

/* The outbox's rows per state, in the order of AUTH_OUTBOX_STATES. */
#define AUTH_OUTBOX_STATES                                                    \
	{                                                                     \
		"queued", "sending", "sent", "dead"                           \
	}
#define AUTH_OUTBOX_N_STATES 4
core_status auth_outbox_counts(
    core_pg *pg, int64_t counts[AUTH_OUTBOX_N_STATES]);

/* The rows waiting to be sent (queued, or sending) into *n, and the age
 * of the oldest of them in ms into *oldest_ms (0 when none). A read of
 * the partial index outbox_pending only. */
core_status auth_outbox_backlog(core_pg *pg, int64_t *n, int64_t *oldest_ms);

/* Queues m to recipient, alone: a mail that goes with no other change
 * (registration with a taken address). */
core_status auth_outbox_queue(
    core_pg *pg, const char *recipient, const auth_mail_msg *m);

/* An email change asked for: the user, the (normalised) new address, the
 * token's hash (hex) and life, the mail to the new address and the notice
 * to the old one. token_hash_hex NULL: the new address has an account, no
 * token is made (to_new says so instead). */
typedef struct auth_email_change {
	const char *user_id;
	const char *new_email;
	const char *token_hash_hex;
	int token_ttl_s;
	const auth_mail_msg *to_new;
	const auth_mail_msg *to_old;
} auth_email_change;

/* In one statement, while the user is active: the change_email token with
 * its new address (replacing the user's previous one: its link stops
 * working), or, without a token, the voiding of the previous one (so that
 * a taken address leaves the same traces as a free one); the mail to the
 * new address, and the notice to the user's address as stored now. *done
 * says whether it was written (false: the user is gone or disabled). */
core_status auth_tokens_change_email(
    core_pg *pg, const auth_email_change *ch, bool *done);

/* What the use of an email change token did. */
typedef enum auth_email_confirm {
	/* Wrong, used, voided, expired or another purpose's. */
	AUTH_EMAIL_CONFIRM_BAD_TOKEN,
	/* The account has the new address now, verified. */
	AUTH_EMAIL_CONFIRM_CHANGED,
	/* A valid token, spent, but another account has the address now. */
	AUTH_EMAIL_CONFIRM_TAKEN,
} auth_email_confirm;

/* Uses the change_email token whose SHA-256 is hash_hex: deletes it (it
 * works once: concurrent uses wait on its row lock, one sees it) and,
 * when it had not expired and no other account has its address, gives
 * the user that address, verified, and deletes the user's other one-time
 * tokens (they belong to the old address). user_id is written on
 * CHANGED. CORE_ALREADY_EXISTS when a registration took the address in
 * the same moment (nothing is changed, the token stays). */
core_status auth_tokens_confirm_email_change(core_pg *pg, const char *hash_hex,
    auth_email_confirm *outcome, char user_id[37]);

#endif
