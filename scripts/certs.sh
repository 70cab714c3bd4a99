#!/usr/bin/env bash
# The private CA of the RPC transport: a CA and one certificate per service
# identity (the certificate's commonName is the identity the peer sees).
#
# Usage: scripts/certs.sh init DIR
#        scripts/certs.sh issue DIR NAME [--days N] [--not-before T --not-after T]
#        scripts/certs.sh revoke DIR NAME
#        scripts/certs.sh crl DIR
#
#   init    makes DIR (mode 700) with ca.crt/ca.key when missing (10 years),
#           and, for each identity (edge svc-auth svc-user svc-admin ops),
#           NAME.crt/NAME.key when missing or expiring within 30 days (90
#           days); writes an empty crl.pem when there is none or it is older
#           than a week. Idempotent; prints what it made.
#   issue   a new key and certificate for NAME from DIR's CA (90 days, or
#           --days N; --not-before/--not-after take YYYYMMDDHHMMSSZ, e.g. to
#           make an expired certificate for a test).
#   revoke  revokes NAME's current certificate and rewrites DIR/crl.pem.
#   crl     rewrites DIR/crl.pem (valid 90 days: mbed TLS refuses every
#           handshake once the CRL in use has lapsed, so renew it, e.g. with
#           init, which rewrites it when it is over a week old).
#
# NAME is lower-case letters, digits and dashes. Certificates are ECDSA
# P-256 with subjectAltName DNS:NAME and DNS:localhost (tools such as nngcat
# then dial by name) and extendedKeyUsage serverAuth+clientAuth. Files are
# replaced by rename, key before certificate: a process that polls them and
# reads the new key beside the old certificate sees a mismatch, keeps its
# credentials and takes the new pair at its next poll. Keys are 0600. DIR/.ca/ keeps the CA's
# database (what was issued and revoked). Needs Debian's openssl.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDENTITIES=(edge svc-auth svc-user svc-admin ops)
CA_DAYS=3650
LEAF_DAYS=90
RENEW_BEFORE_S=$((30 * 24 * 3600))

command -v openssl >/dev/null || die "openssl is not installed (apt-get install openssl)"

# write_config DIR: the openssl ca configuration of DIR's CA. Paths come
# from the environment so that DIR may hold any character.
write_config() {
	local db="$1/.ca"
	mkdir -p "$db/newcerts"
	[[ -f "$db/index.txt" ]] || : >"$db/index.txt"
	[[ -f "$db/index.txt.attr" ]] || echo 'unique_subject = no' >"$db/index.txt.attr"
	[[ -f "$db/serial" ]] || openssl rand -hex 16 >"$db/serial"
	[[ -f "$db/crlnumber" ]] || echo 01 >"$db/crlnumber"
	cat >"$db/openssl.cnf" <<'EOF'
[ ca ]
default_ca = ca_default

[ ca_default ]
dir = $ENV::CERTS_DIR
database = $dir/.ca/index.txt
new_certs_dir = $dir/.ca/newcerts
serial = $dir/.ca/serial
crlnumber = $dir/.ca/crlnumber
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
default_days = 90
default_crl_days = 90
policy = policy_cn
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_cn ]
commonName = supplied

[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::CERTS_SAN
EOF
}

