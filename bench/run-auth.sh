#!/usr/bin/env bash
# Login and refresh benchmark, in one run on the same cores: the raw
# Argon2id rate (bench/argon2_rate: libsodium's crypto_pwhash_str_verify on
# nproc threads at svc-auth's AUTH_ARGON2_T / AUTH_ARGON2_M_KIB), auth.Login
# through svc-auth over RPC (bench/rpc_load, one user, the throttles raised),
# and auth.Refresh with each caller chaining the refresh token the previous
# call returned (bench/refresh_load). Prints a Markdown table against the
# targets: logins/s >= 0.9x the raw Argon2id rate, refreshes >= 5,000/s per
# core.
#
# Usage: bench/run-auth.sh [--quick] [BUILD_DIR]
#   BUILD_DIR   Release build of the checkout (default: build-bench at the root)
#   --quick     smoke check: 3 s per measurement
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10/3]      duration of each measurement
#   BENCH_LOGIN_CALLERS [nproc + AUTH_HASH_QUEUE]  concurrent auth.Login
#                             callers: svc-auth computes nproc hashes at once
#                             and queues AUTH_HASH_QUEUE [4] more; callers
#                             beyond that are refused, not queued
#   BENCH_REFRESH_CALLERS [16] concurrent auth.Refresh chains
#   BENCH_KEEP [0]            1 keeps the temporary directory (logs)
#   BENCH_PERF [0]            1: perf record on svc-auth during the login and
#                             the refresh runs; the hottest symbols (self
#                             time) are printed to stderr (not in the table)
#   BENCH_BUILD [1]           0: use BUILD_DIR as it is (built before, e.g.
#                             from another commit, to compare two builds)
# AUTH_ARGON2_T, AUTH_ARGON2_M_KIB, RPC_WORKERS and the services' other
# variables pass through. Needs root (or sudo) on a fresh machine: packages,
# PostgreSQL.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

quick=0
build=""
while (($# > 0)); do
	case "$1" in
	--quick) quick=1 ;;
	-h | --help) show_help ;;
	-*) usage_error "unknown option: $1" ;;
	*)
		[[ -z "$build" ]] || die "only one BUILD_DIR may be given"
		build="$1"
		;;
	esac
	shift
done
build="$(realpath -m "${build:-$ROOT/build-bench}")"

if ((quick)); then
	secs="${BENCH_SECONDS:-3}"
else
	secs="${BENCH_SECONDS:-10}"
fi
cores="$(nproc)"
export AUTH_ARGON2_T="${AUTH_ARGON2_T:-2}"
export AUTH_ARGON2_M_KIB="${AUTH_ARGON2_M_KIB:-19456}"
login_callers="${BENCH_LOGIN_CALLERS:-$((cores + ${AUTH_HASH_QUEUE:-4}))}"
refresh_callers="${BENCH_REFRESH_CALLERS:-16}"
keep="${BENCH_KEEP:-0}"
perf_on="${BENCH_PERF:-0}"
[[ "$perf_on" == 0 || "$perf_on" == 1 ]] || die "BENCH_PERF must be 0 or 1"
build_on="${BENCH_BUILD:-1}"
[[ "$build_on" == 0 || "$build_on" == 1 ]] || die "BENCH_BUILD must be 0 or 1"
for v in secs login_callers refresh_callers AUTH_ARGON2_T AUTH_ARGON2_M_KIB; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

install_cleanup_traps
if [[ "$perf_on" == 1 ]] && ! command -v perf >/dev/null; then
	MICROCORE_PACKAGES+=(linux-perf)
fi
ensure_packages

if [[ "$build_on" == 1 ]]; then
	build_tree "$build" -DCMAKE_BUILD_TYPE=Release ||
		die "the build in $build failed"
fi
for bin in svc-auth/svc-auth svc-user/svc-user cli/rpcctl bench/rpc_load \
	bench/refresh_load bench/argon2_rate; do
	[[ -x "$build/$bin" ]] || die "$build/$bin was not built"
