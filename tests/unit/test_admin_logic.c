/* svc-admin's pure rules: UUIDs, clipping text for audit rows, client
 * addresses, ListAudit's page tokens, and how each call and each refusal
 * is described in its audit row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "admin/v1/admin.pb-c.h"

#include "admin_actions.h"
#include "admin_text.h"
#include "core/text.h"
#include "audit_page.h"

static void
test_uuid_shape_is_exact(void **state)
{
	(void) state;
	assert_true(core_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_true(core_uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
	assert_false(core_uuid_valid(""));
	assert_false(core_uuid_valid("carol"));
	assert_false(core_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
	assert_false(core_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0"));
	assert_false(core_uuid_valid("0f8fad5bd-9cb-469f-a165-70867728950e"));
	assert_false(core_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
	assert_false(core_uuid_valid("{f8fad5b-d9cb-469f-a165-70867728950e}"));
}

static void
test_clip_cuts_only_between_utf8_characters(void **state)
{
	(void) state;
	char out[6];
	assert_true(admin_utf8_clip("abc", out, sizeof(out)));
	assert_string_equal(out, "abc");
	assert_true(admin_utf8_clip("abcde", out, sizeof(out)));
	assert_false(admin_utf8_clip("abcdef", out, sizeof(out)));
	assert_string_equal(out, "abcde");
	/* "abc" + U+00E9 (2 bytes) + "x": 5 bytes fit exactly. */
	assert_false(admin_utf8_clip("abc\xc3\xa9xy", out, sizeof(out)));
	assert_string_equal(out, "abc\xc3\xa9");
	/* "abcd" + U+00E9: the second byte would not fit; the whole
	 * character goes. */
	assert_false(admin_utf8_clip("abcd\xc3\xa9", out, sizeof(out)));
	assert_string_equal(out, "abcd");
	/* A 4-byte character at the edge. */
	assert_false(admin_utf8_clip("ab\xf0\x9f\x98\x80", out, sizeof(out)));
	assert_string_equal(out, "ab");
	char one[1];
	assert_false(admin_utf8_clip("a", one, sizeof(one)));
	assert_string_equal(one, "");
}

static void
test_client_ip_is_an_address_or_nothing(void **state)
{
	(void) state;
	assert_true(admin_ip_valid("203.0.113.7"));
	assert_true(admin_ip_valid("2001:db8::1"));
	assert_true(admin_ip_valid("::ffff:192.0.2.1"));
	assert_false(admin_ip_valid(""));
	assert_false(admin_ip_valid("203.0.113.7:8080"));
	assert_false(admin_ip_valid("1.2.3.4'; DROP TABLE x"));
	assert_false(admin_ip_valid("example.com"));
	assert_false(admin_ip_valid("256.1.1.1"));
}

static void
test_page_token_round_trips_for_its_filters_only(void **state)
{
	(void) state;
	audit_page_filters f = {.actor = "root", .target = "", .action = NULL};
	char tok[AUDIT_PAGE_TOKEN_MAX];
	audit_page_token_encode(12345, &f, tok);
	assert_true(strlen(tok) < AUDIT_PAGE_TOKEN_MAX);
	int64_t id = 0;
	assert_int_equal(audit_page_token_decode(tok, &f, &id), 0);
	assert_int_equal(id, 12345);

	/* NULL and "" are the same filter. */
	audit_page_filters same = {
	    .actor = "root", .target = NULL, .action = ""};
	assert_int_equal(audit_page_token_decode(tok, &same, &id), 0);

	audit_page_filters other[] = {
	    {.actor = "roots"},
	    {.actor = "root", .target = "x"},
	    {.actor = "roo", .target = "t"},
	    {.actor = "root", .action = "users.get"},
	    {.actor = "root", .kind = "changes"},
	    {.actor = "root", .has_since = true, .since_us = 0},
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(
		    audit_page_token_decode(tok, &other[i], &id), -1);
	}
	audit_page_filters later = f;
	later.has_since = true;
	later.since_us = 1700000000000000;
	audit_page_token_encode(7, &later, tok);
	assert_int_equal(audit_page_token_decode(tok, &later, &id), 0);
	assert_int_equal(id, 7);
	later.since_us++;
	assert_int_equal(audit_page_token_decode(tok, &later, &id), -1);
}