check_name() {
	[[ "$1" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "bad identity name: '$1' (lower-case letters, digits, dashes)"
}

make_ca() {
	local dir="$1"
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$dir/ca.key.tmp" 2>/dev/null)
	openssl req -x509 -new -key "$dir/ca.key.tmp" -sha256 -days "$CA_DAYS" \
		-subj "/CN=microcore RPC CA $(openssl rand -hex 4)" \
		-addext 'basicConstraints=critical,CA:TRUE' \
		-addext 'keyUsage=critical,keyCertSign,cRLSign' \
		-addext 'subjectKeyIdentifier=hash' \
		-out "$dir/ca.crt.tmp"
	mv "$dir/ca.key.tmp" "$dir/ca.key"
	mv "$dir/ca.crt.tmp" "$dir/ca.crt"
	echo "made $dir/ca.crt (CA, $CA_DAYS days)"
}

# issue DIR NAME [openssl ca date options...]
issue() {
	local dir="$1" name="$2"
	shift 2
	[[ -f "$dir/ca.crt" && -f "$dir/ca.key" ]] || die "$dir has no CA (run: $0 init $dir)"
	write_config "$dir"
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$dir/$name.key.tmp" 2>/dev/null)
	openssl req -new -key "$dir/$name.key.tmp" -subj "/CN=$name" -out "$dir/.ca/$name.csr"
	if ! CERTS_DIR="$dir" CERTS_SAN="DNS:$name,DNS:localhost" openssl ca -batch -notext \
		-config "$dir/.ca/openssl.cnf" -extensions leaf "$@" \
		-in "$dir/.ca/$name.csr" -out "$dir/$name.crt.tmp" 2>"$dir/.ca/last-error"; then
		cat "$dir/.ca/last-error" >&2
		rm -f "$dir/$name.key.tmp" "$dir/$name.crt.tmp"
		die "openssl ca failed to issue $name"
	fi
	rm -f "$dir/.ca/$name.csr"
	chmod 600 "$dir/$name.key.tmp"
	chmod 644 "$dir/$name.crt.tmp"
	mv "$dir/$name.key.tmp" "$dir/$name.key"
	mv "$dir/$name.crt.tmp" "$dir/$name.crt"
	echo "made $dir/$name.crt ($(openssl x509 -in "$dir/$name.crt" -noout -enddate))"
}

gencrl() {
	local dir="$1"
	write_config "$dir"
	CERTS_DIR="$dir" CERTS_SAN="DNS:unused" openssl ca -gencrl -config "$dir/.ca/openssl.cnf" \
		-out "$dir/crl.pem.tmp" 2>"$dir/.ca/last-error" ||
		{
			cat "$dir/.ca/last-error" >&2
			die "openssl ca failed to write the CRL"
		}
	chmod 644 "$dir/crl.pem.tmp"
	mv "$dir/crl.pem.tmp" "$dir/crl.pem"
	echo "made $dir/crl.pem"
}

cmd_init() {
	local dir="$1" name
	mkdir -p "$dir"
	chmod 700 "$dir"
	dir="$(cd "$dir" && pwd -P)"
	if [[ ! -f "$dir/ca.crt" || ! -f "$dir/ca.key" ]]; then
		make_ca "$dir"
	fi
	write_config "$dir"
	for name in "${IDENTITIES[@]}"; do
		if [[ -f "$dir/$name.crt" && -f "$dir/$name.key" ]] &&
			openssl x509 -in "$dir/$name.crt" -noout -checkend "$RENEW_BEFORE_S" >/dev/null; then
			continue
		fi
		issue "$dir" "$name" -days "$LEAF_DAYS"
	done
	if [[ ! -f "$dir/crl.pem" ]] || [[ -n "$(find "$dir/crl.pem" -mtime +7)" ]]; then
		gencrl "$dir"
	fi
}

cmd_issue() {
	local dir="$1" name="$2"
	shift 2
	local opts=(-days "$LEAF_DAYS")
	while (($# > 0)); do
		case "$1" in
		--days)
			{ (($# >= 2)) && [[ "$2" =~ ^[0-9]+$ ]]; } || usage_error "--days needs a number"
			opts=(-days "$2")
			shift
			;;
		--not-before)
			{ (($# >= 2)) && [[ "$2" =~ ^[0-9]{14}Z$ ]]; } || usage_error "--not-before needs YYYYMMDDHHMMSSZ"
			opts+=(-startdate "$2")
			shift
			;;
		--not-after)
			{ (($# >= 2)) && [[ "$2" =~ ^[0-9]{14}Z$ ]]; } || usage_error "--not-after needs YYYYMMDDHHMMSSZ"
			opts+=(-enddate "$2")
			shift
			;;
		*) usage_error "unknown option: $1" ;;
		esac
		shift
	done
	issue "$dir" "$name" "${opts[@]}"
}

cmd_revoke() {
	local dir="$1" name="$2"
	[[ -f "$dir/$name.crt" ]] || die "$dir/$name.crt does not exist"
	write_config "$dir"
	CERTS_DIR="$dir" CERTS_SAN="DNS:unused" openssl ca -config "$dir/.ca/openssl.cnf" \
		-revoke "$dir/$name.crt" 2>"$dir/.ca/last-error" ||
		{
			cat "$dir/.ca/last-error" >&2
			die "openssl ca failed to revoke $name"
		}
	echo "revoked $dir/$name.crt (serial $(openssl x509 -in "$dir/$name.crt" -noout -serial | cut -d= -f2))"
	gencrl "$dir"
}

(($# >= 1)) || usage_error "missing command"
case "$1" in
-h | --help) show_help ;;
init)
	(($# == 2)) || usage_error "usage: init DIR"
	cmd_init "$2"
	;;
issue | revoke)
	(($# >= 3)) || usage_error "usage: $1 DIR NAME"
	[[ -d "$2" ]] || die "$2 is not a directory (run: $0 init $2)"
	check_name "$3"
	d="$(cd "$2" && pwd -P)"
	c="$1"
	n="$3"
	shift 3
	if [[ "$c" == issue ]]; then
		cmd_issue "$d" "$n" "$@"
	else
		(($# == 0)) || usage_error "revoke takes no options"
		cmd_revoke "$d" "$n"
	fi
	;;
crl)
	(($# == 2)) || usage_error "usage: crl DIR"
	[[ -d "$2" ]] || die "$2 is not a directory"
	gencrl "$(cd "$2" && pwd -P)"
	;;
*) usage_error "unknown command: $1" ;;
esac
