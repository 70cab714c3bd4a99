#!/usr/bin/env bash
# Runs the whole system locally: PostgreSQL and Redis with data kept under
# .run/ between runs, then the HTTP edge and svc-auth, svc-user and svc-admin
# from build/: by default all four in one process (microcore, the
# single-process mode: one log, .run/logs/microcore.log, with the component
# in each line); with --split each in its own process (the split mode of
# compose and Kubernetes), each logging to .run/logs/<name>.log.
#
# Usage: scripts/stack.sh [--split]            build, start, wait for Ctrl-C, stop all
#        scripts/stack.sh [--split] --detach   build, start and return, leaving it running
#        scripts/stack.sh stop                 stop a detached (or left-over) stack
#
# Ports: PostgreSQL 55432 (DEV_PG_PORT), Redis 56379 (DEV_REDIS_PORT),
# metrics 9100 (--split: svc-auth 9101, svc-user 9102, svc-admin 9103, edge
# 9104; every URL is printed at start); the
# services read AUTH_DATABASE_URL, REDIS_URL, *_RPC_LISTEN, *_RPC_DIAL,
# EDGE_LISTEN and friends, and any of them already exported is kept.
# Every RPC connection is mutual TLS (tls+tcp://) with the certificates of
# the private CA in .run/pki (scripts/certs.sh init: made on the first start,
# renewed when due); rpcctl run in the checkout speaks as "ops" with them.
# STACK_PLAIN_TCP=1 runs plain tcp:// instead, for experiments only: anyone
# who reaches a port may then call every method.
# Needs root (or sudo) to install packages and to run PostgreSQL as postgres.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN="$ROOT/.run"
LOGS="$RUN/logs"
PIDS="$RUN/pids"
STATE="$RUN/stack.env"
REDIS_DIR="$RUN/redis"
MAIL_DIR="$RUN/mail"
PKI="$RUN/pki"
SERVICES=(microcore)
# The prefix of each process's own variables in the single-process mode
# (AUTH_RPC_TLS_CERT_FILE: svc-auth's certificate inside microcore).
declare -A PREFIX=([svc-auth]=AUTH [svc-user]=USER [svc-admin]=ADMIN [edge]=EDGE)

# Each process's metrics listener (METRICS_LISTEN, GET /metrics): the
# programs' defaults, microcore's may be overridden by an exported
# METRICS_LISTEN ("off": none).
declare -A METRICS_ADDR=([microcore]="${METRICS_LISTEN:-127.0.0.1:9100}"
	[svc-auth]=127.0.0.1:9101 [svc-user]=127.0.0.1:9102
	[svc-admin]=127.0.0.1:9103 [edge]=127.0.0.1:9104)

# How long the services get to become healthy, and to exit after SIGTERM.
HEALTH_TIMEOUT="${STACK_HEALTH_TIMEOUT:-15}"
STOP_TIMEOUT=10

mode=foreground
while (($# > 0)); do
	case "$1" in
	--detach | -d) mode=detach ;;
	--split) SERVICES=(svc-auth svc-user svc-admin edge) ;;
	stop) mode=stop ;;
	-h | --help) show_help ;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

service_bin() {
	printf '%s/build/%s/%s\n' "$ROOT" "$1" "$1"
}

# tls_env_of NAME: the certificate variables of process NAME: its own
# RPC_TLS_* (split), or every component's prefixed ones (microcore).
tls_env_of() {
	local c
	if [[ "$1" != microcore ]]; then
		printf '%s\n' "RPC_TLS_CERT_FILE=$PKI/$1.crt" "RPC_TLS_KEY_FILE=$PKI/$1.key"
		return
	fi
	for c in svc-auth svc-user svc-admin edge; do
		printf '%s\n' "${PREFIX[$c]}_RPC_TLS_CERT_FILE=$PKI/$c.crt" \
			"${PREFIX[$c]}_RPC_TLS_KEY_FILE=$PKI/$c.key"
	done
}

