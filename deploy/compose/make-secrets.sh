#!/usr/bin/env bash
# Makes the secrets compose.yaml mounts, with fresh random values, in
# deploy/compose/secrets/ (or the directory given):
#
#   postgres_password    the PostgreSQL superuser's password
#   auth_kek             svc-auth's key-encryption key: 32 random bytes, base64
#   auth_database_url    postgresql://auth_svc:<password>@postgres:5432/authdb
#   user_database_url    postgresql://user_svc:<password>@postgres:5432/apidb
#   admin_database_url   postgresql://admin_svc:<password>@postgres:5432/admindb
#   auth_smtp_password   empty: the SMTP relay's password is the relay's to
#                        give; write it here when svc-auth logs in to one
#                        (AUTH_SMTP_USER, AUTH_SMTP_PASSWORD_FILE)
#
# A file that exists already is kept: running it again fills in what is
# missing and never changes a secret in use. The directory is private to its
# owner; the files in it are readable by all, because compose mounts them
# into the containers with these modes and the containers run as users of
# their own (postgres, uid 10001). Usage: make-secrets.sh [DIR]
set -euo pipefail

dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/secrets}"

mkdir -p "$dir"
chmod 700 "$dir"

# hex BYTES: that many random bytes as hex (URL-safe, no encoding needed).
hex() {
	od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

# put NAME VALUE: writes the secret NAME unless it exists (an empty VALUE
# makes an empty file, for the operator to fill).
put() {
	local file="$dir/$1"
	if [[ -s "$file" || (-z "$2" && -e "$file") ]]; then
		printf 'kept    %s\n' "$file"
		return 0
	fi
	if [[ -z "$2" ]]; then
		(umask 022 && : >"$file.tmp")
	else
		(umask 022 && printf '%s\n' "$2" >"$file.tmp")
	fi
	mv "$file.tmp" "$file"
	printf 'created %s\n' "$file"
}

put postgres_password "$(hex 24)"
put auth_kek "$(head -c 32 /dev/urandom | base64)"
put auth_database_url "postgresql://auth_svc:$(hex 24)@postgres:5432/authdb"
put user_database_url "postgresql://user_svc:$(hex 24)@postgres:5432/apidb"
put admin_database_url "postgresql://admin_svc:$(hex 24)@postgres:5432/admindb"
put auth_smtp_password ""
