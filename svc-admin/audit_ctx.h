/* One AdminService call's audit row: who, what, on whom, from where, and
 * the error answered, gathered while the call runs and written once at its
 * end. Every call writes exactly one row, allowed or refused.
 *
 * Calls that change nothing (reads and refusals) end with
 * audit_ctx_finish. Mutations write before they act (docs/architecture.md,
 * "Admin"):
 *
 *   audit_ctx_gate_open:  BEGIN; SAVEPOINT; INSERT the intended action
 *                         -- fails: UNAVAILABLE, svc-auth is not called
 *   (call svc-auth)
 *   audit_ctx_gate_close: ROLLBACK TO SAVEPOINT; INSERT what happened;
 *                         COMMIT
 *
 * The first INSERT proves, inside the transaction that will hold the final
 * row, that the log takes writes; the final row then carries what svc-auth
 * reports (before/after, sessions revoked), which only exists after the
 * call. Reads write their row after the call and return no data when it
 * cannot be written. A row the table does not take is logged whole. */
#ifndef AUDIT_CTX_H
#define AUDIT_CTX_H

#include <jansson.h>

#include "core/jws.h"
#include "core/metrics.h"
#include "core/pg.h"
#include "core/rpc.h"

/* What a read answers when the log cannot record it. */
#define AUDIT_DOWN_READ "the audit log is unavailable; try again later"

/* admin_audit_rows_total{outcome}: rows written (committed), and rows the
 * log did not take (each also logged whole). A worker holds its own. */
typedef struct audit_metrics {
	core_metric_series *written, *failed;
} audit_metrics;

/* m's series for the calling thread's component. */
void audit_metrics_init(audit_metrics *m);

typedef struct audit_ctx {
	core_call *c;
	core_pg *pg;                  /* the worker's admindb connection */
	const audit_metrics *metrics; /* the worker's */
	const char *action;           /* "users.update" */
	char target[129];
	/* The caller: claims verified and not revoked, else NULL. */
	const core_jwt_claims *caller;
	char actor_id[37]; /* "" unless there is a caller with a UUID */
	char request_id[65];
	char client_ip[64];
	/* The error answered (audit_ctx_fail), for the row. */
	core_status code;
	char message[256];
	/* [{field, description}] of INVALID_ARGUMENT, or NULL */
	json_t *fields;
	json_t *note; /* more about a refusal, e.g. why the token failed */
} audit_ctx;

/* Starts the row of call c: action (static), target (clipped), caller
 * (borrowed for the call, NULL when there is none), the request id (a call
 * without a usable one gets one here, also for this service's log) and the
 * edge's client-ip when it is an address. */
void audit_ctx_init(audit_ctx *x, core_call *c, core_pg *pg,
    const audit_metrics *m, const char *action, const char *target,
    const core_jwt_claims *caller);

/* Adds key: value to the row's notes (merged into its detail). */
void audit_ctx_note(audit_ctx *x, const char *key, const char *value);

/* Sets the status the client gets and remembers it for the row. Returns
 * code. */
core_status audit_ctx_fail(audit_ctx *x, core_status code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* INVALID_ARGUMENT naming a field (may be called for several fields). */
core_status audit_ctx_field_fail(
    audit_ctx *x, const char *field, const char *text);

/* Answers svc-auth's error unchanged: code, message, field details and
 * retry hint. Returns reply->code. */
core_status audit_ctx_pass_through(audit_ctx *x, const core_rpc_reply *reply);

/* Ends a call that changes nothing: writes its row with st's outcome (and
 * the error answered) and returns st; a success whose row cannot be
 * written answers UNAVAILABLE instead, without its data. Takes detail (a
 * JSON object; NULL = {}). */
core_status audit_ctx_finish(audit_ctx *x, core_status st, json_t *detail);

/* Opens the write-before-act transaction with the intended row (intent,
 * borrowed). Returns CORE_OK; or, when the log does not take it, leaves
 * nothing open, logs the row, frees intent, ends the call's row and
 * answers UNAVAILABLE ("nothing was changed"). */
core_status audit_ctx_gate_open(audit_ctx *x, json_t *intent);

/* Closes it: replaces the intended row by what happened (st, detail, which
 * is taken) and commits. A failure here comes after the action; it is
 * logged with the whole row, and st stands. Returns st. */
core_status audit_ctx_gate_close(audit_ctx *x, core_status st, json_t *detail);

#endif