static void
test_malformed_page_tokens_are_refused(void **state)
{
	(void) state;
	audit_page_filters f = {0};
	int64_t id = 99;
	static const char *const bad[] = {"", "AAAA", "not base64!",
	    "AQAAAAAAAAAAAAAAAAAAAAA=", /* padded */
	    "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(audit_page_token_decode(bad[i], &f, &id), -1);
	}
	/* Last id 0 is never made, and refused. */
	char tok[AUDIT_PAGE_TOKEN_MAX];
	audit_page_token_encode(0, &f, tok);
	assert_int_equal(audit_page_token_decode(tok, &f, &id), -1);
	assert_int_equal(id, 99);
}

static void
test_every_admin_service_method_has_its_action_row(void **state)
{
	(void) state;
	static const char *const want[][2] = {
	    {"ListUsers", "users.list"},
	    {"GetUser", "users.get"},
	    {"UpdateUser", "users.update"},
	    {"RevokeSessions", "users.revoke_sessions"},
	    {"ListAudit", "audit.list"},
	    {"DeleteUser", "users.delete"},
	    {"DeleteAccount", "account.delete"},
	    {"ResetMfa", "users.reset_mfa"},
	};
	const ProtobufCServiceDescriptor *sd =
	    &admin__v1__admin_service__descriptor;
	assert_int_equal(sd->n_methods, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < sd->n_methods; i++) {
		char name[128];
		snprintf(name, sizeof(name), "/%s/%s", sd->name,
		    sd->methods[i].name);
		const admin_action *a = admin_action_of(name);
		assert_string_equal(a->method, name);
		size_t j = 0;
		while (strcmp(want[j][0], sd->methods[i].name) != 0) {
			j++;
		}
		assert_string_equal(a->action, want[j][1]);
		/* Its describe reads the method's own input type. */
		ProtobufCMessage *in =
		    calloc(1, sd->methods[i].input->sizeof_message);
		sd->methods[i].input->message_init(in);
		const char *target = NULL;
		json_t *detail = a->describe(in, &target);
		assert_true(json_is_object(detail));
		assert_non_null(target);
		json_decref(detail);
		free(in);
	}
	assert_string_equal(
	    admin_action_of("/admin.v1.AdminService/Nope")->action, "unknown");
}

static void
test_a_refused_list_users_keeps_128_bytes_of_its_query(void **state)
{
	(void) state;
	char big[4096];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	Admin__V1__ListUsersRequest lu = ADMIN__V1__LIST_USERS_REQUEST__INIT;
	lu.query = big;
	const char *target = NULL;
	json_t *d = admin_action_of(ADMIN_METHOD("ListUsers"))
	                ->describe(&lu.base, &target);
	assert_string_equal(target, "");
	assert_int_equal(
	    strlen(json_string_value(json_object_get(d, "query"))), 128);
	assert_string_equal(
	    json_string_value(json_object_get(d, "status")), "any");
	assert_string_equal(
	    json_string_value(json_object_get(d, "role")), "any");
	assert_true(json_is_false(json_object_get(d, "continued")));
	json_decref(d);
}

static void
test_user_methods_name_their_target_and_what_was_requested(void **state)
{
	(void) state;
	Admin__V1__UpdateUserRequest u = ADMIN__V1__UPDATE_USER_REQUEST__INIT;
	u.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
	u.has_role_case = ADMIN__V1__UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
	u.role = AUTH__V1__ROLE__ROLE_ADMIN;
	const char *target = NULL;
	json_t *d = admin_action_of(ADMIN_METHOD("UpdateUser"))
	                ->describe(&u.base, &target);
	assert_string_equal(target, u.id);
	json_t *req = json_object_get(d, "requested");
	assert_string_equal(
	    json_string_value(json_object_get(req, "role")), "admin");
	assert_null(json_object_get(req, "status"));
	json_decref(d);

	/* GetUser and RevokeSessions: the target, nothing more. */
	Admin__V1__GetUserRequest g = ADMIN__V1__GET_USER_REQUEST__INIT;
	g.id = "x";
	Admin__V1__RevokeSessionsRequest r =
	    ADMIN__V1__REVOKE_SESSIONS_REQUEST__INIT;
	r.id = "y";
	const struct {
		const char *method;
		const ProtobufCMessage *in;
		const char *id;
	} only[] = {{ADMIN_METHOD("GetUser"), &g.base, "x"},
	    {ADMIN_METHOD("RevokeSessions"), &r.base, "y"}};
	for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
		d = admin_action_of(only[i].method)
		        ->describe(only[i].in, &target);
		assert_string_equal(target, only[i].id);
		assert_int_equal(json_object_size(d), 0);
		json_decref(d);
	}
}

