#!/usr/bin/env bash
# The deployment files at run time, as far as a machine without a container
# engine allows: compose.yaml's containers run as local processes of this
# build, with the environment, secrets and health checks that
# `docker-compose config` resolves (addresses mapped to local ports), against
# a throwaway PostgreSQL set up by deploy/compose/make-secrets.sh and
# postgres-init.sh (password authentication on) and a throwaway Redis.
#
# Proves: each service's role reaches its own database only and suffices to
# migrate and serve; secrets are read through NAME_FILE and never logged;
# every compose health check passes once the stack is up; register, login,
# profile and the admin API work through the edge; svc-auth's mail settings
# from an operator's .env reach it: a registration's verification mail goes
# out to an SMTP relay that wants a login (tests/deploy/smtp_relay.py),
# with the password of the secret auth_smtp_password, from AUTH_MAIL_FROM,
# its link at AUTH_PUBLIC_BASE_URL verifies the address through the edge,
# and neither the password nor the link is logged; every process serves
# its metrics on compose's METRICS_LISTEN and counts the calls, and a
# Prometheus with deploy/observability's configuration and rules scrapes
# each under its job and raises the alerts of a Redis outage and of stopped
# processes; svc-admin's roles cannot change the audit log; the Kubernetes probes mean what they say (readiness
# fails and liveness holds while Redis is down); every RPC connection is
# mutual TLS with the certificates make-secrets.sh issues, a client without
# a certificate is refused, and a certificate make-secrets.sh renews reaches
# the running service through the very file compose mounts; SIGTERM stops
# every process with status 0. Its own PostgreSQL cluster, because roles belong
# to a whole cluster.
# Usage: runtime.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd -P)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
install_cleanup_traps
python=/usr/bin/python3

passed=0
failed=0
check() { # NAME COMMAND...
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $name" >&2
	fi
}
fails() { ! "$@"; }
kill_quietly() { kill -TERM "$1" 2>/dev/null || true; }

# Under /tmp with an explicit template: the postgres user must reach it.
work="$(mktemp -d /tmp/microcore-deploy.XXXXXX)"
chmod 755 "$work"
add_cleanup rm -rf "$work"

# ---------------------------------------------------------------------------
# PostgreSQL as compose's init script leaves it

port="$(free_port)"
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$port" --fast >/dev/null
PATH="$(pg_bindir):$PATH"
# As in the postgres image: every role but the superuser with its password.
printf '%s\n' 'host all postgres 127.0.0.1/32 trust' \
	'host all all 127.0.0.1/32 scram-sha-256' |
	_as_pg tee "$work/pg/pg_hba.conf" >/dev/null
pg_psql "$port" -d postgres -c 'SELECT pg_reload_conf()' >/dev/null

"$ROOT/deploy/compose/make-secrets.sh" "$work/secrets" >/dev/null
for s in postgres_password auth_kek auth_database_url user_database_url admin_database_url; do
	check "make-secrets made $s" test -s "$work/secrets/$s"
done
check "make-secrets made auth_smtp_password, empty for the operator to fill" \
	test -f "$work/secrets/auth_smtp_password" -a ! -s "$work/secrets/auth_smtp_password"
check "the KEK is 32 bytes of base64" \
	test "$(base64 -d "$work/secrets/auth_kek" | wc -c)" = 32
check "the secrets directory is private" \
	test "$(stat -c %a "$work/secrets")" = 700
for s in rpc_ca rpc_crl edge_tls_crt edge_tls_key svc_auth_tls_crt svc_auth_tls_key \
	svc_user_tls_crt svc_user_tls_key svc_admin_tls_crt svc_admin_tls_key; do
	check "make-secrets made $s" test -s "$work/secrets/$s"
done
subject_of() { openssl x509 -noout -subject -nameopt RFC2253 -in "$1"; }
check "svc_user_tls_crt names the identity svc-user" \
	test "$(subject_of "$work/secrets/svc_user_tls_crt")" = "subject=CN=svc-user"
check "and is signed by rpc_ca" \
	openssl verify -CAfile "$work/secrets/rpc_ca" "$work/secrets/svc_user_tls_crt"
check "the CA's key stays in pki/, private" \
	test "$(stat -c %a "$work/secrets/pki/ca.key")" = 600
check "and is no compose secret" \
	fails grep -qF -e "$(sed -n 2p "$work/secrets/pki/ca.key")" "$work/secrets/"*_tls_key

