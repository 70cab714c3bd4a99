#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/redis.h"
#include "core/text.h"
#include "store_metrics.h"

/* The reconnect policy of pg.c: after a slow failed connect calls fail at
 * once for RECONNECT_MS; after a quick refusal the next attempt comes
 * RETRY_GAP_MS later and a call arriving sooner waits for it. */
#define RECONNECT_MS 500
#define RETRY_GAP_MS 25
#define SLOW_CONNECT_MS 750
#define TIMEOUT_MS 1000
#define PIPELINE_MAX 1024

struct core_redis {
	core_redis_url url; /* holds the password: wiped on close */
	bool bad_url;
	redisContext *ctx;   /* NULL while down */
	int64_t next_try_ms; /* no connect attempt before this time */
	bool wait_for_try;   /* a call before next_try_ms waits for it */
	char error[256];
	store_metrics m; /* the opening thread's component's series */
};

/* ---- URL ---------------------------------------------------------------- */

/* Copies s[0..n) into dst (size cap), %-decoding it. -1 when it does not
 * fit, holds a bad escape, or decodes to a NUL byte. */
static int
decode(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char) s[i];
		if (c == '%') {
			if (i + 2 >= n) {
				return -1;
			}
			int hi = core_hex_value(s[i + 1]);
			int lo = core_hex_value(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				return -1;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= cap) {
			return -1;
		}
		dst[o++] = (char) c;
	}
	dst[o] = '\0';
	return 0;
}

/* Decimal digits only (no sign, no blanks), at most max. */
static int
parse_uint(const char *s, size_t n, long max, long *out)
{
	long v = 0;
	if (n == 0) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
		if (v > max) {
			return -1;
		}
	}
	*out = v;
	return 0;
}

static int
parse_userinfo(const char *s, size_t n, core_redis_url *out)
{
	const char *colon = memchr(s, ':', n);
	// "user@" alone would be a user without a password: a typo, surely.
	if (colon == NULL) {
		return -1;
	}
	size_t ulen = (size_t) (colon - s);
	if (decode(out->user, sizeof(out->user), s, ulen) != 0 ||
	    decode(out->password, sizeof(out->password), colon + 1,
	        n - ulen - 1) != 0) {
		return -1;
	}
	return 0;
}

static int
parse_hostport(const char *s, size_t n, core_redis_url *out)
{
	const char *host = s;
	size_t hlen;
	const char *rest;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL) {
			return -1;
		}
		host = s + 1;
		hlen = (size_t) (close - host);
		rest = close + 1;
	} else {
		const char *colon = memchr(s, ':', n);
		hlen = colon ? (size_t) (colon - s) : n;
		rest = s + hlen;
	}
	size_t rlen = n - (size_t) (rest - s);
	if (hlen == 0 || hlen >= sizeof(out->host)) {
		return -1;
	}
	for (size_t i = 0; i < hlen; i++) {
		// Only what a host name or address can hold.
		char c = host[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		        c == ':' || c == '_')) {
			return -1;
		}
	}
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = 6379;
	if (rlen > 0) {
		long port;
		if (rest[0] != ':' ||
		    parse_uint(rest + 1, rlen - 1, 65535, &port) != 0 ||
		    port == 0) {
			return -1;
		}
		out->port = (int) port;
	}
	return 0;
}

int
core_redis_parse_url(const char *url, core_redis_url *out)
{
	static const char scheme[] = "redis://";
	memset(out, 0, sizeof(*out));
	if (url == NULL || strncasecmp(url, scheme, sizeof(scheme) - 1) != 0) {
		return -1;
	}
	const char *s = url + sizeof(scheme) - 1;
	if (strpbrk(s, "?#") != NULL) {
		return -1;
	}
	size_t alen = strcspn(s, "/");
	const char *path = s + alen;
	// The last '@': an unencoded '@' in a password still parses.
	const char *at = NULL;
	for (const char *p = s; p < path; p++) {
		if (*p == '@') {
			at = p;
		}
	}
	const char *hp = s;
	if (at != NULL) {
		if (parse_userinfo(s, (size_t) (at - s), out) != 0) {
			return -1;
		}
		hp = at + 1;
	}
	if (parse_hostport(hp, (size_t) (path - hp), out) != 0) {
		return -1;
	}
	out->db = 0;
	if (path[0] == '/' && path[1] != '\0') {
		long db;
		if (parse_uint(path + 1, strlen(path + 1), 1000000, &db) !=
		    0) {
			return -1;
		}
		out->db = (int) db;
	}
	return 0;
}

