/* The OpenAPI 3.1 description of the REST API, generated at start from
 * the route table (routes.c: paths, operations, their errors), the
 * filters of each route's flags (filters.c: headers, cookies, security,
 * which members a body has), the compiled-in message descriptors and the
 * field rules (schema.c, proto/rules.h). Nothing in it is written by
 * hand per route, so it cannot drift from what the edge does; the
 * contract test (tests/api) checks real answers against it. */
#ifndef EDGE_OPENAPI_H
#define EDGE_OPENAPI_H

#include <stddef.h>

/* The document as JSON text (indented, the same bytes on every run),
 * malloc'd; the caller frees it. edge_routes_init() must have succeeded.
 * NULL (logged) when out of memory. */
char *edge_openapi_build(size_t *len);

/* Builds the document once for serving (GET /openapi.json). Returns 0, or
 * -1 (logged). */
int edge_openapi_init(void);

/* The document built by edge_openapi_init() (NULL before), its length
 * and its ETag. Never written after the start: any thread may read it
 * (it is not const only for libmicrohttpd's sake). */
char *edge_openapi_json(size_t *len, const char **etag);

/* Frees it. */
void edge_openapi_free(void);

#endif