# stop_services: SIGTERM to every service in .run/pids, a bounded wait, then
# SIGKILL for stragglers. Only processes that still run the recorded program
# are signalled, so a stale pidfile cannot hit an unrelated process.
stop_services() {
	local name pid live i
	local -a pids=() names=()
	[[ -f "$PIDS" ]] || return 0
	while read -r name pid; do
		if _pid_is "$pid" "$name"; then
			names+=("$name")
			pids+=("$pid")
		fi
	done <"$PIDS"
	if ((${#pids[@]} > 0)); then
		log "stopping ${names[*]}"
		for pid in "${pids[@]}"; do
			kill -TERM "$pid" 2>/dev/null || true
		done
		for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
			live=0
			for pid in "${pids[@]}"; do
				pid_alive "$pid" && live=1
			done
			((live)) || break
			sleep 0.25
		done
		for ((i = 0; i < ${#pids[@]}; i++)); do
			if pid_alive "${pids[i]}"; then
				warn "${names[i]} (pid ${pids[i]}) ignored SIGTERM for ${STOP_TIMEOUT} s; killing it"
				kill -KILL "${pids[i]}" 2>/dev/null || true
			fi
		done
	fi
	rm -f "$PIDS"
}

# write_state / read_state: where the data and servers of a running stack are,
# so that "stop" finds them even if DEV_*_PORT changed in between.
write_state() {
	printf 'PG_DATA=%s\nPG_PORT=%s\nREDIS_PORT=%s\n' "$pg_data" "$pg_port" "$redis_port" >"$STATE"
}

read_state() {
	local key value
	[[ -f "$STATE" ]] || return 0
	while IFS='=' read -r key value; do
		case "$key" in
		PG_DATA) pg_data="$value" ;;
		PG_PORT) pg_port="$value" ;;
		REDIS_PORT) redis_port="$value" ;;
		esac
	done <"$STATE"
}

pg_port="${DEV_PG_PORT:-55432}"
redis_port="${DEV_REDIS_PORT:-56379}"

if [[ "$mode" == stop ]]; then
	pg_data=""
	read_state
	if [[ -z "$pg_data" ]]; then
		pg_data="$(pg_usable_dir "$RUN/pg" stack-pg)"
	fi
	stop_services
	redis_stop "$redis_port" "$REDIS_DIR"
	pg_stop "$pg_data"
	rm -f "$STATE"
	log "stack stopped"
	exit 0
fi

install_cleanup_traps
ensure_packages

# The RPC transport: mutual TLS unless STACK_PLAIN_TCP=1.
case "${STACK_PLAIN_TCP:-0}" in
0 | "") rpc_scheme=tls+tcp ;;
1) rpc_scheme=tcp ;;
*) usage_error "STACK_PLAIN_TCP must be 0 or 1" ;;
esac

# The services' configuration; values the user exported win.
: "${AUTH_DATABASE_URL:=postgresql://postgres@127.0.0.1:$pg_port/authdb}"
: "${USER_DATABASE_URL:=postgresql://postgres@127.0.0.1:$pg_port/apidb}"
: "${ADMIN_DATABASE_URL:=postgresql://postgres@127.0.0.1:$pg_port/admindb}"
: "${REDIS_URL:=redis://127.0.0.1:$redis_port/0}"
: "${AUTH_RPC_LISTEN:=$rpc_scheme://127.0.0.1:7101}"
: "${USER_RPC_LISTEN:=$rpc_scheme://127.0.0.1:7102}"
: "${ADMIN_RPC_LISTEN:=$rpc_scheme://127.0.0.1:7103}"
: "${AUTH_RPC_DIAL:=$AUTH_RPC_LISTEN}"
: "${USER_RPC_DIAL:=$USER_RPC_LISTEN}"
: "${ADMIN_RPC_DIAL:=$ADMIN_RPC_LISTEN}"
: "${EDGE_LISTEN:=127.0.0.1:8080}"
# The local stack speaks plain http, where browsers drop __Host-/Secure
# cookies on any host but localhost: development cookies (docs/api.md).
: "${EDGE_COOKIE_SECURE:=false}"
# The key-encryption key of svc-auth's signing keys: made once for this
# checkout and kept (owner-only) beside the data it protects.
if [[ -z "${AUTH_KEK:-}" ]]; then
	kek_file="$ROOT/.run/auth_kek"
	if [[ ! -s "$kek_file" ]]; then
		mkdir -p "$ROOT/.run"
		(umask 077 && head -c 32 /dev/urandom | base64 >"$kek_file")
	fi
	AUTH_KEK=$(<"$kek_file")
