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
#   rpc_ca, rpc_crl      the RPC transport's CA certificate and its
#                        revocation list
#   NAME_tls_crt/_key    the certificate and key of each identity (edge,
#                        svc_auth, svc_user, svc_admin) for mutual TLS
#
# A file that exists already is kept: running it again fills in what is
# missing and never changes a secret in use. The directory is private to its
# owner; the files in it are readable by all, because compose mounts them
# into the containers with these modes and the containers run as users of
# their own (postgres, uid 10001). Usage: make-secrets.sh [DIR]
#
# The certificates are the exception: DIR/pki is the CA of
# scripts/certs.sh (its key never leaves that directory, no container
# mounts it), and each run renews the certificates that end within 30 days
# and the revocation list when older than a week, then copies what changed
# over the files compose mounts, in place (key before certificate): the
# mounts are of those very files, so running containers see the renewal and
# take it within RPC_TLS_RELOAD_S (10 s). Run it weekly (cron).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
dir="${1:-$here/secrets}"

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

# publish SOURCE NAME: the secret NAME holds SOURCE's bytes. An existing
# file is overwritten in place (never replaced by another file), because a
# running container's bind mount stays on the file it was given.
publish() {
	local file="$dir/$2"
	if [[ -f "$file" ]] && cmp -s "$1" "$file"; then
		printf 'kept    %s\n' "$file"
	elif [[ -f "$file" ]]; then
		cat "$1" >"$file"
		printf 'renewed %s\n' "$file"
	else
		(umask 022 && cat "$1" >"$file.tmp")
		mv "$file.tmp" "$file"
		printf 'created %s\n' "$file"
	fi
	chmod 644 "$file"
}

"$here/../../scripts/certs.sh" init "$dir/pki" >/dev/null
publish "$dir/pki/ca.crt" rpc_ca
publish "$dir/pki/crl.pem" rpc_crl
for id in edge svc-auth svc-user svc-admin; do
	publish "$dir/pki/$id.key" "${id//-/_}_tls_key"
	publish "$dir/pki/$id.crt" "${id//-/_}_tls_crt"
done
