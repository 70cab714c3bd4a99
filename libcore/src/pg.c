#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/pg.h"

#define RECONNECT_MS 500
#define MAX_PARAMS 32 /* connection keywords, ours included */
#define MIGRATION_MAX_BYTES (1u << 20)
#define MIGRATION_MAX_FILES 10000
#define LOG_SQL_MAX 120

struct core_pg {
	/* NULL-terminated keyword/value arrays for PQconnectdbParams; empty
	 * when the url could not be parsed (then bad_url: always down). */
	char *keys[MAX_PARAMS + 1];
	char *vals[MAX_PARAMS + 1];
	bool bad_url;
	char *session_sql;   /* run on every new connection; NULL = none */
	PGconn *conn;        /* NULL while down */
	int64_t next_try_ms; /* no connect attempt before this time */
	char sqlstate[6];
	char error[512];
};

/* Defaults added when the url does not set them: a dead host must fail a
 * connect in seconds, and keepalives find a peer that vanished while the
 * connection sat idle in a worker. */
static const char *const defaults[][2] = {
    {"connect_timeout", "3"},
    {"keepalives", "1"},
    {"keepalives_idle", "30"},
    {"keepalives_interval", "10"},
    {"keepalives_count", "3"},
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
}

/* libpq prints notices ("relation already exists, skipping") on stderr by
 * default, outside the log format; they are routine, so debug level. */
static void
log_notice(void *arg, const char *msg)
{
	(void) arg;
	core_log_kv(CORE_LOG_DEBUG, "postgres notice", "notice", msg, NULL);
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

/* Connects if down and the rate limit allows. True when connected. */
static bool
ensure(core_pg *pg)
{
	if (pg->conn != NULL) {
		return true;
	}
	if (pg->bad_url) {
		return false;
	}
	int64_t now = core_monotonic_ms();
	if (now < pg->next_try_ms) {
		return false;
	}
	PGconn *c = PQconnectdbParams(
	    (const char *const *) pg->keys, (const char *const *) pg->vals, 0);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		set_error(pg, c ? PQerrorMessage(c) : "out of memory");
		core_log_kv(CORE_LOG_WARN, "postgres connect failed", "error",
		    pg->error, NULL);
		PQfinish(c);
		/* Only a failed attempt delays the next one: a connection
		 * that broke in use may be replaced at once. */
		pg->next_try_ms = now + RECONNECT_MS;
		return false;
	}
	PQsetNoticeProcessor(c, log_notice, NULL);
	if (pg->session_sql != NULL && !init_session(pg, c)) {
		PQfinish(c);
		pg->next_try_ms = now + RECONNECT_MS;
		return false;
	}
	pg->conn = c;
	return true;
}

core_pg *
core_pg_open(const char *url)
{
	core_pg *pg = calloc(1, sizeof(*pg));
	if (pg == NULL) {
		return NULL;
	}
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
	core_status st = map_sqlstate(pg->sqlstate);
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

core_status
core_pg_exec(core_pg *pg, const char *sql, int nparams,
    const char *const *params, PGresult **out)
{
	*out = NULL;
	pg->sqlstate[0] = '\0';
	if (!ensure(pg)) {
		return CORE_UNAVAILABLE;
	}
	PGresult *res =
	    PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType est = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (est == PGRES_COMMAND_OK || est == PGRES_TUPLES_OK) {
		pg->error[0] = '\0';
		*out = res; // the caller PQclear()s it
		return CORE_OK;
	}
	return fail_result(pg, sql, res);
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

/* ---- Migrations ---------------------------------------------------------
 */

/* FNV-1a of "microcore-migrations": a fixed lock key every instance
 * computes alike, unlikely to collide with another application's. */
static long long
lock_key(void)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = "microcore-migrations"; *p != '\0'; p++) {
		h ^= (unsigned char) *p;
		h *= 1099511628211ull;
	}
	return (long long) (h >> 1); /* a positive bigint */
}

