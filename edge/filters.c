#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/pbfield.h"
#include "core/utf8.h"
#include "browser.h"
#include "filters.h"

/* The longest User-Agent passed on, in bytes. */
#define USER_AGENT_MAX 255
/* The longest parameter name shown in an error detail, in bytes. */
#define SHOWN_NAME_MAX 64

/* Stops the request with a problem: status, detail (must outlive the
 * answer: a literal or the arena) and extra (may be NULL; consumed). */
static int
refuse(edge_exchange *x, unsigned status, const char *detail, json_t *extra)
{
	x->refusal = status;
	x->refusal_detail = detail;
	x->refusal_extra = extra;
	return -1;
}

/* Stops the request: out of memory. */
static int
exhausted(edge_exchange *x)
{
	return refuse(x, 0, NULL, NULL);
}

/* A copy of s in the exchange's arena ("" for NULL), or NULL when out of
 * memory. */
static char *
keep(edge_exchange *x, const char *s)
{
	return core_arena_strdup(x->arena, s != NULL ? s : "");
}

/* ---- Request sides ------------------------------------------------------ */

/* JSON text -> the route's request message, in the REST style
 * (docs/api.md "JSON style"; the libcore codec maps it). Refused with a
 * 400 saying what is wrong: text that is not JSON says where (no member
 * to name); anything else names the member, also in errors[]. Unknown
 * members are refused too, naming them: a typo is caught, not ignored. */
static int
build_message(edge_exchange *x, const char *text, size_t len)
{
	static const core_json_limits rest = {.flags = CORE_JSON_REST};
	core_json_error jerr;
	ProtobufCMessage *in = NULL;
	if (core_json_to_pb(x->route->in, text, len, &rest,
	        core_arena_allocator(x->arena), &in, &jerr) == 0) {
		x->in = in;
		return 0;
	}
	if (jerr.line > 0) {
		return refuse(x, 400,
		    core_arena_printf(x->arena,
		        "the body cannot be read as JSON: %s (line %d, column %d)",
		        jerr.message, jerr.line, jerr.column),
		    NULL);
	}
	if (jerr.field[0] == '\0') {
		return refuse(
		    x, 400, core_arena_strdup(x->arena, jerr.message), NULL);
	}
	json_t *errs = json_pack(
	    "[{s:s, s:s}]", "field", jerr.field, "message", jerr.message);
	return refuse(x, 400,
	    core_arena_printf(x->arena, "%s: %s", jerr.field, jerr.message),
	    json_pack("{s:o}", "errors", errs));
}

static const edge_filter *table(size_t *n);

/* Refuses a body that sets a member the edge fills (from the path, or
 * from the connection): the OpenAPI document does not list it, and the
 * client's value would be ignored. */
static int
no_filled_members(edge_exchange *x)
{
	const edge_route *rt = x->route;
	const char *member = NULL;
	size_t n;
	const edge_filter *f = table(&n);
	if (rt->path_field != NULL &&
	    core_pb_field_present(
	        x->in, core_pb_field_find(rt->in, rt->path_field))) {
		member = rt->path_field;
	}
	for (size_t i = 0; member == NULL && i < n; i++) {
		if ((rt->flags & f[i].flag) == 0 || f[i].doc == NULL ||
		    !f[i].doc->replaces_in_fields) {
			continue;
		}
		for (size_t k = 0; f[i].in_fields[k] != NULL; k++) {
			const char *name = f[i].in_fields[k];
			if (core_pb_field_present(
			        x->in, core_pb_field_find(rt->in, name))) {
				member = name;
				break;
			}
		}
	}
	if (member == NULL) {
		return 0;
	}
	return refuse(x, 400,
	    core_arena_printf(x->arena,
	        "%s: the edge fills this member (from the path, a header or "
	        "the connection); leave it out",
	        member),
	    json_pack("{s:[{s:s, s:s}]}", "errors", "field", member, "message",
	        "leave it out: the edge fills it"));
}

/* ROUTE_BODY: the JSON body is the request message; no body at all is
 * {}. Members the edge fills are refused. */
