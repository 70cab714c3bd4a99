/* The edge's REST layer as pure parts: the filter table (one filter per
 * route flag, message builders first), the route table's consistency,
 * If-Match parsing, the response sides on real response messages, and the
 * RPC -> HTTP status mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/v1/auth.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "core/status.h"
#include "backends.h"
#include "filters.h"
#include "rest.h"
#include "routes.h"

static bool
single_bit(unsigned v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static void
test_every_route_flag_has_exactly_one_filter(void **state)
{
	(void) state;
	size_t n;
	const edge_filter *f = edge_filters(&n);
	for (unsigned bit = 1; bit != 0; bit <<= 1) {
		int count = 0;
		for (size_t i = 0; i < n; i++) {
			count += f[i].flag == bit;
		}
		assert_int_equal(count, (ROUTE_ALL_FLAGS & bit) ? 1 : 0);
	}
	for (size_t i = 0; i < n; i++) {
		assert_true(single_bit(f[i].flag));
		assert_non_null(f[i].name);
		assert_true(
		    f[i].on_request != NULL || f[i].on_response != NULL);
	}
}

static size_t
position(unsigned flag)
{
	size_t n;
	const edge_filter *f = edge_filters(&n);
	for (size_t i = 0; i < n; i++) {
		if (f[i].flag == flag) {
			return i;
		}
	}
	fail_msg("no filter for flag 0x%x", flag);
	return n;
}

static void
test_message_builders_run_before_the_filters_that_use_the_message(void **state)
{
	(void) state;
	size_t n;
	const edge_filter *f = edge_filters(&n);
	size_t body = position(ROUTE_BODY), query = position(ROUTE_QUERY);
	for (size_t i = 0; i < n; i++) {
		if (f[i].on_request != NULL && i != body && i != query) {
			assert_true(body < i);
			assert_true(query < i);
		}
	}
	/* The JWKS document replaces the body: before any header is added. */
	size_t jwks = position(ROUTE_JWKS);
	for (size_t i = 0; i < n; i++) {
		if (f[i].on_response != NULL && i != jwks) {
			assert_true(jwks < i);
		}
	}
}

static void
test_every_route_is_consistent(void **state)
{
	(void) state;
	assert_int_equal(edge_backends_init(), 0);
	assert_int_equal(edge_routes_init(), 0);
	assert_true(edge_route_count() > 0);
	for (unsigned i = 0; i < edge_route_count(); i++) {
		const edge_route *rt = edge_route_at(i);
		/* Known flags only; at most one message builder. */
		assert_int_equal(rt->flags & ~ROUTE_ALL_FLAGS, 0);
		assert_false(
		    (rt->flags & ROUTE_BODY) && (rt->flags & ROUTE_QUERY));
		assert_non_null(rt->backend);
		assert_non_null(rt->in);
		assert_non_null(rt->out);
		/* {id} goes to a string field of the request. */
		bool has_id = strstr(rt->path, "{id}") != NULL;
		assert_int_equal(has_id, rt->path_field != NULL);
		if (has_id) {
			const ProtobufCFieldDescriptor *fd =
			    protobuf_c_message_descriptor_get_field_by_name(
			        rt->in, rt->path_field);
			assert_non_null(fd);
			assert_int_equal(fd->type, PROTOBUF_C_TYPE_STRING);
		}
	}
	/* The service is the RPC method's. */
	assert_string_equal(edge_route_at(0)->backend->name, "auth");
	assert_string_equal(edge_backend_name(0), "auth");
	assert_string_equal(edge_backend_name(edge_backend_count()), "");
}

/* A route whose messages lack a field its flags' filters use (or whose {id}
 * names no string field) stops the edge at start, not a request later. */
static void
test_a_route_missing_a_filters_field_is_refused(void **state)
{
	(void) state;
	char why[256];
	edge_route rt = {.method = "GET",
	    .path = "/x",
	    .rpc = "/x/Y",
	    .in = &auth__v1__get_jwks_request__descriptor,
	    .out = &auth__v1__get_jwks_response__descriptor};
	rt.flags = ROUTE_JWKS;
	assert_null(edge_filters_check_route(&rt, why, sizeof(why)));
	rt.flags = ROUTE_CLIENT_INFO;
	assert_non_null(edge_filters_check_route(&rt, why, sizeof(why)));
	assert_non_null(strstr(why, "client_ip"));
	rt.flags = ROUTE_ETAG;
	assert_non_null(edge_filters_check_route(&rt, why, sizeof(why)));
	assert_non_null(strstr(why, "profile"));
	rt.flags = ROUTE_SET_COOKIES;
	assert_non_null(edge_filters_check_route(&rt, why, sizeof(why)));
	/* Every real route has what its flags need. */
	assert_int_equal(edge_backends_init(), 0);
	assert_int_equal(edge_routes_init(), 0);
	for (unsigned i = 0; i < edge_route_count(); i++) {
		assert_null(edge_filters_check_route(
		    edge_route_at(i), why, sizeof(why)));
	}
}

