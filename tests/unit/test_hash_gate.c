/* The password-hash gate (svc-auth/hash_gate.c): slots, a bounded queue,
 * logins before registrations, deadlines. Threads wait in the gate; the
 * test moves on only when the gate's counters show them where expected,
 * so nothing depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "../metrics_scrape.h"

#include "auth_metrics.h"
#include "core/metrics.h"
#include "hash_gate.h"

typedef struct entrant {
	auth_hash_gate *g;
	auth_hash_kind kind;
	core_status st;
	uint32_t retry;
	int *order; /* where the order of grants is recorded */
	int *next;
	int mine;
	pthread_t t;
} entrant;

static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
enter_and_leave(void *arg)
{
	entrant *e = arg;
	e->st = auth_hash_gate_enter(e->g, e->kind, -1, &e->retry);
	if (e->st == CORE_OK) {
		pthread_mutex_lock(&order_mu);
		if (e->order != NULL) {
			e->order[(*e->next)++] = e->mine;
		}
		pthread_mutex_unlock(&order_mu);
		auth_hash_gate_leave(e->g, 1000);
	}
	return NULL;
}

static void
start(entrant *e, auth_hash_gate *g, auth_hash_kind kind)
{
	e->g = g;
	e->kind = kind;
	assert_int_equal(pthread_create(&e->t, NULL, enter_and_leave, e), 0);
}

/* Waits until the gate has n waiters and refused[kind] == refused. */
static void
wait_state(auth_hash_gate *g, int n, auth_hash_kind kind, uint64_t refused)
{
	auth_hash_gate_stats s;
	for (;;) {
		auth_hash_gate_stats_get(g, &s);
		if (s.waiting == n && s.refused[kind] == refused) {
			return;
		}
		usleep(1000);
	}
}

static void
test_gate_refuses_when_slots_and_queue_are_full(void **state)
{
	(void) state;
	auth_hash_gate *g = auth_hash_gate_new(2, 0);
	uint32_t retry = 0;
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_LOGIN, 0, &retry), 0);
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_REGISTER, -1, &retry), 0);
	assert_int_equal(auth_hash_gate_enter(g, AUTH_HASH_LOGIN, -1, &retry),
	    CORE_RESOURCE_EXHAUSTED);
	assert_true(retry >= 1);
	/* The early check says the same without taking anything. */
	assert_int_equal(auth_hash_gate_check(g, AUTH_HASH_REGISTER, &retry),
	    CORE_RESOURCE_EXHAUSTED);
	auth_hash_gate_leave(g, 30000);
	assert_int_equal(
	    auth_hash_gate_check(g, AUTH_HASH_REGISTER, &retry), CORE_OK);
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_LOGIN, 0, &retry), 0);
	auth_hash_gate_leave(g, 30000);
	auth_hash_gate_leave(g, 30000);
	assert_int_equal(auth_hash_gate_expected_ms(g), 30);
	auth_hash_gate_stats s;
	auth_hash_gate_stats_get(g, &s);
	assert_int_equal(s.running, 0);
	assert_int_equal(s.hashes[AUTH_HASH_LOGIN], 2);
	assert_int_equal(s.refused[AUTH_HASH_LOGIN], 1);
	assert_int_equal(s.refused[AUTH_HASH_REGISTER], 1);
	auth_hash_gate_free(g);
}

static void
test_gate_waiter_gives_up_at_its_deadline(void **state)
{
	(void) state;
	auth_hash_gate *g = auth_hash_gate_new(1, 1);
	uint32_t retry = 0;
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_LOGIN, 0, &retry), 0);
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_REGISTER, 20, &retry),
	    CORE_DEADLINE_EXCEEDED);
	/* No time at all: refused without queueing. */
	assert_int_equal(auth_hash_gate_enter(g, AUTH_HASH_LOGIN, 0, &retry),
	    CORE_DEADLINE_EXCEEDED);
	auth_hash_gate_stats s;
	auth_hash_gate_stats_get(g, &s);
	assert_int_equal(s.waiting, 0);
	assert_int_equal(s.timed_out[AUTH_HASH_REGISTER], 1);
	auth_hash_gate_leave(g, 0);
	auth_hash_gate_free(g);
}

