#!/usr/bin/env bash
# Registration flood: one real user logs in over and over (wrk, one
# connection) while many connections POST /register with a new username
# each time, all through the edge; a second probe measures a call that
# hashes nothing (GET /sessions/current: AuthService, token check + Redis).
# Each probe runs once alone (the baseline) and once during the flood.
# Prints a Markdown table.
#
# Usage: bench/run-register-flood.sh [BUILD_DIR]
#   BUILD_DIR   Release build (default: build-bench at the root, built here)
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]       duration of each probe
#   BENCH_CONNECTIONS [64]   wrk -c of the flood
#   BENCH_NO_BUILD [0]       1: use BUILD_DIR as it is (e.g. an older
#                            checkout's build, for a before/after table)
#   BENCH_LABEL [build]      the first column of the table
#   BENCH_KEEP [0]           1 keeps the temporary directory
# AUTH_REGISTER_MAX_PER_IP [1000000] (every request comes from 127.0.0.1:
# the default throttle would stop the flood at once; the high default shows
# what the hash gate does against a flood from many addresses),
# AUTH_HASH_CONCURRENCY, AUTH_HASH_QUEUE, RPC_WORKERS and the other
# variables pass through.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

case "${1:-}" in -h | --help) show_help ;; -*) usage_error "unknown option: $1" ;; esac
build="$(realpath -m "${1:-$ROOT/build-bench}")"
secs="${BENCH_SECONDS:-10}"
conns="${BENCH_CONNECTIONS:-64}"
label="${BENCH_LABEL:-build}"
for v in secs conns; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
install_cleanup_traps
command -v wrk >/dev/null || MICROCORE_PACKAGES+=(wrk)
ensure_packages
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
	build_tree "$build" -DCMAKE_BUILD_TYPE=Release || die "the build in $build failed"
fi
for name in svc-auth edge; do
	[[ -x "$build/$name/$name" ]] || die "$build/$name/$name was not built"
done

work="$(mktemp -d /tmp/microcore-bench-flood.XXXXXX)"
chmod 755 "$work"
if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
	add_cleanup log "kept $work"
else
	add_cleanup rm -rf "$work"
fi
mkdir -p "$work/logs" "$work/wrk"
pg_port="$(free_port)"
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$pg_port" --fast
pg_create_db "$pg_port" authdb
redis_port="$(free_port "$pg_port")"
add_cleanup redis_stop "$redis_port" "$work/redis"
redis_start "$work/redis" "$redis_port"
auth_port="$(free_port "$pg_port" "$redis_port")"
edge_port="$(free_port "$pg_port" "$redis_port" "$auth_port")"

export AUTH_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/authdb"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export AUTH_RPC_LISTEN="tcp://127.0.0.1:$auth_port" AUTH_RPC_DIAL="tcp://127.0.0.1:$auth_port"
export EDGE_LISTEN="127.0.0.1:$edge_port" EDGE_WWW_DIR=none
AUTH_KEK="$(head -c 32 /dev/urandom | base64)"
export AUTH_KEK
# One user logs in again and again from 127.0.0.1: not an attack here.
export AUTH_LOGIN_MAX_PER_IP="${AUTH_LOGIN_MAX_PER_IP:-1000000}"
export AUTH_LOGIN_MAX_PER_USER="${AUTH_LOGIN_MAX_PER_USER:-100000}"
export AUTH_REGISTER_MAX_PER_IP="${AUTH_REGISTER_MAX_PER_IP:-1000000}"
export AUTH_ACCESS_TTL_S=3600 LOG_LEVEL="${LOG_LEVEL:-warn}"
export EDGE_MAX_CONNECTIONS_PER_IP=$((conns + 64))

declare -A pid_of=()
stop_pid() { kill -TERM "$1" 2>/dev/null || true; }
start() { # NAME: starts $build/NAME/NAME in its own session
	setsid "$build/$1/$1" </dev/null >"$work/logs/$1.log" 2>&1 &
	pid_of[$1]=$!
	add_cleanup stop_pid "$!"
	disown "$!"
}
start svc-auth
start edge
edge="http://127.0.0.1:$edge_port"