static int
body_request(edge_exchange *x)
{
	const edge_request *r = x->req;
	int rc = r->body != NULL ? build_message(x, r->body, r->len)
	                         : build_message(x, "{}", 2);
	return rc != 0 ? rc : no_filled_members(x);
}

bool
edge_query_arg(void *cls, const char *key, const char *value)
{
	edge_query_args *qa = cls;
	if (qa->obj == NULL || qa->dup != NULL || qa->bad != NULL) {
		return false;
	}
	if (json_object_get(qa->obj, key) != NULL) {
		qa->dup = strdup(key);
		return false;
	}
	/* jansson takes UTF-8 text only; NULL means "?key" alone. */
	bool key_ok = core_utf8_valid(key, strlen(key));
	json_t *v = key_ok ? json_string(value != NULL ? value : "") : NULL;
	if (v == NULL || json_object_set_new(qa->obj, key, v) != 0) {
		qa->bad = strdup(key_ok ? key : "(name)");
		return false;
	}
	return true;
}

/* ROUTE_QUERY: the query string's parameters are the request message's
 * fields; one given twice, or not UTF-8, is a 400 naming it. */
static int
query_request(edge_exchange *x)
{
	edge_query_args qa = {.obj = json_object()};
	edge_http_each_param(x->req->conn, edge_query_arg, &qa);
	char *text = NULL;
	int rc;
	if (qa.dup != NULL || qa.bad != NULL) {
		/* The name, cut between characters: the detail must stay
		 * UTF-8 for the problem document to be written at all. */
		char name[SHOWN_NAME_MAX + 1];
		core_utf8_clean(
		    name, sizeof(name), qa.dup != NULL ? qa.dup : qa.bad);
		rc = refuse(x, 400,
		    core_arena_printf(x->arena,
		        qa.dup != NULL
		            ? "the parameter \"%s\" is given twice"
		            : "the parameter \"%s\" is not valid UTF-8",
		        name),
		    NULL);
	} else if (qa.obj == NULL ||
	           (text = json_dumps(qa.obj, JSON_COMPACT)) == NULL) {
		rc = exhausted(x);
	} else {
		rc = build_message(x, text, strlen(text));
	}
	free(text);
	free(qa.dup);
	free(qa.bad);
	json_decref(qa.obj);
	return rc;
}

/* ROUTE_CLIENT_INFO: client_ip and user_agent from the connection, never
 * from the body: the body is the client's word. The User-Agent is any
 * bytes a client sends: it goes on as UTF-8 (invalid bytes as U+FFFD) of
 * at most USER_AGENT_MAX bytes, cut between characters, since the RPC
 * core refuses a call with a string that is not UTF-8. */
static int
client_info_request(edge_exchange *x)
{
	const char *ua = edge_http_header(x->req->conn, "User-Agent");
	char *ip = keep(x, x->peer);
	char *agent = core_arena_alloc(x->arena, USER_AGENT_MAX + 1);
	if (ip == NULL || agent == NULL) {
		return exhausted(x);
	}
	core_utf8_clean(agent, USER_AGENT_MAX + 1, ua != NULL ? ua : "");
	core_pb_field_set_string(x->in, "client_ip", ip);
	core_pb_field_set_string(x->in, "user_agent", agent);
	return 0;
}

/* CSRF: a write the browser authenticated by itself (a cookie stands in
 * for a token) must come from an allowed page and carry JSON, which no
 * cross-site form can send. Every filter that takes a cookie as a
 * credential asks this. */
static int
cookie_credential(edge_exchange *x)
{
	const edge_request *r = x->req;
	if (!r->unsafe) {
		return 0;
	}
	if (r->origin == NULL || !r->origin_ok) {
		return refuse(x, 403,
		    "a cookie-authenticated request needs the Origin "
		    "header of an allowed page (or use an "
		    "Authorization header)",
		    NULL);
	}
	if (!edge_is_json_type(edge_http_header(r->conn, "Content-Type"))) {
		return refuse(x, 415,
		    "a cookie-authenticated request must be sent as "
		    "application/json",
		    NULL);
	}
	return 0;
}

