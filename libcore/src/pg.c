/* The connection handle: connecting and reconnecting, statements and the
 * mapping of their errors. Migrations are in pg_migrate.c. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/pg.h"
#include "pg_internal.h"
#include "store_metrics.h"

/* Reconnecting: after a connect attempt that failed slowly (a timeout: the
 * host is unreachable) calls fail at once for RECONNECT_MS; after one that
 * was refused quickly (the server is restarting) the next attempt comes
 * RETRY_GAP_MS later, and a call arriving sooner waits for it, so a call
 * made once the server is back always connects. */
#define RECONNECT_MS 500
#define RETRY_GAP_MS 25
#define SLOW_CONNECT_MS 750
#define MAX_PARAMS 32 /* connection keywords, ours included */
#define LOG_SQL_MAX 120

struct core_pg {
	/* NULL-terminated keyword/value arrays for PQconnectdbParams; empty
	 * when the url could not be parsed (then bad_url: always down). */
	char *keys[MAX_PARAMS + 1];
	char *vals[MAX_PARAMS + 1];
	bool bad_url;
	char *session_sql; /* run on every new connection; NULL = none */
	PGconn *conn;      /* NULL while down */
	bool farewell;     /* the server sent a FATAL: it is closing conn */
	bool outdated;     /* the last statement's plan was outdated (0A000) */
	int64_t next_try_ms; /* no connect attempt before this time */
	bool wait_for_try;   /* a call before next_try_ms waits for it */
	char sqlstate[6];
	char error[512];
	store_metrics m;     /* the opening thread's component's series */
	pg_stmt_cache stmts; /* prepared on conn, emptied with it */
};

/* Defaults added when the url does not set them (nor libpq's environment
 * variable for them): a dead host must fail a connect in seconds, and
 * keepalives find a peer that vanished while the connection sat idle in a
 * worker. GSSAPI encryption is off unless asked for: libpq's "prefer"
 * looks for Kerberos credentials before every connect, which loads and
 * initialises the Kerberos libraries in every process (about 1 MiB of
 * RSS each) for a setup nobody here has; gssencmode=prefer or require in
 * the url (or PGGSSENCMODE) brings it back. */
static const char *const defaults[][3] = {
    {"connect_timeout", "3", NULL},
    {"keepalives", "1", NULL},
    {"keepalives_idle", "30", NULL},
    {"keepalives_interval", "10", NULL},
    {"keepalives_count", "3", NULL},
    {"gssencmode", "disable", "PGGSSENCMODE"},
};

/* Copies a libpq message without its trailing newline. */
static void
set_error(core_pg *pg, const char *msg)
{
	snprintf(pg->error, sizeof(pg->error), "%s", msg ? msg : "");
	size_t n = strlen(pg->error);
	while (
	    n > 0 && (pg->error[n - 1] == '\n' || pg->error[n - 1] == ' ')) {
		pg->error[--n] = '\0';
	}
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static bool
has_key(const core_pg *pg, const char *key)
{
	for (int i = 0; pg->keys[i] != NULL; i++) {
		if (strcmp(pg->keys[i], key) == 0) {
			return true;
		}
	}
	return false;
}

static int
add_param(core_pg *pg, int *n, const char *key, const char *val)
{
	if (*n >= MAX_PARAMS) {
		return -1;
	}
	pg->keys[*n] = strdup(key);
	pg->vals[*n] = strdup(val);
	if (pg->keys[*n] == NULL || pg->vals[*n] == NULL) {
		free(pg->keys[*n]);
		free(pg->vals[*n]);
		pg->keys[*n] = pg->vals[*n] = NULL;
		return -1;
	}
	(*n)++;
	return 0;
}

/* Turns url into keyword/value arrays with our defaults added. Returns 0,
 * -1 when out of memory or with too many keywords, 1 for a malformed url. */
static int
build_params(core_pg *pg, const char *url)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &msg);
	if (opts == NULL) {
		/* libpq's message quotes the offending part, never the
		 * password by itself, but the url may be the password's
		 * neighbour: log only that it failed. */
		set_error(pg, "malformed database url");
		PQfreemem(msg);
		return 1;
	}
	int n = 0;
	int rv = 0;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL) {
			continue;
		}
		if (add_param(pg, &n, o->keyword, o->val) != 0) {
			rv = -1;
			goto done;
		}
	}
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		const char *env = defaults[i][2];
		if (env != NULL && getenv(env) != NULL) {
			continue; /* libpq reads it */
		}
		if (!has_key(pg, defaults[i][0]) &&
		    add_param(pg, &n, defaults[i][0], defaults[i][1]) != 0) {
			rv = -1;
			goto done;
		}
	}
