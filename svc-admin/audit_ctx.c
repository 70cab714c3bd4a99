#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_actions.h"
#include "admin_text.h"
#include "audit_ctx.h"
#include "audit_repo.h"
#include "core/log.h"
#include "core/text.h"

#define AUDIT_DOWN_WRITE                                                      \
	"the audit log is unavailable; nothing was changed, try again later"

void
audit_metrics_init(audit_metrics *m)
{
	static const char *const labels[] = {"outcome", NULL};
	static const char *const written[] = {"written"};
	static const char *const failed[] = {"failed"};
	core_metric *f = core_metric_family(CORE_METRIC_COUNTER,
	    "admin_audit_rows_total",
	    "Audit rows written (committed), and rows the audit log did not "
	    "take (each logged whole instead).",
	    labels, NULL, 0);
	m->written = core_metric_series_get(f, NULL, written);
	m->failed = core_metric_series_get(f, NULL, failed);
}

/* Counts a row the log took (wst CORE_OK) or did not. */
static void
count_row(const audit_ctx *x, core_status wst)
{
	core_metric_inc(
	    wst == CORE_OK ? x->metrics->written : x->metrics->failed);
}

void
audit_ctx_init(audit_ctx *x, core_call *c, core_pg *pg, const audit_metrics *m,
    const char *action, const char *target, const core_jwt_claims *caller)
{
	memset(x, 0, sizeof(*x));
	x->c = c;
	x->pg = pg;
	x->metrics = m;
	x->action = action;
	(void) admin_utf8_clip(target, x->target, sizeof(x->target));
	x->caller = caller;
	if (caller != NULL && core_uuid_valid(caller->sub)) {
		/* 36 characters and the NUL */
		memcpy(x->actor_id, caller->sub, sizeof(x->actor_id));
	}
	/* A call without a usable request id gets one here, so that this
	 * service's log, svc-auth's log and the audit row share it. */
	const char *rid = core_call_metadata(c, CORE_MD_REQUEST_ID);
	if (rid != NULL && core_rpc_request_id_valid(rid)) {
		snprintf(x->request_id, sizeof(x->request_id), "%s", rid);
	} else {
		core_rpc_new_request_id(x->request_id);
		core_log_set_request_id(x->request_id);
	}
	const char *ip = core_call_metadata(c, CORE_MD_CLIENT_IP);
	if (ip != NULL && strlen(ip) < sizeof(x->client_ip) &&
	    admin_ip_valid(ip)) {
		snprintf(x->client_ip, sizeof(x->client_ip), "%s", ip);
	}
}

static void
ctx_fini(audit_ctx *x)
{
	json_decref(x->fields);
	json_decref(x->note);
	x->fields = x->note = NULL;
}

void
audit_ctx_note(audit_ctx *x, const char *key, const char *value)
{
	if (x->note == NULL) {
		x->note = json_object();
	}
	json_object_set_new(x->note, key, admin_json_str(value));
}

core_status
audit_ctx_fail(audit_ctx *x, core_status code, const char *fmt, ...)
{
	/* Clipped between characters: the row's JSON needs valid UTF-8. A
	 * longer message was cut by vsnprintf past the part kept. */
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void) admin_utf8_clip(text, x->message, sizeof(x->message));
	x->code = code;
	return core_call_error(x->c, code, "%s", x->message);
}

core_status
audit_ctx_field_fail(audit_ctx *x, const char *field, const char *text)
{
	if (x->fields == NULL) {
		char msg[1024];
		x->fields = json_array();
		snprintf(msg, sizeof(msg), "%s: %s", field, text);
		(void) admin_utf8_clip(msg, x->message, sizeof(x->message));
	}
	json_array_append_new(
	    x->fields, json_pack("{s:o, s:o}", "field", admin_json_str(field),
	                   "description", admin_json_str(text)));
	x->code = CORE_INVALID_ARGUMENT;
	return core_call_field_error(x->c, field, "%s", text);
}

core_status
audit_ctx_pass_through(audit_ctx *x, const core_rpc_reply *reply)
{
	for (size_t i = 0; i < reply->n_details; i++) {
		(void) audit_ctx_field_fail(
		    x, reply->detail_fields[i], reply->detail_descriptions[i]);
	}
	if (reply->retry_after_s > 0) {
		core_call_set_retry_after(x->c, reply->retry_after_s);
	}
	return audit_ctx_fail(x, reply->code, "%s", reply->message);
}

