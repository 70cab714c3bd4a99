#!/usr/bin/env bash
# Footprint of the whole stack: idle RSS and the time from exec to ready of
# each component, in the split mode (four processes) and the single-process
# mode (microcore), on the same throwaway PostgreSQL and Redis, with mutual
# TLS as the stack command runs it. Prints a Markdown table per round.
#
# Usage: bench/run-footprint.sh [BUILD_DIR]   (default: build at the root)
#
# Environment: BENCH_ROUNDS [3] starts per mode, BENCH_IDLE_S [5] seconds
# idle before RSS is read; RPC_WORKERS, EDGE_THREADS and the services' other
# variables pass through.
#
# "ready" is what each component logs with since_start_ms: a service once
# its server listens (its workers' database and Redis connections made), the
# edge once its HTTP server listens; since_start_ms counts from the process's
# creation (core_process_age_ms). "readyz" is when GET /readyz first
# answered 200 (every service SERVING), as this script saw it from before
# the exec, polling every 10 ms. The first start migrates the databases and
# is not counted.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

build="$(realpath "${1:-$ROOT/build}")"
rounds="${BENCH_ROUNDS:-3}"
idle_s="${BENCH_IDLE_S:-5}"
for b in microcore/microcore svc-auth/svc-auth svc-user/svc-user svc-admin/svc-admin edge/edge; do
	[[ -x "$build/$b" ]] || die "$build/$b was not built"
done

work="$(mktemp -d /tmp/microcore-footprint.XXXXXX)"
chmod 755 "$work"
install_cleanup_traps
add_cleanup rm -rf "$work"
pg_port="$(free_port)"
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$pg_port" --fast
redis_port="$(free_port "$pg_port")"
add_cleanup redis_stop "$redis_port" "$work/redis"
redis_start "$work/redis" "$redis_port"
for db in authdb apidb admindb; do
	pg_create_db "$pg_port" "$db"
done
"$ROOT/scripts/certs.sh" init "$work/pki" >/dev/null
pki="$work/pki"

edge_port="$(free_port "$pg_port" "$redis_port")"
a_port="$(free_port "$pg_port" "$redis_port" "$edge_port")"
u_port="$(free_port "$pg_port" "$redis_port" "$edge_port" "$a_port")"
m_port="$(free_port "$pg_port" "$redis_port" "$edge_port" "$a_port" "$u_port")"
export AUTH_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/authdb"
export USER_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/apidb"
export ADMIN_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/admindb"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export AUTH_RPC_LISTEN="tls+tcp://127.0.0.1:$a_port" USER_RPC_LISTEN="tls+tcp://127.0.0.1:$u_port"
export ADMIN_RPC_LISTEN="tls+tcp://127.0.0.1:$m_port"
export AUTH_RPC_DIAL="$AUTH_RPC_LISTEN" USER_RPC_DIAL="$USER_RPC_LISTEN" ADMIN_RPC_DIAL="$ADMIN_RPC_LISTEN"
export EDGE_LISTEN="127.0.0.1:$edge_port" RPC_TLS_CA_FILE="$pki/ca.crt" RPC_TLS_CRL_FILE="$pki/crl.pem"
AUTH_KEK="$(head -c 32 /dev/urandom | base64)"
export AUTH_KEK

pids=()
now_ms() { date +%s%3N; }

# start MODE: starts the stack in MODE (split or single), logs in $work/MODE.
start() {
	local c p
	rm -rf "${work:?}/$1"
	mkdir -p "$work/$1"
	pids=()
	if [[ $1 == single ]]; then
		local -a envs=()
		for c in AUTH:svc-auth USER:svc-user ADMIN:svc-admin EDGE:edge; do
			envs+=("${c%%:*}_RPC_TLS_CERT_FILE=$pki/${c#*:}.crt" "${c%%:*}_RPC_TLS_KEY_FILE=$pki/${c#*:}.key")
		done
		env "${envs[@]}" "$build/microcore/microcore" 2>"$work/$1/microcore.log" &
		pids+=($!)
		return
	fi
	for p in svc-auth svc-user svc-admin edge; do
		env RPC_TLS_CERT_FILE="$pki/$p.crt" RPC_TLS_KEY_FILE="$pki/$p.key" \
			"$build/$p/$p" 2>"$work/$1/$p.log" &
		pids+=($!)
	done
}

stop() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}

# wait_ready: ms from now until /readyz answers 200 (dies after 15 s).
wait_ready() {
	local t0=$1 i
	for ((i = 0; i < 1500; i++)); do
		if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE_LISTEN/readyz" || true)" == 200 ]]; then
			echo $(($(now_ms) - t0))
			return
		fi
		sleep 0.01
	done
	cat "$work"/*/*.log >&2
	die "the stack did not become ready"
}

# ready_ms MODE NAME: the since_start_ms NAME logged.
ready_ms() {
	cat "$work/$1"/*.log | grep "\"service\":\"$2\"" | grep -o '"since_start_ms":"[0-9]*"' |
		head -n1 | grep -o '[0-9]*' || echo "?"
}

# read_rss: the processes' VmRSS summed into $rss (KiB), and each one's in
# MiB into $rss_each ("10.2+10.9+...").
read_rss() {
	local p k
	rss=0
	rss_each=""
	for p in "${pids[@]}"; do
		k=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")
		rss=$((rss + k))
		rss_each+="${rss_each:++}$(printf '%.1f' "$(echo "$k / 1024" | bc -l)")"
	done
}

log "warm-up start (migrations)"
start single
wait_ready "$(now_ms)" >/dev/null
stop

printf '| mode | processes | RSS idle (MiB) | per process | svc-auth ready (ms) | svc-user | svc-admin | edge | /readyz 200 (ms) |\n'
printf '|---|---:|---:|---|---:|---:|---:|---:|---:|\n'
for ((r = 1; r <= rounds; r++)); do
	for mode in split single; do
		t0="$(now_ms)"
		start "$mode"
		readyz="$(wait_ready "$t0")"
		sleep "$idle_s"
		read_rss
		printf '| %s | %d | %.1f | %s | %s | %s | %s | %s | %s |\n' "$mode" "${#pids[@]}" \
			"$(echo "$rss / 1024" | bc -l)" "$rss_each" "$(ready_ms "$mode" svc-auth)" \
			"$(ready_ms "$mode" svc-user)" "$(ready_ms "$mode" svc-admin)" \
			"$(ready_ms "$mode" edge)" "$readyz"
		stop
	done
done
