/* The pipelined Redis connection (core/redis_pipe.h) against a Redis
 * server of the test's own (it is killed and restarted): many threads
 * submitting at once each get their own replies, in order; a kill -9
 * while batches wait completes every one of them with UNAVAILABLE, and
 * the batches after the restart succeed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"
#include <hiredis/hiredis.h>

#include "core/redis_pipe.h"

#define THREADS 8
#define PER_THREAD 500

static int port;
static pid_t server;

static void
sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* Starts redis-server on port (no fork: its pid is ours to kill) and
 * waits for PONG. */
static void
server_start(void)
{
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	char *argv[] = {"redis-server", "--port", p, "--bind", "127.0.0.1",
	    "--save", "", "--appendonly", "no", "--loglevel", "warning", NULL};
	extern char **environ;
	assert_int_equal(
	    posix_spawnp(&server, "redis-server", NULL, NULL, argv, environ),
	    0);
	for (int i = 0; i < 200; i++) {
		redisContext *r = redisConnect("127.0.0.1", port);
		if (r != NULL && r->err == 0) {
			redisReply *rep = redisCommand(r, "PING");
			bool up =
			    rep != NULL && rep->type == REDIS_REPLY_STATUS;
			freeReplyObject(rep);
			redisFree(r);
			if (up) {
				return;
			}
		} else {
			redisFree(r);
		}
		sleep_ms(25);
	}
	fail_msg("redis-server did not start on port %d", port);
}

static void
server_kill(void)
{
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	server = 0;
}

static int
setup_all(void **state)
{
	(void) state;
	port = free_port();
	server_start();
	return 0;
}

static int
teardown_all(void **state)
{
	(void) state;
	if (server != 0) {
		server_kill();
	}
	return 0;
}

static core_redis_pipe *
pipe_open(void)
{
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
	core_redis_pipe *p = core_redis_pipe_open(url, THREADS * PER_THREAD);
	assert_non_null(p);
	return p;
}

/* One batch: ECHO <text> then GET <missing key>, and what came back. */
typedef struct echo {
	core_redis_pipe_batch b;
	char text[32];
	const char *echo_argv[2];
	const char *get_argv[2];
	int argc[2];
	const char *const *argv[2];
	redisReply *reply[2];
	core_status st;
	bool right; /* the replies are this batch's */
	bool done;
} echo;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int n_done;

static void
echo_done(core_redis_pipe_batch *b, core_status st)
{
	echo *e = b->arg;
	e->st = st;
	e->right = st == CORE_OK && e->reply[0] != NULL &&
	           e->reply[0]->type == REDIS_REPLY_STRING &&
	           strcmp(e->reply[0]->str, e->text) == 0 &&
	           e->reply[1] != NULL && e->reply[1]->type == REDIS_REPLY_NIL;
	freeReplyObject(e->reply[0]);
	freeReplyObject(e->reply[1]);
	pthread_mutex_lock(&mu);
	e->done = true;
	n_done++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void
echo_init(echo *e, const char *text)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->text, sizeof(e->text), "%s", text);
	e->echo_argv[0] = "ECHO";
	e->echo_argv[1] = e->text;
	e->get_argv[0] = "GET";
	e->get_argv[1] = "pipe-test:missing";
	e->argc[0] = e->argc[1] = 2;
	e->argv[0] = e->echo_argv;
	e->argv[1] = e->get_argv;
	e->b = (core_redis_pipe_batch){.n = 2,
	    .argc = e->argc,
	    .argv = e->argv,
	    .reply = e->reply,
	    .done = echo_done,
	    .arg = e};
}

/* Waits until n_done reaches n (at most ms); returns n_done. */
static int
wait_done(int n, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	int rv = 0;
	while (n_done < n && rv == 0) {
		rv = pthread_cond_timedwait(&cv, &mu, &until);
	}
	int got = n_done;
	pthread_mutex_unlock(&mu);
	return got;
}

typedef struct submitter {
	core_redis_pipe *p;
	int id;
	echo *e; /* PER_THREAD */
} submitter;

/* Submits its batches one after another, waiting for none. */
static void *
submit_all(void *arg)
{
	submitter *s = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char text[32];
		snprintf(text, sizeof(text), "t%d-%d", s->id, i);
		echo_init(&s->e[i], text);
		assert_int_equal(core_redis_pipe_submit(s->p, &s->e[i].b), 0);
	}
	return NULL;
}

