/* Redis for worker threads: one connection per handle (hiredis 0.14).
 *
 * A handle belongs to one thread and is never shared. Connects with a 1 s
 * timeout, every command has a 1 s timeout, AUTH and SELECT run after each
 * connect. Before each use an open connection is checked (a zero-timeout
 * poll): one the server closed (a restart, CLIENT KILL) is replaced before
 * a command is sent. A command (or pipeline) is sent a second time, on a
 * new connection, only when its first write failed with nothing written;
 * once its bytes have left, a failure is CORE_UNAVAILABLE and it is never
 * resent (an INCR must not run twice). The password is never logged.
 * hiredis writes with write(2), so the process must ignore SIGPIPE
 * (core_rpc_server_start does). Design note: docs/internals/store.md.
 *
 * Metrics (docs/operations.md, "Service metrics"): a handle counts its
 * commands (each of a pipeline), connections and reconnects in the series
 * of the component of the thread that opened it, looked up once at open;
 * a command only adds to them (no lock). */
#ifndef CORE_REDIS_H
#define CORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/status.h"

typedef struct core_redis core_redis;

/* The parts of a redis:// url. */
typedef struct core_redis_url {
	char host[256];     /* name, IPv4, or IPv6 without brackets */
	int port;           /* default 6379 */
	char user[256];     /* ACL user; "" = none (AUTH with password only) */
	char password[256]; /* "" = no AUTH */
	int db;             /* default 0 */
} core_redis_url;

/* Parses redis://[[user]:password@]host[:port][/db]. user and password may
 * be %-encoded; an IPv6 host goes in brackets. Returns 0 and fills *out, or
 * -1 for anything else: another scheme, an empty host, a port outside
 * 1..65535, a db that is not a decimal number, a field too long for its
 * buffer, a query or fragment. *out may be partly written on failure. */
int core_redis_parse_url(const char *url, core_redis_url *out);

/* Opens a handle for url and tries to connect at once; a failed connection
 * is logged and retried on the next use. Returns NULL only when out of
 * memory; a malformed url gives a handle that is always down. */
core_redis *core_redis_open(const char *url);

/* Closes the connection, wipes the password and frees the handle. NULL is a
 * no-op. */
void core_redis_close(core_redis *r);

/* Runs one command, printf-style as redisCommand (%s, %b with pointer and
 * size_t length, ...). On CORE_OK *out is the reply, which the caller
 * freeReplyObject()s; otherwise *out is NULL. Errors: CORE_UNAVAILABLE when
 * down or on an I/O error or timeout (the handle reconnects later);
 * CORE_INTERNAL for an error reply (logged, text in core_redis_error) or a
 * bad format. No format attribute: the compiler does not know %b. */
core_status core_redis_command(
    core_redis *r, redisReply **out, const char *fmt, ...);

/* The same with binary-safe arguments (argvlen may be NULL for C strings). */
core_status core_redis_commandargv(core_redis *r, int argc, const char **argv,
    const size_t *argvlen, redisReply **out);

/* Sends n commands (1..1024) in one write and reads their n replies.
 * Command i is argcs[i] arguments argvs[i] with lengths argvlens[i]
 * (argvlens itself or any entry may be NULL for C strings). On CORE_OK
 * replies[0..n-1] are all set, each to be freeReplyObject()ed; a command
 * that failed has a REDIS_REPLY_ERROR reply there. On any I/O failure every
 * reply read so far is freed, replies[] is all NULL and CORE_UNAVAILABLE is
 * returned; CORE_INVALID_ARGUMENT for n out of range. */
core_status core_redis_pipeline(core_redis *r, int n, const int *argcs,
    const char *const *const *argvs, const size_t *const *argvlens,
    redisReply **replies);

/* Text of the last error (I/O error or error reply), for logs and for
 * telling error kinds apart (e.g. a "NOSCRIPT" prefix); "" if none. */
const char *core_redis_error(const core_redis *r);

/* Logs that op ("sessions.refresh") got a reply of the wrong shape, with
 * core_redis_error's text, and returns CORE_INTERNAL. */
core_status core_redis_unexpected(const core_redis *r, const char *op);

/* True when PING answers PONG, reconnecting first if needed: a real round
 * trip to the server. For health checks. */
bool core_redis_ping(core_redis *r);

#endif
