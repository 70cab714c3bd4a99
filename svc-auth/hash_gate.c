/* The password-hash gate; see hash_gate.h. One mutex; each waiter sleeps
 * on a condition variable of its own, on its stack, so that a freed slot
 * wakes exactly the waiter it is handed to (no thundering herd, and the
 * order is the queue's, not the scheduler's). The queue's depth goes to
 * auth_argon2_queue_depth at each change, under the mutex, so the gauge
 * follows the changes in their order. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "auth_metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "hash_gate.h"

/* How often a full queue is reported in the log at most. */
#define WARN_EVERY_MS 10000

enum { WAITING, GRANTED, EVICTED };

typedef struct waiter {
	pthread_cond_t cv;
	int state;
	struct waiter *prev, *next;
} waiter;

typedef struct queue {
	waiter *head, *tail;
} queue;

struct auth_hash_gate {
	pthread_mutex_t mu;
	pthread_condattr_t cv_attr; /* CLOCK_MONOTONIC */
	int slots, free_slots, queue_max, waiting;
	queue q[2];     /* by auth_hash_kind: logins first */
	int64_t avg_us; /* moving average of a hash's duration */
	int64_t last_warn_ms;
	auth_hash_gate_stats st;
};

auth_hash_gate *
auth_hash_gate_new(int slots, int queue_max)
{
	if (slots < 1 || queue_max < 0) {
		return NULL;
	}
	auth_hash_gate *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return NULL;
	}
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return NULL;
	}
	pthread_condattr_init(&g->cv_attr);
	pthread_condattr_setclock(&g->cv_attr, CLOCK_MONOTONIC);
	g->slots = g->free_slots = slots;
	g->queue_max = queue_max;
	g->last_warn_ms = INT64_MIN / 2;
	return g;
}

void
auth_hash_gate_free(auth_hash_gate *g)
{
	if (g == NULL) {
		return;
	}
	pthread_condattr_destroy(&g->cv_attr);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

static void
push(queue *q, waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail != NULL) {
		q->tail->next = w;
	} else {
		q->head = w;
	}
	q->tail = w;
}

static void
unlink_waiter(queue *q, waiter *w)
{
	if (w->prev != NULL) {
		w->prev->next = w->next;
	} else {
		q->head = w->next;
	}
	if (w->next != NULL) {
		w->next->prev = w->prev;
	} else {
		q->tail = w->prev;
	}
	w->prev = w->next = NULL;
}

/* Seconds until everything running and queued now has been hashed, at
 * least 1 ("retry in 0 s" invites a loop). Under g->mu. */
static uint32_t
retry_hint(const auth_hash_gate *g)
{
	int64_t avg_ms = g->avg_us > 0 ? g->avg_us / 1000 : 50;
	int64_t rounds =
	    (g->waiting + g->slots - g->free_slots) / g->slots + 1;
	int64_t s = (rounds * avg_ms + 999) / 1000;
	return (uint32_t) (s < 1 ? 1 : s);
}

