#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <sodium.h>

#include "core/v1/core.pb-c.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/rpc.h"
#include "envelope.h"
#include "rpc_internal.h"

void
rpc_msg_wipe_free(nng_msg *m)
{
	sodium_memzero(nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
}

int64_t
rpc_now_ms(void)
{
	return core_monotonic_ms();
}

void
rpc_deadline_timespec(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

core_status
rpc_status_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return CORE_OK;
	case NNG_ETIMEDOUT:
		return CORE_DEADLINE_EXCEEDED;
	case NNG_ENOMEM:
		return CORE_RESOURCE_EXHAUSTED;
	case NNG_EMSGSIZE:
		return CORE_INVALID_ARGUMENT;
	default:
		/* Closed, cancelled, reset, refused: the peer is not there. */
		return CORE_UNAVAILABLE;
	}
}

/* Request ids: a random per-process prefix and a keyed hash (SipHash,
 * random key) of a counter. Unique per process, unpredictable from outside
 * (they are shown to users: X-Request-Id), and no getrandom system call
 * per call (randombytes_buf made one per id: 1-2 us, bench/README.md). */
static pthread_once_t rid_once = PTHREAD_ONCE_INIT;
static unsigned char rid_key[crypto_shorthash_KEYBYTES];
static char rid_prefix[17];
static atomic_uint_fast64_t rid_counter;

static void
rid_seed(void)
{
	unsigned char raw[8];
	randombytes_buf(rid_key, sizeof(rid_key));
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(rid_prefix, sizeof(rid_prefix), raw, sizeof(raw));
}

static void
rid_init(void)
{
	/* Fails only when no random source can be opened at all; then
	 * randombytes_buf aborts itself, as libsodium does everywhere. */
	if (sodium_init() < 0) {
		core_log_error("libsodium cannot be initialised");
	}
	rid_seed();
	/* A forked child must not repeat its parent's ids. */
	pthread_atfork(NULL, NULL, rid_seed);
}

void
core_rpc_new_request_id(char *buf)
{
	static const char hex[] = "0123456789abcdef";
	pthread_once(&rid_once, rid_init);
	uint64_t n = (uint64_t) atomic_fetch_add(&rid_counter, 1);
	unsigned char in[8], h[crypto_shorthash_BYTES];
	for (int i = 0; i < 8; i++) {
		in[i] = (unsigned char) (n >> (8 * i));
	}
	crypto_shorthash(h, in, sizeof(in), rid_key);
	memcpy(buf, rid_prefix, 16);
	for (int i = 0; i < 8; i++) {
		buf[16 + 2 * i] = hex[h[i] >> 4];
		buf[17 + 2 * i] = hex[h[i] & 15];
	}
	buf[32] = '\0';
}

bool
core_rpc_request_id_valid(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		          c == '.';
		if (!ok || n >= 64) {
			return false;
		}
	}
	return n > 0;
}

typedef struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	bool abandoned;
} closer;

static void
closer_free(closer *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *
close_main(void *arg)
{
	closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	bool abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned) {
		closer_free(c); /* nobody waits for it any more */
	}
	return NULL;
}

int
rpc_close_bounded(nng_socket sock, int ms)
{
	closer *c = calloc(1, sizeof(*c));
	pthread_t t;
	if (c == NULL) {
		nng_close(sock);
		return 0;
	}
	c->sock = sock;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&t, NULL, close_main, c) != 0) {
		closer_free(c);
		nng_close(sock);
		return 0;
	}
	struct timespec until;
	rpc_deadline_timespec(&until, ms);
	pthread_mutex_lock(&c->mu);
	int rv = 0;
	while (!c->done && rv != ETIMEDOUT) {
		rv = pthread_cond_timedwait(&c->cv, &c->mu, &until);
	}
	bool done = c->done;
	c->abandoned = !done;
	pthread_mutex_unlock(&c->mu);
	if (done) {
		pthread_join(t, NULL);
		closer_free(c);
		return 0;
	}
	pthread_detach(t);
	core_log_error("nng_close did not finish within %d ms (nng 1.5.2 "
	               "pipe-close race); leaving it behind",
	    ms);
	return -1;
}

