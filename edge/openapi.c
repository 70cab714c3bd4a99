/* The OpenAPI document: one operation per row of the route table, its
 * parameters, body, answers and errors gathered from the row, its flags'
 * filters and the descriptors. docs/api.md says how to use it;
 * docs/openapi.json is a copy that the test command compares with what
 * the edge serves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "core/log.h"
#include "core/pbfield.h"
#include "filters.h"
#include "http.h"
#include "openapi.h"
#include "routes.h"
#include "schema.h"
#include "static.h"

/* Members of a message one route hides or makes optional: a few. */
#define NAMES_MAX 16

/* Errors one operation lists: their statuses and what each means. */
#define ERRORS_MAX 16

/* Set when a table says more than this file can hold or read (a row's
 * error list that does not parse, too many names): the document is then
 * refused, so a broken row stops the edge at start and fails its unit
 * test instead of leaving something out. Start-up only. */
static bool broken;

/* The document served (edge_openapi_init). */
static char *served;
static size_t served_len;
static char served_etag[72];

/* Errors every operation can answer, whatever its route: each is a
 * component (components.responses) that operations refer to, unless a
 * route says more of that status. */
static const struct {
	unsigned status;
	const char *name;
	const char *what;
} common[] = {
    {413, "BodyTooLarge", "the body is larger than EDGE_MAX_BODY_BYTES"},
    {500, "InternalError",
        "an internal error: the request id finds it in the logs"},
    {502, "BadGateway", "the service sent an answer the edge cannot read"},
    {503, "Unavailable",
        "the service, or a database it needs, is not reachable now: try "
        "again (Retry-After when known)"},
    {504, "Timeout", "the service did not answer within EDGE_RPC_TIMEOUT_MS"},
};

#define N_COMMON (sizeof(common) / sizeof(common[0]))

/* And those of every unsafe method (POST, PUT, PATCH, DELETE). */
static const char unsafe_errors[] =
    "403 the request came from a page whose Origin is not allowed";

typedef struct op_error {
	unsigned status;
	char what[512];
} op_error;

typedef struct op_errors {
	op_error v[ERRORS_MAX];
	size_t n;
} op_errors;

/* A list of names (NULL-terminated) being gathered. */
typedef struct name_list {
	const char *v[NAMES_MAX + 1];
	size_t n;
} name_list;

static void
names_add(name_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], name) == 0) {
			return;
		}
	}
	if (l->n == NAMES_MAX) {
		core_log_error("openapi: more than %d names", NAMES_MAX);
		broken = true;
		return;
	}
	l->v[l->n++] = name;
	l->v[l->n] = NULL;
}

static void
names_add_all(name_list *l, const char *const *names)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		names_add(l, names[i]);
	}
}

/* Adds "NNN what; NNN what" to e, joining what a status already has. */
static void
errors_add(op_errors *e, const char *text)
{
	const char *p = text;
	while (p != NULL && *p != '\0') {
		unsigned status = 0;
		int used = 0;
		if (sscanf(p, "%3u %n", &status, &used) != 1 || used == 0 ||
		    status < 400 || status > 599) {
			core_log_error("openapi: bad error list: %s", text);
			broken = true;
			return;
		}
		p += used;
		/* The text runs to "; " before the next status, or to the
		 * end. */
		const char *end = p;
		while (*end != '\0' && !(end[0] == ';' && end[1] == ' ' &&
		                           end[2] >= '1' && end[2] <= '5')) {
			end++;
		}
		size_t k = 0;
		while (k < e->n && e->v[k].status != status) {
			k++;
		}
		if (k == e->n && e->n == ERRORS_MAX) {
			core_log_error(
			    "openapi: more than %d errors", ERRORS_MAX);
			broken = true;
			return;
		}
		if (k == e->n) {
			e->v[e->n++] = (op_error){.status = status};
		}
		size_t len = strlen(e->v[k].what);
		snprintf(e->v[k].what + len, sizeof(e->v[k].what) - len,
		    "%s%.*s", len > 0 ? "; " : "", (int) (end - p), p);
		p = *end != '\0' ? end + 2 : end;
	}
}