static void
test_if_match_takes_one_strong_etag_of_this_api(void **state)
{
	(void) state;
	const struct {
		const char *in;
		long long v;
	} ok[] = {{"\"v7\"", 7}, {"\"v0\"", 0}, {" \"v7\" ", 7},
	    {"\"v9223372036854775807\"", 9223372036854775807LL},
	    /* A list matches when one of its tags does: the others here can
	     * never match (weak, or not of this API), so only v7 counts. */
	    {"\"x\", \"v7\"", 7}, {"W/\"v3\", \"v7\"", 7},
	    {"\"v7\",\"v7\"", 7}, {", \"v7\" ,,", 7}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		long long v = -1;
		assert_int_equal(
		    edge_if_match_parse(ok[i].in, &v), EDGE_IF_MATCH_VERSION);
		assert_true(v == ok[i].v);
	}
}

static void
test_if_match_star_is_any_version(void **state)
{
	(void) state;
	long long v = 42;
	assert_int_equal(edge_if_match_parse("*", &v), EDGE_IF_MATCH_ANY);
	assert_int_equal(edge_if_match_parse(" * ", &v), EDGE_IF_MATCH_ANY);
	assert_true(v == 42);
	assert_int_equal(
	    edge_if_match_parse("*, \"v1\"", &v), EDGE_IF_MATCH_BAD);
}

static void
test_if_match_weak_or_foreign_etags_never_match(void **state)
{
	(void) state;
	/* Well-formed entity-tags that no profile version can equal under
	 * RFC 9110's strong comparison: the request is 412, not applied. */
	const char *never[] = {"W/\"v7\"", "\"7\"", "\"\"", "\"v\"", "\"v-1\"",
	    "\"v+7\"", "\"x7\"", "\"v7x\"", "\"V7\"",
	    "\"v99999999999999999999\"", "W/\"v1\", W/\"v2\"",
	    "\"caf\xc3\xa9\""};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		long long v = 42;
		assert_int_equal(
		    edge_if_match_parse(never[i], &v), EDGE_IF_MATCH_NONE);
		assert_true(v == 42);
	}
}

static void
test_if_match_refuses_what_is_not_an_etag_list(void **state)
{
	(void) state;
	const char *bad[] = {"", " ", ",", "3", "v7", "-1", "+7", "nonsense",
	    "W/", "w/\"v7\"", "W/v7", "\"v7", "\"v7\"\"", "\"v7\" \"v8\"",
	    "\"v7\"x", "\" 7\"", "\"v 7\"", "\"\t7\"", "\"v7\", 3",
	    /* Two versions: one expected version at most. */
	    "\"v7\", \"v8\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long long v = 42;
		assert_int_equal(
		    edge_if_match_parse(bad[i], &v), EDGE_IF_MATCH_BAD);
		assert_true(v == 42);
	}
}

/* An exchange whose route has only flags, answering out, with the token
 * cookies named as config.c names them. */
typedef struct fixture {
	edge_config cfg;
	edge_route route;
	edge_exchange x;
} fixture;

/* Runs the response sides of flags on out into fx->x.answer. */
static void
respond(fixture *fx, unsigned flags, const ProtobufCMessage *out, bool secure)
{
	memset(fx, 0, sizeof(*fx));
	fx->cfg.cookie_secure = secure;
	fx->cfg.cookie_access = secure ? "__Host-access" : "access";
	fx->cfg.cookie_refresh = secure ? "__Host-refresh" : "refresh";
	fx->route.flags = flags;
	fx->route.success = 200;
	fx->x.cfg = &fx->cfg;
	fx->x.route = &fx->route;
	fx->x.arena = core_arena_new(0);
	fx->x.out = out;
	fx->x.answer.status = 200;
	fx->x.answer.type = "application/json";
	assert_non_null(fx->x.arena);
	assert_int_equal(edge_filters_response(&fx->x), 0);
}

