/* REST <-> RPC translation of the routes of routes.c: the request message
 * built from the HTTP request, the RPC started with the connection
 * suspended, the answer built from the reply. Called by http.c's access
 * handler in the request's stages. */
#ifndef EDGE_REST_H
#define EDGE_REST_H

#include <stdbool.h>

#include "config.h"
#include "request.h"

/* Builds r's request message (r->route set, the body read), starts its RPC
 * and moves r to REQ_RPC_PENDING with the connection suspended; the
 * completion (on an nng thread) copies the reply into r's arena, moves r
 * to REQ_REPLY_READY and resumes the connection. When the request cannot
 * become an RPC (a bad body, a refused cookie) it is answered at once
 * (REQ_DONE). Returns false when the connection should be closed (out of
 * memory). */
bool edge_rest_start(const edge_config *cfg, edge_request *r);

/* Answers r (REQ_REPLY_READY) from its reply: the response message as
 * JSON with the route's success status, or the RPC's error as
 * problem+json. Returns as edge_rest_start(). */
bool edge_rest_finish(edge_request *r);

/* RPCs started and not yet completed (shutdown waits for none). */
int edge_rest_in_flight(void);

/* The HTTP status for an RPC status (grpc-gateway's mapping). */
unsigned edge_rest_http_status(int rpc_status);

#endif