run_init() { # SECRETS_DIR
	PGHOST=127.0.0.1 PGPORT="$port" POSTGRES_USER=postgres \
		MICROCORE_SECRETS_DIR="$1" bash "$ROOT/deploy/compose/postgres-init.sh"
}
password_in() { sed -E 's|^[^:]+://[^:]+:([^@]+)@.*|\1|' "$1"; }

# A URL that names another role is refused before anything is created, and
# the message does not repeat the URL.
mkdir -p "$work/bad"
cp -r "$work/secrets/"* "$work/bad/"
sed -i 's|^postgresql://auth_svc:|postgresql://user_svc:|' "$work/bad/auth_database_url"
check "init refuses a URL naming the wrong role" fails run_init "$work/bad" 2>"$work/bad.err"
check "the refusal says why" grep -q 'must name the role auth_svc' "$work/bad.err"
check "the refusal does not show the password" \
	fails grep -qF -e "$(password_in "$work/bad/auth_database_url")" "$work/bad.err"

# On a managed server the script runs as the provider's admin role, which
# has CREATEROLE and CREATEDB but is no superuser.
pg_psql "$port" -d postgres -c "CREATE ROLE cloudadmin LOGIN CREATEROLE CREATEDB PASSWORD 'cloudadmin-password'"
check "init works as a managed server's admin role (no superuser)" \
	env PGHOST=127.0.0.1 PGPORT="$port" PGUSER=cloudadmin PGPASSWORD=cloudadmin-password \
	MICROCORE_SECRETS_DIR="$work/secrets" bash "$ROOT/deploy/compose/postgres-init.sh" >/dev/null 2>&1
check "and the databases belong to the services' roles" \
	test "$(pg_psql "$port" -d postgres -tA -c "SELECT string_agg(datname || '=' || pg_get_userbyid(datdba), ' ' ORDER BY datname)
		FROM pg_database WHERE datname IN ('authdb', 'apidb', 'admindb')")" = \
	"admindb=admin_svc apidb=user_svc authdb=auth_svc"
for db in authdb apidb admindb; do
	pg_psql "$port" -d postgres -c "DROP DATABASE $db"
done
pg_psql "$port" -d postgres -c "DROP ROLE auth_svc, user_svc, admin_svc, microcore_admin_app, cloudadmin"

# As the postgres image runs it: as the superuser.
check "init creates the databases and roles" run_init "$work/secrets" >/dev/null

# The secrets as the processes read them: the URLs point at this server
# instead of the host "postgres".
mkdir -p "$work/local"
chmod 700 "$work/local"
cp "$work/secrets/auth_kek" "$work/local/"
# The certificates as they are: symbolic links, so that a renewal by
# make-secrets.sh reaches the processes as it reaches a container's bind
# mount.
for f in "$work/secrets/"rpc_* "$work/secrets/"*_tls_*; do
	ln -s "$f" "$work/local/"
done
# The operator writes the SMTP relay's password into its secret.
smtp_user=microcore-mailer
smtp_password="relay-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$smtp_password" >"$work/secrets/auth_smtp_password"
cp "$work/secrets/auth_smtp_password" "$work/local/"
for s in auth user admin; do
	sed "s|@postgres:5432/|@127.0.0.1:$port/|" "$work/secrets/${s}_database_url" \
		>"$work/local/${s}_database_url"
done
url() { cat "$work/local/$1_database_url"; }
other_db() { printf '%s/%s' "${1%/*}" "$2"; } # URL DB
can_connect() { psql -X -q -tA -v ON_ERROR_STOP=1 "$1" -c 'SELECT 1' >/dev/null 2>&1; }
sql_as() { # URL SQL...: statements in one session, stopping at the first error
	local u=$1 s args=()
	shift
	for s in "$@"; do args+=(-c "$s"); done
	psql -X -q -tA -v ON_ERROR_STOP=1 "$u" "${args[@]}" 2>>"$work/sql.err"
}

check "auth_svc reaches authdb" can_connect "$(url auth)"
check "user_svc reaches apidb" can_connect "$(url user)"
check "admin_svc reaches admindb" can_connect "$(url admin)"
for db in apidb admindb postgres; do
	check "auth_svc cannot connect to $db" fails can_connect "$(other_db "$(url auth)" $db)"
