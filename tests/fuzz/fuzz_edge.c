/* libFuzzer harness: what the edge reads from an HTTP request, as the pure
 * functions it hands each part to (libmicrohttpd splits the request; these
 * decide what it means).
 *
 * Byte 0 picks the part, the rest is its text:
 *   0 path:         unescaped as the server does, then looked up in the
 *                   route table under every method.
 *   1 query:        split into parameters and unescaped as libmicrohttpd
 *                   does ('&', '=', '+', then the edge's %XX rule), turned
 *                   into a JSON object, then decoded into the request
 *                   message of every route that takes a query.
 *   2 cookie:       a token value formatted as a Set-Cookie header: what is
 *                   accepted must not be able to add an attribute.
 *   3 Origin:       "allow-list\norigin\nhost": the CORS list parsed, the
 *                   origin checked against it and against the Host.
 *   4 If-Match:     parsed to one of its outcomes; a version read prints
 *                   back as "v<n>" to the same version.
 *   5 Content-Type: the JSON check.
 * A failed property aborts (a finding). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "browser.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "filters.h"
#include "fuzz_util.h"
#include "registry.h"
#include "routes.h"

#define MAX_QUERY_ROUTES 16

static const ProtobufCMessageDescriptor *query_in[MAX_QUERY_ROUTES];
static size_t n_query;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	core_log_init("fuzz", CORE_LOG_ERROR, false);
	for (unsigned i = 0; i < edge_route_count(); i++) {
		const edge_route *r = edge_route_at(i);
		const registry_service *svc;
		const ProtobufCMethodDescriptor *m;
		if (!(r->flags & ROUTE_QUERY)) {
			continue;
		}
		FUZZ_CHECK(registry_find(r->rpc, &svc, &m) == 0);
		FUZZ_CHECK(n_query < MAX_QUERY_ROUTES);
		query_in[n_query++] = m->input;
	}
	return 0;
}

/* A NUL-terminated copy of p[0..n) (an embedded NUL ends it early, as it
 * would in a header). */
static char *
cstr(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static bool
id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void
part_path(char *s)
{
	static const char *const methods[] = {
	    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
	size_t before = strlen(s);
	size_t n = edge_unescape(s);
	FUZZ_CHECK(n == strlen(s) && n <= before);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char id[64], allow[64];
		bool known;
		const edge_route *r = edge_route_find(methods[i], s, id,
		    sizeof(id), &known, allow, sizeof(allow));
		FUZZ_CHECK(memchr(allow, 0, sizeof(allow)) != NULL);
		if (r == NULL) {
			continue;
		}
		FUZZ_CHECK(known);
		if (strstr(r->path, "{id}") != NULL) {
			FUZZ_CHECK(id[0] != '\0');
			for (const char *p = id; *p != '\0'; p++) {
				FUZZ_CHECK(id_char(*p));
			}
		}
	}
}

/* As libmicrohttpd 0.9.75 reads one parameter: '+' is a space, then the
 * unescape callback (the edge's edge_unescape). */
static void
unescape_param(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		if (*p == '+') {
			*p = ' ';
		}
	}
	edge_unescape(s);
}

static void
decode_query(json_t *obj)
{
	/* In the REST style, as the edge reads query strings. */
	static const core_json_limits rest = {.flags = CORE_JSON_REST};
	for (size_t i = 0; i < n_query; i++) {
		ProtobufCMessage *m = NULL;
		core_json_error err;
		if (core_json_value_to_pb(
		        query_in[i], obj, &rest, NULL, &m, &err) == 0) {
			protobuf_c_message_free_unpacked(m, NULL);
		} else {
			FUZZ_CHECK(
			    core_utf8_valid(err.message, strlen(err.message)));
			FUZZ_CHECK(
			    core_utf8_valid(err.field, strlen(err.field)));
		}
	}
}

static void
part_query(char *s)
{
	edge_query_args qa = {.obj = json_object()};
	bool go = true;
	char *save = NULL;
	FUZZ_CHECK(qa.obj != NULL);
	for (char *kv = strtok_r(s, "&", &save); kv != NULL && go;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (eq != NULL) {
			*eq++ = '\0';
			unescape_param(eq);
		}
		unescape_param(kv);
		go = edge_query_arg(&qa, kv, eq);
	}
	if (qa.dup == NULL && qa.bad == NULL) {
		FUZZ_CHECK(go);
		decode_query(qa.obj);
	} else {
		FUZZ_CHECK(!go);
	}
	free(qa.dup);
	free(qa.bad);
	json_decref(qa.obj);
}

static void
part_cookie(const char *value)
{
	static const char name[] = "__Host-access";
	char buf[8192];
	if (edge_cookie_format(buf, sizeof(buf), name, value, 900, true) !=
	    0) {
		return;
	}
	/* RFC 6265 cookie-octet: nothing that ends the value or the header. */
	for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
		FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '"' && *p != ',' &&
		           *p != ';' && *p != '\\');
	}
	size_t n = strlen(name), v = strlen(value);
	FUZZ_CHECK(strncmp(buf, name, n) == 0 && buf[n] == '=');
	FUZZ_CHECK(
	    strncmp(buf + n + 1, value, v) == 0 && buf[n + 1 + v] == ';');
}

static void
part_origin(char *s)
{
	char *origin = strchr(s, '\n');
	if (origin == NULL) {
		return;
	}
	*origin++ = '\0';
	char *host = strchr(origin, '\n');
	if (host != NULL) {
		*host++ = '\0';
	}
	edge_origins list;
	char err[128];
	if (edge_origins_parse(&list, s, err, sizeof(err)) == 0) {
		FUZZ_CHECK(list.n <= EDGE_MAX_ORIGINS);
		for (size_t i = 0; i < list.n; i++) {
			FUZZ_CHECK(list.list[i][0] != '\0');
			FUZZ_CHECK(edge_origin_listed(&list, list.list[i]));
		}
		(void) edge_origin_listed(&list, origin);
	} else {
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	}
	bool same = edge_origin_same_host(origin, host);
	FUZZ_CHECK(!same || strncasecmp(origin, "http", 4) == 0);
}

static void
part_if_match(const char *s)
{
	long long v = -1, again = -1;
	int r = edge_if_match_parse(s, &v);
	FUZZ_CHECK(r == EDGE_IF_MATCH_BAD || r == EDGE_IF_MATCH_VERSION ||
	           r == EDGE_IF_MATCH_ANY || r == EDGE_IF_MATCH_NONE);
	if (r != EDGE_IF_MATCH_VERSION) {
		FUZZ_CHECK(v == -1); /* untouched */
		return;
	}
	FUZZ_CHECK(v >= 0);
	char etag[32];
	snprintf(etag, sizeof(etag), "\"v%lld\"", v);
	FUZZ_CHECK(
	    edge_if_match_parse(etag, &again) == EDGE_IF_MATCH_VERSION &&
	    again == v);
}

static void
part_content_type(const char *s)
{
	if (edge_is_json_type(s)) {
		FUZZ_CHECK(strncasecmp(s, "application/json", 16) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	char *s = cstr(data + 1, size - 1);
	switch (data[0] % 6) {
	case 0:
		part_path(s);
		break;
	case 1:
		part_query(s);
		break;
	case 2:
		part_cookie(s);
		break;
	case 3:
		part_origin(s);
		break;
	case 4:
		part_if_match(s);
		break;
	default:
		part_content_type(s);
		break;
	}
	free(s);
	return 0;
}
