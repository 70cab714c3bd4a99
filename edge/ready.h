/* GET /readyz: whether every backend answers core.v1.Health SERVING. A
 * fixed resource of the edge, not a REST route. Nothing here blocks an
 * HTTP thread: a thread of its own asks the backends (asynchronous calls,
 * all at once, each within the RPC deadline) and keeps the answers;
 * /readyz reads them. */
#ifndef EDGE_READY_H
#define EDGE_READY_H

#include <stdbool.h>

#include "request.h"

/* Between two rounds of Health calls once every backend is SERVING, and
 * while one is not (so that readiness follows a recovery closely; a call
 * to a backend without a connection costs nothing). */
#define EDGE_READY_INTERVAL_MS 1000
#define EDGE_READY_RETRY_MS 100

/* Starts the thread that asks every backend (dialled: after
 * edge_backends_dial()) in rounds, each call with timeout_ms as its
 * deadline. Returns 0, or -1 (logged). */
int edge_ready_start(long timeout_ms);

/* A backend's client made its first connection (its on_connect, on one of
 * nng's threads; never blocks): the thread starts its next round now
 * instead of after its pause, so /readyz follows a backend that comes up
 * at once rather than up to EDGE_READY_RETRY_MS later. Safe before
 * edge_ready_start (the first round asks anyway). */
void edge_ready_kick(void *unused);

/* Stops that thread, after the calls of its current round have completed
 * (so before edge_backends_close()). No-op when it is not running. */
void edge_ready_stop(void);

/* Answers r from the latest answers: 200 {"status":"ready","checks":{...}}
 * when all are SERVING, else 503 problem+json naming those that are not
 * ("down") with every service's state ("checks": "SERVING", another
 * serving status, the failed call's status such as "UNAVAILABLE" or
 * "DEADLINE_EXCEEDED", or "UNKNOWN" before a first answer). Never waits.
 * Returns false when the connection should be closed (out of memory). */
bool edge_ready_serve(edge_request *r);

#endif
