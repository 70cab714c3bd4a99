#!/usr/bin/env bash
# Every process serves its metrics on its own listener (METRICS_LISTEN):
# in the split mode svc-auth, svc-user, svc-admin and the edge each, in the
# single-process mode (EDGE_ENV_MODE=single) microcore one for all, each
# series with its component. Each scrape passes `promtool check metrics`
# without a complaint, carries the process metrics and the build, and the
# RPC counters move when a request goes through the edge (the server's per
# method, the client's per target). The listener answers GET and HEAD
# /metrics only (404 elsewhere, 405 for other methods); a bad METRICS_LISTEN
# is a configuration error (exit 2), an explicit address that is taken
# keeps the process from starting (exit 1).
# Usage: metrics.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
# shellcheck source=tests/integration/edge_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/edge_env.sh"
mode=${EDGE_ENV_MODE:-split}
edge_env_start "$build" "$tmp"
passed=0
failed=0
check() { # NAME COMMAND...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
has() { grep -qE -- "$2" "$1"; }
scrape() { # NAME: the metrics of process NAME into $tmp/NAME.prom
  local e
  for e in "${edge_env_metrics[@]}"; do
    if [[ ${e%%=*} == "$1" ]]; then
      curl -sf -D "$tmp/$1.headers" -o "$tmp/$1.prom" "${e#*=}"
      return
    fi
  done
  return 1
}
url_of() { # NAME: the metrics URL of process NAME
  local e
  for e in "${edge_env_metrics[@]}"; do
    [[ ${e%%=*} == "$1" ]] && echo "${e#*=}"
  done
}
# value FILE SERIES: the value of the sample whose name and labels are
# exactly SERIES (labels in the order rendered), 0 when absent.
value() {
  awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) }' "$1"
}
lint_clean() { # FILE: promtool finds nothing to say
  if promtool check metrics <"$1" >"$1.lint" 2>&1 && ! [[ -s $1.lint ]]; then
    return 0
  fi
  cat "$1.lint" >&2
  return 1
}
increased() { # BEFORE AFTER: AFTER > BEFORE
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(b > a) }'
}

if [[ $mode == single ]]; then
  procs=(microcore)
  server=microcore client=microcore
else
  procs=(svc-auth svc-user svc-admin edge)
  server=svc-auth client=edge
fi

# Every process: a clean scrape with the process metrics.
for p in "${procs[@]}"; do
  check "$p serves its metrics" scrape "$p"
  check "  as text/plain; version=0.0.4" \
    has "$tmp/$p.headers" '^Content-Type: text/plain; version=0\.0\.4'
  check "  which promtool checks without a complaint" lint_clean "$tmp/$p.prom"
  for m in process_start_time_seconds process_resident_memory_bytes \
    process_open_fds process_max_fds process_cpu_seconds_total process_threads; do
    check "  with $m" has "$tmp/$p.prom" "^$m [0-9]"
  done
  check "  and the build ($mode mode)" \
    has "$tmp/$p.prom" "^microcore_build_info\\{version=\"[^\"]+\",mode=\"$mode\"\\} 1$"
  check "  and RSS above 1 MiB" \
    increased 1048576 "$(value "$tmp/$p.prom" process_resident_memory_bytes)"
done
if [[ $mode == split ]]; then
  for p in svc-auth svc-user svc-admin; do
    check "$p's series carry its component" \
      has "$tmp/$p.prom" "^rpc_server_workers\\{component=\"$p\"\\} [1-9]"
  done
else
  for p in svc-auth svc-user svc-admin; do
    check "microcore has $p's server series, under its component" \
      has "$tmp/microcore.prom" "^rpc_server_workers\\{component=\"$p\"\\} [1-9]"
  done
fi
check "the edge's client is connected to svc-auth" \
  has "$tmp/$client.prom" '^rpc_client_connections\{component="edge",target="svc-auth"\} [1-9]'
for s in auth user admin; do
  check "the edge's readiness probe finds $s serving" \
    has "$tmp/$client.prom" "^edge_backend_serving\\{component=\"edge\",service=\"$s\"\\} 1\$"
done

# One registration through the edge moves the server's and the client's
# counters of that call.
calls='rpc_server_calls_total{component="svc-auth",method="/auth.v1.AuthService/Register",code="OK"}'
dur='rpc_server_call_duration_seconds_count{component="svc-auth",method="/auth.v1.AuthService/Register"}'
ccalls='rpc_client_calls_total{component="edge",target="svc-auth",code="OK"}'
cdur='rpc_client_call_duration_seconds_count{component="edge",target="svc-auth"}'
s0=$(value "$tmp/$server.prom" "$calls")
d0=$(value "$tmp/$server.prom" "$dur")
c0=$(value "$tmp/$client.prom" "$ccalls")
cd0=$(value "$tmp/$client.prom" "$cdur")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"username":"metrics_user","email":"metrics@example.com","password":"correct horse battery"}' \
  "$edge_base/register")
