/* The OpenAPI 3.1 description of the REST API, generated at start from
 * the route table (routes.c: paths, operations, their errors), the
 * filters of each route's flags (filters.c: headers, cookies, security,
 * which members a body has), the compiled-in message descriptors and the
 * field rules (schema.c, proto/rules.h). Nothing in it is written by
 * hand per route, so it cannot drift from what the edge does; the
 * contract test (tests/api) checks real answers against it. */
#ifndef EDGE_OPENAPI_H
#define EDGE_OPENAPI_H

#include <stdbool.h>
#include <stddef.h>

#include "request.h"

/* The document as JSON text (indented, the same bytes on every run),
 * malloc'd; the caller frees it. edge_routes_init() must have succeeded.
 * NULL (logged) when out of memory. */
char *edge_openapi_build(size_t *len);

/* Builds the document once for serving (GET /openapi.json). Returns 0, or
 * -1 (logged). */
int edge_openapi_init(void);

/* Answers GET /openapi.json: the document built by edge_openapi_init(),
 * or 304 when If-None-Match names its ETag. Returns as edge_http_send(). */
bool edge_openapi_serve(edge_request *r);

/* Frees it. */
void edge_openapi_free(void);

#endif