# The real user, and a token for the probe that hashes nothing.
password="bench-password-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
deadline=$((SECONDS + 30))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	-d "{\"username\":\"realuser\",\"email\":\"real@example.com\",\"password\":\"$password\"}" \
	"$edge/register")" == 201 ]]; do
	((SECONDS < deadline)) || { tail "$work"/logs/*.log >&2; die "registering the real user failed"; }
	sleep 0.5
done
token="$(curl -sS -H 'Content-Type: application/json' \
	-d "{\"username\":\"realuser\",\"password\":\"$password\"}" "$edge/login" | jq -er .access_token)" ||
	die "the real user's login failed"
printf '%s\n' "$token" >"$work/token"
export BENCH_PASSWORD="$password" BENCH_USER=realuser

field() { sed -n "s/^bench:.* $1=\([^ ]*\).*/\1/p" "$2"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.0f", us / 1000 }'; }

# probe NAME: the login probe and the no-hash probe together, for secs.
probe() {
	BENCH_MODE=login wrk -t1 -c1 -d"${secs}s" --timeout 10s --latency -s "$ROOT/bench/auth-post.lua" \
		"$edge/login" >"$work/wrk/login-$1.txt" 2>&1 &
	local login_pid=$!
	BENCH_TOKENS="$work/token" wrk -t1 -c4 -d"${secs}s" --timeout 10s --latency \
		-s "$ROOT/bench/profile-tokens.lua" "$edge/sessions/current" \
		>"$work/wrk/session-$1.txt" 2>&1 || die "wrk (session probe) failed"
	wait "$login_pid" || die "wrk (login probe) failed"
}

# row NAME FLOOD_FILE: one table row from the probes' and the flood's output.
rows=()
row() {
	local l="$work/wrk/login-$1.txt" s="$work/wrk/session-$1.txt" flood="-" rss
	if [[ -n "${2:-}" ]]; then
		flood="$(awk '/^Requests\/sec:/ { printf "%d", $2 + 0.5 }' "$2")/s: $(field statuses "$2")"
	fi
	rss="$(awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/${pid_of[svc-auth]}/status")"
	rows+=("| $label | $1 | $flood | $(field requests "$l") ($(field statuses "$l")) | $(ms "$(field p50_us "$l")") / $(ms "$(field p99_us "$l")") / $(ms "$(field max_us "$l")") | $(field requests "$s") ($(field non200 "$s") not 200) | $(ms "$(field p50_us "$s")") / $(ms "$(field p99_us "$s")") | $rss |")
}

log "baseline: the probes alone, ${secs} s"
probe alone
row alone

log "flood: wrk -t2 -c$conns POST /register, the probes after 2 s"
BENCH_MODE=register BENCH_RUN="f$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	wrk -t2 -c"$conns" -d"$((secs + 4))s" --timeout 10s --latency -s "$ROOT/bench/auth-post.lua" \
	"$edge/register" >"$work/wrk/flood.txt" 2>&1 &
flood_pid=$!
sleep 2
probe flood
wait "$flood_pid" || die "wrk (flood) failed"
row "flood" "$work/wrk/flood.txt"
for name in svc-auth edge; do
	pid_alive "${pid_of[$name]}" || die "$name exited during the benchmark"
done

printf '\nMachine: %s cores, %s; flood wrk -t2 -c%s; probes %s s each; AUTH_REGISTER_MAX_PER_IP=%s\n' \
	"$(nproc)" "$(date -u '+%F %H:%M UTC')" "$conns" "$secs" "$AUTH_REGISTER_MAX_PER_IP"
printf 'RPC_WORKERS=%s AUTH_HASH_CONCURRENCY=%s AUTH_HASH_QUEUE=%s (unset: the defaults)\n' \
	"${RPC_WORKERS:-}" "${AUTH_HASH_CONCURRENCY:-}" "${AUTH_HASH_QUEUE:-}"
printf '\n| build | phase | flood: req/s, statuses | real user logins (statuses) | login p50 / p99 / max ms | GET /sessions/current calls | its p50 / p99 ms | svc-auth peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---:|\n'
printf '%s\n' "${rows[@]}"