check "a registration through the edge is 201" test "$code" = 201
scrape "$server"
[[ $client == "$server" ]] || scrape "$client"
check "rpc_server_calls_total of Register/OK went up by one" \
  test "$(value "$tmp/$server.prom" "$calls")" = "$((s0 + 1))"
check "  and its duration histogram counted it" \
  test "$(value "$tmp/$server.prom" "$dur")" = "$((d0 + 1))"
check "  with its buckets" has "$tmp/$server.prom" \
  '^rpc_server_call_duration_seconds_bucket\{component="svc-auth",method="/auth.v1.AuthService/Register",le="\+Inf"\} [1-9]'
check "  and its queue wait (Register runs on a worker)" has "$tmp/$server.prom" \
  '^rpc_server_queue_wait_seconds_count\{component="svc-auth",method="/auth.v1.AuthService/Register"\} [1-9]'
check "  with nothing left in flight" has "$tmp/$server.prom" \
  '^rpc_server_calls_in_flight\{component="svc-auth",method="/auth.v1.AuthService/Register"\} 0$'
check "rpc_client_calls_total of the edge to svc-auth went up" \
  increased "$c0" "$(value "$tmp/$client.prom" "$ccalls")"
check "  and its duration histogram" \
  increased "$cd0" "$(value "$tmp/$client.prom" "$cdur")"
# A failed login: a code no health check produces, on both sides.
lcalls='rpc_server_calls_total{component="svc-auth",method="/auth.v1.AuthService/Login",code="UNAUTHENTICATED"}'
lcc='rpc_client_calls_total{component="edge",target="svc-auth",code="UNAUTHENTICATED"}'
l0=$(value "$tmp/$server.prom" "$lcalls")
lc0=$(value "$tmp/$client.prom" "$lcc")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"username":"metrics_user","password":"not the password at all"}' "$edge_base/login")
check "a login with a wrong password is 401" test "$code" = 401
scrape "$server"
[[ $client == "$server" ]] || scrape "$client"
check "rpc_server_calls_total of Login/UNAUTHENTICATED went up by one" \
  test "$(value "$tmp/$server.prom" "$lcalls")" = "$((l0 + 1))"
check "rpc_client_calls_total of the edge to svc-auth, UNAUTHENTICATED, by one" \
  test "$(value "$tmp/$client.prom" "$lcc")" = "$((lc0 + 1))"
check "the edge counts it in edge_rpc_errors_total" has "$tmp/$client.prom" \
  '^edge_rpc_errors_total\{component="edge",service="auth",code="UNAUTHENTICATED"\} 1$'
