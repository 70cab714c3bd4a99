#!/usr/bin/env bash
# Edge benchmark: GET /profile through the edge on a profile-cache hit, with a
# different user's token on every request, against nginx serving a static
# file of the same size as the profile body, in the same run on the same
# machine, in the single-process mode (microcore) and in the split mode (one
# process per component) one after the other on the same databases and
# tokens. Prints a Markdown table per round and a summary against the
# targets (single-process >= 0.4x nginx with p99 <= 5 ms, split >= 0.25x).
#
# Usage: bench/run-edge.sh [--quick] [BUILD_DIR]
#   BUILD_DIR   Release build of the checkout (default: build-bench at the root)
#   --quick     smoke check: 50 users, 3 s per target, one round
#
# Environment (defaults in brackets, --quick ones after the slash):
#   BENCH_USERS [1000/50]     users registered and logged in; one token each
#   BENCH_SECONDS [10/3]      duration of each wrk run
#   BENCH_ROUNDS [2/1]        rounds of (nginx, edge) per mode
#   BENCH_MODES [single split] the modes measured, in this order: single
#                             (microcore) and/or split (four processes)
#   BENCH_PERF [0]            1: after the rounds of each mode, one more edge
#                             run under perf record (the edge's process: all
#                             of microcore, or edge in the split mode); the
#                             hottest symbols are printed (not in the table)
#   BENCH_CONNECTIONS [64]    wrk -c
#   BENCH_WRK_THREADS [2]     wrk -t
#   BENCH_PARALLEL [4]        parallel register+login jobs
#   BENCH_KEEP [0]            1 keeps the temporary directory (logs, wrk output)
#   BENCH_RPC_TRANSPORT [tcp] ipc: the RPCs between the processes over Unix
#                             domain sockets instead of loopback TCP
# EDGE_THREADS, RPC_WORKERS, LOG_LEVEL and the services' other variables pass
# through. Needs root (or sudo) on a fresh machine: packages (nginx comes
# from Debian's nginx-light package, apt-get install -y nginx-light,
# installed here when no nginx is found; wrk from wrk), PostgreSQL.
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
	users="${BENCH_USERS:-50}"
	secs="${BENCH_SECONDS:-3}"
	rounds="${BENCH_ROUNDS:-1}"
else
	users="${BENCH_USERS:-1000}"
	secs="${BENCH_SECONDS:-10}"
	rounds="${BENCH_ROUNDS:-2}"