done
for db in authdb admindb postgres; do
	check "user_svc cannot connect to $db" fails can_connect "$(other_db "$(url user)" $db)"
done
for db in authdb apidb postgres; do
	check "admin_svc cannot connect to $db" fails can_connect "$(other_db "$(url admin)" $db)"
done
check "a wrong password is refused" \
	fails can_connect "postgresql://auth_svc:not-the-password@127.0.0.1:$port/authdb"
check "no service role is a superuser or may create roles or databases" \
	test "$(pg_psql "$port" -d postgres -tA -c "SELECT count(*) FROM pg_roles
		WHERE rolname IN ('auth_svc','user_svc','admin_svc')
		AND NOT rolsuper AND NOT rolcreaterole AND NOT rolcreatedb")" = 3

# ---------------------------------------------------------------------------
# compose.yaml's services as processes

redis_port="$(free_port "$port")"
add_cleanup redis_stop "$redis_port" "$work/redis"
redis_start "$work/redis" "$redis_port" >/dev/null

# The SMTP relay: it takes mail only from a client that logs in with the
# secret's password. svc-auth reaches it on loopback, as it would a relay
# beside it in its network namespace (a container's 127.0.0.1).
smtp_port="$(free_port "$port" "$redis_port")"
"$python" "$here/smtp_relay.py" --port "$smtp_port" --dir "$work/mail" \
	--user "$smtp_user" --password-file "$work/secrets/auth_smtp_password" \
	>"$work/relay.log" 2>&1 &