fi
export AUTH_DATABASE_URL USER_DATABASE_URL ADMIN_DATABASE_URL REDIS_URL \
	AUTH_RPC_LISTEN USER_RPC_LISTEN ADMIN_RPC_LISTEN \
	AUTH_RPC_DIAL USER_RPC_DIAL ADMIN_RPC_DIAL EDGE_LISTEN AUTH_KEK \
	EDGE_COOKIE_SECURE

edge_port="${EDGE_LISTEN##*:}"
edge_host="${EDGE_LISTEN%:*}"
case "$edge_host" in
"" | 0.0.0.0 | "*") edge_host=127.0.0.1 ;;
esac
edge_url="http://$edge_host:$edge_port/"
# Links in mail point at the edge, which serves the frontend.
: "${AUTH_PUBLIC_BASE_URL:=http://$edge_host:$edge_port}"
export AUTH_PUBLIC_BASE_URL

# Checked before building: a port in use almost always means a stack is
# already running, and finding out should not take a build.
already="probably a stack is already running; stop it with: scripts/stack.sh stop"
for url in "$AUTH_RPC_LISTEN" "$USER_RPC_LISTEN" "$ADMIN_RPC_LISTEN"; do
	if [[ "$url" =~ ^(tls\+)?tcp://.*:([0-9]+)$ ]]; then
		require_free_port "${BASH_REMATCH[2]}" "$url" "$already"
	fi
done
require_free_port "$edge_port" "edge, $EDGE_LISTEN" "$already"
for name in "${SERVICES[@]}"; do
	if [[ "${METRICS_ADDR[$name]}" =~ :([0-9]+)$ ]]; then
		require_free_port "${BASH_REMATCH[1]}" "$name metrics, ${METRICS_ADDR[$name]}" "$already"
	fi
done
require_free_port "$pg_port" "PostgreSQL; set DEV_PG_PORT to use another" "$already"
require_free_port "$redis_port" "Redis; set DEV_REDIS_PORT to use another" "$already"
if [[ -f "$PIDS" ]]; then
	while read -r name pid; do
		if _pid_is "$pid" "$name"; then
			die "$name (pid $pid) from an earlier run is still running; $already"
		fi
	done <"$PIDS"
fi

build_tree "$ROOT/build"
for name in "${SERVICES[@]}"; do
	[[ -x "$(service_bin "$name")" ]] || die "$(service_bin "$name") was not built"
done
rpcctl="$ROOT/build/cli/rpcctl"
[[ -x "$rpcctl" ]] || die "$rpcctl was not built"

# .run must be traversable by postgres for the data to live inside it; a
# restrictive umask would otherwise make it private.
mkdir -p "$RUN" "$LOGS"
chmod 755 "$RUN"

# The private CA and a certificate per identity (edge, svc-auth, svc-user,
# svc-admin, ops), made once and renewed when they end within 30 days; the
# revocation list is rewritten weekly. Each service presents its own
# (RPC_TLS_CERT_FILE/KEY_FILE, set per process below); all share the CA
# and the CRL, and re-read the files when they change.
if [[ "$rpc_scheme" == tls+tcp ]]; then
	"$ROOT/scripts/certs.sh" init "$PKI" | sed 's/^/    /' >&2
	export RPC_TLS_CA_FILE="$PKI/ca.crt" RPC_TLS_CRL_FILE="$PKI/crl.pem"
	# rpcctl's health checks below, as the operators' identity.
	export RPCCTL_CERT="$PKI/ops.crt" RPCCTL_KEY="$PKI/ops.key" RPCCTL_CACERT="$PKI/ca.crt"
else
	warn "STACK_PLAIN_TCP=1: the RPC ports speak plain tcp://, without certificates: any local process can call every method (admin ones too), read tokens on the wire and forge client-ip"
fi

pg_data="$(pg_usable_dir "$RUN/pg" stack-pg)"
if [[ "$pg_data" != "$RUN/pg" ]]; then
	log "PostgreSQL data lives in $pg_data (the postgres user cannot reach $RUN)"
	# A pointer for people looking in .run; it is never used by the server.
	if [[ ! -e "$RUN/pg" && ! -L "$RUN/pg" ]]; then
		ln -s "$pg_data" "$RUN/pg"
	fi
fi

add_cleanup pg_stop "$pg_data"
pg_start "$pg_data" "$pg_port"
for db in authdb apidb admindb; do
	pg_create_db "$pg_port" "$db"
done

add_cleanup redis_stop "$redis_port" "$REDIS_DIR"
redis_start "$REDIS_DIR" "$redis_port" --persist
write_state
add_cleanup rm -f "$STATE"

add_cleanup stop_services
: >"$PIDS"
# svc-auth's mail goes to a local SMTP sink that writes each mail as a file
# under .run/mail/, unless AUTH_SMTP_URL names a server of the user's.
if [[ -z "${AUTH_SMTP_URL:-}" ]]; then
	mail_port="${DEV_MAIL_PORT:-$(free_port "$pg_port" "$redis_port" "$edge_port")}"
	require_free_port "$mail_port" "the SMTP sink; set DEV_MAIL_PORT to use another" "$already"
	mkdir -p "$MAIL_DIR"
	printf '=== %s: starting mail-sink\n' "$(date '+%F %T')" >>"$LOGS/mail-sink.log"
	setsid "$ROOT/scripts/mail-sink.py" --port "$mail_port" --dir "$MAIL_DIR" \
		</dev/null >>"$LOGS/mail-sink.log" 2>&1 &
	printf 'mail-sink.py %s\n' "$!" >>"$PIDS"
	disown "$!"
	export AUTH_SMTP_URL="smtp://127.0.0.1:$mail_port"
	mail_where="$MAIL_DIR/ (SMTP sink on 127.0.0.1:$mail_port)"
else
	mail_where="$AUTH_SMTP_URL"
fi
declare -A service_pid=()
for name in "${SERVICES[@]}"; do
	printf '=== %s: starting %s\n' "$(date '+%F %T')" "$name" >>"$LOGS/$name.log"
	# setsid: the services get their own session, so Ctrl-C in this
	# terminal reaches only this script, which stops them in order, and a
	# detached stack survives the terminal closing. setsid execs in place
	# (a background job is no group leader), and so does env, so $! is the
	# service itself.
	tls_env=()
	if [[ "$rpc_scheme" == tls+tcp ]]; then
		mapfile -t tls_env < <(tls_env_of "$name")
	fi
	env "${tls_env[@]}" METRICS_LISTEN="${METRICS_ADDR[$name]}" \
		setsid "$(service_bin "$name")" </dev/null >>"$LOGS/$name.log" 2>&1 &
	service_pid[$name]=$!
	printf '%s %s\n' "$name" "$!" >>"$PIDS"
	# Not a job: bash would otherwise print "Killed ..." noise when a
	# straggler is SIGKILLed. pid_alive watches it instead.
	disown "$!"
done

# run_log_tail NAME [LINES]: the end of NAME's log, from this run's start
# marker on, so output of earlier runs does not mislead.
run_log_tail() {
	local file="$LOGS/$1.log" start
	start="$(grep -n '^=== .*: starting ' "$file" 2>/dev/null | tail -n1 | cut -d: -f1)"
	tail -n +"${start:-1}" "$file" 2>/dev/null | tail -n "${2:-25}" || true
}

# check_alive: fails with the log tail of the first service that exited.
check_alive() {
	local name
	for name in "${SERVICES[@]}"; do
		if ! pid_alive "${service_pid[$name]}"; then
			printf '\n%s exited; last lines of %s:\n' "$name" "$LOGS/$name.log" >&2
			run_log_tail "$name" 25 >&2
			return 1
		fi
	done
}

log "waiting for the services to become healthy (at most ${HEALTH_TIMEOUT} s)"
healthy=0
deadline=$((SECONDS + HEALTH_TIMEOUT))
while ((SECONDS < deadline)); do
	check_alive || die "a service died while starting; stopping the stack"
	# A short deadline per try (the default is 5 s) leaves room for retries
	# within the budget; timeout guards against a client that hangs.
	# /readyz, not /healthz: the edge itself must have reached every
	# service, or its first requests would answer 503 "no connection".
	if timeout 10 "$rpcctl" --timeout 2000 health >"$RUN/health.out" 2>&1 &&
		curl -fsS --max-time 2 -o /dev/null "${edge_url}readyz" 2>>"$RUN/health.out"; then
		healthy=1
		break
	fi
	sleep 0.5
done
if ((!healthy)); then
	printf 'last health check output:\n' >&2
	cat "$RUN/health.out" >&2 || true
	for name in "${SERVICES[@]}"; do
		printf -- '--- %s\n' "$LOGS/$name.log" >&2
		run_log_tail "$name" 10 >&2
	done
	die "the stack did not become healthy within ${HEALTH_TIMEOUT} s; stopping it"
fi
rm -f "$RUN/health.out"

printf '\n'
printf '  microcore is up: %s\n' "$edge_url"
if [[ "${SERVICES[*]}" == microcore ]]; then
	printf '  logs:            %s/microcore.log (one process: edge, svc-auth, svc-user, svc-admin)\n' "$LOGS"
else
	printf '  logs:            %s/<service>.log (split: one process each)\n' "$LOGS"
fi
printf '  PostgreSQL:      postgresql://postgres@127.0.0.1:%s/ (data: %s)\n' "$pg_port" "$pg_data"
printf '  Redis:           redis://127.0.0.1:%s/0 (data: %s)\n' "$redis_port" "$REDIS_DIR"
printf '  mail:            %s\n' "$mail_where"
for name in "${SERVICES[@]}"; do
	addr="${METRICS_ADDR[$name]}"
	if [[ "$addr" == off ]]; then
		printf '  metrics:         off (%s)\n' "$name"
	else
		printf '  metrics:         http://%s/metrics (%s)\n' "$addr" "$name"
	fi
done
if [[ "$rpc_scheme" == tls+tcp ]]; then
	printf '  RPC:             mutual TLS, certificates in %s (rpcctl here speaks as ops)\n' "$PKI"
else
	printf '  RPC:             plain tcp:// (STACK_PLAIN_TCP=1): no certificates, no caller checks\n'
fi
printf '\n'

if [[ "$mode" == detach ]]; then
	forget_cleanups
	printf '  running in the background; stop it with: %s/scripts/stack.sh stop\n' "$ROOT"
	exit 0
fi

printf '  Press Ctrl-C to stop.\n\n'
# From here on Ctrl-C or SIGTERM is the normal way to end: stop everything
# and exit 0.
trap '_on_signal INT 0' INT
trap '_on_signal TERM 0' TERM
while :; do
	# wait, unlike a foreground sleep, returns as soon as a signal arrives.
	sleep 1 &
	wait $! || true
	check_alive || die "a service died; stopping the stack"
done