void
core_rpc_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* SIGHUP reloads the TLS credentials (core_tls_wait_signal). */
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A peer that vanishes must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's built-in suppressions, compiled into every sanitized
 * binary that uses the RPC core (services, tools, tests), so that they hold
 * whatever environment the binary runs in: the tests start services with an
 * environment of their own (posix_spawn, env -i), without LSAN_OPTIONS.
 *
 * They cover one bug of nng 1.5.2's TCP transport (Debian 12's nng; still
 * in 1.12.0): a connection that has finished the SP header exchange but not
 * yet been handed to the socket when its dialer or listener is closed is
 * never freed. tcptran_ep_close only closes the pipes in the endpoint's
 * wait list, and a tcptran_pipe_nego_cb already under way when the close
 * runs puts its pipe there afterwards (nng's 2.0 line fixed that second
 * path in commit 5183093c). The endpoint then waits forever for its pipe
 * count to reach zero, and LeakSanitizer reports at exit only indirect
 * leaks inside libnng.so.1: the endpoint and its aio (allocated in nng_dial
 * or nng_listen) and the pipe with its three aios (allocated on an nng
 * thread). See docs/internals/rpc.md. The TLS transport has the same bug
 * (tlstran_pipe_nego_cb), and its endpoints, which need their TLS
 * configuration before they start, are made with nng_dialer_create and
 * nng_listener_create and started with nng_dialer_start and
 * nng_listener_start (a process stopped while its dialers negotiate, e.g.
 * a SIGTERM just after the start, reported it about 1 time in 4).
 *
 * Matched as narrowly as the stripped libnng.so.1 allows: only blocks whose
 * allocation stack holds exactly one of those functions (the names of
 * nng's internal functions are not in the library). LeakSanitizer also
 * ignores what a suppressed block points to, which covers the pipe and the
 * TLS configuration it holds. Leaks of ours stay reported, those of nng_msg
 * and nng_aio objects included. */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:^nng_dial$\n"
	       "leak:^nng_listen$\n"
	       "leak:^nng_dialer_create$\n"
	       "leak:^nng_dialer_start$\n"
	       "leak:^nng_listener_create$\n"
	       "leak:^nng_listener_start$\n";
}
#endif

int
core_rpc_wait_signal(void)
{
	sigset_t set;
	int sig = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (sigwait(&set, &sig) != 0) {
	}
	return sig;
}

/* The client side of the envelope (rpc_client.c, the tests). */
core_status
rpc_client_decode_reply(nng_msg *m, core_arena *arena, core_rpc_reply *reply)
{
	Core__V1__Response resp;
	Core__V1__Response *r = &resp;
	if (rpc_env_response_decode(
	        nng_msg_body(m), nng_msg_len(m), arena, r) != 0) {
		reply->code = CORE_INTERNAL;
		reply->message =
		    "malformed reply: not a core.v1.Response message";
		return CORE_INTERNAL;
	}
	reply->code = (core_status) r->code;
	if (r->code < 0 || r->code > CORE_STATUS_MAX) {
		reply->code = CORE_UNKNOWN;
	}
	reply->message = r->message;
	reply->retry_after_s = r->retry_after_s;
	reply->payload = r->payload.data;
	reply->payload_len = r->payload.len;
	reply->n_details = r->n_details;
	if (r->n_details > 0) {
		const char **f =
		    core_arena_calloc(arena, r->n_details, sizeof(char *));
		const char **d =
		    core_arena_calloc(arena, r->n_details, sizeof(char *));
		if (f == NULL || d == NULL) {
			reply->n_details = 0;
		} else {
			for (size_t i = 0; i < r->n_details; i++) {
				f[i] = r->details[i]->field;
				d[i] = r->details[i]->description;
			}
			reply->detail_fields = f;
			reply->detail_descriptions = d;
		}
	}
	return reply->code;
}