static void
test_list_audit_records_since_as_rfc3339(void **state)
{
	(void) state;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = 1700000000;
	ts.nanos = 5;
	Admin__V1__ListAuditRequest la = ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
	la.since = &ts;
	la.page_token = "t";
	const char *target = NULL;
	json_t *d = admin_action_of(ADMIN_METHOD("ListAudit"))
	                ->describe(&la.base, &target);
	assert_string_equal(json_string_value(json_object_get(d, "since")),
	    "2023-11-14T22:13:20.000000005Z");
	assert_true(json_is_true(json_object_get(d, "continued")));
	json_decref(d);
}

static void
test_outcome_is_denied_for_refusals_and_failed_for_errors(void **state)
{
	(void) state;
	assert_string_equal(admin_outcome_of(CORE_OK), "ok");
	assert_string_equal(admin_outcome_of(CORE_UNAUTHENTICATED), "denied");
	assert_string_equal(
	    admin_outcome_of(CORE_PERMISSION_DENIED), "denied");
	assert_string_equal(admin_outcome_of(CORE_UNAVAILABLE), "failed");
	assert_string_equal(admin_outcome_of(CORE_NOT_FOUND), "failed");
	assert_string_equal(admin_outcome_of(CORE_INTERNAL), "failed");
}

static core_jwt_claims
claims_of(const char *sub, const char *username, const char *role)
{
	core_jwt_claims cl;
	memset(&cl, 0, sizeof(cl));
	snprintf(cl.sub, sizeof(cl.sub), "%s", sub);
	snprintf(cl.username, sizeof(cl.username), "%s", username);
	snprintf(cl.role, sizeof(cl.role), "%s", role);
	return cl;
}

/* The notes of r as "key=value;..." */
static const char *
notes_of(const admin_refusal *r, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_notes; i++) {
		used += (size_t) snprintf(buf + used, len - used, "%s=%s;",
		    r->notes[i].key, r->notes[i].value);
	}
	return buf;
}

