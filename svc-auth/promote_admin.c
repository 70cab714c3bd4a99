/* svc-auth promote-admin: see promote_admin.h. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "auth_validate.h"
#include "core/log.h"
#include "core/pg.h"
#include "promote_admin.h"
#include "users_repo.h"

static int
usage(void)
{
	fprintf(stderr, "usage: svc-auth promote-admin <username>\n"
	                "  Makes the user an active admin, in the database at "
	                "AUTH_DATABASE_URL.\n");
	return 2;
}

int
auth_promote_admin_main(int argc, char *const argv[], const char *database_url,
    const char *migrations_dir)
{
	char username[AUTH_USERNAME_MAX + 1];
	char err[512];
	const char *e;

	if (argc != 3) {
		return usage();
	}
	if ((e = auth_username_normalize(
	         argv[2], username, sizeof(username))) != NULL) {
		fprintf(stderr,
		    "svc-auth promote-admin: not a username (%s)\n", e);
		return usage();
	}
	/* The result is the line on stdout; failures are reported below,
	 * so the log adds only errors of its own. */
	core_log_init("svc-auth", CORE_LOG_ERROR, false);
	if (core_pg_migrate(database_url, migrations_dir, err, sizeof(err)) <
	    0) {
		fprintf(stderr,
		    "svc-auth promote-admin: cannot bring the database "
		    "schema up to date: %s\n",
		    err);
		return 1;
	}
	core_pg *pg = core_pg_open(database_url);
	if (pg == NULL) {
		fprintf(stderr, "svc-auth promote-admin: out of memory\n");
		return 1;
	}
	const auth_access_change ch = {.status = "active", .role = "admin"};
	auth_user before, after;
	core_status st = auth_users_set_access_by_username(
	    pg, username, &ch, &before, &after);
	int rv = 1;
	if (st == CORE_OK) {
		bool changed = strcmp(before.role, after.role) != 0 ||
		               strcmp(before.status, after.status) != 0;
		printf("%s (%s) %s an active admin\n", after.username,
		    after.id, changed ? "is now" : "was already");
		rv = 0;
	} else if (st == CORE_NOT_FOUND) {
		fprintf(stderr, "svc-auth promote-admin: no user named %s\n",
		    username);
	} else {
		fprintf(stderr, "svc-auth promote-admin: %s%s%s\n",
		    core_status_str(st), core_pg_error(pg)[0] ? ": " : "",
		    core_pg_error(pg));
	}
	core_pg_close(pg);
	return rv;
}