static void
done(fixture *fx)
{
	free(fx->x.answer.body);
	core_arena_free(fx->x.arena);
}

/* The value of the answer's header name (the nth of that name), or
 * NULL. */
static const char *
header(const fixture *fx, const char *name, int nth)
{
	const edge_answer *a = &fx->x.answer;
	for (size_t i = 0; i < a->n_headers; i++) {
		if (strcmp(a->headers[i].name, name) == 0 && nth-- == 0) {
			return a->headers[i].value;
		}
	}
	return NULL;
}

static Auth__V1__TokenResponse
tokens(char *access, char *refresh)
{
	Auth__V1__TokenResponse t = AUTH__V1__TOKEN_RESPONSE__INIT;
	t.access_token = access;
	t.refresh_token = refresh;
	t.expires_in = 900;
	t.refresh_expires_in = 86400;
	return t;
}

static void
test_etag_is_the_profile_version(void **state)
{
	(void) state;
	User__V1__Profile p = USER__V1__PROFILE__INIT;
	p.version = 7;
	User__V1__GetProfileResponse out =
	    USER__V1__GET_PROFILE_RESPONSE__INIT;
	out.profile = &p;
	fixture fx;
	respond(&fx, ROUTE_ETAG, &out.base, false);
	assert_string_equal(header(&fx, "ETag", 0), "\"v7\"");
	assert_null(fx.x.answer.body); /* rest.c renders the message */
	done(&fx);

	out.profile = NULL; /* no profile: no ETag */
	respond(&fx, ROUTE_ETAG, &out.base, false);
	assert_int_equal(fx.x.answer.n_headers, 0);
	done(&fx);
}

static void
test_login_sets_and_logout_clears_the_token_cookies(void **state)
{
	(void) state;
	Auth__V1__TokenResponse out = tokens("at", "rt");
	fixture fx;
	respond(&fx, ROUTE_SET_COOKIES, &out.base, false);
	assert_string_equal(header(&fx, "Set-Cookie", 0),
	    "access=at; Path=/; Max-Age=900; HttpOnly; SameSite=Strict");
	assert_string_equal(header(&fx, "Set-Cookie", 1),
	    "refresh=rt; Path=/; Max-Age=86400; HttpOnly; SameSite=Strict");
	done(&fx);

	Auth__V1__LogoutResponse bye = AUTH__V1__LOGOUT_RESPONSE__INIT;
	respond(&fx, ROUTE_CLEAR_COOKIES, &bye.base, true);
	assert_string_equal(header(&fx, "Set-Cookie", 0),
	    "__Host-access=; Path=/; Max-Age=0; HttpOnly; Secure; "
	    "SameSite=Strict");
	assert_string_equal(header(&fx, "Set-Cookie", 1),
	    "__Host-refresh=; Path=/; Max-Age=0; HttpOnly; Secure; "
	    "SameSite=Strict");
	done(&fx);
}

static void
test_a_token_a_cookie_cannot_carry_is_left_out(void **state)
{
	(void) state;
	Auth__V1__TokenResponse out = tokens("a;b", "rt");
	fixture fx;
	respond(&fx, ROUTE_SET_COOKIES, &out.base, false);
	assert_int_equal(fx.x.answer.n_headers, 1);
	assert_non_null(strstr(header(&fx, "Set-Cookie", 0), "refresh=rt;"));
	done(&fx);
}

static void
test_jwks_is_answered_verbatim(void **state)
{
	(void) state;
	Auth__V1__GetJwksResponse out = AUTH__V1__GET_JWKS_RESPONSE__INIT;
	out.json = "{\"keys\":[]}";
	fixture fx;
	respond(&fx, ROUTE_JWKS, &out.base, false);
	assert_string_equal(fx.x.answer.body, "{\"keys\":[]}");
	assert_string_equal(fx.x.answer.type, "application/jwk-set+json");
	assert_string_equal(
	    header(&fx, "Cache-Control", 0), "public, max-age=60");
	done(&fx);
}

static void
test_response_sides_run_in_table_order(void **state)
{
	(void) state;
	Auth__V1__TokenResponse out = tokens("at", "rt");
	fixture fx;
	respond(&fx, ROUTE_SET_COOKIES | ROUTE_LOCATION, &out.base, false);
	assert_int_equal(fx.x.answer.n_headers, 3);
	assert_string_equal(fx.x.answer.headers[0].name, "Location");
	assert_string_equal(fx.x.answer.headers[0].value, "/profile");
	assert_string_equal(fx.x.answer.headers[1].name, "Set-Cookie");
	done(&fx);
}