done

# Under /tmp with an explicit template: the postgres user must reach it.
work="$(mktemp -d /tmp/microcore-bench-auth.XXXXXX)"
chmod 755 "$work"
if [[ "$keep" == 1 ]]; then
	add_cleanup log "kept $work"
else
	add_cleanup rm -rf "$work"
fi
mkdir -p "$work/logs"

pg_port="$(free_port)"
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$pg_port" --fast
for db in authdb apidb; do
	pg_create_db "$pg_port" "$db"
done
redis_port="$(free_port "$pg_port")"
add_cleanup redis_stop "$redis_port" "$work/redis"
redis_start "$work/redis" "$redis_port"
auth_port="$(free_port "$pg_port" "$redis_port")"
user_port="$(free_port "$pg_port" "$redis_port" "$auth_port")"

export AUTH_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/authdb"
export USER_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/apidb"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export AUTH_RPC_LISTEN="tcp://127.0.0.1:$auth_port"
export USER_RPC_LISTEN="tcp://127.0.0.1:$user_port"
export AUTH_RPC_DIAL="$AUTH_RPC_LISTEN" USER_RPC_DIAL="$USER_RPC_LISTEN"
AUTH_KEK="$(head -c 32 /dev/urandom | base64)"
export AUTH_KEK
# One user logs in over and over from one address: without these the
# throttles would answer instead of Argon2id.
export AUTH_LOGIN_MAX_PER_USER="${AUTH_LOGIN_MAX_PER_USER:-100000}"
export AUTH_LOGIN_MAX_PER_IP="${AUTH_LOGIN_MAX_PER_IP:-1000000}"
export AUTH_LOGIN_MAX_PER_DEVICE="${AUTH_LOGIN_MAX_PER_DEVICE:-100000}"

# stop_pid NAME PID: SIGTERM, a bounded wait, then SIGKILL; only while PID
# still runs NAME.
stop_pid() {
	local name="$1" pid="$2" i
	_pid_is "$pid" "$name" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 40; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.25
	done
	kill -KILL "$pid" 2>/dev/null || true
}

