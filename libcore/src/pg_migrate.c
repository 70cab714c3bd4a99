/* Migrations: the files of a directory applied in order, each once, under
 * an advisory lock (core_pg_migrate in core/pg.h). */
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

#include "core/log.h"
#include "core/pg.h"
#include "pg_internal.h"

#define MIGRATION_MAX_BYTES (1u << 20)
#define MIGRATION_MAX_FILES 10000

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
	if (run(pg_connection(pg), "BEGIN", msg, sizeof(msg)) != 0 ||
	    run(pg_connection(pg), body, msg, sizeof(msg)) != 0) {
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
	if (run(pg_connection(pg), "COMMIT", msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s: %s", name, msg);
		goto done;
	}
	core_log_kv(CORE_LOG_INFO, "migration applied", "file", name, NULL);
	rv = 1;
done:
	if (rv < 0 && pg_connection(pg) != NULL) {
		/* Ends the failed transaction; harmless when none is open. */
		PQclear(PQexec(pg_connection(pg), "ROLLBACK"));
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
	if (pg == NULL || pg_connection(pg) == NULL) {
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

int
core_pg_migrate_wait(const char *url, const char *dir, long wait_s)
{
	char err[512];
	for (long waited = 0;; waited++) {
		int n = core_pg_migrate(url, dir, err, sizeof(err));
		if (n >= 0) {
			core_log_info(
			    "database schema up to date (%d migrations "
			    "applied now)",
			    n);
			return n;
		}
		if (waited >= wait_s) {
			core_log_error("migrations failed: %s", err);
			return -1;
		}
		core_log_warn(
		    "migrations not applied yet (%s); retrying", err);
		struct timespec one = {1, 0};
		nanosleep(&one, NULL);
	}
}