add_cleanup kill_quietly "$!"
relay_up() { (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null; }
for ((i = 0; i < 100; i++)); do
	relay_up && break
	sleep 0.1
done
check "the SMTP relay is up" relay_up
printf 'Subject: test\r\n\r\ntest\r\n' >"$work/test.eml"
relay_send() { # [USER:PASSWORD]: curl sends a mail to the relay
	curl -sS --max-time 5 "smtp://127.0.0.1:$smtp_port" ${1:+--user "$1"} \
		--mail-from test@example.test --mail-rcpt test@example.test \
		-T "$work/test.eml" >/dev/null 2>&1
}
check "the relay refuses mail without a login" fails relay_send
check "and with a wrong password" fails relay_send "$smtp_user:not-the-password"
check "and takes it with the secret's" relay_send "$smtp_user:$smtp_password"
rm -f "$work/mail/"*.eml
relay_seen=$(wc -l <"$work/relay.log") # what svc-auth does comes after

# What an operator's .env beside compose.yaml says about mail.
cat >"$work/operator.env" <<ENV
AUTH_SMTP_URL=smtp://127.0.0.1:$smtp_port
AUTH_SMTP_USER=$smtp_user
AUTH_SMTP_PASSWORD_FILE=/run/secrets/auth_smtp_password
AUTH_MAIL_FROM=no-reply@deploy.example.test
AUTH_PUBLIC_BASE_URL=https://deploy.example.test
AUTH_MAIL_POLL_MS=200
ENV
env -i PATH="$PATH" HOME="${HOME:-/tmp}" docker-compose --env-file "$work/operator.env" \
	-f "$ROOT/compose.yaml" --project-directory "$ROOT" config >"$work/compose.yaml"
names=(svc-auth svc-user-1 svc-user-2 svc-admin edge)
declare -A addr=() metrics=()
taken=("$port" "$redis_port" "$smtp_port")
for n in "${names[@]}"; do
	p="$(free_port "${taken[@]}")"
	taken+=("$p")
	addr[$n]="127.0.0.1:$p"
	# Each process's metrics listener (METRICS_LISTEN) on a port of its own.
	p="$(free_port "${taken[@]}")"
	taken+=("$p")
	metrics[$n]="127.0.0.1:$p"
done
maps=(redis="127.0.0.1:$redis_port")
for n in "${names[@]}"; do maps+=("$n=${addr[$n]}" "$n.metrics=${metrics[$n]}"); done
"$python" "$here/compose_local.py" "$work/compose.yaml" "$ROOT/deploy/k8s" \
	"$work/svc" "$build" "$work/local" "${maps[@]}"

# A health check or an exec probe runs in its container's environment
# (rpcctl there presents the container's own certificate).
healthy() { # NAME: runs its compose health check
	local h e
	mapfile -d '' -t h <"$work/svc/$1.health"
	mapfile -t e <"$work/svc/$1.env"
	env -i PATH="$PATH" "${e[@]}" timeout 10 "${h[@]}" >"$work/$1.health.out" 2>&1
}
probe() { # DEPLOYMENT readiness|liveness: runs that Kubernetes probe
	local f="$work/svc/k8s-$1-$2" h e local=$1
	[[ -f "$work/svc/$local.env" ]] || local=$1-1
	if [[ -f "$f.url" ]]; then
		curl -fsS --max-time 5 -o /dev/null "$(<"$f.url")" 2>/dev/null
	else
		mapfile -d '' -t h <"$f.probe"
		mapfile -t e <"$work/svc/$local.env"
		env -i PATH="$PATH" "${e[@]}" timeout 10 "${h[@]}" >/dev/null 2>&1
	fi
}
declare -A pid=()
start() { # NAME: starts it with compose's command and environment
	local n=$1 e
	mapfile -t e <"$work/svc/$n.env"
	env -i PATH="$PATH" "${e[@]}" "$(<"$work/svc/$n.cmd")" 2>"$work/$n.log" &
	pid[$n]=$!
	add_cleanup kill_quietly "$!"
}
wait_healthy() { # NAME
	# At most 60 s in all (each check may take its own timeout), so that a
	# service that never gets healthy fails here, with its log, and not at
	# the test's timeout.
	local rc=0 end=$((SECONDS + 60))
	while ((SECONDS < end)); do
		rc=0
		healthy "$1" || rc=$?
		((rc == 0)) && return 0
		pid_alive "${pid[$1]}" || { echo "$1 is no longer running" >&2; break; }
		sleep 0.2
	done
	tail -n 20 "$work/$1.log" >&2
	echo "its last health check said (exit $rc):" >&2
	cat "$work/$1.health.out" >&2
	return 1
}

# In compose's order: each waits for what it depends on to be healthy.
for n in "${names[@]}"; do
	start "$n"
	check "$n passes its compose health check" wait_healthy "$n"
done
for n in svc-auth svc-user-1 svc-admin; do
	var="$(grep -o '^[A-Z]*_DATABASE_URL_FILE' "$work/svc/$n.env")"
	check "$n logs where $var points" \
		grep -q "\"$var\":\"$work/local/" "$work/$n.log"
	check "$n never logs its database password" \
		fails grep -qF -e "$(password_in "$(sed -n "s/^$var=//p" "$work/svc/$n.env")")" "$work/$n.log"
done
check "svc-auth never logs the KEK" fails grep -qF -e "$(<"$work/local/auth_kek")" "$work/svc-auth.log"
check "svc-auth logs where AUTH_SMTP_PASSWORD_FILE points" \
	grep -q "\"AUTH_SMTP_PASSWORD_FILE\":\"$work/local/auth_smtp_password\"" "$work/svc-auth.log"

# Mutual TLS: a client without a certificate of the CA is refused; the
# edge's certificate is accepted (Health takes any identity).
rpcctl="$build/cli/rpcctl"
tls_health() { # [RPCCTL OPTIONS...]: health of svc-user-1 with these credentials
	env -i PATH="$PATH" HOME="$work" timeout 10 "$rpcctl" --service user \
		--url "tls+tcp://${addr[svc-user-1]}" --timeout 2000 "$@" health >/dev/null 2>&1
}
handshake() { # [CERT KEY]: a TLS handshake with svc-user-1 (openssl)
	openssl s_client -connect "${addr[svc-user-1]}" -servername svc-user \
		-CAfile "$work/secrets/rpc_ca" -verify_return_error \
		${1:+-cert "$1" -key "$2"} </dev/null >/dev/null 2>&1
}
check "a client with the edge's certificate is served" \
	tls_health --cacert "$work/secrets/rpc_ca" \
	--cert "$work/secrets/edge_tls_crt" --key "$work/secrets/edge_tls_key"
check "plain tcp:// to a TLS port gets nothing" \
	fails env -i PATH="$PATH" HOME="$work" timeout 10 "$rpcctl" --service user \
	--url "tcp://${addr[svc-user-1]}" --timeout 2000 health >/dev/null 2>&1
check "a TLS client without a certificate is refused" fails handshake
check "  one with the edge's certificate is not" \
	handshake "$work/secrets/edge_tls_crt" "$work/secrets/edge_tls_key"
# openssl hangs up right after the handshake, before any call: the service
# must go on serving the others.
check "  and its hanging up leaves svc-user serving" \
	tls_health --cacert "$work/secrets/rpc_ca" \
	--cert "$work/secrets/edge_tls_crt" --key "$work/secrets/edge_tls_key"

# Renewal: make-secrets.sh renews a certificate in the file compose
# mounts, and the running svc-user presents it to its next caller.
presented_serial() { # the serial of the certificate svc-user-1 presents
	openssl s_client -connect "${addr[svc-user-1]}" -servername svc-user \
		-CAfile "$work/secrets/rpc_ca" -cert "$work/secrets/edge_tls_crt" \
		-key "$work/secrets/edge_tls_key" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null
}
file_serial() { openssl x509 -noout -serial -in "$work/secrets/svc_user_tls_crt"; }
old_serial="$(file_serial)"
old_inode="$(stat -c %i "$work/secrets/svc_user_tls_crt")"
check "svc-user presents the certificate of its secret" test "$(presented_serial)" = "$old_serial"
# Due for renewal: 20 days left (make-secrets.sh renews within 30).
"$ROOT/scripts/certs.sh" issue "$work/secrets/pki" svc-user --days 20 >/dev/null
"$ROOT/deploy/compose/make-secrets.sh" "$work/secrets" >"$work/renew.out"
check "make-secrets.sh renews the certificate that is due" \
	grep -qx "renewed $work/secrets/svc_user_tls_crt" "$work/renew.out"
check "  and keeps the others" grep -qx "kept    $work/secrets/edge_tls_crt" "$work/renew.out"
check "  in the same file (a bind mount stays on its file)" \
	test "$(stat -c %i "$work/secrets/svc_user_tls_crt")" = "$old_inode"
new_serial="$(file_serial)"
renewed() { # true once svc-user-1 presents the renewed certificate (15 s)
	local i
	for ((i = 0; i < 30; i++)); do
		[[ "$(presented_serial)" == "$new_serial" ]] && return 0
		sleep 0.5
	done
	return 1
}
check "the running svc-user presents the renewed certificate" renewed
check "  and passes its health check with it" healthy svc-user-1

# Real calls through the edge: each service works with its own role.
base="http://${addr[edge]}"
json() { curl -sS --max-time 10 -H 'Content-Type: application/json' "$@"; }
code=$(json -o /dev/null -w '%{http_code}' -X POST "$base/register" \
	-d '{"username":"ada","email":"ada@example.com","password":"correct horse battery"}')
check "register through the edge (authdb as auth_svc)" test "$code" = 201

# Its verification mail, through the relay.
mail_for() { # ADDRESS: waits up to 15 s for a mail to ADDRESS, prints its file
	local f i
	for ((i = 0; i < 150; i++)); do
		f=$(grep -l "^To: <$1>" "$work/mail/"*.eml 2>/dev/null | tail -n1 || true)
		[[ -n $f ]] && {
			echo "$f"
			return 0
		}
		sleep 0.1
	done
	return 1
}
mail="$(mail_for ada@example.com)" || mail=/dev/null
check "ada's verification mail reaches the SMTP relay" test "$mail" != /dev/null
check "  svc-auth logged in as AUTH_SMTP_USER with the secret's password" \
	grep -qx "auth ok $smtp_user" <(tail -n +$((relay_seen + 1)) "$work/relay.log")
check "  the mail is from AUTH_MAIL_FROM" grep -q '^From: <no-reply@deploy.example.test>' "$mail"
link="$(grep -o 'https://deploy.example.test/#/verify-email?token=[A-Za-z0-9_-]\{43\}' "$mail" | head -n1 || true)"
check "  its link is at AUTH_PUBLIC_BASE_URL" test -n "$link"
mail_token="${link##*token=}"
code=$(json -o /dev/null -w '%{http_code}' -X POST "$base/email/verify" -d "{\"token\":\"$mail_token\"}")
check "  and verifies ada's address through the edge" test "$code" = 200
check "svc-auth never logs the SMTP password" fails grep -qF -e "$smtp_password" "$work/svc-auth.log"
check "nor the link's token" fails grep -qF -e "${mail_token:-no token}" "$work/svc-auth.log"
login() {
	json -X POST "$base/login" -d '{"username":"ada","password":"correct horse battery"}' |
		"$python" -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))'
}
token="$(login)"
check "login through the edge" test -n "$token"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/profile")
check "profile through the edge (apidb as user_svc, Redis)" test "$code" = 200
# The first admin, as docs/operations.md tells it for a container: the URL
# from the secret file, since promote-admin reads AUTH_DATABASE_URL itself.
check "promote-admin with the URL from the secret file" \
	env -i PATH="$PATH" AUTH_DATABASE_URL="$(<"$work/local/auth_database_url")" \
	"$build/svc-auth/svc-auth" promote-admin ada >/dev/null
