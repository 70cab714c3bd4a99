#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/v1/health.pb-c.h"

#include "backends.h"
#include "http.h"
#include "ready.h"

/* Backend b's health: "SERVING", another serving status, or the RPC's
 * status name when the call failed. Static strings. */
static const char *
health(const edge_backend *b, const char *rid, long timeout_ms, core_arena *a)
{
	core_md md[] = {{CORE_MD_REQUEST_ID, rid}};
	core_rpc_opts opts = {
	    .timeout_ms = (int) timeout_ms, .md = md, .n_md = 1};
	Core__V1__HealthCheckRequest req =
	    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply rep;
	core_status st = core_rpc_call(b->client, "/core.v1.Health/Check",
	    &req.base, &core__v1__health_check_response__descriptor, &out,
	    &opts, a, &rep);
	if (st != CORE_OK) {
		return core_status_str(st);
	}
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &core__v1__health_check_response__serving_status__descriptor,
	    (int) ((Core__V1__HealthCheckResponse *) out)->status);
	return v ? v->name : "UNKNOWN";
}

bool
edge_ready_serve(edge_request *r, long timeout_ms)
{
	json_t *down = json_array();
	json_t *checks = json_object();
	core_arena *a = core_arena_new(0);
	if (down == NULL || checks == NULL || a == NULL) {
		json_decref(down);
		json_decref(checks);
		core_arena_free(a);
		return false;
	}
	for (unsigned i = 0; i < edge_backend_count(); i++) {
		const edge_backend *b = edge_backend_at(i);
		const char *state = health(b, r->rid, timeout_ms, a);
		json_object_set_new(checks, b->name, json_string(state));
		if (strcmp(state, "SERVING") != 0) {
			json_array_append_new(down, json_string(b->name));
		}
		core_arena_reset(a);
	}
	core_arena_free(a);
	if (json_array_size(down) == 0) {
		json_decref(down);
		json_t *ok = json_pack(
		    "{s:s, s:o}", "status", "ready", "checks", checks);
		edge_answer ans = {.status = 200,
		    .type = "application/json",
		    .body =
		        json_dumps(ok, JSON_COMPACT | JSON_PRESERVE_ORDER)};
		json_decref(ok);
		return ans.body != NULL && edge_http_send(r, &ans);
	}
	char detail[256] = "not ready:";
	size_t i;
	json_t *v;
	json_array_foreach (down, i, v) {
		size_t len = strlen(detail);
		snprintf(detail + len, sizeof(detail) - len, "%s %s",
		    i ? "," : "", json_string_value(v));
	}
	json_t *extra =
	    json_pack("{s:o, s:o}", "down", down, "checks", checks);
	return edge_http_problem(r, 503, detail, extra, 0);
}
