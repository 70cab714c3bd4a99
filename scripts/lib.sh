# shellcheck shell=bash
# Helpers shared by scripts/test.sh and scripts/stack.sh. Source it; it does
# nothing on its own apart from defining ROOT and functions.
#
# Everything that starts a server registers its stop with add_cleanup before
# starting it, so a failure half-way through a start, a failing step later on,
# Ctrl-C or SIGTERM all end with nothing left running.

if [[ -n "${MICROCORE_LIB_LOADED:-}" ]]; then
	return 0
fi
MICROCORE_LIB_LOADED=1

# The checkout is the parent of this file's directory; callers may run from
# anywhere, so nothing below depends on the current directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

# Debian packages the build needs: what the container image's build stage
# installs (Dockerfile), and the first part of what the scripts install.
MICROCORE_BUILD_PACKAGES=(
	build-essential cmake pkg-config git ca-certificates
	libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
	libnng-dev libpq-dev libhiredis-dev libmicrohttpd-dev
	libsodium-dev libcmocka-dev libjansson-dev libcurl4-openssl-dev
	liboath-dev libqrencode-dev
	libmbedtls-dev
)

# Debian packages the build, the tests and the local stack need. iproute2
# provides ss, which free_port and the port checks use; python3-aiosmtpd
# runs the local SMTP sink (scripts/mail-sink.py); oathtool makes the TOTP
# codes of the two-factor tests. openssl runs the RPC transport's CA
# (scripts/certs.sh).
MICROCORE_PACKAGES=(
	"${MICROCORE_BUILD_PACKAGES[@]}"
	nng-utils postgresql redis-server curl jq procps iproute2
	python3-aiosmtpd oathtool
	openssl
)

# Debian 12's clang and the runtime with libFuzzer and the sanitizers
# (scripts/fuzz.sh, the test command's clang build), and clang-format.
MICROCORE_CLANG_PACKAGES=(clang libclang-rt-14-dev clang-format)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# usage: prints the running script's help, which is its header comment (the
# comment lines after "#!", up to the first line that is not a comment).
usage() {
	awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' \
		"${BASH_SOURCE[${#BASH_SOURCE[@]} - 1]}"
}

# show_help: the help on stdout, then exits with success (for -h, --help).
show_help() {
	usage
	exit 0
}

# usage_error MESSAGE: the help on stderr, then fails with MESSAGE.
usage_error() {
	usage >&2
	die "$*"
}

# ---------------------------------------------------------------------------
# Cleanup stack

# Commands (already shell-quoted) run in reverse order by run_cleanups.
_CLEANUPS=()

# add_cleanup CMD [ARG...]: run "CMD ARG..." when the script ends, however it ends.
add_cleanup() {
	_CLEANUPS+=("$(printf '%q ' "$@")")
}

