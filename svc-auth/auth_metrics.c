/* svc-auth's own metrics; see auth_metrics.h. */
#include <stddef.h>
#include <string.h>

#include "auth_metrics.h"
#include "core/metrics.h"

#define AUTH_METRICS_NAME(e, name) name,
static const char *const login_names[] = {
    AUTH_LOGIN_OUTCOMES(AUTH_METRICS_NAME)};
static const char *const refresh_names[] = {
    AUTH_REFRESH_OUTCOMES(AUTH_METRICS_NAME)};
static const char *const mail_names[] = {
    AUTH_MAIL_OUTCOMES(AUTH_METRICS_NAME)};
#undef AUTH_METRICS_NAME

/* The limits, by the prefix of their Redis keys (ratelimit.h): a key is
 * "<prefix><who>". The password checks of sensitive changes and of MFA
 * enrolment count on the login keys, so they are login_* here too. */
static const struct {
	const char *prefix;
	const char *limit;
} limits[] = {
    {"ratelimit:login:user:", "login_user"},
    {"ratelimit:login:ip:", "login_ip"},
    {"ratelimit:login:device:", "login_device"},
    {"ratelimit:mfa:user:", "mfa_user"},
    {"ratelimit:mfa:ip:", "mfa_ip"},
    {"ratelimit:mfa:device:", "mfa_device"},
    {"ratelimit:register:ip:", "register_ip"},
    {"ratelimit:register-taken:email:", "register_taken_mail"},
    {"ratelimit:forgot:email:", "reset_email"},
    {"ratelimit:forgot:ip:", "reset_ip"},
    {"ratelimit:verify-resend:user:", "verify_resend"},
    {"ratelimit:email-change:user:", "email_change"},
};
#define N_LIMITS (sizeof(limits) / sizeof(limits[0]))

/* Written by auth_metrics_init before the service's threads start, read
 * only after. */
static core_metric_series *logins[AUTH_LOGIN_N_OUTCOMES];
static core_metric_series *refreshes[AUTH_REFRESH_N_OUTCOMES];
static core_metric_series *reuse_detected;
static core_metric_series *throttled[N_LIMITS + 1]; /* + "other" */
static core_metric_series *argon2_wait, *argon2_depth;
static core_metric_series *mails[AUTH_MAIL_N_OUTCOMES];
static core_metric_series *outbox_backlog, *outbox_oldest;

/* The series of family f for each of the n values (one label). */
static void
series_of(core_metric *f, const char *const *values, size_t n,
    core_metric_series **out)
{
	for (size_t i = 0; i < n; i++) {
		const char *v[] = {values[i]};
		out[i] = f != NULL ? core_metric_series_get(f, NULL, v) : NULL;
	}
}

/* The series without labels of a family of type t. */
static core_metric_series *
single(core_metric_type t, const char *name, const char *help)
{
	core_metric *f = core_metric_family(t, name, help, NULL, NULL, 0);
	return f != NULL ? core_metric_series_get(f, NULL, NULL) : NULL;
}

void
auth_metrics_init(void)
{
	static const char *const outcome[] = {"outcome", NULL};
	static const char *const limit[] = {"limit", NULL};
	series_of(core_metric_family(CORE_METRIC_COUNTER, "auth_logins_total",
	              "Login attempts by outcome (LoginMfa's second step "
	              "included).",
	              outcome, NULL, 0),
	    login_names, AUTH_LOGIN_N_OUTCOMES, logins);
	series_of(core_metric_family(CORE_METRIC_COUNTER, "auth_refresh_total",
	              "Refresh token rotations by outcome.", outcome, NULL, 0),
	    refresh_names, AUTH_REFRESH_N_OUTCOMES, refreshes);
	reuse_detected = single(CORE_METRIC_COUNTER,
	    "auth_refresh_reuse_detected_total",
	    "Rotated refresh tokens presented again; each ended its session.");
	const char *names[N_LIMITS + 1];
	for (size_t i = 0; i < N_LIMITS; i++) {
		names[i] = limits[i].limit;
	}
	names[N_LIMITS] = "other";
	series_of(
	    core_metric_family(CORE_METRIC_COUNTER,
	        "auth_throttle_refusals_total",
	        "Requests refused by a rate limit, by limit.", limit, NULL, 0),
	    names, N_LIMITS + 1, throttled);
	argon2_wait =
	    single(CORE_METRIC_HISTOGRAM, "auth_argon2_queue_wait_seconds",
	        "Time a password hash waited for a slot of the hash gate.");
	argon2_depth = single(CORE_METRIC_GAUGE, "auth_argon2_queue_depth",
	    "Password hashes waiting for a slot now.");
	series_of(core_metric_family(CORE_METRIC_COUNTER, "auth_mails_total",
	              "Mails queued in the outbox, sent, and failed delivery "
	              "attempts.",
	              outcome, NULL, 0),
	    mail_names, AUTH_MAIL_N_OUTCOMES, mails);
	outbox_backlog = single(CORE_METRIC_GAUGE, "auth_mail_outbox_backlog",
	    "Outbox rows waiting to be sent, as the mail sender last saw.");
	outbox_oldest =
	    single(CORE_METRIC_GAUGE, "auth_mail_outbox_oldest_age_seconds",
	        "Age of the oldest outbox row waiting to be sent (0: none).");
}

void
auth_metrics_login(auth_login_outcome o)
{
	core_metric_inc(logins[o]);
}

void
auth_metrics_refresh(auth_refresh_outcome o)
{
	core_metric_inc(refreshes[o]);
	if (o == AUTH_REFRESH_REUSE) {
		core_metric_inc(reuse_detected);
	}
}

void
auth_metrics_throttled(const char *key)
{
	size_t i = 0;
	while (i < N_LIMITS &&
	       strncmp(key, limits[i].prefix, strlen(limits[i].prefix)) != 0) {
		i++;
	}
	core_metric_inc(throttled[i]); /* N_LIMITS: "other" */
}

void
auth_metrics_argon2_wait(double seconds)
{
	core_metric_observe(argon2_wait, seconds);
}

void
auth_metrics_argon2_depth(int waiting)
{
	core_metric_set(argon2_depth, (double) waiting);
}

void
auth_metrics_mail(auth_mail_outcome o, unsigned n)
{
	core_metric_add(mails[o], (double) n);
}

core_status
auth_metrics_mail_queued(core_status st, const bool *queued, unsigned n)
{
	if (st == CORE_OK && *queued) {
		auth_metrics_mail(AUTH_MAIL_QUEUED, n);
	}
	return st;
}

void
auth_metrics_outbox(int64_t backlog, double oldest_age_s)
{
	core_metric_set(outbox_backlog, (double) backlog);
	core_metric_set(outbox_oldest, oldest_age_s);
}