/* ROUTE_REFRESH_COOKIE: the refresh token from its cookie when the body
 * has none. */
static int
refresh_cookie_request(edge_exchange *x)
{
	const char *given = core_pb_field_get_string(x->in, "refresh_token");
	const char *rc =
	    edge_http_cookie(x->req->conn, x->cfg->cookie_refresh);
	if (given == NULL || given[0] != '\0' || rc == NULL || rc[0] == '\0') {
		return 0;
	}
	char *token = keep(x, rc);
	if (token == NULL) {
		return exhausted(x);
	}
	core_pb_field_set_string(x->in, "refresh_token", token);
	return cookie_credential(x);
}

/* ROUTE_DEVICE_COOKIE: the device token from its cookie when the body has
 * none. No CSRF check: it is no credential, it only decides which counter
 * a login attempt is throttled on. */
static int
device_cookie_request(edge_exchange *x)
{
	const char *given = core_pb_field_get_string(x->in, "device_token");
	const char *dc = edge_http_cookie(x->req->conn, x->cfg->cookie_device);
	if (given == NULL || given[0] != '\0' || dc == NULL || dc[0] == '\0') {
		return 0;
	}
	char *token = keep(x, dc);
	if (token == NULL) {
		return exhausted(x);
	}
	core_pb_field_set_string(x->in, "device_token", token);
	return 0;
}

/* ROUTE_SET_COOKIES: how the client wants its tokens. "Token-Delivery:
 * cookie" (the web frontend): in HttpOnly cookies only, never in a body a
 * page's scripts can read; "body" or none (API clients): in the body, and
 * the cookies as well. */
static int
token_delivery_request(edge_exchange *x)
{
	const char *td = edge_http_header(x->req->conn, "Token-Delivery");
	if (td == NULL || strcasecmp(td, "body") == 0) {
		return 0;
	}
	if (strcasecmp(td, "cookie") == 0) {
		x->cookie_only = true;
		return 0;
	}
	return refuse(
	    x, 400, "Token-Delivery must be \"cookie\" or \"body\"", NULL);
}

/* ROUTE_IF_MATCH: If-Match -> expected_version, so the update applies only
 * to that version (RFC 9110: strong comparison, "*" for any). */
static int
if_match_request(edge_exchange *x)
{
	/* 412 is for If-Match; other preconditions (the last admin) stay
	 * 400, as grpc-gateway maps them. */
	x->precondition_status = 412;
	const char *im = edge_http_header(x->req->conn, "If-Match");
	long long v = 0;
	if (im == NULL) {
		return 0;
	}
	switch (edge_if_match_parse(im, &v)) {
	case EDGE_IF_MATCH_VERSION:
		break;
	case EDGE_IF_MATCH_ANY:
		return 0; /* a profile always exists: no condition */
	case EDGE_IF_MATCH_NONE:
		/* No version is negative: the service answers
		 * FAILED_PRECONDITION, after checking the token as for any
		 * other update. */
		v = -1;
		break;
	default:
		return refuse(x, 400,
		    "If-Match must be \"*\" or ETags of this API (e.g. "
		    "\"v3\"), naming one version at most",
		    NULL);
	}
	core_pb_field_set_int64(x->in, "expected_version", v);
	return 0;
}

/* ROUTE_AUTH: the end user's token. The Authorization header (passed on
 * whatever the route), else the access cookie a browser sends: only on
 * routes that take a token, so a stray cookie never turns a login or a
 * body-token refresh into a cookie-authenticated request. */
static int
auth_request(edge_exchange *x)
{
	if (x->authorization != NULL) {
		return 0;
	}
	const char *ac = edge_http_cookie(x->req->conn, x->cfg->cookie_access);
	if (ac == NULL || ac[0] == '\0') {
		return 0;
	}
	x->authorization = core_arena_printf(x->arena, "Bearer %s", ac);
	if (x->authorization == NULL) {
		return exhausted(x);
	}
	return cookie_credential(x);
}

/* ---- Response sides ----------------------------------------------------- */

