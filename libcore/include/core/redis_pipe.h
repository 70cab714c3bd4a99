/* A pipelined Redis connection shared by many threads: one connection and
 * one thread per pipe.
 *
 * Any thread submits a batch of commands with a completion; the pipe's
 * thread sends every batch waiting at that moment in one write
 * (core_redis_pipeline, so the connection, AUTH, SELECT, timeouts,
 * reconnects and redis_* metrics are core/redis.h's), reads the replies
 * in order and runs each batch's completion on its own thread. Batches
 * that arrive while a round trip is under way share the next one: under
 * load, one round trip and one wake-up serve many callers.
 *
 * On an I/O error every batch of that round trip completes with
 * CORE_UNAVAILABLE and no reply (nothing is sent twice, as core/redis.h
 * says); the next round trip reconnects. The server's hot path uses it
 * (docs/internals/rpc.md). */
#ifndef CORE_REDIS_PIPE_H
#define CORE_REDIS_PIPE_H

#include <hiredis/hiredis.h>

#include "core/status.h"

typedef struct core_redis_pipe core_redis_pipe;

/* One batch: n commands (1..CORE_REDIS_PIPE_MAX_BATCH), command i being
 * argc[i] NUL-terminated strings argv[i]. Everything it points to stays
 * valid and unmoved until done runs. done runs once, on the pipe's thread:
 * st CORE_OK with reply[0..n-1] set (each the caller's to
 * freeReplyObject; an error reply is a REDIS_REPLY_ERROR there), or
 * CORE_UNAVAILABLE with reply[] all NULL. done must not block; it may
 * submit again. */
typedef struct core_redis_pipe_batch {
	int n;
	const int *argc;
	const char *const *const *argv;
	redisReply **reply; /* n slots */
	void (*done)(struct core_redis_pipe_batch *b, core_status st);
	void *arg;                          /* for done */
	struct core_redis_pipe_batch *next; /* the pipe's */
} core_redis_pipe_batch;

#define CORE_REDIS_PIPE_MAX_BATCH 64

/* Opens url (core_redis_open: a connection that fails is retried on use)
 * and starts the pipe's thread, which logs as the calling thread's
 * component; the connection counts in that component's redis_* series.
 * At most max_pending batches wait at once (1..65536). NULL when out of
 * memory or threads, or for a bad max_pending. */
core_redis_pipe *core_redis_pipe_open(const char *url, int max_pending);

/* Queues b. Returns 0, or -1 when max_pending batches are waiting, the
 * pipe is closing, or b is malformed (then done is not called). */
int core_redis_pipe_submit(core_redis_pipe *p, core_redis_pipe_batch *b);

/* Runs every batch submitted so far (their completions run), stops the
 * thread, closes the connection and frees p. No submit may come after
 * (or during) this call, except from a completion. NULL is a no-op. */
void core_redis_pipe_close(core_redis_pipe *p);

#endif