static void
test_refusals_without_a_trusted_token_name_no_actor(void **state)
{
	(void) state;
	char buf[256];
	core_jwt_claims cl = claims_of("u-1", "mallory", "admin");
	const struct {
		core_call_denial d;
		const char *notes, *message, *outcome;
	} cases[] = {
	    {{.code = CORE_UNAUTHENTICATED,
	         .reason = "no bearer token",
	         .claims = NULL,
	         .trusted = false,
	         .message = "a bearer token is required"},
	        "reason=no bearer token;", "a bearer token is required",
	        "denied"},
	    {{.code = CORE_UNAUTHENTICATED,
	         .reason = "invalid token",
	         .claims = NULL,
	         .trusted = false,
	         .message = "invalid or expired token"},
	        "reason=invalid token;", "invalid or expired token", "denied"},
	    /* Verified but revoked: who it names is a note. */
	    {{.code = CORE_UNAUTHENTICATED,
	         .reason = "revoked token",
	         .claims = &cl,
	         .trusted = false,
	         .message = "invalid or expired token"},
	        "token_sub=u-1;token_username=mallory;reason=revoked token;",
	        "invalid or expired token", "denied"},
	    /* Redis down: fail closed, and a note of who it was. */
	    {{.code = CORE_UNAVAILABLE,
	         .reason = "revocation unknown",
	         .claims = &cl,
	         .trusted = false,
	         .message =
	             "the session store is unavailable; try again later"},
	        "token_sub=u-1;token_username=mallory;"
	        "reason=revocation unknown;",
	        "the session store is unavailable; try again later", "failed"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		admin_refusal r = admin_refusal_of(&cases[i].d);
		assert_null(r.caller);
		assert_string_equal(
		    notes_of(&r, buf, sizeof(buf)), cases[i].notes);
		assert_string_equal(r.message, cases[i].message);
		assert_string_equal(
		    admin_outcome_of(cases[i].d.code), cases[i].outcome);
	}
}

static void
test_a_non_admin_refusal_names_the_caller_without_notes(void **state)
{
	(void) state;
	core_jwt_claims cl = claims_of("u-2", "plain", "user");
	core_call_denial d = {.code = CORE_PERMISSION_DENIED,
	    .reason = "not an admin",
	    .claims = &cl,
	    .trusted = true,
	    .message = "this needs the admin role"};
	admin_refusal r = admin_refusal_of(&d);
	assert_ptr_equal(r.caller, &cl);
	assert_int_equal(r.n_notes, 0);
	assert_string_equal(r.message, "this needs the admin role");
	assert_string_equal(admin_outcome_of(d.code), "denied");
}

static void
test_an_unknown_refusal_is_noted_with_its_reason(void **state)
{
	(void) state;
	char buf[256];
	core_jwt_claims cl = claims_of("u-3", "x", "admin");
	/* A reason known for another code is not taken for it. */
	core_call_denial d = {.code = CORE_INTERNAL,
	    .reason = "revocation unknown",
	    .claims = &cl,
	    .trusted = false,
	    .message = "INTERNAL"};
	admin_refusal r = admin_refusal_of(&d);
	assert_null(r.caller);
	assert_string_equal(notes_of(&r, buf, sizeof(buf)),
	    "token_sub=u-3;token_username=x;reason=revocation unknown;");
	assert_string_equal(r.message, "INTERNAL");
	core_call_denial e = {.code = CORE_PERMISSION_DENIED,
	    .reason = "caller not allowed",
	    .claims = NULL,
	    .trusted = false,
	    .message = "this method does not accept calls from this service"};
	r = admin_refusal_of(&e);
	assert_string_equal(
	    notes_of(&r, buf, sizeof(buf)), "reason=caller not allowed;");
}

static void
test_is_admin_is_the_role_claim(void **state)
{
	(void) state;
	bool admin = true;
	core_jwt_claims cl = claims_of("u", "n", "user");
	assert_int_equal(admin_role_is_admin(NULL, &cl, &admin), CORE_OK);
	assert_false(admin);
	cl = claims_of("u", "n", "admin");
	assert_int_equal(admin_role_is_admin(NULL, &cl, &admin), CORE_OK);
	assert_true(admin);
	cl = claims_of("u", "n", "admins");
	assert_int_equal(admin_role_is_admin(NULL, &cl, &admin), CORE_OK);
	assert_false(admin);
}

static void
test_the_reads_are_the_three_looking_actions(void **state)
{
	(void) state;
	char reads[ADMIN_READS_BYTES];
	admin_action_reads(reads);
	assert_string_equal(reads, "{users.list,users.get,audit.list}");
	assert_true(admin_action_of(ADMIN_METHOD("ListAudit"))->read);
	assert_false(admin_action_of(ADMIN_METHOD("UpdateUser"))->read);
	assert_false(admin_action_of(ADMIN_METHOD("DeleteAccount"))->read);
	assert_false(admin_action_of("/no.Such/Method")->read);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uuid_shape_is_exact),
	    cmocka_unit_test(test_clip_cuts_only_between_utf8_characters),
	    cmocka_unit_test(test_client_ip_is_an_address_or_nothing),
	    cmocka_unit_test(test_page_token_round_trips_for_its_filters_only),
	    cmocka_unit_test(test_malformed_page_tokens_are_refused),
	    cmocka_unit_test(
	        test_every_admin_service_method_has_its_action_row),
	    cmocka_unit_test(
	        test_a_refused_list_users_keeps_128_bytes_of_its_query),
	    cmocka_unit_test(
	        test_user_methods_name_their_target_and_what_was_requested),
	    cmocka_unit_test(test_list_audit_records_since_as_rfc3339),
	    cmocka_unit_test(
	        test_outcome_is_denied_for_refusals_and_failed_for_errors),
	    cmocka_unit_test(
	        test_refusals_without_a_trusted_token_name_no_actor),
	    cmocka_unit_test(
	        test_a_non_admin_refusal_names_the_caller_without_notes),
	    cmocka_unit_test(test_an_unknown_refusal_is_noted_with_its_reason),
	    cmocka_unit_test(test_is_admin_is_the_role_claim),
	    cmocka_unit_test(test_the_reads_are_the_three_looking_actions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
