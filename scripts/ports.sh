# shellcheck shell=bash
# Free TCP ports for the scripts and the shell tests. Source it (scripts/lib.sh
# does, and so does tests/integration/svc_env.sh); it only defines functions.
#
# A port handed out by free_port stays reserved for PORT_RESERVE_MIN minutes
# (a directory per port under PORT_RESERVE_DIR, made with mkdir, which is
# atomic): nothing else that uses free_port gets it in that time, whether it
# asks from the same script, from a $(free_port) subshell or from another
# test running in parallel. A server binds its port within seconds of the
# pick; once it has, port_in_use guards it.

PORT_RESERVE_DIR="${PORT_RESERVE_DIR:-${TMPDIR:-/tmp}/microcore-ports}"
PORT_RESERVE_MIN="${PORT_RESERVE_MIN:-10}"

# port_in_use PORT: true when a TCP socket on any address uses PORT locally
# (listening or connected), or something answers on 127.0.0.1:PORT.
# TIME-WAIT leftovers of closed connections do not count: servers bind with
# SO_REUSEADDR, and counting them would refuse a restart for a minute after
# every stop.
port_in_use() {
	local port="$1"
	if command -v ss >/dev/null 2>&1; then
		if [[ -n "$(ss -Htan exclude time-wait "( sport = :$port )" 2>/dev/null)" ]]; then
			return 0
		fi
	fi
	# Works without iproute2, and is the final word on listeners that a
	# restricted /proc would hide from ss.
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		return 0
	fi
	return 1
}

# port_reserve PORT: true when this call reserved PORT, false when someone
# else holds a reservation younger than PORT_RESERVE_MIN minutes.
port_reserve() {
	local d="$PORT_RESERVE_DIR/$1"
	if mkdir "$d" 2>/dev/null; then
		return 0
	fi
	# An old reservation is taken over: its owner has bound the port (the
	# caller checks port_in_use) or never will.
	if [[ -n "$(find "$d" -maxdepth 0 -mmin "+$PORT_RESERVE_MIN" 2>/dev/null)" ]]; then
		touch "$d" 2>/dev/null && return 0
	fi
	return 1
}

# free_port [EXCLUDED-PORT...]: prints a TCP port that is free on 127.0.0.1
# and reserves it (see above). Ports come from 20000-32767, below Linux's
# default ephemeral range (32768-60999), so an outgoing connection cannot
# take the port between this check and the server's bind. Ports passed as
# arguments are never picked.
# shellcheck disable=SC2120 # the excluded ports are optional
free_port() {
	local p tries ex taken
	if mkdir -p "$PORT_RESERVE_DIR" 2>/dev/null; then
		chmod 1777 "$PORT_RESERVE_DIR" 2>/dev/null || true
	fi
	for ((tries = 0; tries < 500; tries++)); do
		p=$((20000 + RANDOM % 12768))
		taken=0
		for ex in "$@"; do
			[[ "$ex" == "$p" ]] && taken=1
		done
		((taken == 0)) || continue
		port_in_use "$p" && continue
		port_reserve "$p" || continue
		printf '%s\n' "$p"
		return 0
	done
	printf 'error: no free TCP port found on 127.0.0.1\n' >&2
	return 1
}

# require_free_port PORT WHAT [HINT]: fails with a clear message when PORT
# is taken.
require_free_port() {
	if port_in_use "$1"; then
		printf 'error: port %s (%s) is already in use%s\n' "$1" "$2" "${3:+; $3}" >&2
		exit 1
	fi
}