# run_cleanups: runs every registered cleanup once, newest first. Failures
# are reported but never skip the remaining cleanups: errexit is off, and each
# runs in a subshell so that one calling die (exit) cannot end the loop. A
# second Ctrl-C while stopping is ignored (by the stop commands too) so that
# servers are not left half-stopped; every stop has its own time limit.
run_cleanups() {
	local i cmd
	# PIPE too: when output went to a pipe that died with the same Ctrl-C
	# (stack.sh | tee log), a message must not kill the cleanup half-way.
	trap '' INT TERM HUP PIPE
	set +e
	for ((i = ${#_CLEANUPS[@]} - 1; i >= 0; i--)); do
		cmd="${_CLEANUPS[i]}"
		unset '_CLEANUPS[i]'
		(eval "$cmd") || warn "cleanup failed: $cmd"
	done
	_CLEANUPS=()
}

# forget_cleanups: leaves what was started running (stack.sh --detach).
forget_cleanups() {
	_CLEANUPS=()
}

_on_exit() {
	local rc=$?
	trap - EXIT
	run_cleanups
	exit "$rc"
}

# _on_signal NAME STATUS: a signal stops everything we started, then exits
# with the conventional 128+N status.
_on_signal() {
	printf '\n' >&2
	log "caught SIG$1, stopping what was started"
	run_cleanups
	exit "$2"
}

# install_cleanup_traps: call once near the top of a script.
install_cleanup_traps() {
	trap _on_exit EXIT
	trap '_on_signal INT 130' INT
	trap '_on_signal TERM 143' TERM
	trap '_on_signal HUP 129' HUP
}

# ---------------------------------------------------------------------------
# Packages

_pkg_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# _install_packages PKG...: installs the given Debian packages (apt-get
# update first), or, without root, says how to and fails.
_install_packages() {
	if ((EUID != 0)); then
		printf 'error: missing Debian packages: %s\n' "$*" >&2
		printf 'install them with:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n' \
			"$*" >&2
		printf 'or run this script with sudo.\n' >&2
		return 1
	fi
	log "installing missing packages: $*"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# ensure_packages: installs whichever of the project's packages are missing.
# apt-get update runs only when something is missing, so a machine that has
# everything needs neither root nor the network.
ensure_packages() {
	local missing=() p
	for p in "${MICROCORE_PACKAGES[@]}"; do
		_pkg_installed "$p" || missing+=("$p")
	done
	# Node.js runs the JWT interop test, the browser test and the OpenAPI
	# tests (tests/api: their packages need Node.js 18.17 or later, which
	# Debian 12's nodejs is). Machines of this project ship it; elsewhere
	# Debian's packages do.
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		missing+=(nodejs npm)
	fi
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	_install_packages "${missing[@]}"
}

# ensure_build_packages: installs whichever of the build's packages are
# missing; all that the container image's build stage needs.
ensure_build_packages() {
	local missing=() p
	for p in "${MICROCORE_BUILD_PACKAGES[@]}"; do
		_pkg_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	_install_packages "${missing[@]}"
}

# ensure_test_packages: what only the tests need on top of ensure_packages:
# Debian's Chromium, which the browser test drives headless; Debian's
# docker-compose, whose "config" command checks compose.yaml (no container
# engine is needed for that); python3-yaml, with which the deployment tests
# read compose's output and the Kubernetes manifests; clang-format (14 on
# Debian 12), for the style test and scripts/format.sh; clang and its
# runtime libraries (libFuzzer, the sanitizers), for the fuzz harnesses and
# the clang sanitizer build; Debian's prometheus, for promtool (the
# deployment tests check the Prometheus configuration and alert rules and
# run their unit tests; the metrics tests check what each process serves).
# The stack command does not call it.
ensure_test_packages() {
	local missing=() p
	if [[ ! -x /usr/bin/chromium ]]; then
		missing+=(chromium)
	fi
	for p in docker-compose python3-yaml prometheus "${MICROCORE_CLANG_PACKAGES[@]}"; do
		_pkg_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	_install_packages "${missing[@]}"
}

# ---------------------------------------------------------------------------
# Sources

# c_sources: prints the C files (.c and .h) of the checkout, relative to
# ROOT, one a line: those git tracks, or, outside a git checkout (a source
# tarball, a container's copy), every one below ROOT but for build*/ trees
# and hidden directories.
c_sources() {
	local f
	# ROOT must be the top of the checkout: a tarball unpacked inside some
	# other git work tree is not one.
	if command -v git >/dev/null &&
		[[ "$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null)" == "$ROOT" ]]; then
		# A tracked file deleted in the work tree is not there to check.
		git -C "$ROOT" ls-files -z -- '*.c' '*.h' | while IFS= read -r -d '' f; do
			if [[ -f "$ROOT/$f" ]]; then
				printf '%s\n' "$f"
			fi
		done
		return 0
	fi
	(cd "$ROOT" && find . \( -name '.?*' -o -name 'build*' \) -prune -o \
		-type f \( -name '*.c' -o -name '*.h' \) -print) |
		sed 's|^\./||' | LC_ALL=C sort
}

# ---------------------------------------------------------------------------
# Build

# build_tree DIR [CMAKE-ARG...]: configure and build the checkout into DIR.
# Extra arguments come after the default build type so they can override it.
build_tree() {
	local dir="$1"
	shift
	log "building $dir"
	cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" &&
		cmake --build "$dir" -j"$(nproc)"
}

# ---------------------------------------------------------------------------
# Fuzzing (tests/fuzz/README.md)

# The harnesses: tests/fuzz/fuzz_<name>.c, seeds in tests/fuzz/corpus/<name>/.
FUZZ_HARNESSES=(json jwt rpc edge)

# fuzz_build DIR: configures DIR with clang and CORE_FUZZ=ON and builds the
# harnesses (and only what they need). -O1 with debug information: what
# libFuzzer's documentation suggests for speed with readable reports.
fuzz_build() {
	local dir="$1" h targets=()
	for h in "${FUZZ_HARNESSES[@]}"; do
		targets+=("fuzz_$h")
	done
	log "building the fuzz harnesses in $dir"
	CC=clang cmake -S "$ROOT" -B "$dir" -DCORE_FUZZ=ON -DCORE_WERROR=ON \
		-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" >/dev/null &&
		cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}"
}

# fuzz_run DIR NAME SECONDS WORK [LIBFUZZER-ARG...]: runs harness NAME of
# build tree DIR for SECONDS (0: until its -runs or a finding), learning
# into WORK/NAME/corpus (the committed seeds are only read) and saving what
# it finds to WORK/NAME/findings/. Prints one line: the name, executions,
# executions per second, coverage and the verdict. Returns 1 on a finding
# (a crash, a sanitizer report, a leak, a timeout, running out of memory).
fuzz_run() {
	local dir="$1" name="$2" secs="$3" work="$4" rc=0 out execs rate cov
	shift 4
	mkdir -p "$work/$name/corpus" "$work/$name/findings"
	out="$work/$name/fuzz.log"
	local args=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2048
		"-artifact_prefix=$work/$name/findings/")
	if ((secs > 0)); then
		args+=("-max_total_time=$secs")
	fi
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$dir/tests/fuzz/fuzz_$name" "${args[@]}" "$@" \
		"$work/$name/corpus" "$ROOT/tests/fuzz/corpus/$name" >"$out" 2>&1 || rc=$?
	execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n1)"
	rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -n1)"
	cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$out" | tail -n1 || true)"
	if ((rc != 0)) || [[ -n "$(ls -A "$work/$name/findings")" ]]; then
		printf 'fuzz_%s: FINDING after %s executions (exit %d); see %s and %s\n' \
			"$name" "${execs:-?}" "$rc" "$out" "$work/$name/findings/" >&2
		grep -E '^(SUMMARY|==[0-9]+==ERROR|.*property failed)' "$out" | head -n5 >&2 || true
		return 1
	fi
	printf 'fuzz_%s: %s executions, %s/s, %s, no finding\n' \
		"$name" "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" >&2
}

