#!/usr/bin/env bash
# What mutual TLS costs the RPC core: the 64-byte echo of run-rpc.sh over
# tcp:// and over tls+tcp:// (certificates from scripts/certs.sh, the client
# with the ops identity, the server with svc-auth's), client and server in
# separate processes, the two transports alternating in one run. Besides
# calls/s and latency it prints the CPU time per call of each side (user +
# system, from /proc for the server and bash's times for the client), which
# is what the TLS records add per call. Prints a Markdown table (the one in
# bench/README.md).
#
# Usage: bench/run-rpc-tls.sh [BUILD_DIR] [SECONDS]   (defaults: build, 5)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
secs=${2:-5}
b=$build/bench
for bin in rpc_echo_server rpc_echo_client; do
  [[ -x $b/$bin ]] || { echo "missing $b/$bin: build first (cmake --build $build)" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
bash "$root/scripts/certs.sh" init "$tmp/pki" >/dev/null
creds() { # identity: the RPC_TLS_* of that identity
  echo "RPC_TLS_CERT_FILE=$tmp/pki/$1.crt RPC_TLS_KEY_FILE=$tmp/pki/$1.key RPC_TLS_CA_FILE=$tmp/pki/ca.crt"
}

tcp_port=27111
tls_port=27112
workers=${RPC_BENCH_WORKERS:-2}
"$b/rpc_echo_server" "tcp://127.0.0.1:$tcp_port" "$workers" 2>>"$tmp/server.log" & pids+=($!)
tcp_pid=$!
# shellcheck disable=SC2046 # creds prints VAR=value words for env
env $(creds svc-auth) "$b/rpc_echo_server" "tls+tcp://127.0.0.1:$tls_port" "$workers" & pids+=($!)
tls_pid=$!
sleep 0.5

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, clock ticks
hz=$(getconf CLK_TCK)

# run URL SERVER_PID CALLERS MODE [ENV...]: one cell; prints
# "calls_per_s p50 p99 server_us_per_call client_us_per_call".
run() {
  local url=$1 spid=$2 callers=$3 mode=$4; shift 4
  local s0 s1 out t0 t1
  s0=$(ticks "$spid")
  t0=$(awk '{ print $1 * 100 }' /proc/uptime)
  local TIMEFORMAT='%U %S'
  local cpu
  cpu=$( { time env "$@" "$b/rpc_echo_client" "$url" "$callers" "$secs" 64 2 "$mode" >"$tmp/out" 2>>"$tmp/client.log"; } 2>&1 )
  s1=$(ticks "$spid")
  t1=$(awk '{ print $1 * 100 }' /proc/uptime)
  out=$(cat "$tmp/out")
  local cps calls
  cps=$(field calls_per_s <<<"$out")
  calls=$(awk -v c="$cps" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", c * (t1 - t0) / 100 }')
  awk -v c="$cps" -v n="$calls" -v s="$((s1 - s0))" -v hz="$hz" -v cpu="$cpu" \
    -v p50="$(field p50_us <<<"$out")" -v p99="$(field p99_us <<<"$out")" 'BEGIN {
      split(cpu, u, " ");
      printf "%s %s %s %.1f %.1f\n", c, p50, p99,
        (n > 0 ? s / hz * 1e6 / n : 0), (n > 0 ? (u[1] + u[2]) * 1e6 / n : 0) }'
}

echo "| callers | mode | tcp:// calls/s | tls+tcp:// calls/s | ratio | tcp:// p50/p99 µs | tls+tcp:// p50/p99 µs | server CPU µs/call tcp → tls | client CPU µs/call tcp → tls |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for callers in 1 8 64; do
  for mode in sync async; do
    read -r pc p50 p99 ps pcl < <(run "tcp://127.0.0.1:$tcp_port" "$tcp_pid" "$callers" "$mode" LOG_LEVEL=warn)
    # shellcheck disable=SC2046
    read -r tc t50 t99 ts tcl < <(run "tls+tcp://127.0.0.1:$tls_port" "$tls_pid" "$callers" "$mode" $(creds ops))
    printf '| %s | %s | %s | %s | %s | %s/%s | %s/%s | %s → %s | %s → %s |\n' "$callers" "$mode" \
      "$pc" "$tc" "$(ratio "$tc" "$pc")" "$p50" "$p99" "$t50" "$t99" "$ps" "$ts" "$pcl" "$tcl"
  done
done