/* ---- Connection --------------------------------------------------------- */

static void
set_error(core_redis *r, const char *msg)
{
	snprintf(r->error, sizeof(r->error), "%s", msg ? msg : "");
}

static void
drop(core_redis *r)
{
	redisFree(r->ctx);
	r->ctx = NULL;
	store_metrics_disconnected(&r->m);
}

/* Runs AUTH or SELECT on a fresh context. 0, or -1 with r->error set. */
static int
setup_command(core_redis *r, redisContext *c, int argc, const char **argv)
{
	redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
	if (rep == NULL) {
		set_error(r, c->errstr);
		return -1;
	}
	int rv = 0;
	if (rep->type == REDIS_REPLY_ERROR) {
		// The reply quotes no argument, so the password stays out.
		snprintf(
		    r->error, sizeof(r->error), "%s: %s", argv[0], rep->str);
		rv = -1;
	}
	freeReplyObject(rep);
	return rv;
}

static redisContext *
connect_ctx(core_redis *r)
{
	const core_redis_url *u = &r->url;
	struct timeval tv = {TIMEOUT_MS / 1000, (TIMEOUT_MS % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
	if (c == NULL) {
		set_error(r, "out of memory");
		return NULL;
	}
	if (c->err != 0) {
		set_error(r, c->errstr);
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK ||
	    redisEnableKeepAlive(c) != REDIS_OK) {
		set_error(r, c->errstr);
		goto fail;
	}
	if (u->password[0] != '\0') {
		// AUTH user password (Redis 6 ACL) or AUTH password.
		const char *argv[3] = {"AUTH", u->user, u->password};
		int argc = 3;
		if (u->user[0] == '\0') {
			argv[1] = u->password;
			argc = 2;
		}
		if (setup_command(r, c, argc, argv) != 0) {
			goto fail;
		}
	}
	if (u->db != 0) {
		char db[16];
		snprintf(db, sizeof(db), "%d", u->db);
		const char *argv[] = {"SELECT", db};
		if (setup_command(r, c, 2, argv) != 0) {
			goto fail;
		}
	}
	/* Named after the process ("svc-auth-1234"), so an operator's CLIENT
	 * LIST (or a test) can tell whose connection it is. Best effort. */
	char name[96];
	snprintf(
	    name, sizeof(name), "%s-%ld", core_log_service(), (long) getpid());
	const char *name_argv[] = {"CLIENT", "SETNAME", name};
	(void) setup_command(r, c, 3, name_argv);
	return c;
fail:
	redisFree(c);
	return NULL;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {
	    (time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Connects when down and the rate limit allows. */
static bool
connect_now(core_redis *r)
{
	if (r->bad_url) {
		set_error(r, "malformed redis url");
		return false;
	}
	int64_t now = core_monotonic_ms();
	if (now < r->next_try_ms) {
		if (!r->wait_for_try) {
			set_error(r, "down, waiting to reconnect");
			return false;
		}
		sleep_ms(r->next_try_ms - now);
		now = core_monotonic_ms();
	}
	if ((r->ctx = connect_ctx(r)) == NULL) {
		char port[8];
		snprintf(port, sizeof(port), "%d", r->url.port);
		core_log_kv(CORE_LOG_WARN, "redis connect failed", "host",
		    r->url.host, "port", port, "error", r->error, NULL);
		int64_t end = core_monotonic_ms();
		r->wait_for_try = end - now < SLOW_CONNECT_MS;
		r->next_try_ms =
		    end + (r->wait_for_try ? RETRY_GAP_MS : RECONNECT_MS);
		return false;
	}
	store_metrics_connected(&r->m);
	return true;
}

/* The check before each use of an open context: poll(2) with a zero
 * timeout, one system call. No reply is pending between commands, so
 * anything to read means the server closed the connection (a restart, a
 * CLIENT KILL, an idle timeout) or it is out of step: either way it is
 * replaced before a command is sent on it. */
static bool
still_open(core_redis *r)
{
	if (r->ctx->err != 0) {
		return false;
	}
	struct pollfd p = {.fd = r->ctx->fd, .events = POLLIN};
	int n = poll(&p, 1, 0);
	return n == 0 || (n < 0 && errno == EINTR);
}

/* Makes sure the handle has a context fit for a command. */
static bool
ensure(core_redis *r)
{
	if (r->ctx != NULL) {
		if (still_open(r)) {
			return true;
		}
		core_log_kv(
		    CORE_LOG_INFO, "redis connection was closed", NULL);
		drop(r);
	}
	return connect_now(r);
}

core_redis *
core_redis_open(const char *url)
{
	core_redis *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	store_metrics_init(&r->m, STORE_REDIS);
	if (core_redis_parse_url(url, &r->url) != 0) {
		// Not the url itself: it may carry the password.
		core_log_error("redis: malformed url");
		r->bad_url = true;
		return r;
	}
	(void) ensure(r);
	return r;
}

void
core_redis_close(core_redis *r)
{
	if (r == NULL) {
		return;
	}
	drop(r);
	explicit_bzero(&r->url, sizeof(r->url));
	free(r);
}

/* Writes n formatted commands and reads their n replies. On a failure the
 * context is dropped, replies[] is all NULL, and *unsent tells whether
 * none of the bytes left this process (the first write failed): then the
 * server cannot have run any of the commands. */
static core_status
exchange(core_redis *r, int n, char *const *cmds, const int *lens,
    redisReply **replies, bool *unsent)
{
	redisContext *c = r->ctx;
	*unsent = true;
	for (int i = 0; i < n; i++) {
		if (redisAppendFormattedCommand(
		        c, cmds[i], (size_t) lens[i]) != REDIS_OK) {
			goto fail;
		}
	}
	int done = 0;
	while (!done) {
		if (redisBufferWrite(c, &done) != REDIS_OK) {
			goto fail;
		}
		*unsent = false;
	}
	for (int i = 0; i < n; i++) {
		void *rep;
		if (redisGetReply(c, &rep) != REDIS_OK || rep == NULL) {
			goto fail;
		}
		replies[i] = rep;
	}
	return CORE_OK;
fail:;
	int err = c->err;
	set_error(r, c->errstr[0] != '\0' ? c->errstr : "out of memory");
	// A context with an error, or half a pipeline in its output buffer,
	// cannot be used again.
	drop(r);
	for (int i = 0; i < n; i++) {
		freeReplyObject(replies[i]);
		replies[i] = NULL;
	}
	return err == REDIS_ERR_OTHER || err == REDIS_ERR_OOM || err == 0
	           ? CORE_INTERNAL
	           : CORE_UNAVAILABLE;
}

/* Counts the n commands of a round trip that began at t0 (0: none
 * reached a server) and ended with st: on success each by its reply (an
 * error reply is an error), else all alike. */
static void
count_commands(
    core_redis *r, int n, core_status st, redisReply **replies, double t0)
{
	if (st != CORE_OK) {
		store_metrics_done(
		    &r->m, store_outcome_of(st), (unsigned) n, t0);
		return;
	}
	unsigned errors = 0;
	for (int i = 0; i < n; i++) {
		errors += replies[i]->type == REDIS_REPLY_ERROR;
	}
	store_metrics_done(&r->m, STORE_OK, (unsigned) n - errors, t0);
	if (errors > 0) {
		store_metrics_done(&r->m, STORE_ERROR, errors, 0);
	}
}

/* exchange on a context that passed ensure; once more on a new context
 * when nothing reached the server. *sent says whether anything went to a
 * server. */
static core_status
try_commands(core_redis *r, int n, char *const *cmds, const int *lens,
    redisReply **replies, bool *sent)
{
	for (int i = 0; i < n; i++) {
		replies[i] = NULL;
	}
	for (int attempt = 0;; attempt++) {
		if (!ensure(r)) {
			return CORE_UNAVAILABLE;
		}
		*sent = true;
		bool unsent;
		core_status st = exchange(r, n, cmds, lens, replies, &unsent);
		if (st == CORE_OK) {
			r->error[0] = '\0';
			return st;
		}
		if (!unsent || attempt > 0 || st != CORE_UNAVAILABLE) {
			core_log_kv(CORE_LOG_WARN, "redis command failed",
			    "error", r->error, NULL);
			return st;
		}
		core_log_kv(CORE_LOG_INFO,
		    "redis connection failed before the command was sent; "
		    "sending it on a new connection",
		    "error", r->error, NULL);
	}
}

/* try_commands, counted. The latency is that of round trips that reached
 * a server: a call that fails at once while the handle waits to
 * reconnect says nothing about the server's speed. */
static core_status
send_commands(core_redis *r, int n, char *const *cmds, const int *lens,
    redisReply **replies)
{
	double t0 = store_metrics_now();
	bool sent = false;
	core_status st = try_commands(r, n, cmds, lens, replies, &sent);
	count_commands(r, n, st, replies, sent ? t0 : 0);
	return st;
}

/* Sends one formatted command (len < 0: the format was bad) and maps an
 * error reply. Frees cmd; *out gets the reply on success. */
static core_status
one_command(core_redis *r, char *cmd, int len, redisReply **out)
{
	*out = NULL;
	if (len < 0) {
		set_error(r, "bad command format");
		core_log_kv(
		    CORE_LOG_ERROR, "redis command not formatted", NULL);
		store_metrics_done(&r->m, STORE_ERROR, 1, 0);
		return CORE_INTERNAL;
	}
	redisReply *rep;
	core_status st = send_commands(r, 1, &cmd, &len, &rep);
	redisFreeCommand(cmd);
	if (st != CORE_OK) {
		return st;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		set_error(r, rep->str);
		// Redis 7 quotes the arguments of an unknown command, and an
		// argument may be a secret.
		char *args = strstr(r->error, ", with args");
		if (args != NULL) {
			*args = '\0';
		}
		core_log_kv(CORE_LOG_ERROR, "redis error reply", "error",
		    r->error, NULL);
		freeReplyObject(rep);
		return CORE_INTERNAL;
	}
	*out = rep; // the caller freeReplyObject()s it
	return CORE_OK;
}

core_status
core_redis_command(core_redis *r, redisReply **out, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	int len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	return one_command(r, cmd, len, out);
}

core_status
core_redis_commandargv(core_redis *r, int argc, const char **argv,
    const size_t *argvlen, redisReply **out)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	return one_command(r, cmd, len, out);
}

#define PIPELINE_STACK 16

core_status
core_redis_pipeline(core_redis *r, int n, const int *argcs,
    const char *const *const *argvs, const size_t *const *argvlens,
    redisReply **replies)
{
	if (n < 1 || n > PIPELINE_MAX) {
		return CORE_INVALID_ARGUMENT;
	}
	char *stack_cmds[PIPELINE_STACK] = {NULL};
	int stack_lens[PIPELINE_STACK];
	char **cmds = stack_cmds;
	int *lens = stack_lens;
	core_status st = CORE_INTERNAL;
	for (int i = 0; i < n; i++) {
		replies[i] = NULL;
	}
	if (n > PIPELINE_STACK) {
		cmds = calloc((size_t) n, sizeof(*cmds));
		lens = calloc((size_t) n, sizeof(*lens));
		if (cmds == NULL || lens == NULL) {
			goto done;
		}
	}
	for (int i = 0; i < n; i++) {
		// hiredis takes non-const argv but only reads it.
		const char **argv = (const char **) (uintptr_t) argvs[i];
		const size_t *alen = argvlens ? argvlens[i] : NULL;
		if ((lens[i] = redisFormatCommandArgv(
		         &cmds[i], argcs[i], argv, alen)) < 0) {
			goto done;
		}
	}
	st = send_commands(r, n, cmds, lens, replies);
done:
	for (int i = 0; cmds != NULL && i < n; i++) {
		redisFreeCommand(cmds[i]);
	}
	if (cmds != stack_cmds) {
		free(cmds);
		free(lens);
	}
	return st;
}

const char *
core_redis_error(const core_redis *r)
{
	return r->error;
}

core_status
core_redis_unexpected(const core_redis *r, const char *op)
{
	core_log_kv(CORE_LOG_ERROR, "unexpected redis reply", "op", op,
	    "error", r->error, NULL);
	return CORE_INTERNAL;
}

bool
core_redis_ping(core_redis *r)
{
	redisReply *rep;
	if (core_redis_command(r, &rep, "PING") != CORE_OK) {
		return false;
	}
	bool ok = rep->type == REDIS_REPLY_STATUS && rep->str != NULL &&
	          strcmp(rep->str, "PONG") == 0;
	freeReplyObject(rep);
	return ok;
}
