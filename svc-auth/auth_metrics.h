/* svc-auth's own metrics (the names and their meaning: docs/operations.md,
 * "Service metrics"). Every label value comes from the tables here, never
 * from a request: the series are bounded and made at once by
 * auth_metrics_init, so a scrape shows each at 0 before its first event.
 * The updates take no lock. Before auth_metrics_init (unit tests) they do
 * nothing. */
#ifndef AUTH_METRICS_H
#define AUTH_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

/* auth_logins_total{outcome}: one per login attempt that got past the
 * request's checks (Login; LoginMfa for the second step). */
#define AUTH_LOGIN_OUTCOMES(X)                                                \
	X(AUTH_LOGIN_SUCCESS, "success") /* tokens issued */                  \
	X(AUTH_LOGIN_BAD_CREDENTIALS, "bad_credentials")                      \
	X(AUTH_LOGIN_MFA_REQUIRED, "mfa_required") /* a ticket issued */      \
	X(AUTH_LOGIN_MFA_FAILED, "mfa_failed")     /* bad code or ticket */   \
	X(AUTH_LOGIN_DISABLED, "disabled") /* or email not verified */        \
	X(AUTH_LOGIN_THROTTLED, "throttled")                                  \
	X(AUTH_LOGIN_ERROR, "error") /* storage down, hash gate busy... */

typedef enum auth_login_outcome {
#define AUTH_METRICS_ENUM(e, name) e,
	AUTH_LOGIN_OUTCOMES(AUTH_METRICS_ENUM) AUTH_LOGIN_N_OUTCOMES
} auth_login_outcome;

/* auth_refresh_total{outcome}: one per Refresh with a token. */
#define AUTH_REFRESH_OUTCOMES(X)                                              \
	X(AUTH_REFRESHED, "success")                                          \
	X(AUTH_REFRESH_BAD, "invalid") /* unknown, expired, ended session */  \
	X(AUTH_REFRESH_REUSE, "reuse_detected") /* the session was ended */   \
	X(AUTH_REFRESH_ERROR, "error")

typedef enum auth_refresh_outcome {
	AUTH_REFRESH_OUTCOMES(AUTH_METRICS_ENUM) AUTH_REFRESH_N_OUTCOMES
} auth_refresh_outcome;

/* auth_mails_total{outcome}. */
#define AUTH_MAIL_OUTCOMES(X)                                                 \
	X(AUTH_MAIL_QUEUED, "queued") /* written to the outbox */             \
	X(AUTH_MAIL_SENT, "sent")     /* accepted by the SMTP server */       \
	X(AUTH_MAIL_FAILED, "failed") /* a delivery attempt failed */

typedef enum auth_mail_outcome {
	AUTH_MAIL_OUTCOMES(AUTH_METRICS_ENUM) AUTH_MAIL_N_OUTCOMES
} auth_mail_outcome;
#undef AUTH_METRICS_ENUM

/* Registers the families and makes every series, for the calling thread's
 * component (svc-auth's: call it from the service's init, before its
 * threads start). Calling it again is harmless. */
void auth_metrics_init(void);

void auth_metrics_login(auth_login_outcome o);
void auth_metrics_refresh(auth_refresh_outcome o);

/* auth_throttle_refusals_total{limit}: a request refused by the rate
 * limit whose Redis key is key ("ratelimit:login:ip:192.0.2.1"); the
 * label is the limit the key's prefix names ("login_ip"), "other" for a
 * prefix not in the table. */
void auth_metrics_throttled(const char *key);

/* auth_argon2_queue_wait_seconds: how long a hash waited for its slot. */
void auth_metrics_argon2_wait(double seconds);

/* auth_argon2_queue_depth: calls waiting for a slot now. */
void auth_metrics_argon2_depth(int waiting);

/* auth_mails_total{outcome} += n. */
void auth_metrics_mail(auth_mail_outcome o, unsigned n);

/* auth_mails_total{outcome="queued"} += n when st is CORE_OK and *queued
 * (read after the statement whose status st is has run: the statement's
 * "a row was written" out-parameter); returns st. For the outbox's
 * writers: st = core_pg_exec_found(..., done); return
 * auth_metrics_mail_queued(st, done, 1). */
core_status auth_metrics_mail_queued(
    core_status st, const bool *queued, unsigned n);

/* auth_mail_outbox_backlog and auth_mail_outbox_oldest_age_seconds: rows
 * waiting to be sent (queued, or being sent), and the age of the oldest
 * (0 when none). */
void auth_metrics_outbox(int64_t backlog, double oldest_age_s);

#endif