static int
by_status(const void *a, const void *b)
{
	const op_error *x = a, *y = b;
	return (int) x->status - (int) y->status;
}

/* What the route's flags' filters add, gathered. */
typedef struct route_docs {
	name_list hidden;     /* request members the body may not have */
	name_list fallback;   /* request members a header/cookie may fill */
	name_list may_omit;   /* answer members that may be missing */
	name_list parameters; /* components.parameters */
	name_list headers;    /* components.headers of a success */
	const char *answer_type;
	const char *const *answer_fields;
	bool security;
	op_errors errors;
} route_docs;

static void
gather(const edge_route *rt, route_docs *d)
{
	size_t n;
	const edge_filter *filters = edge_filters(&n);
	memset(d, 0, sizeof(*d));
	errors_add(&d->errors, rt->errors);
	if (rt->path_field != NULL) {
		names_add(&d->hidden, rt->path_field);
	}
	for (size_t i = 0; i < n; i++) {
		const edge_filter *f = &filters[i];
		const edge_filter_doc *doc = f->doc;
		if ((rt->flags & f->flag) == 0 || doc == NULL) {
			continue;
		}
		names_add_all(
		    doc->replaces_in_fields ? &d->hidden : &d->fallback,
		    f->in_fields);
		names_add_all(&d->may_omit, doc->may_omit);
		names_add_all(&d->parameters, doc->parameters);
		names_add_all(&d->headers, doc->headers);
		errors_add(&d->errors, doc->errors);
		if (edge_method_unsafe(rt->method)) {
			errors_add(&d->errors, doc->unsafe_errors);
		}
		d->security = d->security || doc->security;
		if (doc->answer_type != NULL) {
			d->answer_type = doc->answer_type;
			d->answer_fields = doc->answer_fields;
		}
	}
	if (edge_method_unsafe(rt->method)) {
		errors_add(&d->errors, unsafe_errors);
	}
	for (size_t i = 0; i < N_COMMON; i++) {
		char e[256];
		snprintf(
		    e, sizeof(e), "%u %s", common[i].status, common[i].what);
		errors_add(&d->errors, e);
	}
	qsort(d->errors.v, d->errors.n, sizeof(d->errors.v[0]), by_status);
}

static json_t *
ref(const char *where, const char *name)
{
	char buf[160];
	snprintf(buf, sizeof(buf), "#/components/%s/%s", where, name);
	return json_pack("{s:s}", "$ref", buf);
}

/* A parameter that is field f (rule r) of the request message; the
 * rule's description is the parameter's. */
static json_t *
parameter(const char *name, const char *in, edge_schemas *s,
    const ProtobufCFieldDescriptor *f, const field_rule *r)
{
	bool required = r != NULL && (r->flags & RULE_REQUIRED);
	json_t *schema = edge_schema_field(s, f, r, true);
	json_t *p = json_pack("{s:s, s:s, s:b}", "name", name, "in", in,
	    "required", required || strcmp(in, "path") == 0);
	if (schema == NULL || p == NULL) {
		json_decref(schema);
		json_decref(p);
		return NULL;
	}
	if (strcmp(in, "path") == 0 &&
	    json_object_get(schema, "pattern") == NULL &&
	    json_object_get(schema, "format") == NULL) {
		/* What the route matcher takes for {id} (routes.c); anything
		 * else is 404 there. */
		json_object_set_new(
		    schema, "pattern", json_string("^[A-Za-z0-9_-]{1,63}$"));
	}
	json_t *about = json_object_get(schema, "description");
	if (about != NULL) {
		json_object_set(p, "description", about);
		json_object_del(schema, "description");
	}
	json_object_set_new(p, "schema", schema);
	return p;
}

/* The parameters: {id}, the query's fields, the filters' headers and
 * cookies, X-Request-Id, traceparent. */
