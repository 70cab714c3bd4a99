#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "users_repo.h"

#define USER_COLUMNS                                                   \
	"id::text, username, email, role, status, "                    \
	"(extract(epoch FROM created_at) * 1000000)::bigint, "         \
	"(extract(epoch FROM updated_at) * 1000000)::bigint"

/* Copies row 0 of a result selecting USER_COLUMNS. */
static void
read_user(const PGresult *r, auth_user *u)
{
	snprintf(u->id, sizeof(u->id), "%s", PQgetvalue(r, 0, 0));
	snprintf(u->username, sizeof(u->username), "%s", PQgetvalue(r, 0, 1));
	snprintf(u->email, sizeof(u->email), "%s", PQgetvalue(r, 0, 2));
	snprintf(u->role, sizeof(u->role), "%s", PQgetvalue(r, 0, 3));
	snprintf(u->status, sizeof(u->status), "%s", PQgetvalue(r, 0, 4));
	u->created_us = core_pg_int64(r, 0, 5);
	u->updated_us = core_pg_int64(r, 0, 6);
}

core_status
auth_users_insert(core_pg *pg, const char *username, const char *email,
    const char *password_hash, auth_user *out)
{
	const char *params[] = {username, email, password_hash};
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg,
	    "INSERT INTO users (username, email, password_hash) "
	    "VALUES ($1, $2, $3) RETURNING " USER_COLUMNS,
	    3, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_INTERNAL;
	}
	read_user(r, out);
	PQclear(r);
	return CORE_OK;
}

/* Runs a one-parameter query selecting USER_COLUMNS (and, when hash is
 * not NULL, password_hash after them) that matches at most one row. */
static core_status
one_user(core_pg *pg, const char *sql, const char *param, auth_user *out,
    char *hash, size_t hashlen)
{
	const char *params[] = {param};
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg, sql, 1, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_NOT_FOUND;
	}
	read_user(r, out);
	if (hash != NULL) {
		snprintf(hash, hashlen, "%s", PQgetvalue(r, 0, 7));
	}
	PQclear(r);
	return CORE_OK;
}

core_status
auth_users_find_by_username(core_pg *pg, const char *username,
    auth_user *out, char *hash, size_t hashlen)
{
	return one_user(pg,
	    "SELECT " USER_COLUMNS ", password_hash FROM users "
	    "WHERE username = $1",
	    username, out, hash, hashlen);
}

static bool
uuid_shaped(const char *s)
{
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F');
		if (dash ? c != '-' : !hex) {
			return false;
		}
	}
	return s[36] == '\0';
}

core_status
auth_users_find_by_id(core_pg *pg, const char *id, auth_user *out)
{
	if (!uuid_shaped(id)) {
		return CORE_NOT_FOUND; /* the cast would be an SQL error */
	}
	return one_user(pg,
	    "SELECT " USER_COLUMNS " FROM users WHERE id = $1::uuid", id, out,
	    NULL, 0);
}