check "the scrapes after traffic still pass promtool" lint_clean "$tmp/$server.prom"
check "  (the client's too)" lint_clean "$tmp/$client.prom"
# An unknown method is counted under "unknown", never under its name: a
# core.v1.Request whose field 1 (method) names none, sent by nngcat as ops
# (rpcctl would refuse the name itself). By name: mbed TLS matches no IP
# address SAN.
unknown=/auth.v1.AuthService/NoSuchMethod
printf "\\x0a\\x$(printf %02x "${#unknown}")%s" "$unknown" >"$tmp/unknown.bin"
tls=()
[[ -z $edge_env_pki ]] ||
  tls=(--cert "$edge_env_pki/ops.crt" --key "$edge_env_pki/ops.key" --cacert "$edge_env_pki/ca.crt")
timeout 10 nngcat --req0 --dial "${AUTH_RPC_DIAL/127.0.0.1/localhost}" "${tls[@]}" \
  --file "$tmp/unknown.bin" --raw --count 1 --interval 1 >"$tmp/unknown.reply" 2>&1 || true
scrape "$server"
check "a call of an unknown method counts as method=\"unknown\"" has "$tmp/$server.prom" \
  '^rpc_server_calls_total\{component="svc-auth",method="unknown",code="UNIMPLEMENTED"\} [1-9]'
check "  and adds no series named after it" \
  bash -c "! grep -q NoSuchMethod '$tmp/$server.prom'"

# The edge's own metrics, on the registry under their names: on the
# metrics listener and on GET /metrics of its HTTP port alike.
check "the edge counts the request under its route and status" has "$tmp/$client.prom" \
  '^edge_http_requests_total\{component="edge",route="POST /register",status="201"\} 1$'
curl -s -o "$tmp/edge_http.prom" "$edge_base/metrics"
check "GET /metrics on the edge's HTTP port serves the same registry" has "$tmp/edge_http.prom" \
  '^rpc_client_calls_total\{component="edge",target="svc-auth",code="OK"\} [1-9]'

# The listener's answers to everything but GET /metrics.
murl=$(url_of "$client")
base=${murl%/metrics}
status() { curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' "$@"; }
check "GET / is 404" test "$(status "$base/")" = 404
check "GET /metrics/x is 404" test "$(status "$base/metrics/x")" = 404
check "GET /metricsz is 404" test "$(status "$base/metricsz")" = 404
check "POST /metrics is 405" test "$(status -X POST -d x "$murl")" = 405
check "  with Allow: GET, HEAD" has "$tmp/hdr" '^Allow: GET, HEAD'
check "DELETE /metrics is 405" test "$(status -X DELETE "$murl")" = 405
check "HEAD /metrics is 200" test "$(status -I "$murl")" = 200
check "  with the headers only" bash -c "! grep -q '^process_' '$tmp/body'"

# Configuration: a bad value is exit 2, a taken explicit address exit 1.
exits() { # STATUS COMMAND...: COMMAND exits with STATUS
  local want=$1 rc=0
  shift
  timeout 30 "$@" >/dev/null 2>"$tmp/err" || rc=$?
  test "$rc" = "$want"
}
taken=${base#http://}
for bad in nonsense 127.0.0.1 127.0.0.1:0 127.0.0.1:99999 ::1:9100 :9100; do
  if [[ $mode == single ]]; then
    check "METRICS_LISTEN=$bad: microcore exits 2" \
      exits 2 env METRICS_LISTEN="$bad" "$build/microcore/microcore"
  else
    check "METRICS_LISTEN=$bad: svc-auth exits 2" \
      exits 2 env METRICS_LISTEN="$bad" "$build/svc-auth/svc-auth"
    check "METRICS_LISTEN=$bad: the edge exits 2" \
      exits 2 env METRICS_LISTEN="$bad" EDGE_LISTEN="127.0.0.1:$(free_port)" "$build/edge/edge"
  fi
  check "  naming the variable" has "$tmp/err" 'bad configuration: METRICS_LISTEN'
done
if [[ $mode == single ]]; then
  check "a taken METRICS_LISTEN: microcore exits 1" \
    exits 1 env METRICS_LISTEN="$taken" EDGE_LISTEN="127.0.0.1:$(free_port)" \
    AUTH_RPC_LISTEN="tcp://127.0.0.1:$(free_port)" USER_RPC_LISTEN="tcp://127.0.0.1:$(free_port)" \
    ADMIN_RPC_LISTEN="tcp://127.0.0.1:$(free_port)" "$build/microcore/microcore"
else
  check "a taken METRICS_LISTEN: the edge exits 1" \
    exits 1 env METRICS_LISTEN="$taken" EDGE_LISTEN="127.0.0.1:$(free_port)" \
    AUTH_RPC_DIAL=tcp://127.0.0.1:1 USER_RPC_DIAL=tcp://127.0.0.1:1 \
    ADMIN_RPC_DIAL=tcp://127.0.0.1:1 "$build/edge/edge"
fi
check "  saying it cannot listen" has "$tmp/err" 'metrics: cannot listen'

# EDGE_METRICS=false takes GET /metrics off the edge's HTTP port only: its
# counters go on, on its metrics listener.
if [[ $mode == split ]]; then
  e2_port=$(free_port)
  e2_metrics=$(free_port)
  edge_env_as edge env EDGE_LISTEN="127.0.0.1:$e2_port" LOG_LEVEL=warn EDGE_METRICS=false \
    METRICS_LISTEN="127.0.0.1:$e2_metrics" "$build/edge/edge" 2>"$tmp/edge2.log" &
  e2_pid=$!
  up() { # up to 30 s: a sanitizer build on a loaded machine starts slowly
    for _ in $(seq 600); do
      curl -sf -o /dev/null "http://127.0.0.1:$e2_port/healthz" && return 0
      sleep 0.05
    done
    return 1
  }
  check "an edge with EDGE_METRICS=false answers" up
  check "  GET /metrics on its HTTP port is 404" \
    test "$(status "http://127.0.0.1:$e2_port/metrics")" = 404
  curl -s -o /dev/null "http://127.0.0.1:$e2_port/healthz"
  curl -s "http://127.0.0.1:$e2_metrics/metrics" >"$tmp/edge2.prom"
  check "  and its metrics listener still counts its requests" has "$tmp/edge2.prom" \
    '^edge_http_requests_total\{component="edge",route="GET /healthz",status="200"\} [1-9]'
  kill -TERM "$e2_pid"
  check "  and it stops cleanly" wait "$e2_pid"
fi

# A service that stops: the edge's readiness gauge for it falls to 0
# (the probe asks every second), the others stay 1.
if [[ $mode == split ]]; then
  user_pid=${edge_env_pids[1]}
  kill -TERM "$user_pid"
  wait "$user_pid" || true
  edge_env_pids=("${edge_env_pids[0]}" "${edge_env_pids[@]:2}")
  not_serving() {
    for _ in $(seq 100); do
      scrape edge
      has "$tmp/edge.prom" '^edge_backend_serving\{component="edge",service="user"\} 0$' && return 0
      sleep 0.1
    done
    return 1
  }
  check "svc-user stopped: edge_backend_serving for user falls to 0" not_serving
  check "  while auth stays 1" \
    has "$tmp/edge.prom" '^edge_backend_serving\{component="edge",service="auth"\} 1$'
fi

edge_env_stop || { echo "FAIL: a process did not stop cleanly" >&2; failed=$((failed + 1)); }
echo "metrics ($mode): $passed passed, $failed failed"
((failed == 0))