/* A string field of the response, "" when it has none. */
static const char *
out_string(const edge_exchange *x, const char *name)
{
	const char *s = core_pb_field_get_string(x->out, name);
	return s != NULL ? s : "";
}

/* An integer field of the response, 0 when it has none. */
static long
out_int(const edge_exchange *x, const char *name)
{
	int64_t v = 0;
	core_pb_field_get_int64(x->out, name, &v);
	return (long) v;
}

/* ROUTE_JWKS: the JWKS document verbatim (the response's json field), as
 * its own media type, cacheable for as long as svc-auth says verifiers may
 * keep it (max_age_s; a minute when it says nothing). */
static int
jwks_response(edge_exchange *x)
{
	free(x->answer.body);
	x->answer.body = strdup(out_string(x, "json"));
	x->answer.type = "application/jwk-set+json";
	if (x->answer.body == NULL) {
		return -1;
	}
	long age = out_int(x, "max_age_s");
	char *cc = core_arena_printf(x->arena, "public, max-age=%ld",
	    age > 0 && age <= 86400 ? age : 60L);
	return cc != NULL ? edge_answer_header(&x->answer, "Cache-Control", cc)
	                  : -1;
}

/* The singular message field name of m, or NULL when m has none or it is
 * unset. It belongs to m. */
static const ProtobufCMessage *
message_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    core_pb_field_find(m->descriptor, name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->label == PROTOBUF_C_LABEL_REPEATED ||
	    !core_pb_field_present(m, f)) {
		return NULL;
	}
	return *(const ProtobufCMessage *const *) core_pb_field_cptr(m, f);
}

/* ROUTE_ETAG: ETag "v<version>" from the response's profile.version. */
static int
etag_response(edge_exchange *x)
{
	const ProtobufCMessage *profile = message_field(x->out, "profile");
	int64_t version;
	if (profile == NULL ||
	    core_pb_field_get_int64(profile, "version", &version) != 0) {
		return 0;
	}
	char *etag =
	    core_arena_printf(x->arena, "\"v%lld\"", (long long) version);
	return etag != NULL ? edge_answer_header(&x->answer, "ETag", etag)
	                    : -1;
}

/* ROUTE_LOCATION: what was created (an account) is read at /profile. */
static int
location_response(edge_exchange *x)
{
	return edge_answer_header(&x->answer, "Location", "/profile");
}

/* The two token cookies: set from a TokenResponse, or expired (set
 * false). A token that a cookie cannot carry is logged and left out. */
static int
token_cookies(edge_exchange *x, bool set)
{
	const edge_config *c = x->cfg;
	const char *names[2] = {c->cookie_access, c->cookie_refresh};
	const char *values[2] = {"", ""};
	long ages[2] = {0, 0};
	if (set) {
		values[0] = out_string(x, "access_token");
		values[1] = out_string(x, "refresh_token");
		ages[0] = out_int(x, "expires_in");
		ages[1] = out_int(x, "refresh_expires_in");
	}
	for (int i = 0; i < 2; i++) {
		char buf[1024];
		if (edge_cookie_format(buf, sizeof(buf), names[i], values[i],
		        ages[i], c->cookie_secure) != 0) {
			core_log_error("token does not fit in a cookie");
			continue;
		}
		char *cookie = keep(x, buf);
		if (cookie == NULL || edge_answer_header(&x->answer,
		                          "Set-Cookie", cookie) != 0) {
			return -1;
		}
	}
	return 0;
}

/* The response as JSON without its tokens, as the answer's body. */
static int
body_without_tokens(edge_exchange *x)
{
	static const char *const tokens[] = {
	    "access_token", "refresh_token", "device_token"};
	json_t *o = core_pb_to_json_value_flags(x->out, CORE_JSON_REST);
	if (o == NULL) {
		return -1;
	}
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		json_object_del(o, tokens[i]);
	}
	free(x->answer.body);
	x->answer.body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return x->answer.body != NULL ? 0 : -1;
}

/* ROUTE_SET_COOKIES: a successful login or refresh sets the cookies; in
 * cookie mode the body keeps no token. */