/* Runs the request side of ROUTE_BODY with body for a request message of
 * type in, as a REST client sent it. */
static int
request_body(fixture *fx, edge_request *r,
    const ProtobufCMessageDescriptor *in, const char *body)
{
	memset(fx, 0, sizeof(*fx));
	memset(r, 0, sizeof(*r));
	r->body = (char *) (uintptr_t) body;
	r->len = strlen(body);
	fx->route.flags = ROUTE_BODY;
	fx->route.in = in;
	fx->x.cfg = &fx->cfg;
	fx->x.route = &fx->route;
	fx->x.req = r;
	fx->x.arena = core_arena_new(0);
	assert_non_null(fx->x.arena);
	return edge_filters_request(&fx->x);
}

/* The field and message of the refusal's one errors[] entry. */
static void
assert_one_error(const fixture *fx, const char *field, const char *message)
{
	json_t *errs = json_object_get(fx->x.refusal_extra, "errors");
	assert_int_equal(json_array_size(errs), 1);
	json_t *e = json_array_get(errs, 0);
	assert_string_equal(
	    json_string_value(json_object_get(e, "field")), field);
	const char *m = json_string_value(json_object_get(e, "message"));
	assert_non_null(m);
	if (strstr(m, message) == NULL) {
		print_error("\"%s\" lacks \"%s\"\n", m, message);
	}
	assert_non_null(strstr(m, message));
}

static void
done_request(fixture *fx)
{
	json_decref(fx->x.refusal_extra);
	core_arena_free(fx->x.arena);
}

static void
test_body_that_is_not_json_says_where_and_names_no_member(void **state)
{
	(void) state;
	fixture fx;
	edge_request r;
	assert_int_equal(
	    request_body(&fx, &r, &auth__v1__login_request__descriptor,
	        "{\"username\":\n  \"x\",}"),
	    -1);
	assert_int_equal(fx.x.refusal, 400);
	assert_non_null(
	    strstr(fx.x.refusal_detail, "the body cannot be read as JSON: "));
	assert_non_null(strstr(fx.x.refusal_detail, "(line 2, column "));
	assert_null(fx.x.refusal_extra); /* no errors[] with a field "" */
	done_request(&fx);

	assert_int_equal(
	    request_body(&fx, &r, &auth__v1__login_request__descriptor, "[1]"),
	    -1);
	assert_int_equal(fx.x.refusal, 400);
	assert_string_equal(fx.x.refusal_detail, "expected a JSON object");
	assert_null(fx.x.refusal_extra);
	done_request(&fx);
}

static void
test_body_errors_name_the_member(void **state)
{
	(void) state;
	fixture fx;
	edge_request r;
	/* An unknown member is a typo to report, not to ignore. */
	assert_int_equal(
	    request_body(&fx, &r, &auth__v1__login_request__descriptor,
	        "{\"username\":\"a\",\"passwrd\":\"b\"}"),
	    -1);
	assert_int_equal(fx.x.refusal, 400);
	assert_string_equal(
	    fx.x.refusal_detail, "passwrd: unknown field \"passwrd\"");
	assert_one_error(&fx, "passwrd", "unknown field \"passwrd\"");
	done_request(&fx);
	/* lowerCamelCase is the RPC JSON's, not the REST API's. */
	assert_int_equal(
	    request_body(&fx, &r, &auth__v1__login_request__descriptor,
	        "{\"deviceToken\":\"t\"}"),
	    -1);
	assert_one_error(&fx, "deviceToken", "(the name is \"device_token\")");
	done_request(&fx);
	/* Enums by their REST names only. */
	assert_int_equal(request_body(&fx, &r,
	                     &auth__v1__admin_update_user_request__descriptor,
	                     "{\"status\":\"USER_STATUS_DISABLED\"}"),
	    -1);
	assert_one_error(&fx, "status",
	    "unknown value \"USER_STATUS_DISABLED\" for UserStatus: expected "
	    "one of \"active\", \"disabled\"");
	done_request(&fx);
}

