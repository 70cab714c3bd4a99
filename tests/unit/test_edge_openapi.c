/* The OpenAPI document the edge generates (edge/openapi.c, edge/schema.c):
 * built from the route table, it has one operation per row with what the
 * row and its flags' filters say, every reference resolves, request
 * bodies list exactly the members a client may send, and answers the
 * members the REST style always writes. Whether real answers match it is
 * the contract test's job (tests/api). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "backends.h"
#include "filters.h"
#include "openapi.h"
#include "routes.h"

static json_t *doc;

static int
setup(void **state)
{
	(void) state;
	if (edge_backends_init() != 0 || edge_routes_init() != 0) {
		return -1;
	}
	size_t len;
	char *text = edge_openapi_build(&len);
	if (text == NULL) {
		return -1;
	}
	json_error_t err;
	doc = json_loads(text, 0, &err);
	free(text);
	return doc != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void) state;
	json_decref(doc);
	return 0;
}

/* The operation of route rt. */
static json_t *
op_of(const edge_route *rt)
{
	char m[8];
	size_t k = 0;
	for (; rt->method[k] != '\0' && k + 1 < sizeof(m); k++) {
		m[k] = (char) (rt->method[k] + ('a' - 'A'));
	}
	m[k] = '\0';
	return json_object_get(
	    json_object_get(json_object_get(doc, "paths"), rt->path), m);
}

/* What a "#/components/..." reference points to, or NULL. */
static json_t *
resolve(const char *ref)
{
	const char *prefix = "#/components/";
	if (strncmp(ref, prefix, strlen(prefix)) != 0) {
		return NULL;
	}
	char kind[64], name[128];
	if (sscanf(ref + strlen(prefix), "%63[^/]/%127s", kind, name) != 2) {
		return NULL;
	}
	return json_object_get(
	    json_object_get(json_object_get(doc, "components"), kind), name);
}