static json_t *
parameters(edge_schemas *s, const edge_route *rt, const route_docs *d)
{
	json_t *list = json_array();
	if (rt->path_field != NULL) {
		json_array_append_new(
		    list, parameter("id", "path", s,
		              core_pb_field_find(rt->in, rt->path_field),
		              rules_find(rt->in, rt->path_field)));
	}
	for (unsigned i = 0; (rt->flags & ROUTE_QUERY) && i < rt->in->n_fields;
	     i++) {
		const ProtobufCFieldDescriptor *f = &rt->in->fields[i];
		json_array_append_new(list, parameter(f->name, "query", s, f,
		                                rules_find(rt->in, f->name)));
	}
	for (size_t i = 0; i < d->parameters.n; i++) {
		json_array_append_new(
		    list, ref("parameters", d->parameters.v[i]));
	}
	json_array_append_new(list, ref("parameters", "X-Request-Id"));
	json_array_append_new(list, ref("parameters", "traceparent"));
	return list;
}

/* The request body of a ROUTE_BODY route: the request message without
 * the members the edge fills. */
static json_t *
request_body(edge_schemas *s, const edge_route *rt, const route_docs *d)
{
	edge_schema_view v = {
	    .input = true, .hidden = d->hidden.v, .optional = d->fallback.v};
	/* A body is needed when a member it must have is not filled
	 * otherwise. */
	bool needed = false;
	for (unsigned i = 0; i < rt->in->n_fields; i++) {
		const char *name = rt->in->fields[i].name;
		const field_rule *r = rules_find(rt->in, name);
		if (r != NULL && (r->flags & RULE_REQUIRED) &&
		    !edge_names_listed(d->hidden.v, name) &&
		    !edge_names_listed(d->fallback.v, name)) {
			needed = true;
		}
	}
	return json_pack("{s:s, s:b, s:{s:{s:o}}}", "description",
	    needed ? "A JSON object."
	           : "A JSON object; no body at all is the same as {}.",
	    "required", needed, "content", "application/json", "schema",
	    edge_schema_ref(s, rt->in, &v));
}

/* The headers of an answer: the names given, X-Request-Id and
 * traceparent always. */
static json_t *
answer_headers(const char *const *names)
{
	json_t *h = json_object();
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		json_object_set_new(h, names[i], ref("headers", names[i]));
	}
	json_object_set_new(h, "X-Request-Id", ref("headers", "X-Request-Id"));
	json_object_set_new(h, "traceparent", ref("headers", "traceparent"));
	return h;
}

static json_t *
success(edge_schemas *s, const edge_route *rt, const route_docs *d)
{
	edge_schema_view v = {
	    .optional = d->may_omit.v, .only = d->answer_fields};
	const field_rule *mr = rules_find(rt->out, NULL);
	const char *what = mr != NULL && mr->description != NULL
	                       ? mr->description
	                       : rt->summary;
	return json_pack("{s:s, s:o, s:{s:{s:o}}}", "description", what,
	    "headers", answer_headers(d->headers.v), "content",
	    d->answer_type != NULL ? d->answer_type : "application/json",
	    "schema", edge_schema_ref(s, rt->out, &v));
}

static json_t *failure_body(const op_error *e);

/* The components.responses entry e is, or NULL when the route says more
 * of its status than every route does. */
static const char *
common_name(const op_error *e)
{
	for (size_t i = 0; i < N_COMMON; i++) {
		if (common[i].status == e->status &&
		    strcmp(common[i].what, e->what) == 0) {
			return common[i].name;
		}
	}
	return NULL;
}

static json_t *
failure(const op_error *e)
{
	const char *name = common_name(e);
	return name != NULL ? ref("responses", name) : failure_body(e);
}

/* A problem answer of status e->status. */
static json_t *
failure_body(const op_error *e)
{
	const char *extra[3] = {NULL, NULL, NULL};
	if (e->status == 401) {
		extra[0] = "WWW-Authenticate";
	} else if (e->status == 429 || e->status == 503) {
		extra[0] = "Retry-After";
	}
	/* A sentence: "The username is taken; ...". */
	char what[sizeof(e->what)];
	snprintf(what, sizeof(what), "%s", e->what);
	if (what[0] >= 'a' && what[0] <= 'z') {
		what[0] = (char) (what[0] - 'a' + 'A');
	}
	return json_pack("{s:s, s:o, s:{s:{s:o}}}", "description", what,
	    "headers", answer_headers(extra), "content",
	    "application/problem+json", "schema", ref("schemas", "Problem"));
}