/* The absolute CLOCK_MONOTONIC time wait_ms from now. */
static struct timespec
monotonic_after(int64_t wait_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t) (wait_ms / 1000);
	ts.tv_nsec += (long) (wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Makes room for a login in a full queue by refusing the newest waiting
 * registration. False when there is none. Under g->mu. */
static bool
evict_registration(auth_hash_gate *g)
{
	waiter *w = g->q[AUTH_HASH_REGISTER].tail;
	if (w == NULL) {
		return false;
	}
	unlink_waiter(&g->q[AUTH_HASH_REGISTER], w);
	g->waiting--;
	auth_metrics_argon2_depth(g->waiting);
	w->state = EVICTED;
	pthread_cond_signal(&w->cv);
	return true;
}

/* Queues the caller and sleeps until it is handed a slot, evicted, or
 * wait_ms has passed. Under g->mu. */
static int
wait_for_slot(auth_hash_gate *g, auth_hash_kind kind, int64_t wait_ms)
{
	waiter w = {.state = WAITING};
	pthread_cond_init(&w.cv, &g->cv_attr);
	push(&g->q[kind], &w);
	g->waiting++;
	auth_metrics_argon2_depth(g->waiting);
	struct timespec until = monotonic_after(wait_ms < 0 ? 0 : wait_ms);
	while (w.state == WAITING) {
		int rc = wait_ms < 0
		             ? pthread_cond_wait(&w.cv, &g->mu)
		             : pthread_cond_timedwait(&w.cv, &g->mu, &until);
		if (rc == ETIMEDOUT && w.state == WAITING) {
			unlink_waiter(&g->q[kind], &w);
			g->waiting--;
			auth_metrics_argon2_depth(g->waiting);
			break;
		}
	}
	pthread_cond_destroy(&w.cv);
	return w.state;
}

static const char *
kind_name(auth_hash_kind kind)
{
	return kind == AUTH_HASH_LOGIN ? "login" : "register";
}

/* Logs that the queue is full, at most every WARN_EVERY_MS. */
static void
warn_full(auth_hash_gate *g, auth_hash_kind kind)
{
	int64_t now = core_unix_ms();
	pthread_mutex_lock(&g->mu);
	bool warn = now - g->last_warn_ms >= WARN_EVERY_MS;
	if (warn) {
		g->last_warn_ms = now;
	}
	unsigned long long refused =
	    g->st.refused[AUTH_HASH_LOGIN] + g->st.refused[AUTH_HASH_REGISTER];
	pthread_mutex_unlock(&g->mu);
	if (warn) {
		char n[24];
		snprintf(n, sizeof(n), "%llu", refused);
		core_log_kv(CORE_LOG_WARN,
		    "password hashes: all slots busy and the queue full; "
		    "refusing",
		    "kind", kind_name(kind), "refused_total", n, NULL);
	}
}

core_status
auth_hash_gate_enter(auth_hash_gate *g, auth_hash_kind kind, int64_t wait_ms,
    uint32_t *retry_after_s)
{
	core_status st = CORE_OK;
	pthread_mutex_lock(&g->mu);
	if (g->free_slots > 0 && g->waiting == 0) {
		g->free_slots--;
		g->st.hashes[kind]++;
		pthread_mutex_unlock(&g->mu);
		return CORE_OK;
	}
	if (g->waiting >= g->queue_max &&
	    !(kind == AUTH_HASH_LOGIN && evict_registration(g))) {
		st = CORE_RESOURCE_EXHAUSTED;
	} else if (wait_ms == 0) {
		st = CORE_DEADLINE_EXCEEDED;
	} else {
		if (core_log_enabled(CORE_LOG_DEBUG)) {
			/* Under the mutex, so the line comes before the
			 * slot can be handed over (tests wait for it). */
			core_log_kv(CORE_LOG_DEBUG, "password hash queued",
			    "kind", kind_name(kind), NULL);
		}
		int got = wait_for_slot(g, kind, wait_ms);
		st = got == GRANTED   ? CORE_OK
		     : got == EVICTED ? CORE_RESOURCE_EXHAUSTED
		                      : CORE_DEADLINE_EXCEEDED;
	}
	if (st == CORE_OK) {
		g->st.hashes[kind]++;
	} else if (st == CORE_RESOURCE_EXHAUSTED) {
		g->st.refused[kind]++;
		*retry_after_s = retry_hint(g);
	} else {
		g->st.timed_out[kind]++;
	}
	pthread_mutex_unlock(&g->mu);
	if (st == CORE_RESOURCE_EXHAUSTED) {
		warn_full(g, kind);
	}
	return st;
}

core_status
auth_hash_gate_check(
    auth_hash_gate *g, auth_hash_kind kind, uint32_t *retry_after_s)
{
	pthread_mutex_lock(&g->mu);
	bool full = g->free_slots == 0 && g->waiting >= g->queue_max &&
	            !(kind == AUTH_HASH_LOGIN &&
	                g->q[AUTH_HASH_REGISTER].tail != NULL);
	if (full) {
		g->st.refused[kind]++;
		*retry_after_s = retry_hint(g);
	}
	pthread_mutex_unlock(&g->mu);
	if (full) {
		warn_full(g, kind);
	}
	return full ? CORE_RESOURCE_EXHAUSTED : CORE_OK;
}

void
auth_hash_gate_leave(auth_hash_gate *g, int64_t hash_us)
{
	pthread_mutex_lock(&g->mu);
	if (hash_us > 0) {
		/* An exponential moving average, weight 1/8. */
		g->avg_us = g->avg_us == 0
		                ? hash_us
		                : g->avg_us + (hash_us - g->avg_us) / 8;
	}
	queue *q = g->q[AUTH_HASH_LOGIN].head != NULL
	               ? &g->q[AUTH_HASH_LOGIN]
	               : &g->q[AUTH_HASH_REGISTER];
	waiter *w = q->head;
	if (w != NULL) {
		/* The slot passes straight to the first waiter. */
		unlink_waiter(q, w);
		g->waiting--;
		auth_metrics_argon2_depth(g->waiting);
		w->state = GRANTED;
		pthread_cond_signal(&w->cv);
	} else {
		g->free_slots++;
	}
	pthread_mutex_unlock(&g->mu);
}

int64_t
auth_hash_gate_expected_ms(auth_hash_gate *g)
{
	pthread_mutex_lock(&g->mu);
	int64_t ms = g->avg_us / 1000;
	pthread_mutex_unlock(&g->mu);
	return ms;
}

void
auth_hash_gate_stats_get(auth_hash_gate *g, auth_hash_gate_stats *out)
{
	pthread_mutex_lock(&g->mu);
	*out = g->st;
	out->running = g->slots - g->free_slots;
	out->waiting = g->waiting;
	pthread_mutex_unlock(&g->mu);
}