static int
set_cookies_response(edge_exchange *x)
{
	/* A login waiting for its second factor (mfa_required) has no token
	 * yet: no cookie is set, and none is expired. */
	if (out_string(x, "access_token")[0] == '\0') {
		return 0;
	}
	if (token_cookies(x, true) != 0) {
		return -1;
	}
	return x->cookie_only ? body_without_tokens(x) : 0;
}

/* ROUTE_DEVICE_COOKIE: a device token in the response goes to its
 * cookie, sent back to the login path only. */
static int
device_cookie_response(edge_exchange *x)
{
	const char *t = out_string(x, "device_token");
	char buf[512];
	if (t[0] == '\0') {
		return 0;
	}
	if (edge_cookie_format_path(buf, sizeof(buf), x->cfg->cookie_device, t,
	        "/login", out_int(x, "device_token_expires_in"),
	        x->cfg->cookie_secure) != 0) {
		core_log_error("device token does not fit in a cookie");
		return 0;
	}
	char *cookie = keep(x, buf);
	return cookie != NULL
	           ? edge_answer_header(&x->answer, "Set-Cookie", cookie)
	           : -1;
}

/* ROUTE_CLEAR_COOKIES: a successful logout expires them. */
static int
clear_cookies_response(edge_exchange *x)
{
	return token_cookies(x, false);
}

/* ---- The table ---------------------------------------------------------- */

static const char *const client_info_fields[] = {
    "client_ip", "user_agent", NULL};
static const char *const refresh_fields[] = {"refresh_token", NULL};
static const char *const if_match_fields[] = {"expected_version", NULL};
static const char *const jwks_fields[] = {"json", "max_age_s", NULL};
static const char *const etag_fields[] = {"profile", NULL};
static const char *const token_fields[] = {
    "access_token", "refresh_token", "expires_in", "refresh_expires_in", NULL};
static const char *const device_in_fields[] = {"device_token", NULL};
static const char *const device_out_fields[] = {
    "device_token", "device_token_expires_in", NULL};

/* What each filter adds to the OpenAPI description. */
#define COOKIE_ERRORS                                                         \
	"403 a cookie stood in for a token without the Origin of an "         \
	"allowed page; 415 a cookie stood in for a token and the body is "    \
	"not application/json"

static const char *const refresh_params[] = {"RefreshCookie", NULL};
static const char *const if_match_params[] = {"IfMatch", NULL};
static const char *const device_params[] = {"DeviceCookie", NULL};
static const char *const delivery_params[] = {"TokenDelivery", NULL};
static const char *const cache_headers[] = {"Cache-Control", NULL};
static const char *const etag_headers[] = {"ETag", NULL};
static const char *const location_headers[] = {"Location", NULL};
static const char *const cookie_headers[] = {"Set-Cookie", NULL};
static const char *const token_members[] = {
    "access_token", "refresh_token", "device_token", NULL};

static const edge_filter_doc body_doc = {.errors =
                                             "400 the body is not JSON, or "
                                             "a member is unknown, of the "
                                             "wrong type or out of range; "
                                             "415 the body is not "
                                             "application/json"};
static const edge_filter_doc query_doc = {
    .errors = "400 a parameter is unknown, given twice, not UTF-8 or of "
              "the wrong type"};
static const edge_filter_doc client_info_doc = {.replaces_in_fields = true};
static const edge_filter_doc refresh_doc = {
    .parameters = refresh_params, .unsafe_errors = COOKIE_ERRORS};
static const edge_filter_doc if_match_doc = {.replaces_in_fields = true,
    .parameters = if_match_params,
    .errors = "400 If-Match is neither \"*\" nor ETags of this API; 412 "
              "the profile changed since that ETag: read it again"};
static const edge_filter_doc auth_doc = {.security = true,
    .errors = "401 no token, or it is invalid, expired or revoked",
    .unsafe_errors = COOKIE_ERRORS};
static const char *const jwks_members[] = {"keys", NULL};
static const edge_filter_doc jwks_doc = {.headers = cache_headers,
    .answer_type = "application/jwk-set+json",
    .answer_fields = jwks_members};
