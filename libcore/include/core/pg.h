/* PostgreSQL for worker threads: one connection per handle, and migrations.
 *
 * A handle belongs to one thread (typically an RPC worker's state) and is
 * never shared. A connection that fails, at start or later, is not fatal:
 * the handle remembers that it is down and reconnects on the next use.
 * Before each use an open connection is checked (a zero-timeout poll), so
 * one the server closed while idle (a restart) is replaced before a
 * statement is sent on it. A statement is run a second time, on a new
 * connection, only when it surely never ran: no transaction was open, and
 * it could not be sent or its first answer was SQLSTATE 57P01, 57P02 or
 * 57P03. Any other failure of a sent statement is CORE_UNAVAILABLE: nobody
 * can tell whether the server ran it. Each statement text is prepared on
 * its first use on a connection and runs by name after that (up to 128 per
 * connection; more run unnamed); one whose result columns a schema change
 * altered since is run once more on a new connection when no transaction
 * is open. Design note: docs/internals/store.md.
 *
 * Metrics (docs/operations.md, "Service metrics"): a handle counts its
 * statements, connections and reconnects in the series of the component
 * of the thread that opened it (core_log_service), looked up once at
 * open; a statement only adds to them (no lock). */
#ifndef CORE_PG_H
#define CORE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/status.h"

typedef struct core_pg core_pg;

/* Opens a handle for url (a libpq URI or key=value string) and tries to
 * connect at once, with a 3 s connect timeout, TCP keepalives and no GSSAPI
 * encryption unless the url sets its own (or PGGSSENCMODE is set). A failed connection is logged (never the password) and
 * retried on the next use. Returns NULL only when out of memory; a malformed
 * url gives a handle that is always down. */
core_pg *core_pg_open(const char *url);

/* Closes the connection and frees the handle. NULL is a no-op. */
void core_pg_close(core_pg *pg);

/* Runs one parameterized statement (text-format parameters; params may be
 * NULL when nparams is 0, and a NULL entry is SQL NULL). On CORE_OK *out
 * holds the result (PGRES_COMMAND_OK or PGRES_TUPLES_OK), which the caller
 * PQclear()s; on any other status *out is set to NULL. Errors:
 *   CORE_UNAVAILABLE        not connected, or the connection broke (the
 *                           handle reconnects on a later call); a
 *                           statement that surely never ran was first
 *                           tried once more on a new connection
 *   CORE_ALREADY_EXISTS     23505 unique_violation
 *   CORE_INVALID_ARGUMENT   23503, 23514, class 22 (data exceptions)
 *   CORE_ABORTED            40001, 40P01, and 0A000 from a prepared
 *                           statement a schema change outdated inside a
 *                           transaction (retry the transaction)
 *   CORE_DEADLINE_EXCEEDED  57014 (statement timeout, cancel)
 *   CORE_INTERNAL           any other SQL error
 * The server's message is logged with the SQLSTATE, never the parameters. */
core_status core_pg_exec(core_pg *pg, const char *sql, int nparams,
    const char *const *params, PGresult **out);

/* core_pg_exec for a statement whose result is not needed (BEGIN, COMMIT,
 * an INSERT or UPDATE whose row count does not matter): the result is
 * cleared here. Same status, errors and logging as core_pg_exec. */
core_status core_pg_command(
    core_pg *pg, const char *sql, int nparams, const char *const *params);

/* core_pg_exec for a statement whose only answer is whether it returned a
 * row (an UPDATE ... RETURNING 1 that may match nothing, a SELECT 1 ...):
 * *found says so (false on any error). Same status, errors and logging as
 * core_pg_exec. */
core_status core_pg_exec_found(core_pg *pg, const char *sql, int nparams,
    const char *const *params, bool *found);

/* The value at row, col of r as an integer (a bigint column in text form);
 * 0 for NULL or anything that is not a decimal integer. */
int64_t core_pg_int64(const PGresult *r, int row, int col);

/* Sets SQL (one or more statements, e.g. "SET ROLE app") that runs on the
 * handle's connection before anything else: at once on the connection open
 * now, and on every reconnect. When it fails the connection is closed and
 * counts as down (logged; retried like a failed connect), so no statement
 * ever runs without it. NULL removes it (the current session keeps what it
 * already ran). sql is copied. Returns 0, or -1 when out of memory (nothing
 * changed). */
int core_pg_set_session_sql(core_pg *pg, const char *sql);

/* SQLSTATE of the last core_pg_exec: "" after a success or when the failure
 * had none (e.g. not connected). */
const char *core_pg_sqlstate(const core_pg *pg);

/* Message of the last core_pg_exec failure, for logs only: never send it
 * to a client. "" after a success. Valid until the next call on the handle. */
const char *core_pg_error(const core_pg *pg);

/* True when "SELECT 1" succeeds, reconnecting first if needed (within the
 * rate limit): a real round trip to the server. For health checks. */
bool core_pg_ping(core_pg *pg);

/* Applies the migrations in dir to the database at url, on a connection of
 * its own, holding a session advisory lock (key derived from
 * "microcore-migrations") for the whole run so that concurrent starts apply
 * each file once. Files named NNN_name.sql (three or more digits, then
 * [A-Za-z0-9_-]) that are regular files (symlinks to them count) run in
 * lexical order of their names, each in its own transaction, and their
 * version (the digits) is recorded in schema_migrations; recorded versions
 * are skipped and other names ignored. A file must not contain transaction
 * control or COPY FROM STDIN, and is at most 1 MiB.
 *
 * Returns the number of files applied (0 when up to date), or -1 with a
 * message in err naming the file and the server's error; the failing file
 * is rolled back and no later file runs. */
int core_pg_migrate(
    const char *url, const char *dir, char *err, size_t errlen);

/* core_pg_migrate, retried once a second while it fails (the database may
 * still be starting) for at most wait_s seconds; progress and the final
 * error are logged. Returns the number of files applied, or -1. */
int core_pg_migrate_wait(const char *url, const char *dir, long wait_s);

#endif