/* True for ^[0-9]{3,}_[A-Za-z0-9_-]+\.sql$; *vlen gets the digit count. */
static bool
migration_name(const char *name, size_t *vlen)
{
	size_t i = 0;
	while (name[i] >= '0' && name[i] <= '9') {
		i++;
	}
	if (i < 3 || name[i] != '_') {
		return false;
	}
	*vlen = i;
	size_t len = strlen(name);
	if (len < i + 1 + 1 + 4 || strcmp(name + len - 4, ".sql") != 0) {
		return false;
	}
	for (size_t j = i + 1; j < len - 4; j++) {
		char c = name[j];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			return false;
		}
	}
	return true;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
}

/* Lists the migration files of dir, sorted. Returns the count or -1. */
static long
list_migrations(const char *dir, char ***out, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d)) != NULL) {
		size_t vlen;
		struct stat st;
		if (!migration_name(e->d_name, &vlen)) {
			continue;
		}
		int pl = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/* stat, not lstat: mounted config (Kubernetes) presents
		 * files as symlinks. */
		if (pl < 0 || (size_t) pl >= sizeof(path) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			continue;
		}
		if (n == MIGRATION_MAX_FILES) {
			snprintf(err, errlen, "%s: more than %d migrations",
			    dir, MIGRATION_MAX_FILES);
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(*nn));
			if (nn == NULL) {
				goto oom;
			}
			names = nn;
			cap = ncap;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			goto oom;
		}
		n++;
	}
	closedir(d);
	if (n > 0) {
		qsort(names, n, sizeof(*names), cmp_names);
	}
	*out = names;
	return (long) n;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	closedir(d);
	free_names(names, n);
	return -1;
}

/* Reads a migration file (capped, no NUL bytes: PQexec takes a C string). */
static char *
read_file(const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto fail;
	}
	if ((uint64_t) st.st_size > MIGRATION_MAX_BYTES) {
		snprintf(
		    err, errlen, "larger than %u bytes", MIGRATION_MAX_BYTES);
		goto fail;
	}
	size_t size = (size_t) st.st_size;
	if ((buf = malloc(size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			snprintf(err, errlen, "read: %s",
			    r < 0 ? strerror(errno) : "file shrank");
			goto fail;
		}
		got += (size_t) r;
	}
	buf[size] = '\0';
	if (memchr(buf, '\0', size) != NULL) {
		snprintf(err, errlen, "contains a NUL byte");
		goto fail;
	}
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* Runs sql with PQexec (several statements allowed). 0 or -1 with the
 * server's message in err. */
static int
run(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
	    st == PGRES_EMPTY_QUERY) {
		PQclear(res);
		return 0;
	}
	const char *msg = res ? PQresultErrorMessage(res) : "";
	if (msg[0] == '\0') {
		msg = PQerrorMessage(c);
	}
	snprintf(err, errlen, "%s", msg);
	size_t n = strlen(err);
	while (n > 0 && err[n - 1] == '\n') {
		err[--n] = '\0';
	}
	PQclear(res);
	return -1;
}

/* Applies one file unless its version is recorded. 1 applied, 0 skipped,
 * -1 failed (rolled back, message in err). */
