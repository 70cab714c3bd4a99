/* JSON Schemas (draft 2020-12, the dialect of OpenAPI 3.1) of protobuf
 * messages as the edge writes and reads them: the REST style of the codec
 * (core/json.h, CORE_JSON_REST), with the limits and descriptions of the
 * field rules (proto/rules.h). Used by openapi.c at start only. */
#ifndef EDGE_SCHEMA_H
#define EDGE_SCHEMA_H

#include <stdbool.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "rules.h"

/* How a route shows a message: which members, which of them required. */
typedef struct edge_schema_view {
	/* A request (the client writes it): members not listed are
	 * refused, the rules' RULE_REQUIRED members are required. Else an
	 * answer: every member is present unless optional lists it. */
	bool input;
	const char *const *hidden;   /* members left out (NULL-terminated) */
	const char *const *optional; /* members never required */
	const char *const *only;     /* answer: just these members, or NULL */
} edge_schema_view;

/* The component schemas being built: schemas is the document's
 * components.schemas object (borrowed; it gets a member for each message
 * view and enum referred to). */
typedef struct edge_schemas {
	json_t *schemas;
	json_t *views; /* view key -> component name */
} edge_schemas;

/* Starts s on schemas. Returns 0, or -1 when out of memory. */
int edge_schemas_init(edge_schemas *s, json_t *schemas);

/* Frees what s holds (not schemas). */
void edge_schemas_free(edge_schemas *s);

/* A new {"$ref": ...} to the schema of message d seen as v, which is
 * added to the components the first time (each distinct view of a message
 * is its own component: "RegisterRequest", then "RegisterRequest2").
 * NULL when out of memory. */
json_t *edge_schema_ref(edge_schemas *s, const ProtobufCMessageDescriptor *d,
    const edge_schema_view *v);

/* A new schema of field f (a query or path parameter: input is true),
 * with its rule r (may be NULL). NULL when out of memory. */
json_t *edge_schema_field(edge_schemas *s, const ProtobufCFieldDescriptor *f,
    const field_rule *r, bool input);

/* Whether names (NULL-terminated, may be NULL) holds name. */
bool edge_names_listed(const char *const *names, const char *name);

#endif
