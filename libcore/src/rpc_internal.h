/* Shared between the RPC server and client. */
#ifndef CORE_RPC_INTERNAL_H
#define CORE_RPC_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include <nng/nng.h>

#include "core/arena.h"
#include "core/rpc.h"
#include "core/status.h"

/* Monotonic clock in milliseconds. */
int64_t rpc_now_ms(void);

/* The CLOCK_REALTIME time ms milliseconds from now, for
 * pthread_cond_timedwait. */
void rpc_deadline_timespec(struct timespec *ts, int64_t ms);

/* Closes an nng socket, waiting at most ms for nng_close to return.
 *
 * nng 1.5.2 (Debian 12) can hang in nng_close: when a pipe closes while
 * its protocol re-arms a receive, the receive is never completed and nng's
 * reaper waits for it forever (reproduced with a plain rep0 server closed
 * under load; see docs/internals/rpc.md). A stuck close must not keep a
 * process from exiting after SIGTERM, so after ms the close is left to a
 * detached thread and 0 is returned anyway; returns -1 (logged) in that
 * case, 0 when the close finished. */
int rpc_close_bounded(nng_socket sock, int ms);

/* Wipes a received message's body (a reply may hold tokens) and frees it.
 * Messages handed to nng_sendmsg are nng's to free, unwiped. */
void rpc_msg_wipe_free(nng_msg *m);

/* Listens on url (tls+tcp:// with tls, or the default credentials when
 * NULL; a warning for plain tcp://). Sets *port to the bound TCP port when
 * it is still -1. Returns 0, or -1 (logged). */
int rpc_listen(
    nng_socket sock, const char *url, const struct core_tls *tls, int *port);

/* Starts dialing url in the background (tls+tcp:// with tls or the
 * default, the server's certificate must name peer_identity when it is
 * not NULL). Returns 0, or -1 (logged). */
int rpc_dial(nng_socket sock, const char *url, const struct core_tls *tls,
    const char *peer_identity);

/* Logs the risk of a plain tcp:// url (what: "dialing plain tcp://");
 * nothing for other URLs. */
void rpc_warn_plain(const char *what, const char *url);

/* Translates an nng error into a status for the caller. */
core_status rpc_status_from_nng(int rv);

/* Runs one request message (consumed) through the server's dispatch on the
 * calling thread, as a worker does after a receive: envelope, deadline,
 * method lookup, string checks, rule, handler, reply. Returns the reply
 * message (the caller frees it), or NULL when none could be built. The
 * server need not be started (no transport is touched): the fuzz harness
 * and tests call it with state as a worker's. The arena is reset. */
nng_msg *rpc_server_handle(
    core_rpc_server *s, nng_msg *msg, void *state, core_arena *arena);

/* Decodes a core.v1.Response in m into reply (strings in arena), as the
 * client does with every answer. Returns the reply's status; a message
 * that is not a Response is CORE_INTERNAL. */
core_status rpc_client_decode_reply(
    nng_msg *m, core_arena *arena, core_rpc_reply *reply);

#endif
