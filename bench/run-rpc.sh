#!/usr/bin/env bash
# RPC core benchmark: a 64-byte echo over tcp:// loopback, client and server
# in separate processes, against a raw TCP echo (the floor) and a plain nng
# req/rep echo with callback-driven contexts (the ceiling for anything built
# on nng) measured in the same run.
# Prints a Markdown table (the one in bench/README.md): ratios "÷ TCP" are
# against raw TCP, "× nng" against the plain nng echo, both in calls/s; the
# last column is each RPC mode's median latency against the nng echo's.
#
# Usage: bench/run-rpc.sh [BUILD_DIR] [SECONDS]   (defaults: build, 5)
# RPC_BENCH_WORKERS: the RPC server's workers (default 2).
# RPC_ECHO_ON_WORKERS=1: the server runs Echo on its workers (as a handler
# that blocks) instead of inline on nng's threads.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
secs=${2:-5}
b=$build/bench
for bin in tcp_echo nng_echo rpc_echo_server rpc_echo_client; do
  [[ -x $b/$bin ]] || { echo "missing $b/$bin: build first (cmake --build $build)" >&2; exit 1; }
done

tcp_port=27101
rpc_port=27102
nng_port=27103
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$b/tcp_echo" server $tcp_port & pids+=($!)
workers=${RPC_BENCH_WORKERS:-2}
"$b/rpc_echo_server" "tcp://127.0.0.1:$rpc_port" "$workers" & pids+=($!)
"$b/nng_echo" server "tcp://127.0.0.1:$nng_port" & pids+=($!)
sleep 0.5

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "$(date -u '+%F %H:%M') UTC, $(nproc) CPUs, RPC_BENCH_WORKERS=$workers, RPC_ECHO_ON_WORKERS=${RPC_ECHO_ON_WORKERS:-0}, ${secs} s per cell, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| callers | raw TCP calls/s | nng echo calls/s | ÷ TCP | RPC sync calls/s | ÷ TCP | × nng | RPC async calls/s | ÷ TCP | × nng | TCP p50/p99 µs | nng p50/p99 µs | RPC sync p50/p99 µs | RPC async p50/p99 µs | p50 × nng sync/async |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for callers in 1 8 64; do
  t=$("$b/tcp_echo" client $tcp_port "$callers" "$secs" 64)
  n=$("$b/nng_echo" client "tcp://127.0.0.1:$nng_port" "$callers" "$secs" 64 2)
  s=$("$b/rpc_echo_client" "tcp://127.0.0.1:$rpc_port" "$callers" "$secs" 64 2 sync)
  a=$("$b/rpc_echo_client" "tcp://127.0.0.1:$rpc_port" "$callers" "$secs" 64 2 async)
  tc=$(field calls_per_s <<<"$t"); nc=$(field calls_per_s <<<"$n")
  sc=$(field calls_per_s <<<"$s"); ac=$(field calls_per_s <<<"$a")
  n50=$(field p50_us <<<"$n")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s | %s/%s | %s/%s | %s/%s | %s/%s |\n' \
    "$callers" "$tc" "$nc" "$(ratio "$nc" "$tc")" \
    "$sc" "$(ratio "$sc" "$tc")" "$(ratio "$sc" "$nc")" \
    "$ac" "$(ratio "$ac" "$tc")" "$(ratio "$ac" "$nc")" \
    "$(field p50_us <<<"$t")" "$(field p99_us <<<"$t")" \
    "$n50" "$(field p99_us <<<"$n")" \
    "$(field p50_us <<<"$s")" "$(field p99_us <<<"$s")" \
    "$(field p50_us <<<"$a")" "$(field p99_us <<<"$a")" \
    "$(ratio "$(field p50_us <<<"$s")" "$n50")" "$(ratio "$(field p50_us <<<"$a")" "$n50")"
done