token="$(login)"
code=$(curl -sS --max-time 10 -o "$work/users.json" -w '%{http_code}' \
	-H "Authorization: Bearer $token" "$base/admin/users")
check "admin API through the edge (admindb as microcore_admin_app)" test "$code" = 200
check "the admin call is in the audit log" \
	test "$(sql_as "$(url admin)" "SELECT count(*) FROM audit_log WHERE action = 'users.list' AND outcome = 'ok'")" = 1

# A wrong password, and an account deleted through the edge (svc-admin,
# then svc-auth, which deletes the profile in svc-user): for the metrics.
code=$(json -o /dev/null -w '%{http_code}' -X POST "$base/login" \
	-d '{"username":"ada","password":"not the password"}')
check "a wrong password is refused through the edge" test "$code" = 401
json -o /dev/null -X POST "$base/register" \
	-d '{"username":"bob","email":"bob@example.com","password":"correct horse battery"}'
bob="$(json -X POST "$base/login" -d '{"username":"bob","password":"correct horse battery"}' |
	"$python" -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))')"
code=$(json -o /dev/null -w '%{http_code}' -X POST "$base/account/delete" \
	-H "Authorization: Bearer $bob" -d '{"current_password":"correct horse battery"}')
check "an account deleted through the edge" test "$code" = 200