static int
apply_one(
    core_pg *pg, const char *dir, const char *name, char *err, size_t errlen)
{
	char version[256];
	char path[4096];
	char msg[512];
	char *body = NULL;
	PGresult *res = NULL;
	int rv = -1;
	size_t vlen = strcspn(name, "_");
	snprintf(version, sizeof(version), "%.*s", (int) vlen, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);

	const char *params[] = {version};
	if (core_pg_exec(pg,
	        "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
	        params, &res) != CORE_OK) {
		snprintf(err, errlen, "%s: %s", name, core_pg_error(pg));
		return -1;
	}
	bool done = PQntuples(res) > 0;
	PQclear(res);
	res = NULL;
	if (done) {
		return 0;
	}
	if ((body = read_file(path, msg, sizeof(msg))) == NULL) {
		snprintf(err, errlen, "%s: %s", name, msg);
		return -1;
	}
	if (run(pg->conn, "BEGIN", msg, sizeof(msg)) != 0 ||
	    run(pg->conn, body, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s: %s", name, msg);
		goto done;
	}
	if (core_pg_exec(pg,
	        "INSERT INTO schema_migrations (version) VALUES ($1)", 1,
	        params, &res) != CORE_OK) {
		snprintf(err, errlen, "%s: recording version %s: %s", name,
		    version, core_pg_error(pg));
		goto done;
	}
	if (run(pg->conn, "COMMIT", msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s: %s", name, msg);
		goto done;
	}
	core_log_kv(CORE_LOG_INFO, "migration applied", "file", name, NULL);
	rv = 1;
done:
	if (rv < 0 && pg->conn != NULL) {
		/* Ends the failed transaction; harmless when none is open. */
		PQclear(PQexec(pg->conn, "ROLLBACK"));
	}
	PQclear(res);
	free(body);
	return rv;
}

/* Two files with one version would make the second look applied. */
static int
check_versions(char **names, long n, char *err, size_t errlen)
{
	for (long i = 1; i < n; i++) {
		for (long j = 0; j < i; j++) {
			size_t a = strcspn(names[i], "_");
			size_t b = strcspn(names[j], "_");
			if (a == b && memcmp(names[i], names[j], a) == 0) {
				snprintf(err, errlen,
				    "%s: version also used by %s", names[i],
				    names[j]);
				return -1;
			}
		}
	}
	return 0;
}

int
core_pg_migrate(const char *url, const char *dir, char *err, size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	char **names = NULL;
	long n = list_migrations(dir, &names, err, errlen);
	if (n < 0) {
		return -1;
	}
	if (check_versions(names, n, err, errlen) != 0) {
		free_names(names, (size_t) n);
		return -1;
	}

	int applied = 0;
	PGresult *res = NULL;
	core_pg *pg = core_pg_open(url);
	if (pg == NULL || pg->conn == NULL) {
		snprintf(err, errlen, "cannot connect: %s",
		    pg ? core_pg_error(pg) : "out of memory");
		applied = -1;
		goto done;
	}
	char key[32];
	snprintf(key, sizeof(key), "%lld", lock_key());
	const char *params[] = {key};
	// Blocks while another instance migrates; released by the unlock
	// below or, whatever happens, when this session ends.
	if (core_pg_exec(pg, "SELECT pg_advisory_lock($1::bigint)", 1, params,
	        &res) != CORE_OK) {
		snprintf(err, errlen, "advisory lock: %s", core_pg_error(pg));
		applied = -1;
		goto done;
	}
	PQclear(res);
	res = NULL;
	// Under the lock: concurrent CREATE TABLE IF NOT EXISTS can fail.
	if (core_pg_exec(pg,
	        "CREATE TABLE IF NOT EXISTS schema_migrations ("
	        "version text PRIMARY KEY, "
	        "applied_at timestamptz NOT NULL DEFAULT now())",
	        0, NULL, &res) != CORE_OK) {
		snprintf(
		    err, errlen, "schema_migrations: %s", core_pg_error(pg));
		applied = -1;
		goto done;
	}
	PQclear(res);
	res = NULL;
	for (long i = 0; i < n; i++) {
		int rv = apply_one(pg, dir, names[i], err, errlen);
		if (rv < 0) {
			core_log_kv(CORE_LOG_ERROR, "migration failed",
			    "error", err, NULL);
			applied = -1;
			goto done;
		}
		applied += rv;
	}
	if (core_pg_exec(pg, "SELECT pg_advisory_unlock($1::bigint)", 1,
	        params, &res) == CORE_OK) {
		PQclear(res);
		res = NULL;
	}
done:
	PQclear(res);
	core_pg_close(pg);
	free_names(names, (size_t) n);
	return applied;
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

int
core_pg_migrate_wait(const char *url, const char *dir, long wait_s)
{
	char err[512];
	for (long waited = 0;; waited++) {
		int n = core_pg_migrate(url, dir, err, sizeof(err));
		if (n >= 0) {
			core_log_info("database schema up to date (%d migrations "
			              "applied now)",
			    n);
			return n;
		}
		if (waited >= wait_s) {
			core_log_error("migrations failed: %s", err);
			return -1;
		}
		core_log_warn("migrations not applied yet (%s); retrying", err);
		struct timespec one = {1, 0};
		nanosleep(&one, NULL);
	}
}