static json_t *
responses(edge_schemas *s, const edge_route *rt, const route_docs *d)
{
	json_t *out = json_object();
	char code[8];
	snprintf(code, sizeof(code), "%u", rt->success);
	json_object_set_new(out, code, success(s, rt, d));
	for (size_t i = 0; i < d->errors.n; i++) {
		snprintf(code, sizeof(code), "%u", d->errors.v[i].status);
		json_object_set_new(out, code, failure(&d->errors.v[i]));
	}
	return out;
}

static json_t *
operation(edge_schemas *s, const edge_route *rt)
{
	route_docs d;
	gather(rt, &d);
	json_t *op = json_pack("{s:s, s:s, s:[s]}", "operationId", rt->op,
	    "summary", rt->summary, "tags", rt->backend->name);
	if (op == NULL) {
		return NULL;
	}
	if (rt->about != NULL) {
		json_object_set_new(op, "description", json_string(rt->about));
	}
	json_object_set_new(op, "security",
	    d.security ? json_pack("[{s:[]}, {s:[]}]", "bearer", "cookie")
	               : json_array());
	json_object_set_new(op, "parameters", parameters(s, rt, &d));
	if (rt->flags & ROUTE_BODY) {
		json_object_set_new(
		    op, "requestBody", request_body(s, rt, &d));
	}
	json_object_set_new(op, "responses", responses(s, rt, &d));
	return op;
}

/* ---- What every operation refers to ------------------------------------ */

/* The fixed components, as JSON text: the problem document, the headers
 * and parameters the filters name, the security schemes. */