/* Checks every "$ref" below v, counting them. */
static void
refs_resolve(json_t *v, size_t *n)
{
	if (json_is_object(v)) {
		const char *key;
		json_t *val;
		json_object_foreach (v, key, val) {
			if (strcmp(key, "$ref") == 0) {
				const char *ref = json_string_value(val);
				assert_non_null(ref);
				if (resolve(ref) == NULL) {
					fail_msg("unresolved %s", ref);
				}
				(*n)++;
			} else {
				refs_resolve(val, n);
			}
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *val;
		json_array_foreach (v, i, val) {
			refs_resolve(val, n);
		}
	}
}

static void
test_document_is_openapi_3_1_and_every_reference_resolves(void **state)
{
	(void) state;
	assert_string_equal(
	    json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	size_t n = 0;
	refs_resolve(doc, &n);
	assert_true(n > 50);
}

static void
test_every_route_is_one_operation_with_a_unique_id(void **state)
{
	(void) state;
	json_t *ids = json_object();
	for (unsigned i = 0; i < edge_route_count(); i++) {
		const edge_route *rt = edge_route_at(i);
		json_t *op = op_of(rt);
		assert_non_null(op);
		const char *id =
		    json_string_value(json_object_get(op, "operationId"));
		assert_non_null(id);
		assert_null(json_object_get(ids, id));
		json_object_set_new(ids, id, json_true());
		assert_non_null(json_object_get(op, "summary"));
		char code[8];
		snprintf(code, sizeof(code), "%u", rt->success);
		assert_non_null(
		    json_object_get(json_object_get(op, "responses"), code));
		/* No "default": every status is listed. */
		assert_null(json_object_get(
		    json_object_get(op, "responses"), "default"));
	}
	json_decref(ids);
}

static json_t *
schema_of(const char *name)
{
	return json_object_get(
	    json_object_get(json_object_get(doc, "components"), "schemas"),
	    name);
}

static bool
in_array(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach (a, i, v) {
		if (strcmp(json_string_value(v), s) == 0) {
			return true;
		}
	}
	return false;
}

static void
test_register_body_lists_what_a_client_sends_with_the_rules(void **state)
{
	(void) state;
	json_t *s = schema_of("RegisterRequest");
	json_t *props = json_object_get(s, "properties");
	assert_non_null(json_object_get(props, "username"));
	/* Filled by the edge from the connection: not a member. */
	assert_null(json_object_get(props, "client_ip"));
	assert_null(json_object_get(props, "user_agent"));
	assert_true(json_is_false(json_object_get(s, "additionalProperties")));
	json_t *req = json_object_get(s, "required");
	assert_true(in_array(req, "username") && in_array(req, "email") &&
	            in_array(req, "password"));
	json_t *u = json_object_get(props, "username");
	assert_int_equal(
	    json_integer_value(json_object_get(u, "minLength")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(u, "maxLength")), 32);
}

static void
test_answers_require_every_member_but_cookie_delivered_tokens(void **state)
{
	(void) state;
	json_t *user = json_object_get(schema_of("User"), "required");
	assert_true(in_array(user, "id") && in_array(user, "role") &&
	            in_array(user, "created_at"));
	json_t *tok = json_object_get(schema_of("TokenResponse"), "required");
	assert_true(in_array(tok, "expires_in"));
	assert_false(in_array(tok, "access_token"));
	assert_false(in_array(tok, "refresh_token"));
	json_t *role = schema_of("Role");
	assert_true(in_array(json_object_get(role, "enum"), "user"));
	assert_true(in_array(json_object_get(role, "enum"), "admin"));
	assert_int_equal(json_array_size(json_object_get(role, "enum")), 2);
}

static void
test_flags_add_their_headers_parameters_and_errors(void **state)
{
	(void) state;
	for (unsigned i = 0; i < edge_route_count(); i++) {
		const edge_route *rt = edge_route_at(i);
		json_t *op = op_of(rt);
		json_t *resp = json_object_get(op, "responses");
		char code[8];
		snprintf(code, sizeof(code), "%u", rt->success);
		json_t *hdrs =
		    json_object_get(json_object_get(resp, code), "headers");
		assert_non_null(json_object_get(hdrs, "X-Request-Id"));
		if (rt->flags & ROUTE_ETAG) {
			assert_non_null(json_object_get(hdrs, "ETag"));
		}
		if (rt->flags & ROUTE_LOCATION) {
			assert_non_null(json_object_get(hdrs, "Location"));
		}
		bool secured =
		    json_array_size(json_object_get(op, "security")) > 0;
		assert_true(secured == ((rt->flags & ROUTE_AUTH) != 0));
		if (rt->flags & ROUTE_AUTH) {
			assert_non_null(json_object_get(resp, "401"));
		}
		if (rt->flags & ROUTE_IF_MATCH) {
			assert_non_null(json_object_get(resp, "412"));
		}
		if (rt->flags & ROUTE_BODY) {
			assert_non_null(json_object_get(resp, "415"));
			assert_non_null(json_object_get(op, "requestBody"));
		} else {
			assert_null(json_object_get(op, "requestBody"));
		}
		assert_non_null(json_object_get(resp, "503"));
	}
}

static void
test_query_routes_take_their_fields_as_parameters(void **state)
{
	(void) state;
	json_t *op = json_object_get(
	    json_object_get(json_object_get(doc, "paths"), "/admin/users"),
	    "get");
	json_t *params = json_object_get(op, "parameters");
	bool status = false;
	size_t i;
	json_t *p;
	json_array_foreach (params, i, p) {
		const char *name =
		    json_string_value(json_object_get(p, "name"));
		if (name != NULL && strcmp(name, "status") == 0) {
			status = true;
			assert_string_equal(
			    json_string_value(json_object_get(
			        json_object_get(p, "schema"), "$ref")),
			    "#/components/schemas/UserStatus");
		}
	}
	assert_true(status);
}

/* Every status a row's errors name ("409 why; 429 why") is a response of
 * its operation. */
static void
test_each_rows_errors_are_its_responses(void **state)
{
	(void) state;
	for (unsigned i = 0; i < edge_route_count(); i++) {
		const edge_route *rt = edge_route_at(i);
		json_t *resp = json_object_get(op_of(rt), "responses");
		const char *p = rt->errors;
		while (p != NULL && *p != '\0') {
			char code[4] = {p[0], p[1], p[2], '\0'};
			if (json_object_get(resp, code) == NULL) {
				fail_msg(
				    "%s: %s is not listed", rt->name, code);
			}
			p = strstr(p, "; ");
			p = p != NULL ? p + 2 : NULL;
			while (p != NULL && !(p[0] >= '4' && p[0] <= '5')) {
				p = strstr(p, "; ");
				p = p != NULL ? p + 2 : NULL;
			}
		}
	}
}

static void
test_the_document_is_the_same_on_every_build(void **state)
{
	(void) state;
	size_t a_len, b_len;
	char *a = edge_openapi_build(&a_len);
	char *b = edge_openapi_build(&b_len);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
	assert_int_equal(a[a_len - 1], '\n');
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_document_is_openapi_3_1_and_every_reference_resolves),
	    cmocka_unit_test(
	        test_every_route_is_one_operation_with_a_unique_id),
	    cmocka_unit_test(
	        test_register_body_lists_what_a_client_sends_with_the_rules),
	    cmocka_unit_test(
	        test_answers_require_every_member_but_cookie_delivered_tokens),
	    cmocka_unit_test(
	        test_flags_add_their_headers_parameters_and_errors),
	    cmocka_unit_test(
	        test_query_routes_take_their_fields_as_parameters),
	    cmocka_unit_test(test_each_rows_errors_are_its_responses),
	    cmocka_unit_test(test_the_document_is_the_same_on_every_build),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