done:
	/* The parsed options hold the password too. */
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val != NULL) {
			explicit_bzero(o->val, strlen(o->val));
		}
	}
	PQconninfoFree(opts);
	return rv;
}

static void
drop(core_pg *pg)
{
	PQfinish(pg->conn);
	pg->conn = NULL;
	pg->farewell = false;
	pg_stmts_clear(&pg->stmts);
	store_metrics_disconnected(&pg->m);
}

/* libpq prints notices ("relation already exists, skipping") on stderr by
 * default, outside the log format; they are routine, so debug level. An
 * error that arrives while no statement runs comes here too: a FATAL one
 * (57P01 "terminating connection due to administrator command") means the
 * server is closing the connection, which must then not be used. */
static void
receive_notice(void *arg, const PGresult *res)
{
	core_pg *pg = arg;
	const char *sev =
	    PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	if (sev != NULL &&
	    (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) {
		pg->farewell = true;
	}
	core_log_kv(CORE_LOG_DEBUG, "postgres notice", "notice",
	    PQresultErrorMessage(res), NULL);
}

/* The check before each use of an open connection: poll(2) with a zero
 * timeout, one system call. An idle connection has nothing to read; when
 * it has, the server sent a farewell or closed it (a restart, an
 * administrator's pg_terminate_backend, an idle timeout) or a notice
 * came. *ts is the transaction status the connection had. */
static bool
still_open(core_pg *pg, PGTransactionStatusType *ts)
{
	PGconn *c = pg->conn;
	*ts = PQtransactionStatus(c);
	if (PQstatus(c) != CONNECTION_OK || pg->farewell) {
		return false;
	}
	struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
	int n = poll(&p, 1, 0);
	if (n == 0 || (n < 0 && errno == EINTR)) {
		return true; // the usual case: nothing pending
	}
	/* PQconsumeInput only reads; PQisBusy parses what came, which hands
	 * an error to receive_notice. */
	if (!PQconsumeInput(c) || PQisBusy(c) ||
	    PQstatus(c) != CONNECTION_OK || pg->farewell) {
		return false;
	}
	for (PGnotify *nt; (nt = PQnotifies(c)) != NULL;) {
		PQfreemem(nt); // nobody here LISTENs; drop strays
	}
	return true;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {
	    (time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Delays the next connect attempt after a failed one that began at t0. */
static void
note_failed_connect(core_pg *pg, int64_t t0)
{
	int64_t now = core_monotonic_ms();
	pg->wait_for_try = now - t0 < SLOW_CONNECT_MS;
	pg->next_try_ms =
	    now + (pg->wait_for_try ? RETRY_GAP_MS : RECONNECT_MS);
}

/* Runs the session SQL on a new connection. False (logged) when it fails:
 * the connection must then not be used, since the caller relies on it. */
static bool
init_session(core_pg *pg, PGconn *c)
{
	PGresult *res = PQexec(c, pg->session_sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return true;
	}
	const char *state =
	    res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary =
	    res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	snprintf(pg->sqlstate, sizeof(pg->sqlstate), "%s", state ? state : "");
	set_error(pg, primary ? primary : PQerrorMessage(c));
	core_log_kv(CORE_LOG_ERROR, "postgres session setup failed",
	    "sqlstate", pg->sqlstate, "error", pg->error, NULL);
	PQclear(res);
	return false;
}

/* Connects when down and the rate limit allows. */
static bool
connect_now(core_pg *pg)
{
	if (pg->bad_url) {
		return false;
	}
	int64_t now = core_monotonic_ms();
	if (now < pg->next_try_ms) {
		if (!pg->wait_for_try) {
			set_error(pg, "down, waiting to reconnect");
			return false;
		}
		sleep_ms(pg->next_try_ms - now);
		now = core_monotonic_ms();
	}
	PGconn *c = PQconnectdbParams(
	    (const char *const *) pg->keys, (const char *const *) pg->vals, 0);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		set_error(pg, c ? PQerrorMessage(c) : "out of memory");
		core_log_kv(CORE_LOG_WARN, "postgres connect failed", "error",
		    pg->error, NULL);
		PQfinish(c);
		note_failed_connect(pg, now);
		return false;
	}
	PQsetNoticeReceiver(c, receive_notice, pg);
	if (pg->session_sql != NULL && !init_session(pg, c)) {
		PQfinish(c);
		note_failed_connect(pg, now);
		return false;
	}
	pg->conn = c;
	store_metrics_connected(&pg->m);
	return true;
}

/* Makes sure the handle has a connection fit for a statement: an open one
 * that passes still_open, or a new one. A connection found closed while a
 * transaction was open on it is replaced only for the next statement:
 * this one belongs to the lost transaction and must fail. */
static bool
ensure(core_pg *pg)
{
	if (pg->conn != NULL) {
		PGTransactionStatusType ts;
		if (still_open(pg, &ts)) {
			return true;
		}
		set_error(pg, PQerrorMessage(pg->conn));
		core_log_kv(CORE_LOG_INFO, "postgres connection was closed",
		    "error", pg->farewell ? "closed by the server" : pg->error,
		    NULL);
		drop(pg);
		if (ts != PQTRANS_IDLE) {
			set_error(pg, "connection lost inside a transaction");
			return false;
		}
	}
	return connect_now(pg);
}

core_pg *
core_pg_open(const char *url)
{
	core_pg *pg = calloc(1, sizeof(*pg));
	if (pg == NULL) {
		return NULL;
	}
	store_metrics_init(&pg->m, STORE_PG);
	int rv = build_params(pg, url != NULL ? url : "");
	if (rv < 0) {
		core_pg_close(pg);
		return NULL;
	}
	if (rv > 0) {
		pg->bad_url = true;
		core_log_error("postgres: malformed database url");
		return pg;
	}
	(void) ensure(pg);
	return pg;
}

void
core_pg_close(core_pg *pg)
{
	if (pg == NULL) {
		return;
	}
	drop(pg);
	free(pg->session_sql);
	for (int i = 0; i < MAX_PARAMS; i++) {
		free(pg->keys[i]);
		wipe_free(pg->vals[i]);
	}
	free(pg);
}

/* SQLSTATE to status, first match wins; a code shorter than five characters
 * matches as a class prefix. */
static const struct {
	const char *code;
	core_status status;
} sqlstates[] = {
    {"23505", CORE_ALREADY_EXISTS},    /* unique_violation */
    {"23503", CORE_INVALID_ARGUMENT},  /* foreign_key_violation */
    {"23514", CORE_INVALID_ARGUMENT},  /* check_violation */
    {"22", CORE_INVALID_ARGUMENT},     /* data exceptions */
    {"40001", CORE_ABORTED},           /* serialization_failure */
    {"40P01", CORE_ABORTED},           /* deadlock_detected */
    {"57014", CORE_DEADLINE_EXCEEDED}, /* query_canceled */
    {"57P01", CORE_UNAVAILABLE},       /* admin_shutdown */
    {"57P02", CORE_UNAVAILABLE},       /* crash_shutdown */
    {"57P03", CORE_UNAVAILABLE},       /* cannot_connect_now */
    {"08", CORE_UNAVAILABLE},          /* connection exceptions */
};

static core_status
map_sqlstate(const char *code)
{
	for (size_t i = 0; i < sizeof(sqlstates) / sizeof(sqlstates[0]); i++) {
		size_t n = strlen(sqlstates[i].code);
		if (strncmp(code, sqlstates[i].code, n) == 0) {
			return sqlstates[i].status;
		}
	}
	return CORE_INTERNAL;
}

/* Records a failed result and maps it. Takes ownership of res. */
static core_status
fail_result(core_pg *pg, const char *sql, PGresult *res)
{
	const char *state =
	    res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(pg->sqlstate, sizeof(pg->sqlstate), "%s", state ? state : "");
	/* The primary message only: DETAIL may quote row values, which may
	 * be the parameters. */
	const char *primary =
	    res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (primary != NULL) {
		set_error(pg, primary);
	} else if (res != NULL && PQresultErrorMessage(res)[0] != '\0') {
		set_error(pg, PQresultErrorMessage(res));
	} else {
		set_error(pg, PQerrorMessage(pg->conn));
	}
	/* An outdated prepared statement failed its transaction, which can
	 * simply run again (the statement is prepared afresh). */
	core_status st =
	    pg->outdated ? CORE_ABORTED : map_sqlstate(pg->sqlstate);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		st = CORE_UNAVAILABLE;
	}
	PQclear(res);
	if (st == CORE_UNAVAILABLE) {
		drop(pg);
	}
	char sqlhead[LOG_SQL_MAX + 1];
	snprintf(sqlhead, sizeof(sqlhead), "%s", sql);
	core_log_kv(st == CORE_INTERNAL ? CORE_LOG_ERROR : CORE_LOG_WARN,
	    "postgres statement failed", "status", core_status_str((int) st),
	    "sqlstate", pg->sqlstate, "error", pg->error, "sql", sqlhead,
	    NULL);
	return st;
}

/* SQLSTATEs that end a session before or instead of a statement:
 * admin_shutdown, crash_shutdown, cannot_connect_now. */
static bool
ends_session(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state != NULL &&
	       (strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
	           strcmp(state, "57P03") == 0);
}

/* SQLSTATE 0A000 from a prepared statement: "cached plan must not change
 * result type" (a column of a table it reads was added or dropped since
 * it was prepared). Raised before the statement runs. */
static bool
replan_refused(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state != NULL && strcmp(state, "0A000") == 0;
}

/* Sends sql and collects its results as PQexecParams would, keeping the
 * first error (or the last result). The statement is prepared on its
 * first use on a connection and runs by name from then on: the server
 * parses and plans it once per connection, not on every call. *unrun is
 * set when the statement surely had no effect and may run again on a new
 * connection: the session was idle (no transaction open) and either
 * nothing could be sent (or prepared), or the first thing the server
 * answered was one of the errors of ends_session, or the prepared
 * statement's plan could not be remade (replan_refused; it is prepared
 * again on the new connection).
 * In the extended query protocol a statement outside a transaction block
 * commits at Sync, after its CommandComplete; an error that comes first
 * means its implicit transaction was rolled back or never began. */
static PGresult *
run_once(core_pg *pg, const char *sql, int nparams, const char *const *params,
    bool *unrun)
{
	PGconn *c = pg->conn;
	bool idle = PQtransactionStatus(c) == PQTRANS_IDLE;
	*unrun = false;
	pg->outdated = false;
	char name[PG_STMT_NAME_MAX];
	PGresult *perr = NULL;
	int named = pg_stmts_name(&pg->stmts, c, sql, nparams, name, &perr);
	if (named < 0) {
		*unrun = idle && (PQstatus(c) != CONNECTION_OK ||
		                     (perr != NULL && ends_session(perr)));
		return perr;
	}
	if (!(named ? PQsendQueryPrepared(
	                  c, name, nparams, params, NULL, NULL, 0)
	            : PQsendQueryParams(
	                  c, sql, nparams, NULL, params, NULL, NULL, 0))) {
		*unrun = idle && PQstatus(c) != CONNECTION_OK;
		return NULL;
	}
	PGresult *keep = NULL;
	bool first = true;
	for (PGresult *r; (r = PQgetResult(c)) != NULL; first = false) {
		bool err = PQresultStatus(r) == PGRES_FATAL_ERROR;
		if (first && err && named && replan_refused(r)) {
			pg_stmts_forget(&pg->stmts, sql);
			pg->outdated = true;
			*unrun = idle;
		} else if (first) {
			*unrun = idle && err && ends_session(r);
		}
		if (keep == NULL ||
		    (err && PQresultStatus(keep) != PGRES_FATAL_ERROR)) {
			PQclear(keep);
			keep = r;
		} else {
			PQclear(r);
		}
	}
	return keep;
}

/* core_pg_exec, uncounted; *sent says whether the statement
 * went to a server (a call that found no connection did not). */
static core_status
exec_statement(core_pg *pg, const char *sql, int nparams,
    const char *const *params, PGresult **out, bool *sent)
{
	*out = NULL;
	pg->sqlstate[0] = '\0';
	for (int attempt = 0;; attempt++) {
		if (!ensure(pg)) {
			return CORE_UNAVAILABLE;
		}
		*sent = true;
		bool unrun;
		PGresult *res = run_once(pg, sql, nparams, params, &unrun);
		ExecStatusType est =
		    res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (est == PGRES_COMMAND_OK || est == PGRES_TUPLES_OK) {
			pg->error[0] = '\0';
			*out = res; // the caller PQclear()s it
			return CORE_OK;
		}
		if (!unrun || attempt > 0) {
			return fail_result(pg, sql, res);
		}
		/* Once: the statement never ran, and the connection is gone
		 * (or its prepared statement can no longer be planned). */
		const char *state =
		    res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		core_log_kv(CORE_LOG_INFO,
		    res != NULL && replan_refused(res)
		        ? "postgres prepared statement outdated by a schema "
		          "change; running it on a new connection"
		        : "postgres connection ended before the statement ran; "
		          "running it on a new connection",
		    "sqlstate", state ? state : "", NULL);
		PQclear(res);
		drop(pg);
	}
}

core_status
core_pg_exec(core_pg *pg, const char *sql, int nparams,
    const char *const *params, PGresult **out)
{
	double t0 = store_metrics_now();
	bool sent = false;
	core_status st = exec_statement(pg, sql, nparams, params, out, &sent);
	/* The latency of statements that reached a server only: a call that
	 * fails at once while the handle waits to reconnect says nothing
	 * about the server's speed. */
	store_metrics_done(&pg->m, store_outcome_of(st), 1, sent ? t0 : 0);
	return st;
}

int
core_pg_set_session_sql(core_pg *pg, const char *sql)
{
	char *copy = NULL;
	if (sql != NULL && (copy = strdup(sql)) == NULL) {
		return -1;
	}
	free(pg->session_sql);
	pg->session_sql = copy;
	/* The connection open now was made without it. */
	if (copy != NULL && pg->conn != NULL && !init_session(pg, pg->conn)) {
		drop(pg);
	}
	return 0;
}

const char *
core_pg_sqlstate(const core_pg *pg)
{
	return pg->sqlstate;
}

const char *
core_pg_error(const core_pg *pg)
{
	return pg->error;
}

bool
core_pg_ping(core_pg *pg)
{
	PGresult *res;
	if (core_pg_exec(pg, "SELECT 1", 0, NULL, &res) != CORE_OK) {
		return false;
	}
	PQclear(res);
	return true;
}

int64_t
core_pg_int64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col)) {
		return 0;
	}
	const char *s = PQgetvalue(r, row, col);
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' ? (int64_t) v : 0;
}

core_status
core_pg_command(
    core_pg *pg, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = NULL;
	core_status st = core_pg_exec(pg, sql, nparams, params, &res);
	PQclear(res);
	return st;
}

core_status
core_pg_exec_found(core_pg *pg, const char *sql, int nparams,
    const char *const *params, bool *found)
{
	PGresult *res = NULL;
	*found = false;
	core_status st = core_pg_exec(pg, sql, nparams, params, &res);
	if (st == CORE_OK) {
		*found = PQntuples(res) > 0;
	}
	PQclear(res);
	return st;
}

PGconn *
pg_connection(core_pg *pg)
{
	return pg->conn;
}
