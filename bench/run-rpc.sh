#!/usr/bin/env bash
# RPC core benchmark: a 64-byte echo over tcp:// loopback, client and server
# in separate processes, against a raw TCP echo measured in the same run.
# Prints a Markdown table (the one in bench/README.md).
#
# Usage: bench/run-rpc.sh [BUILD_DIR] [SECONDS]   (defaults: build, 5)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
secs=${2:-5}
b=$build/bench
for bin in tcp_echo rpc_echo_server rpc_echo_client; do
  [[ -x $b/$bin ]] || { echo "missing $b/$bin: build first (cmake --build $build)" >&2; exit 1; }
done

tcp_port=27101
rpc_port=27102
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$b/tcp_echo" server $tcp_port & pids+=($!)
workers=${RPC_BENCH_WORKERS:-2}
"$b/rpc_echo_server" "tcp://127.0.0.1:$rpc_port" "$workers" & pids+=($!)
sleep 0.5

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "| callers | raw TCP calls/s | RPC sync calls/s | ratio | RPC async calls/s | ratio | TCP p50/p99 µs | RPC sync p50/p99 µs | RPC async p50/p99 µs |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for callers in 1 8 64; do
  t=$("$b/tcp_echo" client $tcp_port "$callers" "$secs" 64)
  s=$("$b/rpc_echo_client" "tcp://127.0.0.1:$rpc_port" "$callers" "$secs" 64 2 sync)
  a=$("$b/rpc_echo_client" "tcp://127.0.0.1:$rpc_port" "$callers" "$secs" 64 2 async)
  tc=$(field calls_per_s <<<"$t"); sc=$(field calls_per_s <<<"$s"); ac=$(field calls_per_s <<<"$a")
  printf '| %s | %s | %s | %s | %s | %s | %s/%s | %s/%s | %s/%s |\n' "$callers" "$tc" "$sc" \
    "$(ratio "$sc" "$tc")" "$ac" "$(ratio "$ac" "$tc")" \
    "$(field p50_us <<<"$t")" "$(field p99_us <<<"$t")" \
    "$(field p50_us <<<"$s")" "$(field p99_us <<<"$s")" \
    "$(field p50_us <<<"$a")" "$(field p99_us <<<"$a")"
done
