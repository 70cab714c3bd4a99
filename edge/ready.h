/* GET /readyz: whether every backend answers core.v1.Health SERVING. A
 * fixed resource of the edge, not a REST route: it asks each service
 * itself (blocking, one after the other, each call within the RPC
 * deadline) and needs none of the routes' translation. */
#ifndef EDGE_READY_H
#define EDGE_READY_H

#include <stdbool.h>

#include "request.h"

/* Asks every backend and answers r: 200 {"status":"ready","checks":{...}}
 * when all are SERVING, else 503 problem+json naming those that are not
 * ("down") with every service's state ("checks"). Returns false when the
 * connection should be closed (out of memory). */
bool edge_ready_serve(edge_request *r, long timeout_ms);

#endif
