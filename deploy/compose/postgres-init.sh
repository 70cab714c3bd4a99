#!/usr/bin/env bash
# Creates the system's databases and roles in a new PostgreSQL cluster. The
# postgres image runs it once, when it initialises an empty data volume
# (/docker-entrypoint-initdb.d); it is not run again on later starts.
#
#   authdb  owned by auth_svc    (svc-auth)
#   apidb   owned by user_svc    (svc-user)
#   admindb owned by admin_svc   (svc-admin), which is also a member of the
#           NOLOGIN role microcore_admin_app that svc-admin's sessions run as
#           (see svc-admin/migrations/001_audit.sql)
#
# Each login role may connect to its own database only: CONNECT is revoked
# from PUBLIC on the three databases and on "postgres". The passwords are
# those of the services' URLs, read from the compose secrets
# auth_database_url, user_database_url and admin_database_url
# (postgresql://ROLE:PASSWORD@HOST:PORT/DATABASE, the password %-encoded
# where it needs to be), so each exists in one place only.
#
# Environment: POSTGRES_USER or PGUSER (the role that runs it; the image sets
# POSTGRES_USER to its superuser, postgres by default);
# MICROCORE_SECRETS_DIR (default /run/secrets); PGHOST, PGPORT, PGPASSWORD,
# PGSSLMODE... as for psql (15 or later). The same script sets up a managed
# PostgreSQL from an operator's machine, run as the provider's admin role,
# which needs CREATEROLE and CREATEDB (docs/operations.md#running-on-kubernetes).

# The image sources *.sh files that are not executable: run in a child bash
# either way, so that nothing here changes the entrypoint's own shell.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
	bash "${BASH_SOURCE[0]}" || exit 1
	return 0
fi
set -euo pipefail

secrets_dir="${MICROCORE_SECRETS_DIR:-/run/secrets}"

fail() {
	printf 'microcore init: %s\n' "$*" >&2
	exit 1
}

# password_of SECRET ROLE DATABASE: prints the password of the URL in the
# secret file SECRET after checking that the URL names ROLE and DATABASE.
# Nothing of the URL is ever printed in a message.
password_of() {
	local file="$secrets_dir/$1" role="$2" db="$3" url user pw
	[[ -r "$file" ]] || fail "cannot read the secret $file"
	url="$(<"$file")"
	url="${url%%$'\n'*}"
	local re='^postgres(ql)?://([^:@/]+):([^@]+)@[^@/?#]+/([^/?#]+)([?].*)?$'
	[[ "$url" =~ $re ]] ||
		fail "$1 must be postgresql://$role:PASSWORD@HOST:PORT/$db"
	[[ "${BASH_REMATCH[2]}${BASH_REMATCH[3]}" != *\\* ]] ||
		fail "$1: write a backslash in the URL as %5C"
	user="$(printf '%b' "${BASH_REMATCH[2]//%/\\x}")"
	pw="$(printf '%b' "${BASH_REMATCH[3]//%/\\x}")"
	[[ "$user" == "$role" ]] || fail "$1 must name the role $role"
	[[ "${BASH_REMATCH[4]}" == "$db" ]] || fail "$1 must name the database $db"
	((${#pw} >= 16)) || fail "the password in $1 is shorter than 16 characters"
	printf '%s' "$pw"
}

MICROCORE_AUTH_PW="$(password_of auth_database_url auth_svc authdb)"
MICROCORE_USER_PW="$(password_of user_database_url user_svc apidb)"
MICROCORE_ADMIN_PW="$(password_of admin_database_url admin_svc admindb)"
export MICROCORE_AUTH_PW MICROCORE_USER_PW MICROCORE_ADMIN_PW

# The passwords reach psql through its environment (\getenv), never its
# command line, and are quoted by psql (:'var').
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-${PGUSER:-postgres}}" \
	--dbname postgres <<'SQL'
\getenv auth_pw MICROCORE_AUTH_PW
\getenv user_pw MICROCORE_USER_PW
\getenv admin_pw MICROCORE_ADMIN_PW

CREATE ROLE auth_svc LOGIN PASSWORD :'auth_pw';
CREATE ROLE user_svc LOGIN PASSWORD :'user_pw';
CREATE ROLE admin_svc LOGIN PASSWORD :'admin_pw';

-- svc-admin's sessions SET ROLE to this one; its migration grants it the
-- audit log's SELECT and INSERT only. Made here so that admin_svc needs
-- neither superuser nor CREATEROLE.
CREATE ROLE microcore_admin_app NOLOGIN;
GRANT microcore_admin_app TO admin_svc;

-- A managed server's admin role is no superuser; to create a database owned
-- by another role it must be a member of that role (PostgreSQL 15).
SELECT NOT rolsuper AS not_superuser FROM pg_roles
WHERE rolname = current_user \gset
\if :not_superuser
GRANT auth_svc, user_svc, admin_svc TO CURRENT_USER;
\endif

-- Each service owns its database and applies its own migrations.
CREATE DATABASE authdb OWNER auth_svc;
CREATE DATABASE apidb OWNER user_svc;
CREATE DATABASE admindb OWNER admin_svc;

REVOKE ALL ON DATABASE authdb, apidb, admindb, postgres FROM PUBLIC;
SQL

unset MICROCORE_AUTH_PW MICROCORE_USER_PW MICROCORE_ADMIN_PW
printf 'microcore init: created authdb, apidb, admindb and their roles\n'
