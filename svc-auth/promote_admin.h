/* svc-auth promote-admin <username>: makes a user an active admin, straight
 * in authdb. How the first admin comes to be: every administration method
 * needs an admin already, so this one needs access to the database instead
 * (AUTH_DATABASE_URL). */
#ifndef AUTH_PROMOTE_ADMIN_H
#define AUTH_PROMOTE_ADMIN_H

/* Runs the command with the process's arguments (argv[1] is
 * "promote-admin") on the database at database_url, after applying the
 * migrations in migrations_dir (so it also works before the service's
 * first start). Prints one line on stdout and returns the exit status: 0
 * when the user is an active admin (now or already), 1 when there is no
 * such user or the database failed (message on stderr), 2 for bad usage
 * (usage on stderr). */
int auth_promote_admin_main(int argc, char *const argv[],
    const char *database_url, const char *migrations_dir);

#endif
