/* The pipelined Redis connection (core/redis_pipe.h): a FIFO of batches,
 * drained by one thread that sends all it finds in one round trip. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/redis.h"
#include "core/redis_pipe.h"

/* Commands in one round trip (core_redis_pipeline takes 1024). */
#define ROUND_MAX 1024

struct core_redis_pipe {
	core_redis *r; /* used by the thread only */
	const core_log_component *log;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	core_redis_pipe_batch *head, *tail; /* under mu */
	int pending;                        /* batches queued; under mu */
	int max_pending;
	bool closing; /* under mu */
	/* One round trip's commands (the thread's). */
	int argc[ROUND_MAX];
	const char *const *argv[ROUND_MAX];
	redisReply *reply[ROUND_MAX];
};

/* Takes the batches waiting (as many as fit one round trip), waiting for
 * one; NULL when closing with nothing left. */
static core_redis_pipe_batch *
take(core_redis_pipe *p, int *n_cmds)
{
	pthread_mutex_lock(&p->mu);
	while (p->head == NULL && !p->closing) {
		pthread_cond_wait(&p->cv, &p->mu);
	}
	core_redis_pipe_batch *first = p->head, *last = NULL;
	int n = 0;
	for (core_redis_pipe_batch *b = p->head;
	     b != NULL && n + b->n <= ROUND_MAX; b = b->next) {
		n += b->n;
		last = b;
		p->pending--;
	}
	if (last != NULL) {
		p->head = last->next;
		if (p->head == NULL) {
			p->tail = NULL;
		}
		last->next = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	*n_cmds = n;
	return first;
}

/* One round trip for the list of batches, then their completions. */
static void
round_trip(core_redis_pipe *p, core_redis_pipe_batch *list, int n)
{
	int k = 0;
	for (core_redis_pipe_batch *b = list; b != NULL; b = b->next) {
		for (int i = 0; i < b->n; i++, k++) {
			p->argc[k] = b->argc[i];
			p->argv[k] = b->argv[i];
		}
	}
	core_status st =
	    core_redis_pipeline(p->r, n, p->argc, p->argv, NULL, p->reply);
	k = 0;
	for (core_redis_pipe_batch *b = list, *next; b != NULL; b = next) {
		next = b->next; /* done may reuse b */
		for (int i = 0; i < b->n; i++, k++) {
			b->reply[i] = st == CORE_OK ? p->reply[k] : NULL;
		}
		b->done(b, st == CORE_OK ? CORE_OK : CORE_UNAVAILABLE);
	}
}

static void *
pipe_main(void *arg)
{
	core_redis_pipe *p = arg;
	core_log_enter(p->log);
	core_redis_pipe_batch *list;
	int n;
	while ((list = take(p, &n)) != NULL) {
		round_trip(p, list, n);
	}
	return NULL;
}

core_redis_pipe *
core_redis_pipe_open(const char *url, int max_pending)
{
	if (max_pending < 1 || max_pending > 65536) {
		return NULL;
	}
	core_redis_pipe *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return NULL;
	}
	p->max_pending = max_pending;
	p->log = core_log_current();
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((p->r = core_redis_open(url)) == NULL ||
	    pthread_create(&p->thread, NULL, pipe_main, p) != 0) {
		core_log_error("redis pipe: cannot start");
		core_redis_close(p->r);
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	return p;
}

int
core_redis_pipe_submit(core_redis_pipe *p, core_redis_pipe_batch *b)
{
	if (b->n < 1 || b->n > CORE_REDIS_PIPE_MAX_BATCH || b->done == NULL) {
		return -1;
	}
	b->next = NULL;
	pthread_mutex_lock(&p->mu);
	/* From a completion while closing: still accepted, the thread runs
	 * everything queued before it exits. */
	bool full = p->pending >= p->max_pending ||
	            (p->closing && !pthread_equal(pthread_self(), p->thread));
	if (!full) {
		if (p->tail != NULL) {
			p->tail->next = b;
		} else {
			p->head = b;
		}
		p->tail = b;
		p->pending++;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return full ? -1 : 0;
}

void
core_redis_pipe_close(core_redis_pipe *p)
{
	if (p == NULL) {
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	core_redis_close(p->r);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
