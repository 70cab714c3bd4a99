/* What each AdminService call is in the audit log: its action name, its
 * target and the detail its request adds, found by the call's full method
 * name; and how a call refused before its handler (core/call_auth.h) is
 * recorded. One table, read by the handlers and by the denied hook alike,
 * so an allowed call and a refused one of the same method describe it the
 * same way. Pure functions, unit-tested in tests/unit/test_admin_logic.c. */
#ifndef ADMIN_ACTIONS_H
#define ADMIN_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "auth/v1/auth.pb-c.h"

#include "core/jws.h"
#include "core/rpc.h"
#include "core/status.h"

#define ADMIN_METHOD(m) "/admin.v1.AdminService/" m

/* Bytes of a request string a row keeps: anyone may send a megabyte, and
 * a refused call is recorded too. Also the characters of a ListAudit
 * filter, the rows of admin.v1.ListAuditRequest in proto/rules.c
 * (tests/unit/test_rules.c holds them equal). */
#define ADMIN_FILTER_MAX 128
/* Bytes of a ListAudit filter of ADMIN_FILTER_MAX characters, NUL
 * included. */
#define ADMIN_FILTER_BYTES (4 * ADMIN_FILTER_MAX + 1)

typedef struct admin_action {
	const char *method; /* ADMIN_METHOD("UpdateUser") */
	const char *action; /* "users.update" */
	/* The request's part of the row: writes its target to *target (a
	 * string of in, or "") and returns its detail, a new JSON object
	 * (NULL only when out of memory). */
	json_t *(*describe)(const ProtobufCMessage *in, const char **target);
	/* Only looks: ListAudit's kind "reads" lists these, "changes" the
	 * others (refused and failed calls of any action included). */
	bool read;
} admin_action;

/* Bytes of admin_action_reads' answer, NUL included. */
#define ADMIN_READS_BYTES 128

/* The actions of the rows marked read, as a PostgreSQL text[] literal
 * ("{users.list,users.get,audit.list}") in out (ADMIN_READS_BYTES). */
void admin_action_reads(char *out);

/* The row of method (a full name). Never NULL: a method without a row
 * (none, see the unit test) is action "unknown" with no target or
 * detail. */
const admin_action *admin_action_of(const char *method);

/* The outcome column for the status a call answers: "ok", "denied"
 * (UNAUTHENTICATED, PERMISSION_DENIED) or "failed". */
const char *admin_outcome_of(core_status st);

/* How a call refused before its handler is recorded: the same row as
 * svc-admin wrote before the server checked its calls. */
typedef struct admin_refusal {
	/* The row's actor: the claims when they are trusted (verified and
	 * not revoked, e.g. a user without the admin role), else NULL. */
	const core_jwt_claims *caller;
	/* The row's notes, in order: token_sub and token_username of a
	 * token that verified but is revoked (or its revocation unknown),
	 * then the reason; strings of the table or of the denial. */
	size_t n_notes;
	struct {
		const char *key, *value;
	} notes[3];
	/* What the caller is told, and the row's "message". */
	const char *message;
} admin_refusal;

/* The record of refusal d (borrowed: the result points into it). A reason
 * and code pair svc-admin does not know is noted with its reason and told
 * the status name. */
admin_refusal admin_refusal_of(const core_call_denial *d);

/* core_call_auth.is_admin for svc-admin: the token's role claim. svc-auth
 * checks its database again when it is called with the token, and
 * ListAudit asks it first (recheck_admin). Always CORE_OK. */
core_status admin_role_is_admin(
    core_call *call, const core_jwt_claims *claims, bool *admin);

/* {"status": ..., "role": ...} of a user ({} for NULL), for the detail of
 * an update. NULL only when out of memory. */
json_t *admin_user_state(const Auth__V1__User *u);

#endif