fi
conns="${BENCH_CONNECTIONS:-64}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
parallel="${BENCH_PARALLEL:-4}"
keep="${BENCH_KEEP:-0}"
perf_on="${BENCH_PERF:-0}"
read -r -a modes <<<"${BENCH_MODES:-single split}"
((${#modes[@]} > 0)) || die "BENCH_MODES must name at least one mode"
for m in "${modes[@]}"; do
	[[ "$m" == single || "$m" == split ]] || die "BENCH_MODES: unknown mode '$m' (single or split)"
done
[[ "$perf_on" == 0 || "$perf_on" == 1 ]] || die "BENCH_PERF must be 0 or 1"
for v in users secs rounds conns wrk_threads parallel; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
((users <= 99999)) || die "at most 99999 users"
((wrk_threads <= conns)) || die "BENCH_WRK_THREADS must not exceed BENCH_CONNECTIONS"

install_cleanup_traps

# ---------------------------------------------------------------------------
# Packages and build

nginx_bin="$(command -v nginx || true)"
[[ -n "$nginx_bin" ]] || nginx_bin=/usr/sbin/nginx
[[ -x "$nginx_bin" ]] || MICROCORE_PACKAGES+=(nginx-light)
command -v wrk >/dev/null || MICROCORE_PACKAGES+=(wrk)
if [[ "$perf_on" == 1 ]] && ! command -v perf >/dev/null; then
	MICROCORE_PACKAGES+=(linux-perf)
fi
ensure_packages
[[ -x "$nginx_bin" ]] || nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$nginx_bin" ]] || die "nginx is not installed (package nginx-light)"

# Release, the configuration a deployment would run.
build_tree "$build" -DCMAKE_BUILD_TYPE=Release ||
	die "the build in $build failed"
SPLIT=(svc-auth svc-user svc-admin edge)
for name in microcore "${SPLIT[@]}"; do
	[[ -x "$build/$name/$name" ]] || die "$build/$name/$name was not built"
done

# ---------------------------------------------------------------------------
# Temporary directory, ports, databases

# Under /tmp with an explicit template, not $TMPDIR: the postgres user must be
# able to traverse it, and nginx's workers to read the static file.
work="$(mktemp -d /tmp/microcore-bench-edge.XXXXXX)"
chmod 755 "$work"
if [[ "$keep" == 1 ]]; then
	add_cleanup log "kept $work"
else
	add_cleanup rm -rf "$work"
fi
mkdir -p "$work/logs" "$work/www" "$work/nginx" "$work/wrk"

pg_port="$(free_port)"
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$pg_port" --fast
for db in authdb apidb admindb; do
	pg_create_db "$pg_port" "$db"
done

redis_port="$(free_port "$pg_port")"
add_cleanup redis_stop "$redis_port" "$work/redis"
redis_start "$work/redis" "$redis_port"

taken=("$pg_port" "$redis_port")
next_port() {
	local p
	p="$(free_port "${taken[@]}")"
	taken+=("$p")
	printf '%s\n' "$p"
}
auth_port="$(next_port)"
user_port="$(next_port)"
admin_port="$(next_port)"
edge_port="$(next_port)"
nginx_port="$(next_port)"

# ---------------------------------------------------------------------------
# Services

export AUTH_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/authdb"
export USER_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/apidb"
export ADMIN_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/admindb"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
if [[ "${BENCH_RPC_TRANSPORT:-tcp}" == ipc ]]; then
	# Unix domain sockets between the processes (one host only).
	export AUTH_RPC_LISTEN="ipc://$work/auth.sock"
	export USER_RPC_LISTEN="ipc://$work/user.sock"
	export ADMIN_RPC_LISTEN="ipc://$work/admin.sock"
else
	export AUTH_RPC_LISTEN="tcp://127.0.0.1:$auth_port"
	export USER_RPC_LISTEN="tcp://127.0.0.1:$user_port"
	export ADMIN_RPC_LISTEN="tcp://127.0.0.1:$admin_port"
fi
export AUTH_RPC_DIAL="$AUTH_RPC_LISTEN"
export USER_RPC_DIAL="$USER_RPC_LISTEN"
export ADMIN_RPC_DIAL="$ADMIN_RPC_LISTEN"
export EDGE_LISTEN="127.0.0.1:$edge_port"
AUTH_KEK="$(head -c 32 /dev/urandom | base64)"
export AUTH_KEK
# Every user logs in once, all from 127.0.0.1: the per-IP throttle would
# refuse the pool after 100 logins.
export AUTH_LOGIN_MAX_PER_IP="${AUTH_LOGIN_MAX_PER_IP:-1000000}"
# Tokens and cached profiles outlive the longest run, so every measured
# request is a valid token on a cache hit.
export AUTH_ACCESS_TTL_S="${AUTH_ACCESS_TTL_S:-3600}"
export USER_CACHE_TTL_S="${USER_CACHE_TTL_S:-3600}"
# wrk's connections all come from 127.0.0.1.
export EDGE_MAX_CONNECTIONS_PER_IP="${EDGE_MAX_CONNECTIONS_PER_IP:-$((conns + 64))}"
export AUTH_REGISTER_MAX_PER_IP="${AUTH_REGISTER_MAX_PER_IP:-1000000}"

# stop_pid NAME PID: SIGTERM, a bounded wait, then SIGKILL; only while PID
# still runs NAME, so a reused pid is never signalled.
stop_pid() {
	local name="$1" pid="$2" i
	_pid_is "$pid" "$name" || return 0
	log "stopping $name"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 40; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.25
	done
	warn "$name (pid $pid) ignored SIGTERM; killing it"
	kill -KILL "$pid" 2>/dev/null || true
}

# show_logs: the end of every log, for a failure.
show_logs() {
	local f
	for f in "$work"/logs/*.log "$work"/nginx/error.log; do
		[[ -s "$f" ]] || continue
		printf -- '--- %s\n' "$f" >&2
		tail -n 15 "$f" >&2
	done
}

fail() {
	show_logs
	die "$*"
}

declare -A pid_of=()
# start NAME COMMAND...: runs COMMAND in its own session (Ctrl-C reaches
# only this script, which stops everything in order), logging to
# logs/NAME.log. setsid execs in place, so $! is the server itself.
start() {
	local name="$1"
	shift
	setsid "$@" </dev/null >"$work/logs/$name.log" 2>&1 &
	pid_of[$name]=$!
	add_cleanup stop_pid "$(basename "$1")" "$!"
	disown "$!"
}

edge="http://127.0.0.1:$edge_port"
SERVICES=()

# start_mode MODE: starts the stack in MODE (single: microcore; split: the
# four binaries) and waits until the edge is ready. SERVICES lists its
# processes; edge_proc is the one that serves HTTP.
start_mode() {
	local name deadline
	if [[ "$1" == single ]]; then
		SERVICES=(microcore)
		edge_proc=microcore
	else
		SERVICES=("${SPLIT[@]}")
		edge_proc=edge
	fi
	log "$1 mode: starting ${SERVICES[*]}"
	for name in "${SERVICES[@]}"; do
		start "$name" "$build/$name/$name"
	done
	deadline=$((SECONDS + 30))
	until curl -fsS --max-time 2 -o /dev/null "$edge/readyz" 2>/dev/null; do
		for name in "${SERVICES[@]}"; do
			pid_alive "${pid_of[$name]}" || fail "$name exited while starting"
		done
		((SECONDS < deadline)) || fail "the services were not ready within 30 s"
		sleep 0.5
	done
}

# stop_mode: stops the processes start_mode started, and checks that none
# of them died during the runs.
stop_mode() {
	local name
	for name in "${SERVICES[@]}"; do
		pid_alive "${pid_of[$name]}" || fail "$name exited during the benchmark"
	done
	for name in "${SERVICES[@]}"; do
		stop_pid "$name" "${pid_of[$name]}"
	done
}

start_mode "${modes[0]}"

# ---------------------------------------------------------------------------
# Users and tokens

tokens="$work/tokens"
BENCH_EDGE="$edge"
BENCH_PASSWORD="bench-password-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BENCH_EDGE BENCH_PASSWORD

# enroll I: registers user I and logs it in, through the edge; prints its
# access token. Usernames have a fixed width so every profile body has the
# same size.
enroll() {
	local user code body token
	user="$(printf 'bench%05d' "$1")"
	code="$(curl -sS --max-time 60 -o /dev/null -w '%{http_code}' \
		-H 'Content-Type: application/json' \
		-d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"$BENCH_PASSWORD\"}" \
		"$BENCH_EDGE/register")" || return 1
	if [[ "$code" != 201 ]]; then
		printf 'POST /register %s: HTTP %s\n' "$user" "$code" >&2
		return 1
	fi
	body="$(curl -sS --max-time 60 -w '\n%{http_code}' \
		-H 'Content-Type: application/json' \
		-d "{\"username\":\"$user\",\"password\":\"$BENCH_PASSWORD\"}" \
		"$BENCH_EDGE/login")" || return 1
	code="${body##*$'\n'}"
	if [[ "$code" != 200 ]]; then
		printf 'POST /login %s: HTTP %s: %s\n' "$user" "$code" "${body%$'\n'*}" >&2
		return 1
	fi
	token="$(jq -er .access_token <<<"${body%$'\n'*}")" || return 1
	printf '%s\n' "$token"
}
export -f enroll

log "registering and logging in $users users ($parallel in parallel)"
started=$SECONDS
# shellcheck disable=SC2016 # $1 belongs to the inner shell
if ! seq 1 "$users" | xargs -P "$parallel" -n 1 bash -c 'enroll "$1"' _ >"$tokens"; then
	fail "registering or logging in a user failed"
fi
have="$(grep -c . "$tokens" || true)"
((have == users)) || fail "got $have tokens for $users users"
log "$users tokens in $((SECONDS - started)) s"

# One GET /profile per token fills the profile cache. Bodies differ by a few
# bytes (timestamps lose trailing zeros); one of the most common size becomes
# nginx's file.
log "warming the profile cache"
mkdir -p "$work/bodies"
declare -A size_count=()
while read -r token; do
	res="$(curl -sS --max-time 10 -o "$work/body" -w '%{http_code} %{size_download}' \
		-H "Authorization: Bearer $token" "$edge/profile")" ||
		fail "GET /profile failed"
	code="${res% *}"
	size="${res#* }"
	[[ "$code" == 200 ]] || fail "GET /profile answered HTTP $code while warming: $(cat "$work/body")"
	size_count[$size]=$((${size_count[$size]:-0} + 1))
	mv -f "$work/body" "$work/bodies/$size"
done <"$tokens"
body_size=""
sizes=""
for size in $(printf '%s\n' "${!size_count[@]}" | sort -n); do
	sizes+="${sizes:+, }$size bytes x${size_count[$size]}"
	if [[ -z "$body_size" ]] || ((size_count[$size] > size_count[$body_size])); then
		body_size="$size"
	fi
done
body_file="$work/www/profile"
cp "$work/bodies/$body_size" "$body_file"
chmod 644 "$body_file"
cached="$(redis-cli -p "$redis_port" --scan --pattern 'profile:*' | grep -c . || true)"
((cached >= users)) || fail "only $cached of $users profiles are cached in Redis"
log "profile bodies: $sizes; nginx serves $body_size bytes; $cached profiles cached"

# ---------------------------------------------------------------------------
# nginx

# The master runs as this user; as root its workers drop to nobody, who can
# read the file (the directories are 755, the file 644).
nginx_user=""
if ((EUID == 0)); then
	nginx_user="user nobody nogroup;"
fi
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOF
$nginx_user
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    # Connections stay open for the whole run, as they do on the edge.
    keepalive_requests 100000000;
    keepalive_timeout 65;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /profile {
            default_type application/json;
            alias $body_file;
        }
    }
}
EOF
"$nginx_bin" -t -q -p "$work/nginx/" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" ||
	fail "nginx rejected its configuration"
log "starting nginx on 127.0.0.1:$nginx_port"
start nginx "$nginx_bin" -p "$work/nginx/" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf"
nginx_url="http://127.0.0.1:$nginx_port/profile"
deadline=$((SECONDS + 10))
until res="$(curl -sS --max-time 2 -o /dev/null -w '%{http_code} %{size_download}' "$nginx_url" 2>/dev/null)"; do
	pid_alive "${pid_of[nginx]}" || fail "nginx exited while starting"
	((SECONDS < deadline)) || fail "nginx did not answer within 10 s"
	sleep 0.2
done
[[ "$res" == "200 $body_size" ]] || fail "nginx answered '$res', expected '200 $body_size'"
nginx_headers="$(curl -sS --max-time 2 -o /dev/null -w '%{size_header}' "$nginx_url")"
edge_headers="$(curl -sS --max-time 2 -o /dev/null -w '%{size_header}' \
	-H "Authorization: Bearer $(head -n1 "$tokens")" "$edge/profile")"
nginx_workers="$(pgrep -c -P "${pid_of[nginx]}" || true)"

# ---------------------------------------------------------------------------
# Runs

lua="$ROOT/bench/profile-tokens.lua"
[[ -f "$lua" ]] || die "missing $lua"

# field NAME: the value of NAME=... on wrk's "bench:" line.
field() { sed -n "s/^bench:.* $1=\([^ ]*\).*/\1/p"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }

# run_wrk LABEL URL: one wrk run; sets rps, p50, p99 and errs.
run_wrk() {
	local label="$1" url="$2" out requests non200
	out="$work/wrk/$(tr -c 'A-Za-z0-9' _ <<<"$label").txt"
	log "wrk -t$wrk_threads -c$conns -d${secs}s --latency: $label"
	BENCH_TOKENS="$tokens" wrk -t"$wrk_threads" -c"$conns" -d"${secs}s" --latency \
		-s "$lua" "$url" >"$out" 2>&1 || {
		cat "$out" >&2
		fail "wrk failed against $label"
	}
	sed 's/^/    /' "$out" >&2
	rps="$(awk '/^Requests\/sec:/ { printf "%d", $2 + 0.5 }' "$out")"
	requests="$(field requests <"$out")"
	non200="$(field non200 <"$out")"
	[[ -n "$rps" && -n "$requests" && -n "$non200" ]] ||
		fail "could not read wrk's output for $label ($out)"
	((requests > 0)) || fail "no request completed against $label"
	((non200 == 0)) ||
		fail "$label: $non200 of $requests responses were not 200 ($(field statuses <"$out"))"
	p50="$(ms "$(field p50_us <"$out")")"
	p99_us="$(field p99_us <"$out")"
	p99="$(ms "$p99_us")"
	errs="$(field connect_errors <"$out")/$(field read_errors <"$out")/$(field write_errors <"$out")/$(field timeouts <"$out")"
	if [[ "$errs" != 0/0/0/0 ]]; then
		warn "$label: socket errors connect/read/write/timeout = $errs"
	fi
}

# cpu_busy SECONDS: percentage of all cores' time spent busy over SECONDS,
# from /proc/stat. Sampled while everything here is idle, it shows other work
# on the machine, which skews both targets.
cpu_busy() {
	local a b
	a="$(head -n1 /proc/stat)"
	sleep "$1"
	b="$(head -n1 /proc/stat)"
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x); split(b, y)
		for (i = 2; i <= 9 && i <= n; i++) { d = y[i] - x[i]; total += d; if (i == 5 || i == 6) idle += d }
		printf "%.0f%%", (total > 0 ? 100 * (total - idle) / total : 0)
	}'
}
# profile_edge MODE: one more edge run with perf record on the edge's
# process; prints its hottest symbols (self time) to stderr and keeps the
# report in the temporary directory.
profile_edge() {
	local pid="${pid_of[$edge_proc]}" data="$work/perf-$1.data"
	log "$1 mode: perf record -g on $edge_proc (pid $pid) during one more run"
	perf record -q -g -F 499 -p "$pid" -o "$data" -- sleep "$secs" >/dev/null 2>&1 &
	local perf_pid=$!
	run_wrk "edge GET /profile under perf ($1)" "$edge/profile"
	wait "$perf_pid" || warn "perf record failed"
	perf report -i "$data" --stdio --no-children -g none --sort dso,symbol 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 25 >"$work/perf-$1.txt" || true
	printf -- '--- perf, %s mode, %s: hottest symbols (self)\n' "$1" "$edge_proc" >&2
	sed 's/^/    /' "$work/perf-$1.txt" >&2
	printf -- '--- perf, %s mode, %s: time by object (self)\n' "$1" "$edge_proc" >&2
	perf report -i "$data" --stdio --no-children -g none --sort dso 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 12 | sed 's/^/    /' >&2 || true
}

busy=()
rows=()
declare -A sum_rps=() sum_nginx=() worst_p99=()
for ((mi = 0; mi < ${#modes[@]}; mi++)); do
	mode="${modes[mi]}"
	((mi == 0)) || start_mode "$mode"
	sum_rps[$mode]=0
	sum_nginx[$mode]=0
	worst_p99[$mode]=0
	for ((r = 1; r <= rounds; r++)); do
		busy+=("$(cpu_busy 2)")
		if ((${busy[-1]%\%} > 10)); then
			warn "the CPUs were ${busy[-1]} busy with other work before $mode round $r; its figures are unreliable"
		fi
		suffix=" ($mode, round $r)"
		run_wrk "nginx, static file$suffix" "$nginx_url"
		nginx_rps="$rps"
		rows+=("| nginx, static file$suffix | $rps | $p50 | $p99 | 1 |")
		run_wrk "edge GET /profile$suffix" "$edge/profile"
		ratio="$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
		rows+=("| edge \`GET /profile\`, cache hit$suffix | $rps | $p50 | $p99 | $ratio |")
		sum_rps[$mode]=$((sum_rps[$mode] + rps))
		sum_nginx[$mode]=$((sum_nginx[$mode] + nginx_rps))
		((p99_us > worst_p99[$mode])) && worst_p99[$mode]=$p99_us
	done
	if [[ "$perf_on" == 1 ]]; then
		profile_edge "$mode"
	fi
	stop_mode
done

# ---------------------------------------------------------------------------
# Report

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
mem="$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
printf '\n'
printf 'Machine: %s cores (nproc), %s, %s; %s\n' \
	"$(nproc)" "${cpu:-unknown CPU}" "$mem" "$(date -u '+%F %H:%M UTC')"
printf 'CPU busy with other work in the 2 s before each round: %s\n' "$(
	IFS=/
	printf '%s' "${busy[*]}"
)"
printf 'Edge: EDGE_THREADS=%s, RPC_WORKERS=%s (unset: the defaults); nginx %s, %s worker(s)\n' \
	"${EDGE_THREADS:-unset}" "${RPC_WORKERS:-unset}" \
	"$("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///')" "${nginx_workers:-?}"
printf 'wrk -t%s -c%s -d%ss --latency, %s users'"'"' tokens round robin\n' \
	"$wrk_threads" "$conns" "$secs" "$users"
printf 'Response bodies: nginx %s bytes, edge %s; headers: nginx %s bytes, edge %s bytes\n' \
	"$body_size" "$sizes" "$nginx_headers" "$edge_headers"
printf '\n'
printf '| target | req/s | p50 | p99 | ratio vs nginx |\n'
printf '|---|---:|---:|---:|---:|\n'
printf '%s\n' "${rows[@]}"

# The summary: per mode, the mean over its rounds of edge and nginx req/s
# (nginx measured beside it in each round), the worst p99, and the target.
printf '\n'
printf '| mode | nginx req/s | edge req/s | ratio | worst p99 | target | met |\n'
printf '|---|---:|---:|---:|---:|---|---|\n'
for mode in "${modes[@]}"; do
	if [[ "$mode" == single ]]; then
		target="≥ 0.4× nginx, p99 ≤ 5 ms"
		min_ratio=0.4
		max_p99=5000
	else
		target="≥ 0.25× nginx"
		min_ratio=0.25
		max_p99=0
	fi
	awk -v m="$mode" -v e="${sum_rps[$mode]}" -v n="${sum_nginx[$mode]}" -v k="$rounds" \
		-v p="${worst_p99[$mode]}" -v t="$target" -v r="$min_ratio" -v mp="$max_p99" 'BEGIN {
		ratio = (n > 0 ? e / n : 0)
		met = (ratio >= r && (mp == 0 || p <= mp)) ? "yes" : "no"
		printf "| %s | %d | %d | %.3f | %.2f ms | %s | %s |\n", m, n / k + 0.5, e / k + 0.5, ratio, p / 1000, t, met
	}'
done
