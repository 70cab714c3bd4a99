/* What each route flag (routes.h ROUTE_*) does, as one filter per flag,
 * after h2o's filters: a request side that works on the request message
 * before the RPC and a response side that works on the answer after it.
 *
 * The table runs in its order: first the request sides of a route's flags,
 * then (rest.c) the RPC, then the response sides. The message builders
 * (ROUTE_BODY, ROUTE_QUERY) come first, since the others read or write the
 * message they build. A new flag is one row here and one bit in
 * ROUTE_ALL_FLAGS; nothing else tests flags. */
#ifndef EDGE_FILTERS_H
#define EDGE_FILTERS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "core/arena.h"
#include "config.h"
#include "http.h"
#include "if_match.h"
#include "request.h"
#include "routes.h"

/* One REST request's RPC, as its filters see it. Lives in the request's
 * arena from the RPC's start to the answer. */
typedef struct edge_exchange {
	const edge_config *cfg;
	edge_request *req; /* the HTTP request (the filters read it) */
	const edge_route *route;
	core_arena *arena; /* the request's: what filters allocate */
	char peer[64];     /* the client's address (edge_http_client_ip) */

	/* The request side. */
	ProtobufCMessage *in;         /* the request message, in the arena */
	const char *authorization;    /* passed on as metadata, or NULL */
	unsigned precondition_status; /* answer to FAILED_PRECONDITION */
	bool cookie_only; /* "Token-Delivery: cookie": no tokens in the body */

	/* A request side that refuses sets these (status 0: out of memory,
	 * close the connection). extra is consumed by the answer. */
	unsigned refusal;
	const char *refusal_detail;
	json_t *refusal_extra;

	/* The response side. */
	const ProtobufCMessage *out; /* the response message, in the arena */
	edge_answer answer;          /* what will be sent */
} edge_exchange;

/* A filter's side: 0 to go on, -1 to stop (a request side sets
 * x->refusal; a response side fails only when out of memory). */
typedef int (*edge_filter_fn)(edge_exchange *x);

/* What a filter adds to the OpenAPI description of a route with its flag
 * (openapi.c): every name here is a key of that file's components. */
typedef struct edge_filter_doc {
	/* Its in_fields come from the connection only, so they are not
	 * members of the body (true); or from a header or cookie only when
	 * the body leaves them out, so the body may still send them but
	 * need not (false). */
	bool replaces_in_fields;
	/* Members of the response it may leave out (NULL-terminated;
	 * NULL: none): not required in the document. */
	const char *const *may_omit;
	/* The request headers and cookies it reads: components.parameters
	 * names (NULL-terminated; NULL: none). */
	const char *const *parameters;
	/* The headers it sets on success: components.headers names. */
	const char *const *headers;
	/* The errors its request side answers: "400 why; 412 why", or
	 * NULL; and those it answers only to unsafe methods (POST, PUT,
	 * PATCH, DELETE). */
	const char *errors;
	const char *unsafe_errors;
	/* The route takes the end user's token (the security schemes). */
	bool security;
	/* The answer is not the response message as JSON but this media
	 * type, holding only these members of it (NULL: unchanged). */
	const char *answer_type;
	const char *const *answer_fields;
} edge_filter_doc;

typedef struct edge_filter {
	unsigned flag;              /* one ROUTE_* bit */
	const char *name;           /* "if_match" (tests, logs) */
	edge_filter_fn on_request;  /* NULL: nothing before the RPC */
	edge_filter_fn on_response; /* NULL: nothing after it */
	/* The fields it writes in the request message and reads in the
	 * response message (NULL-terminated; NULL: none), which a route
	 * with its flag must have. */
	const char *const *in_fields;
	const char *const *out_fields;
	const edge_filter_doc *doc; /* NULL: adds nothing to it */
} edge_filter;

/* The table, in the order its sides run, and its length. Static. */
const edge_filter *edge_filters(size_t *n);

/* Checks that route's messages have every field its flags' filters use.
 * Returns NULL, or why not (static text naming the flag and the field is
 * written to why, whylen bytes). */
const char *edge_filters_check_route(
    const edge_route *route, char *why, size_t whylen);

/* Runs the request sides of x->route's flags in table order, stopping at
 * the first that refuses. Returns 0, or -1 (x->refusal says why). */
int edge_filters_request(edge_exchange *x);

/* Runs the response sides of x->route's flags in table order on x->out,
 * into x->answer. Returns 0, or -1 when out of memory. */
int edge_filters_response(edge_exchange *x);

/* The query string as a JSON object of strings (the codec turns "20" into
 * an int32 and "active" into an enum, in the REST style of the codec),
 * built one parameter at a time. */
typedef struct edge_query_args {
	json_t *obj; /* the caller's; NULL: out of memory */
	char *dup;   /* a parameter given twice (malloc'd) */
	char *bad;   /* a parameter that is not UTF-8 text (malloc'd) */
} edge_query_args;

/* Adds key=value (value NULL: "?key" alone) to cls, an edge_query_args,
 * with its already unescaped key and value (libmicrohttpd's parameter
 * walk). Returns false to stop at the first problem (dup or bad set, or
 * obj NULL). Pure apart from the allocation. */
bool edge_query_arg(void *cls, const char *key, const char *value);

#endif