# Every process serves its metrics where compose's METRICS_LISTEN puts it
# (the port deploy/observability/prometheus.yml scrapes), as Prometheus
# text that promtool accepts, and the calls above are counted there.
scrape() { # NAME: its metrics into $work/NAME.prom
	curl -fsS --max-time 5 -o "$work/$1.prom" "http://${metrics[$1]}/metrics" 2>/dev/null
}
lint() { # NAME: promtool's check of what NAME served
	[[ -s "$work/$1.prom" ]] && promtool check metrics <"$work/$1.prom" >/dev/null 2>&1
}
for n in "${names[@]}"; do
	check "$n serves GET /metrics on its METRICS_LISTEN" scrape "$n"
	check "  which promtool check metrics accepts" lint "$n"
done
counted() { # NAME PATTERN: a series of NAME's metrics matching PATTERN, above 0
	grep -E "^$2 [0-9.e+]+$" "$work/$1.prom" 2>/dev/null | grep -qvE ' 0$'
}
check "svc-auth counted the login" counted svc-auth \
	'rpc_server_calls_total\{component="svc-auth",method="/auth.v1.AuthService/Login",code="OK"\}'
check "the edge counted its calls to svc-admin" counted edge \
	'rpc_client_calls_total\{component="edge",target="svc-admin",code="OK"\}'
check "svc-auth counted its call to svc-user" counted svc-auth \
	'rpc_client_calls_total\{component="svc-auth",target="svc-user",code="OK"\}'
check "svc-auth counted the wrong password" counted svc-auth \
	'auth_logins_total\{component="svc-auth",outcome="bad_credentials"\}'
# The names the alert rules and the dashboard read (the metric reference of
# docs/operations.md, which check_observability.py holds them to) are the
# ones the processes serve, with the same types.
served() { "$python" "$here/check_observability.py" --served "$ROOT" "$work/"*.prom >&2; }
check "the processes serve every metric of the reference, and no other" served

# Prometheus (Debian's prometheus, promtool's package) with
# deploy/observability's configuration and rules, its targets moved to these
# processes' metrics listeners and every interval 1 s (compose_local.py):
# each process is scraped under the job of its kind, every rule evaluates,
# and the alerts find the real series (below: Redis stopped, the processes
# stopped).
prom_port="$(free_port "${taken[@]}")"
taken+=("$prom_port")
prometheus --config.file="$work/svc/prometheus.yml" --storage.tsdb.path="$work/prom" \
	--web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