/* Adds {code, message, fields, and the notes} of the error answered to
 * detail (a JSON object). */
static void
add_error(audit_ctx *x, json_t *detail)
{
	json_object_set_new(
	    detail, "code", admin_json_str(core_status_str((int) x->code)));
	json_object_set_new(detail, "message", admin_json_str(x->message));
	if (x->fields != NULL) {
		json_object_set(detail, "fields", x->fields);
	}
	if (x->note != NULL) {
		json_object_update(detail, x->note);
	}
}

static const char *
actor_username(const audit_ctx *x)
{
	return x->caller != NULL ? x->caller->username : "";
}

/* Logs a row the table did not take, whole, so that it can be re-entered.
 * msg says what it means for the action. */
static void
log_row(audit_ctx *x, const char *msg, const char *outcome,
    const json_t *detail, core_status st)
{
	char *text = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
	core_log_kv(CORE_LOG_ERROR, msg, "action", x->action, "target",
	    x->target, "outcome", outcome, "actor_id",
	    x->actor_id[0] ? x->actor_id : NULL, "actor_username",
	    actor_username(x), "client_ip", x->client_ip, "detail", text,
	    "status", core_status_str((int) st), NULL);
	free(text);
}

/* INSERTs the call's row with outcome and detail (borrowed). */
static core_status
write_row(audit_ctx *x, const char *outcome, const json_t *detail)
{
	char *text = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
	admin_audit_record r = {
	    .actor_id = x->actor_id[0] ? x->actor_id : NULL,
	    .actor_username = actor_username(x),
	    .action = x->action,
	    .target = x->target,
	    .outcome = outcome,
	    .request_id = x->request_id,
	    .client_ip = x->client_ip,
	    .detail_json = text != NULL ? text : "{}",
	};
	core_status st = admin_audit_insert(x->pg, &r);
	free(text);
	return st;
}

core_status
audit_ctx_finish(audit_ctx *x, core_status st, json_t *detail)
{
	if (detail == NULL) {
		detail = json_object();
	}
	if (st != CORE_OK) {
		add_error(x, detail);
	}
	const char *outcome = admin_outcome_of(st);
	core_status wst = write_row(x, outcome, detail);
	count_row(x, wst);
	if (wst != CORE_OK) {
		log_row(x, "audit row not written", outcome, detail, wst);
	}
	json_decref(detail);
	ctx_fini(x);
	if (wst != CORE_OK && st == CORE_OK) {
		return audit_ctx_fail(x, CORE_UNAVAILABLE, AUDIT_DOWN_READ);
	}
	return st;
}

core_status
audit_ctx_gate_open(audit_ctx *x, json_t *intent)
{
	core_status st = admin_audit_begin(x->pg);
	if (st == CORE_OK) {
		st = admin_audit_savepoint(x->pg);
	}
	if (st == CORE_OK) {
		st = write_row(x, "ok", intent);
	}
	if (st == CORE_OK) {
		return CORE_OK;
	}
	admin_audit_rollback(x->pg);
	count_row(x, st);
	log_row(x, "audit log unavailable; admin action not performed",
	    "not performed", intent, st);
	json_decref(intent);
	ctx_fini(x);
	return audit_ctx_fail(x, CORE_UNAVAILABLE, AUDIT_DOWN_WRITE);
}

core_status
audit_ctx_gate_close(audit_ctx *x, core_status st, json_t *detail)
{
	if (st != CORE_OK) {
		add_error(x, detail);
		if (st == CORE_UNAVAILABLE || st == CORE_DEADLINE_EXCEEDED) {
			/* The request may have reached svc-auth and run. */
			json_object_set_new(
			    detail, "applied", json_string("unknown"));
		}
	}
	const char *outcome = admin_outcome_of(st);
	core_status wst = admin_audit_rollback_to_savepoint(x->pg);
	if (wst == CORE_OK) {
		wst = write_row(x, outcome, detail);
	}
	if (wst == CORE_OK) {
		wst = admin_audit_commit(x->pg);
	} else {
		admin_audit_rollback(x->pg);
	}
	count_row(x, wst);
	if (wst != CORE_OK) {
		log_row(x,
		    st == CORE_OK
		        ? "admin action done but its audit row was lost"
		        : "audit row of a failed admin action lost",
		    outcome, detail, wst);
	}
	json_decref(detail);
	ctx_fini(x);
	return st;
}