static void
test_many_threads_get_their_own_replies(void **state)
{
	(void) state;
	core_redis_pipe *p = pipe_open();
	n_done = 0;
	submitter s[THREADS];
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		s[i] = (submitter){p, i, calloc(PER_THREAD, sizeof(echo))};
		assert_non_null(s[i].e);
		assert_int_equal(
		    pthread_create(&t[i], NULL, submit_all, &s[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	assert_int_equal(
	    wait_done(THREADS * PER_THREAD, 10000), THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++) {
		for (int j = 0; j < PER_THREAD; j++) {
			assert_true(s[i].e[j].right);
		}
		free(s[i].e);
	}
	core_redis_pipe_close(p);
}

static void
test_a_full_pipe_and_bad_batches_are_refused(void **state)
{
	(void) state;
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
	assert_null(core_redis_pipe_open(url, 0));
	core_redis_pipe *p = core_redis_pipe_open(url, 1);
	assert_non_null(p);
	echo bad;
	echo_init(&bad, "x");
	bad.b.n = 0;
	assert_int_equal(core_redis_pipe_submit(p, &bad.b), -1);
	bad.b.n = CORE_REDIS_PIPE_MAX_BATCH + 1;
	assert_int_equal(core_redis_pipe_submit(p, &bad.b), -1);
	/* Hold the server so that the batches wait in the pipe. */
	redisContext *r = redisConnect("127.0.0.1", port);
	freeReplyObject(redisCommand(r, "CLIENT PAUSE 500 ALL"));
	n_done = 0;
	echo e[3];
	echo_init(&e[0], "a");
	echo_init(&e[1], "b");
	echo_init(&e[2], "c");
	/* One batch under way (once the thread took it) and one waiting at
	 * most: of three submitted at once, the third or the second is
	 * refused. */
	int accepted = 0;
	bool taken[3];
	for (int i = 0; i < 3; i++) {
		taken[i] = core_redis_pipe_submit(p, &e[i].b) == 0;
		accepted += taken[i];
	}
	assert_true(taken[0]);
	assert_true(accepted == 1 || accepted == 2);
	assert_int_equal(wait_done(accepted, 3000), accepted);
	for (int i = 0; i < 3; i++) {
		assert_true(taken[i] ? e[i].right : !e[i].done);
	}
	redisFree(r);
	core_redis_pipe_close(p);
}

static void
test_a_kill_fails_the_waiting_batches_and_later_ones_succeed(void **state)
{
	(void) state;
	core_redis_pipe *p = pipe_open();
	n_done = 0;
	echo first;
	echo_init(&first, "first");
	assert_int_equal(core_redis_pipe_submit(p, &first.b), 0);
	assert_int_equal(wait_done(1, 3000), 1);
	assert_true(first.right);

	/* Every batch from here waits: the server processes no command
	 * until it dies. */
	redisContext *r = redisConnect("127.0.0.1", port);
	freeReplyObject(redisCommand(r, "CLIENT PAUSE 5000 ALL"));
	redisFree(r);
	n_done = 0;
	enum { N = 40 };
	echo e[N];
	for (int i = 0; i < N; i++) {
		char text[16];
		snprintf(text, sizeof(text), "w%d", i);
		echo_init(&e[i], text);
		assert_int_equal(core_redis_pipe_submit(p, &e[i].b), 0);
		if (i == N / 2) {
			sleep_ms(100); /* some under way, some queued */
		}
	}
	sleep_ms(200);
	assert_int_equal(wait_done(0, 0), 0); /* all waiting */
	server_kill();
	assert_int_equal(wait_done(N, 5000), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(e[i].st, CORE_UNAVAILABLE);
	}

	server_start();
	n_done = 0;
	echo after[4];
	for (int i = 0; i < 4; i++) {
		char text[16];
		snprintf(text, sizeof(text), "after%d", i);
		echo_init(&after[i], text);
		assert_int_equal(core_redis_pipe_submit(p, &after[i].b), 0);
	}
	assert_int_equal(wait_done(4, 5000), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(after[i].st, CORE_OK);
		assert_true(after[i].right);
	}
	core_redis_pipe_close(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_many_threads_get_their_own_replies),
	    cmocka_unit_test(test_a_full_pipe_and_bad_batches_are_refused),
	    cmocka_unit_test(
	        test_a_kill_fails_the_waiting_batches_and_later_ones_succeed),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