add_cleanup kill_quietly "$!"
prom_api() { # PATH [CURL ARGS...]: GET of Prometheus's API
	curl -fsS --max-time 5 "http://127.0.0.1:$prom_port/api/v1/$1" "${@:2}" 2>/dev/null
}
promql() { # CONDITION QUERY: true when CONDITION (Python, on the result list r) holds
	local out
	out=$(prom_api query --data-urlencode "query=$2") || return 1
	"$python" -c 'import json, sys
r = json.loads(sys.argv[2])["data"]["result"]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" "$out"
}
rules_ok() { # every rule evaluated, without error
	local out
	out=$(prom_api rules) || return 1
	"$python" -c 'import json, sys
rules = [x for g in json.loads(sys.argv[1])["data"]["groups"] for x in g["rules"]]
sys.exit(0 if len(rules) >= 10 and all(x["health"] == "ok" for x in rules) else 1)' "$out"
}
within() { # SECONDS COMMAND...: true once COMMAND succeeds
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		"${@:2}" && return 0
		sleep 0.2
	done
	return 1
}
check "Prometheus scrapes every process under the job of its kind" within 20 promql \
	'sorted((s["metric"]["job"], s["value"][1]) for s in r) == [("edge", "1"),
	("svc-admin", "1"), ("svc-auth", "1"), ("svc-user", "1"), ("svc-user", "1")]' up
check "  every alert rule evaluates without error" within 20 rules_ok
check "  and none is pending or firing on the healthy stack" promql 'not r' ALERTS
dashboard() { # the last attempt's report in dashboard.out, shown if none passes
	"$python" "$here/check_observability.py" --queries "$ROOT" \
		"http://127.0.0.1:$prom_port" >"$work/dashboard.out" 2>&1
}
dashboard_ok() { within 20 dashboard || { cat "$work/dashboard.out" >&2 && false; }; }
check "  every query of the Grafana dashboard evaluates, each panel finds series" dashboard_ok

# svc-admin's roles cannot change the audit log.
app="SET ROLE microcore_admin_app"
for stmt in "UPDATE audit_log SET outcome = 'failed'" "DELETE FROM audit_log" \
	"TRUNCATE audit_log"; do
	check "svc-admin's session role cannot: $stmt" fails sql_as "$(url admin)" "$app" "$stmt"
	check "nor can admin_svc itself: $stmt" fails sql_as "$(url admin)" "$stmt"
done
check "the rows are still there" \
	test "$(sql_as "$(url admin)" "$app" "SELECT count(*) FROM audit_log WHERE outcome = 'ok'")" -ge 1

# The Kubernetes probes, pointed at these processes.
for d in svc-auth svc-user svc-admin edge; do
	check "k8s readiness of $d passes" probe "$d" readiness
	check "k8s liveness of $d passes" probe "$d" liveness
done
redis_stop "$redis_port" "$work/redis" >/dev/null 2>&1
eventually_fails() { # COMMAND...: true once COMMAND fails, within 10 s
	local i
	for ((i = 0; i < 50; i++)); do
		"$@" || return 0
		sleep 0.2
	done
	return 1
}
check "without Redis svc-user's k8s readiness fails" eventually_fails probe svc-user readiness
check "but its liveness holds (no restart for a dependency)" probe svc-user liveness
check "and its compose health check fails" fails healthy svc-user-1
check "the edge's k8s readiness fails" eventually_fails probe edge readiness
check "Prometheus: MicrocoreStoreUnavailable pending for svc-user" within 20 promql \
	'any(s["metric"].get("component") == "svc-user" for s in r)' \
	'ALERTS{alertname="MicrocoreStoreUnavailable"}'
check "its liveness holds" probe edge liveness

# SIGTERM stops each process cleanly, callers first.
stopped() { # NAME: SIGTERM, then its exit status must be 0 within 15 s
	local p=${pid[$1]} i
	kill -TERM "$p"
	for ((i = 0; i < 150; i++)); do
		pid_alive "$p" || break
		sleep 0.1
	done
	pid_alive "$p" && return 1
	wait "$p"
}
for n in edge svc-admin svc-user-2 svc-user-1 svc-auth; do
	check "$n exits 0 on SIGTERM" stopped "$n"
done
check "a stopped service fails its k8s liveness probe" fails probe svc-user liveness
check "Prometheus: MicrocoreTargetDown pending for each stopped process" within 20 promql \
	'len(r) == 5' 'ALERTS{alertname="MicrocoreTargetDown"}'

# Stop the servers first, so that the summary is the last line.
run_cleanups >/dev/null 2>&1
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