static void
test_gate_serves_logins_before_registrations(void **state)
{
	(void) state;
	auth_hash_gate *g = auth_hash_gate_new(1, 3);
	int order[3] = {0}, next = 0;
	entrant r1 = {.order = order, .next = &next, .mine = 1};
	entrant r2 = {.order = order, .next = &next, .mine = 2};
	entrant l = {.order = order, .next = &next, .mine = 3};
	uint32_t retry = 0;
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_LOGIN, 0, &retry), 0);
	start(&r1, g, AUTH_HASH_REGISTER);
	wait_state(g, 1, AUTH_HASH_REGISTER, 0);
	start(&r2, g, AUTH_HASH_REGISTER);
	wait_state(g, 2, AUTH_HASH_REGISTER, 0);
	start(&l, g, AUTH_HASH_LOGIN);
	wait_state(g, 3, AUTH_HASH_REGISTER, 0);
	auth_hash_gate_leave(g, 0);
	pthread_join(r1.t, NULL);
	pthread_join(r2.t, NULL);
	pthread_join(l.t, NULL);
	/* The login first, then the registrations in their order. */
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	auth_hash_gate_free(g);
}

static void
test_gate_login_takes_the_place_of_the_newest_registration(void **state)
{
	(void) state;
	auth_hash_gate *g = auth_hash_gate_new(1, 2);
	entrant r1 = {0}, r2 = {0}, l1 = {0}, l2 = {0};
	uint32_t retry = 0;
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_REGISTER, 0, &retry), 0);
	start(&r1, g, AUTH_HASH_REGISTER);
	wait_state(g, 1, AUTH_HASH_REGISTER, 0);
	start(&r2, g, AUTH_HASH_REGISTER);
	wait_state(g, 2, AUTH_HASH_REGISTER, 0);
	/* Full: the login evicts r2, the newest. */
	start(&l1, g, AUTH_HASH_LOGIN);
	pthread_join(r2.t, NULL);
	assert_int_equal(r2.st, CORE_RESOURCE_EXHAUSTED);
	assert_true(r2.retry >= 1);
	wait_state(g, 2, AUTH_HASH_REGISTER, 1);
	/* Full again: the second login evicts r1. */
	start(&l2, g, AUTH_HASH_LOGIN);
	pthread_join(r1.t, NULL);
	assert_int_equal(r1.st, CORE_RESOURCE_EXHAUSTED);
	wait_state(g, 2, AUTH_HASH_REGISTER, 2);
	/* Full of logins: a registration, and a third login, are refused. */
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_REGISTER, -1, &retry),
	    CORE_RESOURCE_EXHAUSTED);
	assert_int_equal(auth_hash_gate_enter(g, AUTH_HASH_LOGIN, -1, &retry),
	    CORE_RESOURCE_EXHAUSTED);
	auth_hash_gate_leave(g, 0);
	pthread_join(l1.t, NULL);
	pthread_join(l2.t, NULL);
	assert_int_equal(l1.st, CORE_OK);
	assert_int_equal(l2.st, CORE_OK);
	auth_hash_gate_free(g);
}

/* auth_argon2_queue_depth as rendered (this thread's component is
 * "core"), or -1 when it is not there. */
static double
depth(void)
{
	return metrics_scraped(
	    "auth_argon2_queue_depth{component=\"core\"}", -1);
}

static void
test_gate_queue_depth_gauge_follows_the_queue(void **state)
{
	(void) state;
	auth_metrics_init();
	auth_hash_gate *g = auth_hash_gate_new(1, 4);
	entrant login = {0}, reg = {0};
	uint32_t retry = 0;
	assert_int_equal(
	    auth_hash_gate_enter(g, AUTH_HASH_LOGIN, 0, &retry), 0);
	assert_true(depth() == 0);
	start(&login, g, AUTH_HASH_LOGIN);
	wait_state(g, 1, AUTH_HASH_LOGIN, 0);
	assert_true(depth() == 1);
	start(&reg, g, AUTH_HASH_REGISTER);
	wait_state(g, 2, AUTH_HASH_REGISTER, 0);
	assert_true(depth() == 2);
	/* The slot goes to the login, then to the registration. */
	auth_hash_gate_leave(g, 0);
	pthread_join(login.t, NULL);
	pthread_join(reg.t, NULL);
	assert_int_equal(login.st, CORE_OK);
	assert_int_equal(reg.st, CORE_OK);
	assert_true(depth() == 0);
	auth_hash_gate_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gate_refuses_when_slots_and_queue_are_full),
	    cmocka_unit_test(test_gate_waiter_gives_up_at_its_deadline),
	    cmocka_unit_test(test_gate_serves_logins_before_registrations),
	    cmocka_unit_test(
	        test_gate_login_takes_the_place_of_the_newest_registration),
	    cmocka_unit_test(test_gate_queue_depth_gauge_follows_the_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