static const edge_filter_doc etag_doc = {.headers = etag_headers};
static const edge_filter_doc location_doc = {.headers = location_headers};
static const edge_filter_doc device_doc = {
    .parameters = device_params, .headers = cookie_headers};
static const edge_filter_doc set_cookies_doc = {.may_omit = token_members,
    .parameters = delivery_params,
    .headers = cookie_headers,
    .errors = "400 Token-Delivery is neither \"cookie\" nor \"body\""};
static const edge_filter_doc clear_cookies_doc = {.headers = cookie_headers};

static const edge_filter filters[] = {
    /* The message builders first: the filters below read and write the
     * message they build. (A route has at most one of them.) */
    {ROUTE_BODY, "body", body_request, NULL, NULL, NULL, &body_doc},
    {ROUTE_QUERY, "query", query_request, NULL, NULL, NULL, &query_doc},
    {ROUTE_CLIENT_INFO, "client_info", client_info_request, NULL,
        client_info_fields, NULL, &client_info_doc},
    {ROUTE_REFRESH_COOKIE, "refresh_cookie", refresh_cookie_request, NULL,
        refresh_fields, NULL, &refresh_doc},
    {ROUTE_IF_MATCH, "if_match", if_match_request, NULL, if_match_fields, NULL,
        &if_match_doc},
    {ROUTE_AUTH, "auth", auth_request, NULL, NULL, NULL, &auth_doc},
    /* The JWKS document replaces the body before headers are added. */
    {ROUTE_JWKS, "jwks", NULL, jwks_response, NULL, jwks_fields, &jwks_doc},
    {ROUTE_ETAG, "etag", NULL, etag_response, NULL, etag_fields, &etag_doc},
    {ROUTE_LOCATION, "location", NULL, location_response, NULL, NULL,
        &location_doc},
    {ROUTE_DEVICE_COOKIE, "device_cookie", device_cookie_request,
        device_cookie_response, device_in_fields, device_out_fields,
        &device_doc},
    {ROUTE_SET_COOKIES, "set_cookies", token_delivery_request,
        set_cookies_response, NULL, token_fields, &set_cookies_doc},
    {ROUTE_CLEAR_COOKIES, "clear_cookies", NULL, clear_cookies_response, NULL,
        NULL, &clear_cookies_doc},
};

#define N_FILTERS (sizeof(filters) / sizeof(filters[0]))

static const edge_filter *
table(size_t *n)
{
	*n = N_FILTERS;
	return filters;
}

const edge_filter *
edge_filters(size_t *n)
{
	return table(n);
}

/* The first of names (NULL-terminated, may be NULL) that d lacks, or
 * NULL. */
static const char *
missing_field(const ProtobufCMessageDescriptor *d, const char *const *names)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		if (core_pb_field_find(d, names[i]) == NULL) {
			return names[i];
		}
	}
	return NULL;
}

const char *
edge_filters_check_route(const edge_route *route, char *why, size_t whylen)
{
	for (size_t i = 0; i < N_FILTERS; i++) {
		const edge_filter *f = &filters[i];
		if ((route->flags & f->flag) == 0) {
			continue;
		}
		const char *in = missing_field(route->in, f->in_fields);
		const char *out = missing_field(route->out, f->out_fields);
		if (in != NULL || out != NULL) {
			snprintf(why, whylen,
			    "the %s filter needs the field "
			    "%s in %s",
			    f->name, in != NULL ? in : out,
			    in != NULL ? route->in->name : route->out->name);
			return why;
		}
	}
	return NULL;
}

/* Runs one side (the response side, or the request side) of x's route's
 * filters in table order; stops at the first that fails. */
static int
run(edge_exchange *x, bool response)
{
	for (size_t i = 0; i < N_FILTERS; i++) {
		const edge_filter *f = &filters[i];
		edge_filter_fn side =
		    response ? f->on_response : f->on_request;
		if ((x->route->flags & f->flag) && side != NULL &&
		    side(x) != 0) {
			return -1;
		}
	}
	return 0;
}

int
edge_filters_request(edge_exchange *x)
{
	return run(x, false);
}

int
edge_filters_response(edge_exchange *x)
{
	return run(x, true);
}