static const char fixed_components[] =
    "{\"schemas\": {\"Problem\": {\"type\": \"object\","
    " \"description\": \"An error, as RFC 9457 problem details.\","
    " \"properties\": {"
    "  \"type\": {\"type\": \"string\", \"description\": \"Always "
    "about:blank: the status says what kind of error it is.\"},"
    "  \"title\": {\"type\": \"string\", \"description\": \"The status's "
    "reason phrase.\"},"
    "  \"status\": {\"type\": \"integer\"},"
    "  \"detail\": {\"type\": \"string\", \"description\": \"What went "
    "wrong, for a developer (show errors[] to users).\"},"
    "  \"request_id\": {\"type\": \"string\", \"description\": \"The "
    "X-Request-Id of the answer: quote it to support.\"},"
    "  \"errors\": {\"type\": \"array\", \"description\": \"The members "
    "or parameters that are wrong, each with why.\", \"items\": {"
    "\"type\": \"object\", \"properties\": {\"field\": {\"type\": "
    "\"string\", \"minLength\": 1, \"description\": \"The member's path "
    "in the request: email, items[2].name.\"}, \"message\": {\"type\": "
    "\"string\"}}, \"required\": [\"field\", \"message\"]}},"
    "  \"retry_after\": {\"type\": \"integer\", \"description\": "
    "\"Seconds to wait before trying again, as Retry-After says.\"},"
    "  \"allow\": {\"type\": \"string\", \"description\": \"405: the "
    "methods the path has.\"}},"
    " \"required\": [\"type\", \"title\", \"status\", \"detail\", "
    "\"request_id\"]}},"
    "\"parameters\": {"
    " \"X-Request-Id\": {\"name\": \"X-Request-Id\", \"in\": \"header\", "
    "\"required\": false, \"description\": \"An id for this request, "
    "echoed in the answer and in every log line; a new one when absent "
    "or invalid.\", \"schema\": {\"type\": \"string\", \"pattern\": "
    "\"^[A-Za-z0-9._-]+$\", \"maxLength\": 64}},"
    " \"traceparent\": {\"name\": \"traceparent\", \"in\": "
    "\"header\", \"required\": false, \"description\": \"W3C trace "
    "context (00-<trace-id>-<parent-id>-<flags>): the request joins this "
    "trace; a new trace when absent, invalid or repeated (never an "
    "error).\", \"schema\": {\"type\": \"string\"}},"
    " \"IfMatch\": {\"name\": \"If-Match\", \"in\": \"header\", "
    "\"required\": false, \"description\": \"Apply only to this version: "
    "the ETag of the profile read (\\\"v3\\\"), or * for any.\", "
    "\"schema\": {\"type\": \"string\"}},"
    " \"TokenDelivery\": {\"name\": \"Token-Delivery\", \"in\": "
    "\"header\", \"required\": false, \"description\": \"cookie: the "
    "tokens only in HttpOnly cookies, none in the body (web pages); body "
    "(the default): in the body and in the cookies.\", \"schema\": "
    "{\"type\": \"string\", \"enum\": [\"cookie\", \"body\"]}},"
    " \"RefreshCookie\": {\"name\": \"__Host-refresh\", \"in\": "
    "\"cookie\", \"required\": false, \"description\": \"The refresh "
    "token, when the body has none (named refresh when "
    "EDGE_COOKIE_SECURE=false).\", \"schema\": {\"type\": \"string\"}},"
    " \"DeviceCookie\": {\"name\": \"__Secure-device\", \"in\": "
    "\"cookie\", \"required\": false, \"description\": \"The device "
    "token of an earlier login, when the body has none (named device "
    "when EDGE_COOKIE_SECURE=false).\", \"schema\": {\"type\": "
    "\"string\"}}},"
    "\"headers\": {"
    " \"X-Request-Id\": {\"required\": true, \"description\": \"The request's id: the one "
    "sent when valid, else a new one.\", \"schema\": {\"type\": "
    "\"string\"}},"
    " \"traceparent\": {\"required\": true, \"description\": \"W3C "
    "trace context: the request's trace id (the one sent when valid, else "
    "a new one; in every log line of the request as trace_id) and the "
    "edge's span id.\", \"schema\": {\"type\": \"string\", "
    "\"pattern\": \"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$\"}},"
    " \"ETag\": {\"required\": true, \"description\": \"The profile's version as a strong "
    "ETag, \\\"v<version>\\\": send it in If-Match.\", \"schema\": "
    "{\"type\": \"string\"}},"
    " \"Location\": {\"required\": true, \"description\": \"Where what was created is "
    "read.\", \"schema\": {\"type\": \"string\"}},"
    " \"Set-Cookie\": {\"required\": false, \"description\": \"The token cookies "
    "__Host-access and __Host-refresh (HttpOnly, Secure, "
    "SameSite=Strict; access and refresh, not Secure, when "
    "EDGE_COOKIE_SECURE=false) and the device cookie on Path=/login; "
    "none when a login answers mfa_required.\", "
    "\"schema\": {\"type\": \"string\"}},"
    " \"Cache-Control\": {\"required\": true, \"description\": \"How long the key set may be "
    "kept (max-age, seconds).\", \"schema\": {\"type\": \"string\"}},"
    " \"Retry-After\": {\"description\": \"Seconds to wait before trying "
    "again.\", \"schema\": {\"type\": \"integer\"}},"
    " \"WWW-Authenticate\": {\"required\": true, \"description\": \"Bearer.\", \"schema\": "
    "{\"type\": \"string\"}}},"
    "\"securitySchemes\": {"
    " \"bearer\": {\"type\": \"http\", \"scheme\": \"bearer\", "
    "\"bearerFormat\": \"JWT\", \"description\": \"The access token of "
    "POST /login or POST /refresh (an EdDSA JWT).\"},"
    " \"cookie\": {\"type\": \"apiKey\", \"in\": \"cookie\", \"name\": "
    "\"__Host-access\", \"description\": \"The access token's cookie, set "
    "by POST /login (named access when EDGE_COOKIE_SECURE=false). An "
    "unsafe method it authenticates needs the Origin of an allowed page "
    "and a JSON body.\"}}}";