static void
test_body_is_read_in_the_rest_style(void **state)
{
	(void) state;
	fixture fx;
	edge_request r;
	assert_int_equal(request_body(&fx, &r,
	                     &auth__v1__admin_update_user_request__descriptor,
	                     "{\"id\":\"x\",\"status\":\"disabled\","
	                     "\"role\":\"admin\"}"),
	    0);
	const Auth__V1__AdminUpdateUserRequest *in =
	    (const Auth__V1__AdminUpdateUserRequest *) fx.x.in;
	assert_int_equal(
	    in->status, AUTH__V1__USER_STATUS__USER_STATUS_DISABLED);
	assert_int_equal(in->role, AUTH__V1__ROLE__ROLE_ADMIN);
	done_request(&fx);
}

static void
test_cookie_mode_body_has_every_member_but_the_tokens(void **state)
{
	(void) state;
	Auth__V1__TokenResponse out = tokens("at", "rt");
	fixture fx;
	memset(&fx, 0, sizeof(fx));
	fx.cfg.cookie_access = "access";
	fx.cfg.cookie_refresh = "refresh";
	fx.route.flags = ROUTE_SET_COOKIES;
	fx.x.cfg = &fx.cfg;
	fx.x.route = &fx.route;
	fx.x.arena = core_arena_new(0);
	fx.x.out = &out.base;
	fx.x.cookie_only = true;
	assert_int_equal(edge_filters_response(&fx.x), 0);
	json_error_t jerr;
	json_t *body = json_loads(fx.x.answer.body, 0, &jerr);
	assert_non_null(body);
	assert_null(json_object_get(body, "access_token"));
	assert_null(json_object_get(body, "refresh_token"));
	assert_null(json_object_get(body, "device_token"));
	/* The REST style: members at their default are there too. */
	assert_int_equal(
	    json_integer_value(json_object_get(body, "expires_in")), 900);
	assert_non_null(json_object_get(body, "device_token_expires_in"));
	assert_non_null(json_object_get(body, "token_type"));
	json_decref(body);
	done(&fx);
}

static void
test_rpc_status_maps_to_http_status(void **state)
{
	(void) state;
	assert_int_equal(edge_rest_http_status(CORE_OK), 200);
	assert_int_equal(edge_rest_http_status(CORE_INVALID_ARGUMENT), 400);
	assert_int_equal(edge_rest_http_status(CORE_UNAUTHENTICATED), 401);
	assert_int_equal(edge_rest_http_status(CORE_PERMISSION_DENIED), 403);
	assert_int_equal(edge_rest_http_status(CORE_NOT_FOUND), 404);
	assert_int_equal(edge_rest_http_status(CORE_ALREADY_EXISTS), 409);
	/* 412 only where If-Match made the call conditional (its filter). */
	assert_int_equal(edge_rest_http_status(CORE_FAILED_PRECONDITION), 400);
	assert_int_equal(edge_rest_http_status(CORE_RESOURCE_EXHAUSTED), 429);
	assert_int_equal(edge_rest_http_status(CORE_UNAVAILABLE), 503);
	assert_int_equal(edge_rest_http_status(CORE_DEADLINE_EXCEEDED), 504);
	assert_int_equal(edge_rest_http_status(CORE_INTERNAL), 500);
	assert_int_equal(edge_rest_http_status(999), 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_route_flag_has_exactly_one_filter),
	    cmocka_unit_test(
	        test_message_builders_run_before_the_filters_that_use_the_message),
	    cmocka_unit_test(test_every_route_is_consistent),
	    cmocka_unit_test(test_a_route_missing_a_filters_field_is_refused),
	    cmocka_unit_test(test_if_match_takes_one_strong_etag_of_this_api),
	    cmocka_unit_test(test_if_match_star_is_any_version),
	    cmocka_unit_test(test_if_match_weak_or_foreign_etags_never_match),
	    cmocka_unit_test(test_if_match_refuses_what_is_not_an_etag_list),
	    cmocka_unit_test(test_etag_is_the_profile_version),
	    cmocka_unit_test(
	        test_login_sets_and_logout_clears_the_token_cookies),
	    cmocka_unit_test(test_a_token_a_cookie_cannot_carry_is_left_out),
	    cmocka_unit_test(test_jwks_is_answered_verbatim),
	    cmocka_unit_test(test_response_sides_run_in_table_order),
	    cmocka_unit_test(test_rpc_status_maps_to_http_status),
	    cmocka_unit_test(
	        test_body_that_is_not_json_says_where_and_names_no_member),
	    cmocka_unit_test(test_body_errors_name_the_member),
	    cmocka_unit_test(test_body_is_read_in_the_rest_style),
	    cmocka_unit_test(
	        test_cookie_mode_body_has_every_member_but_the_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
