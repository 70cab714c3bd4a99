/* The stages of an edge request: which moves are allowed, and that a new
 * request starts at the first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

static void
test_a_request_moves_only_along_the_arrows(void **state)
{
	(void) state;
	/* allowed[from][to], as request.h draws it. */
	static const bool allowed[REQ_N_STATES][REQ_N_STATES] = {
	    [REQ_NEW] = {[REQ_READING_BODY] = true,
	        [REQ_RPC_PENDING] = true,
	        [REQ_DONE] = true},
	    [REQ_READING_BODY] = {[REQ_RPC_PENDING] = true, [REQ_DONE] = true},
	    [REQ_RPC_PENDING] = {[REQ_REPLY_READY] = true},
	    [REQ_REPLY_READY] = {[REQ_DONE] = true},
	};
	for (int from = 0; from < REQ_N_STATES; from++) {
		for (int to = 0; to < REQ_N_STATES; to++) {
			assert_int_equal(
			    edge_request_can_move((edge_request_state) from,
			        (edge_request_state) to),
			    allowed[from][to]);
		}
	}
}

static void
test_a_finished_request_moves_nowhere(void **state)
{
	(void) state;
	for (int to = 0; to < REQ_N_STATES; to++) {
		assert_false(
		    edge_request_can_move(REQ_DONE, (edge_request_state) to));
	}
	/* A reply is answered, never waited for again. */
	assert_false(edge_request_can_move(REQ_REPLY_READY, REQ_RPC_PENDING));
	assert_false(edge_request_can_move(REQ_RPC_PENDING, REQ_DONE));
}

static void
test_a_new_request_walks_the_rpc_path(void **state)
{
	(void) state;
	edge_request *r = edge_request_new();
	assert_non_null(r);
	assert_int_equal(r->state, REQ_NEW);
	assert_null(r->route);
	edge_request_state path[] = {
	    REQ_READING_BODY, REQ_RPC_PENDING, REQ_REPLY_READY, REQ_DONE};
	for (size_t i = 0; i < sizeof(path) / sizeof(path[0]); i++) {
		edge_request_move(r, path[i]);
		assert_int_equal(r->state, path[i]);
	}
	edge_request_free(r);
	edge_request_free(NULL);
}

static void
test_stages_have_names(void **state)
{
	(void) state;
	assert_string_equal(edge_request_state_name(REQ_NEW), "REQ_NEW");
	assert_string_equal(
	    edge_request_state_name(REQ_RPC_PENDING), "REQ_RPC_PENDING");
	assert_string_equal(edge_request_state_name(REQ_DONE), "REQ_DONE");
	assert_string_equal(edge_request_state_name(REQ_N_STATES), "?");
}

/* A body arriving in many pieces is kept whole and NUL-terminated; a
 * dropped one leaves nothing. */
static void
test_a_body_grows_piece_by_piece_and_drops(void **state)
{
	(void) state;
	edge_request *r = edge_request_new();
	assert_non_null(r);
	char want[5000];
	for (size_t i = 0; i < sizeof(want); i++) {
		want[i] = (char) ('a' + i % 26);
		assert_true(edge_request_body_append(r, &want[i], 1));
	}
	assert_int_equal(r->len, sizeof(want));
	assert_true(r->cap > r->len);
	assert_memory_equal(r->body, want, sizeof(want));
	assert_int_equal(r->body[r->len], '\0');
	assert_true(edge_request_body_append(r, "", 0));
	assert_int_equal(r->len, sizeof(want));
	edge_request_body_drop(r);
	assert_null(r->body);
	assert_int_equal(r->len, 0);
	assert_int_equal(r->cap, 0);
	assert_true(edge_request_body_append(r, "{}", 2));
	assert_string_equal(r->body, "{}");
	edge_request_free(r);
}

static void
test_a_body_declared_over_the_limit_is_seen_in_the_header(void **state)
{
	(void) state;
	assert_false(edge_body_declared_too_large("0", 65536));
	assert_false(edge_body_declared_too_large("65536", 65536));
	assert_true(edge_body_declared_too_large("65537", 65536));
	assert_true(edge_body_declared_too_large("10485760", 65536));
	assert_true(edge_body_declared_too_large(" 10485760", 65536));
	assert_false(edge_body_declared_too_large("000000000065536", 65536));
	/* Past SIZE_MAX: too large, never wrapped round to a small number. */
	assert_true(
	    edge_body_declared_too_large("18446744073709551617", 65536));
	assert_true(edge_body_declared_too_large(
	    "99999999999999999999999999999999", SIZE_MAX));
	assert_false(
	    edge_body_declared_too_large("18446744073709551615", SIZE_MAX));
	assert_true(edge_body_declared_too_large("10", 9));
	assert_false(edge_body_declared_too_large("9", 9));
	/* Not a number: libmicrohttpd refuses those before the edge sees
	 * them; here they declare nothing. */
	assert_false(edge_body_declared_too_large("", 65536));
	assert_false(edge_body_declared_too_large("abc", 65536));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_request_moves_only_along_the_arrows),
	    cmocka_unit_test(test_a_finished_request_moves_nowhere),
	    cmocka_unit_test(test_a_new_request_walks_the_rpc_path),
	    cmocka_unit_test(test_stages_have_names),
	    cmocka_unit_test(test_a_body_grows_piece_by_piece_and_drops),
	    cmocka_unit_test(
	        test_a_body_declared_over_the_limit_is_seen_in_the_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
