#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "profiles_repo.h"

#define PROFILE_COLUMNS                                                       \
	"user_id::text, username, display_name, bio, avatar_url, locale, "    \
	"version, (extract(epoch FROM created_at) * 1000000)::bigint, "       \
	"(extract(epoch FROM updated_at) * 1000000)::bigint"

/* A NULL parameter keeps the column; the version check is in the WHERE
 * clause, so check and write are one atomic statement. A row the update
 * would leave as it is is not touched: its version stays. */
#define UPDATE_SQL                                                            \
	"UPDATE profiles SET "                                                \
	"display_name = coalesce($2, display_name), "                         \
	"bio = coalesce($3, bio), "                                           \
	"avatar_url = coalesce($4, avatar_url), "                             \
	"locale = coalesce($5, locale), "                                     \
	"version = version + 1, updated_at = now() "                          \
	"WHERE user_id = $1::uuid AND ($6::bigint IS NULL OR version = $6) "  \
	"AND (display_name, bio, avatar_url, locale) IS DISTINCT FROM "       \
	"(coalesce($2, display_name), coalesce($3, bio), "                    \
	"coalesce($4, avatar_url), coalesce($5, locale)) "                    \
	"RETURNING " PROFILE_COLUMNS

#define SELECT_SQL                                                            \
	"SELECT " PROFILE_COLUMNS " FROM profiles WHERE user_id = $1::uuid"

/* Updates racing one that finds nothing to change are tried again at most
 * this many times. */
#define UPDATE_ATTEMPTS 3

static void
read_profile(const PGresult *r, user_profile *p)
{
	snprintf(p->user_id, sizeof(p->user_id), "%s", PQgetvalue(r, 0, 0));
	snprintf(p->username, sizeof(p->username), "%s", PQgetvalue(r, 0, 1));
	snprintf(p->display_name, sizeof(p->display_name), "%s",
	    PQgetvalue(r, 0, 2));
	snprintf(p->bio, sizeof(p->bio), "%s", PQgetvalue(r, 0, 3));
	snprintf(
	    p->avatar_url, sizeof(p->avatar_url), "%s", PQgetvalue(r, 0, 4));
	snprintf(p->locale, sizeof(p->locale), "%s", PQgetvalue(r, 0, 5));
	p->version = core_pg_int64(r, 0, 6);
	p->created_us = core_pg_int64(r, 0, 7);
	p->updated_us = core_pg_int64(r, 0, 8);
}

/* Runs sql and reads its single row. CORE_NOT_FOUND when there is none. */
static core_status
one_profile(core_pg *pg, const char *sql, int n, const char *const *params,
    user_profile *out)
{
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg, sql, n, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_NOT_FOUND;
	}
	read_profile(r, out);
	PQclear(r);
	return CORE_OK;
}

core_status
user_profiles_get_or_create(core_pg *pg, const char *user_id,
    const char *username, user_profile *out, bool *created)
{
	const char *id[] = {user_id};
	const char *both[] = {user_id, username};
	*created = false;
	core_status st = one_profile(pg, SELECT_SQL, 1, id, out);
	if (st != CORE_NOT_FOUND) {
		return st;
	}
	/* First access: create it. Two first accesses at once are fine: the
	 * loser inserts nothing and reads the winner's row. */
	st = one_profile(pg,
	    "INSERT INTO profiles (user_id, username) VALUES ($1::uuid, $2) "
	    "ON CONFLICT (user_id) DO NOTHING RETURNING " PROFILE_COLUMNS,
	    2, both, out);
	if (st != CORE_NOT_FOUND) {
		*created = st == CORE_OK;
		return st;
	}
	return one_profile(pg, SELECT_SQL, 1, id, out);
}

core_status
user_profiles_uncreate(core_pg *pg, const char *user_id, int64_t version)
{
	char v[24];
	snprintf(v, sizeof(v), "%lld", (long long) version);
	const char *params[] = {user_id, v};
	return core_pg_command(pg,
	    "DELETE FROM profiles WHERE user_id = $1::uuid AND version = $2",
	    2, params);
}

/* Whether u would change p: a field it sets to another value. */
static bool
changes(const user_profile_update *u, const user_profile *p)
{
	const char *to[] = {u->display_name, u->bio, u->avatar_url, u->locale};
	const char *is[] = {p->display_name, p->bio, p->avatar_url, p->locale};
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
		if (to[i] != NULL && strcmp(to[i], is[i]) != 0) {
			return true;
		}
	}
	return false;
}

core_status
user_profiles_update(core_pg *pg, const char *user_id,
    const user_profile_update *u, user_profile *out, bool *changed)
{
	char version[24] = "";
	if (u->expected_version != NULL) {
		snprintf(version, sizeof(version), "%lld",
		    (long long) *u->expected_version);
	}
	const char *params[] = {user_id, u->display_name, u->bio,
	    u->avatar_url, u->locale,
	    u->expected_version != NULL ? version : NULL};
	const char *id[] = {user_id};
	for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
		core_status st = one_profile(pg, UPDATE_SQL, 6, params, out);
		if (st != CORE_NOT_FOUND) {
			*changed = st == CORE_OK;
			return st;
		}
		/* Nothing updated: no profile, a version mismatch, or
		 * nothing to change. */
		if ((st = one_profile(pg, SELECT_SQL, 1, id, out)) !=
		    CORE_OK) {
			return st;
		}
		if (u->expected_version != NULL &&
		    out->version != *u->expected_version) {
			return CORE_FAILED_PRECONDITION;
		}
		if (!changes(u, out)) {
			*changed = false;
			return CORE_OK; /* already so: the row as it is */
		}
		/* Another update (or a first read creating the row) came
		 * between the two statements: apply this one to its result. */
	}
	return CORE_ABORTED;
}

core_status
user_profiles_delete(core_pg *pg, const char *user_id, bool *deleted)
{
	const char *params[] = {user_id};
	return core_pg_exec_found(pg,
	    "DELETE FROM profiles WHERE user_id = $1::uuid RETURNING 1", 1,
	    params, deleted);
}