static const char fixed_top[] =
    "{\"openapi\": \"3.1.0\","
    " \"info\": {\"title\": \"microcore REST API\", \"version\": \"1\","
    " \"description\": \"Accounts, logins and sessions (auth), profiles "
    "(user), and user administration with an audit trail (admin). JSON "
    "in and out in one style (docs/api.md, JSON style): snake_case "
    "members, enums as short lower-case names, every answer member "
    "present, 64-bit integers as strings, times as RFC 3339. Unknown "
    "request members are refused with 400; clients must ignore answer "
    "members they do not know. Errors are RFC 9457 problem+json.\"},"
    " \"servers\": [{\"url\": \"/\"}],"
    " \"tags\": ["
    "  {\"name\": \"auth\", \"description\": \"Accounts, logins, tokens "
    "and sessions.\"},"
    "  {\"name\": \"user\", \"description\": \"The caller's profile.\"},"
    "  {\"name\": \"admin\", \"description\": \"User management and the "
    "audit trail (role admin).\"}],"
    " \"paths\": {}}";

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DISABLE_EOF_CHECK, &err);
	if (v == NULL) {
		core_log_error("openapi: fixed part: %s (column %d)", err.text,
		    err.column);
	}
	return v;
}

/* The fixed parts, then an operation per route; components.schemas
 * gets Problem first, then what the operations refer to. */
static json_t *
document(void)
{
	json_t *doc = load(fixed_top);
	json_t *components = load(fixed_components);
	if (doc == NULL || components == NULL) {
		json_decref(doc);
		json_decref(components);
		return NULL;
	}
	json_object_set_new(doc, "components", components);
	json_t *shared = json_object();
	json_object_set_new(components, "responses", shared);
	for (size_t i = 0; i < N_COMMON; i++) {
		op_error e = {.status = common[i].status};
		snprintf(e.what, sizeof(e.what), "%s", common[i].what);
		json_object_set_new(shared, common[i].name, failure_body(&e));
	}
	json_t *paths = json_object_get(doc, "paths");
	edge_schemas s;
	if (edge_schemas_init(&s, json_object_get(components, "schemas")) !=
	    0) {
		json_decref(doc);
		return NULL;
	}
	for (unsigned i = 0; i < edge_route_count(); i++) {
		const edge_route *rt = edge_route_at(i);
		char method[8];
		size_t k = 0;
		for (; rt->method[k] != '\0' && k + 1 < sizeof(method); k++) {
			char c = rt->method[k];
			method[k] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		method[k] = '\0';
		json_t *item = json_object_get(paths, rt->path);
		if (item == NULL) {
			item = json_object();
			json_object_set_new(paths, rt->path, item);
		}
		json_object_set_new(item, method, operation(&s, rt));
	}
	edge_schemas_free(&s);
	return doc;
}

char *
edge_openapi_build(size_t *len)
{
	broken = false;
	json_t *doc = document();
	if (broken) {
		json_decref(doc);
		return NULL;
	}
	char *text =
	    doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
	                : NULL;
	json_decref(doc);
	if (text == NULL) {
		core_log_error("openapi: out of memory");
		return NULL;
	}
	size_t n = strlen(text);
	/* A file ends with a newline. */
	char *out = realloc(text, n + 2);
	if (out == NULL) {
		free(text);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	*len = n + 1;
	return out;
}

int
edge_openapi_init(void)
{
	served = edge_openapi_build(&served_len);
	if (served == NULL) {
		return -1;
	}
	unsigned char h[16];
	char hex[2 * sizeof(h) + 1];
	crypto_generichash(
	    h, sizeof(h), (const unsigned char *) served, served_len, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(served_etag, sizeof(served_etag), "\"%s\"", hex);
	return 0;
}

bool
edge_openapi_serve(edge_request *r)
{
	const char *inm = edge_http_header(r->conn, "If-None-Match");
	bool fresh = inm != NULL && edge_static_etag_match(inm, served_etag);
	edge_answer a = {.status = fresh ? 304 : 200,
	    .type = fresh ? NULL : "application/json",
	    .body = fresh ? NULL : strdup(served)};
	if (!fresh && a.body == NULL) {
		return false;
	}
	edge_answer_header(&a, "ETag", served_etag);
	edge_answer_header(&a, "Cache-Control", "no-cache");
	return edge_http_send(r, &a);
}

void
edge_openapi_free(void)
{
	free(served);
	served = NULL;
	served_len = 0;
}
