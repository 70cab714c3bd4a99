/* The REST API as one declarative table: each row maps METHOD /path to an
 * RPC method, says where the request message comes from and what a success
 * answers. Translation is generic: JSON body -> request message (libcore
 * codec), call, response message -> JSON; RPC status -> HTTP status. */
#ifndef EDGE_ROUTES_H
#define EDGE_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "backends.h"

/* Route flags. What each does is its filter in filters.c (one each, with a
 * request side and/or a response side); a route's flags run in that
 * table's order. ROUTE_BODY and ROUTE_QUERY build the request message: a
 * route has at most one of them (none: the message is empty). */
/* Takes a JSON body (none at all is {}). */
#define ROUTE_BODY 0x1u
/* Fills client_ip and user_agent from the connection, never the body. */
#define ROUTE_CLIENT_INFO 0x2u
/* Replies with an ETag from profile.version. */
#define ROUTE_ETAG 0x4u
/* If-Match -> expected_version. */
#define ROUTE_IF_MATCH 0x8u
/* Answers the JWKS document verbatim. */
#define ROUTE_JWKS 0x10u
/* 201 with Location: /profile. */
#define ROUTE_LOCATION 0x20u
/* Success sets the token cookies; with "Token-Delivery: cookie" the body
 * then leaves the tokens out. */
#define ROUTE_SET_COOKIES 0x40u
/* Success expires the token cookies. */
#define ROUTE_CLEAR_COOKIES 0x80u
/* refresh_token from the cookie when the body has none. */
#define ROUTE_REFRESH_COOKIE 0x100u
/* The query string's parameters are the request's fields (?page_size=20). */
#define ROUTE_QUERY 0x200u
/* The end user's token: the Authorization header, else the access cookie. */
#define ROUTE_AUTH 0x400u
/* device_token from the device cookie when the body has none; success
 * sets that cookie (Path=/login). */
#define ROUTE_DEVICE_COOKIE 0x800u
/* Every flag above; a new flag joins it (and gets its filter). */
#define ROUTE_ALL_FLAGS                                                       \
	(ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_ETAG | ROUTE_IF_MATCH |       \
	    ROUTE_JWKS | ROUTE_LOCATION | ROUTE_SET_COOKIES |                 \
	    ROUTE_CLEAR_COOKIES | ROUTE_REFRESH_COOKIE | ROUTE_AUTH |         \
	    ROUTE_QUERY | ROUTE_DEVICE_COOKIE)

typedef struct edge_route {
	const char *method;
	const char *path;       /* exact, or with one "{id}" segment */
	const char *rpc;        /* full method name */
	const char *path_field; /* request field that gets {id} */
	unsigned flags;
	unsigned success; /* HTTP status on OK */
	/* The OpenAPI description (openapi.c): the operationId, a summary
	 * and a description of the operation, and the errors the RPC
	 * answers here: "409 the username is taken; 429 why". The errors of
	 * the flags' filters and of every RPC (500, 502, 503, 504) are
	 * added to them. */
	const char *op;
	const char *summary;
	const char *about;
	const char *errors;
	/* Resolved at start from the registry: the RPC method's service is
	 * the backend that answers, so a row cannot name the wrong one. */
	const edge_backend *backend;
	const ProtobufCMessageDescriptor *in;
	const ProtobufCMessageDescriptor *out;
	unsigned index; /* row number */
	char name[48];  /* "GET /profile" */
} edge_route;

/* Resolves every row's message types and backend (edge_backends_init()
 * first). Returns 0, or -1 (logged) when a row names a method that is not
 * compiled in or whose service is not a backend. */
int edge_routes_init(void);

/* Finds the route for method and path. On a match writes the {id} value
 * (if any, at most idlen - 1 bytes, else no match) and returns the route.
 * Otherwise returns NULL and sets *path_known when some route has this
 * path (so the answer is 405, with the methods in allow). HEAD finds the
 * GET row. */
const edge_route *edge_route_find(const char *method, const char *path,
    char *id, size_t idlen, bool *path_known, char *allow, size_t allowlen);

/* The number of rows, and row i's "METHOD /path" (metrics labels). */
unsigned edge_route_count(void);
const char *edge_route_name(unsigned i);

/* Row i (i < edge_route_count()), for tests and tools. */
const edge_route *edge_route_at(unsigned i);

#endif