fail() {
	local f
	for f in "$work"/logs/*.log; do
		[[ -s "$f" ]] || continue
		printf -- '--- %s\n' "$f" >&2
		tail -n 15 "$f" >&2
	done
	die "$*"
}

declare -A pid_of=()
for name in svc-user svc-auth; do
	setsid "$build/$name/$name" </dev/null >"$work/logs/$name.log" 2>&1 &
	pid_of[$name]=$!
	add_cleanup stop_pid "$name" "$!"
	disown "$!"
done

rpcctl() { "$build/cli/rpcctl" --url "$AUTH_RPC_LISTEN" "$@"; }
deadline=$((SECONDS + 30))
until rpcctl health >/dev/null 2>&1; do
	for name in svc-user svc-auth; do
		pid_alive "${pid_of[$name]}" || fail "$name exited while starting"
	done
	((SECONDS < deadline)) || fail "svc-auth was not ready within 30 s"
	sleep 0.5
done

user="bench00001"
password="bench-password-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
rpcctl call auth.Register "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"$password\",\"client_ip\":\"127.0.0.1\"}" \
	>"$work/register.json" 2>&1 || {
	cat "$work/register.json" >&2
	fail "auth.Register failed"
}

# ok_rate LINE: the ok_per_s=... of a load program's line.
ok_rate() { sed -n 's/.* ok_per_s=\([0-9.]*\).*/\1/p' <<<"$1"; }
errors_of() {
	local e
	e="$(grep -oE ' [A-Z_]+=[0-9]+' <<<"$1" | tr -d ' ' | paste -sd, - || true)"
	printf '%s\n' "${e:-none}"
}
run() {
	local out
	log "$*"
	out="$("$@")" || fail "$1 failed: $out"
	printf '    %s\n' "$out" >&2
	printf '%s\n' "$out"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# profiled LABEL COMMAND...: run COMMAND, under perf record on svc-auth when
# BENCH_PERF=1, and print svc-auth's hottest symbols to stderr.
profiled() {
	local label="$1" perf_pid="" data="$work/perf-$1.data"
	shift
	if [[ "$perf_on" == 1 ]]; then
		perf record -q -g -F 499 -p "${pid_of[svc-auth]}" -o "$data" -- sleep "$secs" \
			>/dev/null 2>&1 &
		perf_pid=$!
	fi
	run "$@"
	if [[ -n "$perf_pid" ]]; then
		wait "$perf_pid" || warn "perf record failed"
		printf -- '--- perf, svc-auth during %s: hottest symbols (self)\n' "$label" >&2
		perf report -i "$data" --stdio --no-children -g none --sort dso,symbol 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 20 | sed 's/^/    /' >&2 || true
	fi
}

load_before="$(loadavg)"
raw="$(run "$build/bench/argon2_rate" "$AUTH_ARGON2_T" "$AUTH_ARGON2_M_KIB" "$cores" "$secs")"
login="$(profiled login "$build/bench/rpc_load" "$AUTH_RPC_LISTEN" auth.Login \
	"{\"username\":\"$user\",\"password\":\"$password\",\"client_ip\":\"127.0.0.1\"}" \
	"$login_callers" "$secs")"
# Round trips per refresh: Redis commands (INFO commandstats) and
# PostgreSQL transactions (pg_stat_database; every statement of svc-auth's
# refresh path runs in a transaction of its own) before and after the run.
redis_calls() {
	redis-cli -p "$redis_port" INFO commandstats |
		sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\).*/\1 \2/p' | sort
}
pg_xacts() {
	# The stats collector flushes at most every 500 ms.
	sleep 1
	pg_psql "$pg_port" -d authdb -Atc \
		"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'authdb'"
}
# CPU time (clock ticks, user + system) of the processes on the refresh's
# path and of the whole machine, read before and after the run: where each
# refresh's CPU goes.
ticks_of() { # PID...: their utime + stime
	local p t=0 f
	for p in "$@"; do
		f="$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null)" || continue
		t=$((t + $(awk '{ print $12 + $13 }' <<<"$f")))
	done
	printf '%s\n' "$t"
}
cpu_split() { # prints: svc-auth svc-user postgres redis machine (ticks)
	local pm rd
	pm="$(head -n1 "$work/pg/postmaster.pid")"
	rd="$(redis-cli -p "$redis_port" INFO server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')"
	# shellcheck disable=SC2046 # pgrep prints one pid per line
	printf '%s %s %s %s %s\n' "$(ticks_of "${pid_of[svc-auth]}")" \
		"$(ticks_of "${pid_of[svc-user]}")" \
		"$(ticks_of "$pm" $(pgrep -P "$pm"))" "$(ticks_of "$rd")" \
		"$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat)"
}
redis_before="$(redis_calls)"
pg_before="$(pg_xacts)"
cpu_before="$(cpu_split)"
refresh="$(profiled refresh "$build/bench/refresh_load" "$AUTH_RPC_LISTEN" "$user" "$password" \
	"$refresh_callers" "$secs")"
cpu_after="$(cpu_split)"
redis_after="$(redis_calls)"
pg_after="$(pg_xacts)"
load_after="$(loadavg)"
for name in svc-user svc-auth; do
	pid_alive "${pid_of[$name]}" || fail "$name exited during the benchmark"
done

raw_rate="$(ok_rate "$raw")"
login_rate="$(ok_rate "$login")"
refresh_rate="$(ok_rate "$refresh")"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
printf '\n'
printf 'Machine: %s cores (nproc), %s; %s; load average before %s, after %s\n' \
	"$cores" "${cpu:-unknown CPU}" "$(date -u '+%F %H:%M UTC')" "$load_before" "$load_after"
printf 'Argon2id t=%s m=%s KiB; %s s each; svc-auth alone in its process (svc-user beside it), plain tcp://\n' \
	"$AUTH_ARGON2_T" "$AUTH_ARGON2_M_KIB" "$secs"
printf '\n'
printf '| measurement | callers | per s | p50 | p99 | errors | ratio | target | met |\n'
printf '|---|---:|---:|---:|---:|---|---:|---|---|\n'
row() { # LABEL CALLERS LINE RATIO TARGET MET
	awk -v l="$1" -v c="$2" -v line="$3" -v r="$4" -v t="$5" -v m="$6" -v e="$(errors_of "$3")" 'BEGIN {
		match(line, /ok_per_s=[0-9.]+/); v = substr(line, RSTART + 9, RLENGTH - 9)
		match(line, /p50_us=[0-9]+/); p50 = substr(line, RSTART + 7, RLENGTH - 7)
		match(line, /p99_us=[0-9]+/); p99 = substr(line, RSTART + 7, RLENGTH - 7)
		printf "| %s | %s | %s | %.2f ms | %.2f ms | %s | %s | %s | %s |\n", l, c, v, p50 / 1000, p99 / 1000, e, r, t, m
	}'
}
login_ratio="$(awk -v a="$login_rate" -v b="$raw_rate" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
login_met="$(awk -v r="$login_ratio" 'BEGIN { print (r >= 0.9 ? "yes" : "no") }')"
per_core="$(awk -v a="$refresh_rate" -v c="$cores" 'BEGIN { printf "%.0f", a / c }')"
refresh_met="$(awk -v p="$per_core" 'BEGIN { print (p >= 5000 ? "yes" : "no") }')"
row "raw Argon2id verify (libsodium, no service)" "$cores threads" "$raw" 1 "anchor" "-"
row "auth.Login through svc-auth" "$login_callers" "$login" "$login_ratio" "≥ 0.9× raw" "$login_met"
row "auth.Refresh, chained per caller" "$refresh_callers" "$refresh" "$per_core/s per core" "≥ 5,000/s per core" "$refresh_met"
# The calls counted include the refresh_load callers' logins (a few).
refreshes="$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$refresh")"
# (An older refresh_load prints only the rate.)
[[ -n "$refreshes" ]] || refreshes="$(awk -v r="$refresh_rate" -v s="$secs" 'BEGIN { printf "%.0f", r * s }')"
if [[ "${refreshes:-0}" -gt 0 ]]; then
	printf '\nPer refresh (%s refreshes): PostgreSQL transactions %s; Redis commands (with those its scripts ran):%s\n' \
		"$refreshes" \
		"$(awk -v a="$pg_before" -v b="$pg_after" -v n="$refreshes" 'BEGIN { printf "%.2f", (b - a) / n }')" \
		"$(join -a2 -e0 -o 0,1.2,2.2 <(printf '%s\n' "$redis_before") <(printf '%s\n' "$redis_after") |
			awk -v n="$refreshes" '$3 > $2 && $1 != "info" { printf " %s %.2f", $1, ($3 - $2) / n }')"
	# Ticks to µs per refresh; "rest": the load program, the kernel's
	# softirqs and whatever else ran (the machine's busy time less the four).
	awk -v a="$cpu_before" -v b="$cpu_after" -v n="$refreshes" -v hz="$(getconf CLK_TCK)" \
		-v budget="$((1000000 / 5000))" -v cores="$cores" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= 5; i++) d[i] = (y[i] - x[i]) * 1e6 / hz / n
		printf "CPU per refresh (µs, from /proc): svc-auth %.0f, svc-user %.0f, PostgreSQL %.0f, Redis %.0f, the rest %.0f; machine %.0f, against %d (5,000/s per core on %d cores)\n",
			d[1], d[2], d[3], d[4], d[5] - d[1] - d[2] - d[3] - d[4], d[5], budget, cores
	}'
fi