# ---------------------------------------------------------------------------
# Ports

# port_in_use, free_port, require_free_port.
# shellcheck source=scripts/ports.sh
source "$ROOT/scripts/ports.sh"

# ---------------------------------------------------------------------------
# PostgreSQL

# pg_bindir: the newest installed PostgreSQL server's bin directory.
pg_bindir() {
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x "$d/pg_ctl" ]] || continue
		if [[ -z "$best" ]] || [[ "$(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n1)" == "$d" ]]; then
			best="$d"
		fi
	done
	[[ -n "$best" ]] || die "no PostgreSQL server found under /usr/lib/postgresql/*/bin (package postgresql)"
	printf '%s\n' "$best"
}

# _as_pg CMD...: runs CMD as the postgres user (the server refuses to run as
# root). Without root the current user runs the server itself. The command
# runs from / because postgres may not be allowed into the caller's cwd.
_as_pg() {
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# _pg_owns DIR: gives DIR to the user that runs the server.
_pg_owns() {
	if ((EUID == 0)); then
		chown postgres:postgres "$1"
	fi
}

# _dir_hash: a short stable name for this checkout, for /tmp fallbacks.
_dir_hash() {
	printf '%s' "$ROOT" | sha256sum | cut -c1-10
}

# pg_usable_dir WANTED FALLBACK_NAME: prints a directory the server can use for
# its data: WANTED when the postgres user can reach it (creating it), else
# /tmp/microcore-FALLBACK_NAME-<hash of the checkout path>. A checkout under a
# private home such as /root is not traversable by postgres, and data there
# would fail with "permission denied" deep inside initdb.
pg_usable_dir() {
	local wanted="$1" name="$2" parent fallback owner
	# A symlink left by an earlier fallback points at the real directory.
	if [[ -L "$wanted" ]]; then
		wanted="$(readlink -f "$wanted")"
	fi
	parent="$(dirname "$wanted")"
	if mkdir -p "$parent" 2>/dev/null && _as_pg test -x "$parent" 2>/dev/null; then
		printf '%s\n' "$wanted"
		return 0
	fi
	fallback="/tmp/microcore-$name-$(_dir_hash)"
	if [[ -e "$fallback" ]]; then
		# /tmp is shared: never use a directory someone else planted there.
		owner="$(stat -c %U "$fallback")"
		if [[ "$owner" != "postgres" && "$owner" != "$(id -un)" ]]; then
			die "$fallback exists and belongs to $owner; remove it or move the checkout"
		fi
	fi
	printf '%s\n' "$fallback"
}

# _pg_sockdir DATADIR: where the server's unix socket goes: a postgres-owned
# directory next to the data, since /var/run/postgresql may not exist. Empty
# when that path is too long for a unix socket (108 bytes), which leaves TCP
# only; everything here connects over TCP anyway.
_pg_sockdir() {
	local d="$1.sock"
	if ((${#d} > 80)); then
		return 0
	fi
	printf '%s\n' "$d"
}

# pg_start DATADIR PORT [--fast]: initialises DATADIR when it holds no
# cluster, then starts a server on 127.0.0.1:PORT and waits until it accepts
# connections. --fast turns off durability, for throwaway test clusters.
pg_start() {
	local dir="$1" port="$2" fast="${3:-}" bin sock conf i enc_locale=C
	bin="$(pg_bindir)"
	sock="$(_pg_sockdir "$dir")"

	mkdir -p "$dir"
	if ! _as_pg test -w "$dir" 2>/dev/null; then
		_pg_owns "$dir"
	fi
	chmod 700 "$dir"
	_as_pg test -w "$dir" ||
		die "the postgres user cannot write to $dir (is every parent directory traversable by it?)"

	# Before initdb, which takes a while, and before the port check, whose
	# message would be misleading for a server of ours left running.
	if [[ -f "$dir/postmaster.pid" ]] && _as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		die "a PostgreSQL server is already running on $dir; stop it first"
	fi
	require_free_port "$port" "PostgreSQL"

	if [[ ! -f "$dir/PG_VERSION" ]]; then
		# trust: any local user may connect as superuser, acceptable for
		# throwaway and development servers that listen on 127.0.0.1 only.
		# C.UTF-8 gives UTF-8 character semantics with byte-order sorting;
		# plain C is the fallback when the locale is not installed.
		if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
			enc_locale=C.UTF-8
		fi
		log "initialising PostgreSQL data in $dir"
		_as_pg "$bin/initdb" -D "$dir" --auth=trust -U postgres \
			--encoding=UTF8 --locale="$enc_locale" >"$dir.initdb.log" 2>&1 || {
			tail -n 30 "$dir.initdb.log" >&2
			die "initdb failed for $dir"
		}
		rm -f "$dir.initdb.log"
		# Settings that change per start live in an included file, so
		# paths with spaces or quotes never pass through pg_ctl's shell.
		printf "\ninclude_if_exists = 'microcore.conf'\n" |
			_as_pg tee -a "$dir/postgresql.conf" >/dev/null
	fi
	if [[ "$(cat "$dir/PG_VERSION")" != "$(basename "$(dirname "$bin")")" ]]; then
		die "$dir holds a PostgreSQL $(cat "$dir/PG_VERSION") cluster but the server is $(basename "$(dirname "$bin")"); remove $dir to start over"
	fi

	if [[ -n "$sock" ]]; then
		mkdir -p "$sock"
		_pg_owns "$sock"
		chmod 755 "$sock"
	fi
	conf="$(printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
		"$port" "${sock//\'/\'\'}")"
	if [[ "$fast" == "--fast" ]]; then
		conf+=$'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200'
	fi
	printf '%s\n' "$conf" | _as_pg tee "$dir/microcore.conf" >/dev/null

	log "starting PostgreSQL on 127.0.0.1:$port"
	# Fixed ports such as 55432 lie in Linux's ephemeral range, where an
	# outgoing connection can hold the port for a moment; bind errors get
	# five more tries, anything else fails at once.
	for ((i = 1; ; i++)); do
		if _as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null; then
			break
		fi
		if ((i < 6)) && tail -n 20 "$dir/server.log" 2>/dev/null | grep -q 'could not bind'; then
			warn "port $port was busy; retrying"
			sleep 2
			continue
		fi
		tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
		die "PostgreSQL did not start (log: $dir/server.log)"
	done
	for ((i = 0; i < 60; i++)); do
		if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
			return 0
		fi
		sleep 0.5
	done
	tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
	die "PostgreSQL on port $port not ready after 30 s (log: $dir/server.log)"
}

# pg_stop DATADIR: stops the server on DATADIR if one runs; safe to repeat.
pg_stop() {
	local dir="$1" bin pid
	[[ -f "$dir/postmaster.pid" ]] || return 0
	bin="$(pg_bindir)"
	if ! _as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		return 0
	fi
	log "stopping PostgreSQL ($dir)"
	# fast: disconnects clients and shuts down cleanly; immediate when that
	# hangs; SIGKILL as a last resort so no server is ever left behind.
	_as_pg "$bin/pg_ctl" -D "$dir" -m fast -w -t 30 stop >/dev/null 2>&1 && return 0
	_as_pg "$bin/pg_ctl" -D "$dir" -m immediate -w -t 10 stop >/dev/null 2>&1 && return 0
	pid="$(head -n1 "$dir/postmaster.pid" 2>/dev/null || true)"
	if [[ "$pid" =~ ^[0-9]+$ ]]; then
		warn "PostgreSQL did not stop; killing $pid"
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

# pg_psql PORT [PSQL-ARG...]: psql as the superuser over TCP, ignoring
# ~/.psqlrc and stopping at the first error.
pg_psql() {
	local port="$1"
	shift
	"$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

# pg_create_db PORT NAME: creates database NAME unless it exists.
pg_create_db() {
	local port="$1" name="$2" found
	[[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad database name: $name"
	found="$(pg_psql "$port" -d postgres -tA \
		-c "SELECT 1 FROM pg_database WHERE datname = '$name'")"
	if [[ "$found" == "1" ]]; then
		return 0
	fi
	log "creating database $name"
	pg_psql "$port" -d postgres -c "CREATE DATABASE \"$name\""
}

# ---------------------------------------------------------------------------
# Redis

# _redis_ping PORT: prints PONG when a Redis answers on PORT. Bounded: a
# foreign server on the port would otherwise leave redis-cli waiting forever.
_redis_ping() {
	timeout 2 redis-cli -p "$1" ping 2>/dev/null || true
}

# redis_start DIR PORT [--persist]: starts redis-server on 127.0.0.1:PORT
# with its files in DIR and waits for PONG. Without --persist nothing is
# written to disk; with it the append-only file keeps data between runs.
redis_start() {
	local dir="$1" port="$2" aof=no i attempt offset
	[[ "${3:-}" == "--persist" ]] && aof=yes
	mkdir -p "$dir"
	require_free_port "$port" "Redis"
	log "starting Redis on 127.0.0.1:$port"
	# As for PostgreSQL, a bind error (port briefly held by an outgoing
	# connection) gets five more tries. The daemon forks before binding, so
	# a failed bind shows only in the part of the log this start wrote.
	for ((attempt = 1; attempt <= 6; attempt++)); do
		rm -f "$dir/redis.pid"
		offset="$(stat -c %s "$dir/redis.log" 2>/dev/null || echo 0)"
		redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
			--daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
			--save "" --appendonly "$aof" >/dev/null
		for ((i = 0; i < 60; i++)); do
			if [[ "$(_redis_ping "$port")" == "PONG" ]]; then
				return 0
			fi
			if tail -c +"$((offset + 1))" "$dir/redis.log" 2>/dev/null |
				grep -q 'Could not create server TCP listening socket'; then
				break
			fi
			sleep 0.25
		done
		if ((i < 60 && attempt < 6)); then
			warn "port $port was busy; retrying"
			sleep 2
			continue
		fi
		break
	done
	tail -n 30 "$dir/redis.log" >&2 2>/dev/null || true
	die "Redis on port $port did not start or answer PING (log: $dir/redis.log)"
}

# pid_alive PID: true while PID runs. A child that exited but was not yet
# reaped (a zombie) passes kill -0, so the state in /proc decides.
pid_alive() {
	local stat
	[[ "$1" =~ ^[0-9]+$ ]] || return 1
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[[ "${stat%% *}" != Z ]]
}

# _pid_is PID NAME: true when PID is alive and is a NAME process, so a pid
# from an old pidfile that the kernel reused is never signalled. The kernel
# keeps only the first 15 characters of a command name.
_pid_is() {
	pid_alive "$1" && [[ "$(cat "/proc/$1/comm" 2>/dev/null || true)" == "${2:0:15}" ]]
}

# redis_stop PORT [DIR]: shuts down the Redis on PORT if it answers (the AOF,
# if any, is flushed); safe to repeat. With DIR its pidfile lets us wait for
# the exit and kill a server that does not go.
redis_stop() {
	local port="$1" dir="${2:-}" pid="" i
	if [[ -n "$dir" && -f "$dir/redis.pid" ]]; then
		pid="$(cat "$dir/redis.pid" 2>/dev/null || true)"
		_pid_is "$pid" redis-server || pid=""
	fi
	if [[ "$(_redis_ping "$port")" == "PONG" ]]; then
		log "stopping Redis on port $port"
		timeout 10 redis-cli -p "$port" shutdown >/dev/null 2>&1 || true
	fi
	for ((i = 0; i < 40; i++)); do
		if [[ -n "$pid" ]] && _pid_is "$pid" redis-server; then
			sleep 0.25
		elif [[ -z "$pid" && "$(_redis_ping "$port")" == "PONG" ]]; then
			sleep 0.25
		else
			return 0
		fi
	done
	if [[ -n "$pid" ]] && _pid_is "$pid" redis-server; then
		warn "Redis did not stop; killing $pid"
		kill -KILL "$pid" 2>/dev/null || true
	fi
}
