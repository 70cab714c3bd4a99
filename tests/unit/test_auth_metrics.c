/* svc-auth's metrics (svc-auth/auth_metrics.c): a throttle refusal is
 * counted under the limit its Redis key names, and every series of the
 * fixed lists is rendered from the start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../metrics_scrape.h"

#include "auth_metrics.h"
#include "core/metrics.h"

/* The value of sample as rendered, or -1 when it is not there. */
static double
scraped(const char *sample)
{
	return metrics_scraped(sample, -1);
}

static double
refusals(const char *limit)
{
	char sample[160];
	snprintf(sample, sizeof(sample),
	    "auth_throttle_refusals_total{component=\"core\",limit=\"%s\"}",
	    limit);
	return scraped(sample);
}

static void
test_refusals_are_counted_under_the_limit_their_key_names(void **state)
{
	(void) state;
	/* Every key prefix svc-auth throttles on (ratelimit.h's callers). */
	static const struct {
		const char *key, *limit;
	} cases[] = {
	    {"ratelimit:login:user:ada", "login_user"},
	    {"ratelimit:login:ip:192.0.2.1", "login_ip"},
	    {"ratelimit:login:device:d1", "login_device"},
	    {"ratelimit:mfa:user:u1", "mfa_user"},
	    {"ratelimit:mfa:ip:192.0.2.1", "mfa_ip"},
	    {"ratelimit:mfa:device:d1", "mfa_device"},
	    {"ratelimit:register:ip:192.0.2.1", "register_ip"},
	    {"ratelimit:register-taken:email:ab12", "register_taken_mail"},
	    {"ratelimit:forgot:email:ada@example.com", "reset_email"},
	    {"ratelimit:forgot:ip:192.0.2.1", "reset_ip"},
	    {"ratelimit:verify-resend:user:u1", "verify_resend"},
	    {"ratelimit:email-change:user:u1", "email_change"},
	    {"ratelimit:something-new:x", "other"},
	};
	auth_metrics_init();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double before = refusals(cases[i].limit);
		double other = refusals("other");
		assert_true(before >= 0);
		auth_metrics_throttled(cases[i].key);
		if (refusals(cases[i].limit) != before + 1) {
			fail_msg("%s: not counted as %s", cases[i].key,
			    cases[i].limit);
		}
		if (strcmp(cases[i].limit, "other") != 0) {
			assert_true(refusals("other") == other);
		}
	}
}

static void
test_every_series_is_there_at_start(void **state)
{
	(void) state;
	auth_metrics_init();
	static const char *const samples[] = {
	    "auth_logins_total{component=\"core\",outcome=\"success\"}",
	    "auth_logins_total{component=\"core\",outcome=\"mfa_failed\"}",
	    "auth_logins_total{component=\"core\",outcome=\"error\"}",
	    "auth_refresh_total{component=\"core\",outcome=\"reuse_detected\"}",
	    "auth_refresh_reuse_detected_total{component=\"core\"}",
	    "auth_argon2_queue_wait_seconds_count{component=\"core\"}",
	    "auth_argon2_queue_depth{component=\"core\"}",
	    "auth_mails_total{component=\"core\",outcome=\"failed\"}",
	    "auth_mail_outbox_backlog{component=\"core\"}",
	    "auth_mail_outbox_oldest_age_seconds{component=\"core\"}",
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		if (scraped(samples[i]) < 0) {
			fail_msg("%s is not rendered", samples[i]);
		}
	}
	/* A queued mail only when its statement wrote it. */
	double queued =
	    scraped("auth_mails_total{component=\"core\",outcome=\"queued\"}");
	bool no = false, yes = true;
	assert_int_equal(auth_metrics_mail_queued(CORE_OK, &no, 1), CORE_OK);
	assert_int_equal(auth_metrics_mail_queued(CORE_UNAVAILABLE, &yes, 1),
	    CORE_UNAVAILABLE);
	assert_int_equal(auth_metrics_mail_queued(CORE_OK, &yes, 2), CORE_OK);
	assert_true(scraped("auth_mails_total{component=\"core\","
	                    "outcome=\"queued\"}") == queued + 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_refusals_are_counted_under_the_limit_their_key_names),
	    cmocka_unit_test(test_every_series_is_there_at_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
