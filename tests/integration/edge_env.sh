# Sourced by the shell tests that need the whole stack behind the edge:
# svc-auth, svc-user, svc-admin and the edge on free ports, each service on
# a database of its own (svc_env.sh), every call between them over mutual
# TLS (tls+tcp://) with a CA and certificates scripts/certs.sh makes in
# TMPDIR/pki, as the stack command runs them (EDGE_ENV_PLAIN=1: plain
# tcp://). EDGE_ENV_MODE=single runs them all in one microcore process
# instead (each with its own certificate through AUTH_RPC_TLS_* and the like;
# its one log is also reachable as auth.log, user.log, admin.log and
# edge.log; edge_env_pids holds that one process). Needs the variables
# scripts/test.sh exports. Usage:
#   source edge_env.sh
#   edge_env_start BUILD_DIR TMPDIR [VAR=value ...]   # extra env for the edge
#   ... "$edge_base" is the edge's URL, "$edge_port" its port, "$edge_env_pki"
#   the certificates' directory; rpcctl speaks as "ops" (RPCCTL_*);
#   edge_env_metrics lists each process's metrics URL as NAME=URL (split:
#   svc-auth, svc-user, svc-admin, edge; single: microcore) ...
#   edge_env_as NAME COMMAND... &   # COMMAND with NAME's certificate
#   edge_env_stop   (also on EXIT through the trap edge_env_start sets)
# shellcheck source=tests/integration/svc_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/svc_env.sh"
edge_env_pids=()
edge_env_metrics=()
edge_env_tmp=""
edge_env_pki=""
edge_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"

# edge_env_as NAME COMMAND...: execs COMMAND with the certificate of the
# identity NAME (edge, svc-auth, svc-user, svc-admin, ops) in RPC_TLS_*, as
# the process of that name gets it. It replaces the shell it runs in: start
# it in the background (&, then $! is COMMAND) or in a subshell.
edge_env_as() {
  local name=$1
  shift
  if [[ -z $edge_env_pki ]]; then
    exec "$@"
  fi
  exec env RPC_TLS_CERT_FILE="$edge_env_pki/$name.crt" \
    RPC_TLS_KEY_FILE="$edge_env_pki/$name.key" RPC_TLS_CA_FILE="$edge_env_pki/ca.crt" \
    RPC_TLS_CRL_FILE="$edge_env_pki/crl.pem" "$@"
}

edge_env_stop() {
  local p status=0
  for p in "${edge_env_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${edge_env_pids[@]}"; do wait "$p" 2>/dev/null || status=$?; done
  edge_env_pids=()
  svc_env_cleanup
  svc_env_db=""
  return "$status"
}

edge_env_start() {
  local build=$1 tmp=$2
  shift 2
  edge_env_tmp=$tmp
  svc_env_setup
  trap 'edge_env_stop; rm -rf "$edge_env_tmp"' EXIT
  edge_port=$(free_port)
  local auth_port user_port admin_port
  auth_port=$(free_port)
  user_port=$(free_port)
  admin_port=$(free_port)
  local scheme=tls+tcp
  edge_env_pki=""
  if [[ ${EDGE_ENV_PLAIN:-0} == 1 ]]; then
    scheme=tcp
  else
    edge_env_pki=$tmp/pki
    "$edge_env_root/scripts/certs.sh" init "$edge_env_pki" >/dev/null
    export RPCCTL_CERT=$edge_env_pki/ops.crt RPCCTL_KEY=$edge_env_pki/ops.key \
      RPCCTL_CACERT=$edge_env_pki/ca.crt
  fi
  export AUTH_RPC_DIAL=$scheme://127.0.0.1:$auth_port USER_RPC_DIAL=$scheme://127.0.0.1:$user_port \
    ADMIN_RPC_DIAL=$scheme://127.0.0.1:$admin_port
  # Every process's metrics listener on a free port of its own (the
  # defaults would collide between the tests that run side by side).
  local metrics_auth metrics_user metrics_admin metrics_edge metrics_single
  metrics_auth=$(free_port)
  metrics_user=$(free_port)
  metrics_admin=$(free_port)
  metrics_edge=$(free_port)
  metrics_single=$(free_port)
  if [[ ${EDGE_ENV_MODE:-split} == single ]]; then
    edge_env_metrics=("microcore=http://127.0.0.1:$metrics_single/metrics")
  else
    edge_env_metrics=("svc-auth=http://127.0.0.1:$metrics_auth/metrics"
      "svc-user=http://127.0.0.1:$metrics_user/metrics"
      "svc-admin=http://127.0.0.1:$metrics_admin/metrics"
      "edge=http://127.0.0.1:$metrics_edge/metrics")
  fi
  if [[ ${EDGE_ENV_MODE:-split} == single ]]; then
    edge_env_start_single "$build" "$tmp" "$@"
  else
    edge_env_start_split "$build" "$tmp" "$@"
  fi
  edge_base=http://127.0.0.1:$edge_port
  local code=000
  for _ in $(seq 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$edge_base/readyz" || true)
    [[ $code == 200 ]] && return 0
    sleep 0.05
  done
  echo "FAIL: the stack did not become ready (readyz $code); logs in $tmp" >&2
  cat "$tmp"/*.log >&2
  return 1
}

# The edge's RPC deadline unless a test gives its own: the default 3 s is
# a production budget; a chain that hashes a password (account deletion:
# edge -> svc-admin -> svc-auth -> svc-user) on a loaded 2-core machine
# (ctest -j2, sanitizers, other work) can outlast it, and these tests check
# what the calls do, not how fast. A service that is down still answers
# at once (no connection), so no test waits longer for that.
edge_env_rpc_timeout_ms=15000

# The four processes of the split mode.
edge_env_start_split() {
  local build=$1 tmp=$2
  shift 2
  AUTH_RPC_LISTEN=$AUTH_RPC_DIAL LOG_LEVEL=${SVC_LOG_LEVEL:-warn} \
    METRICS_LISTEN=127.0.0.1:$metrics_auth \
    edge_env_as svc-auth "$build/svc-auth/svc-auth" 2>"$tmp/auth.log" &
  edge_env_pids+=($!)
  USER_RPC_LISTEN=$USER_RPC_DIAL LOG_LEVEL=${SVC_LOG_LEVEL:-warn} \
    METRICS_LISTEN=127.0.0.1:$metrics_user \
    edge_env_as svc-user "$build/svc-user/svc-user" 2>"$tmp/user.log" &
  edge_env_pids+=($!)
  ADMIN_RPC_LISTEN=$ADMIN_RPC_DIAL LOG_LEVEL=${SVC_LOG_LEVEL:-warn} \
    METRICS_LISTEN=127.0.0.1:$metrics_admin \
    edge_env_as svc-admin "$build/svc-admin/svc-admin" 2>"$tmp/admin.log" &
  edge_env_pids+=($!)
  edge_env_as edge env EDGE_LISTEN="127.0.0.1:$edge_port" LOG_LEVEL=warn \
    METRICS_LISTEN="127.0.0.1:$metrics_edge" EDGE_RPC_TIMEOUT_MS="$edge_env_rpc_timeout_ms" "$@" \
    "$build/edge/edge" 2>"$tmp/edge.log" &
  edge_env_pids+=($!)
}

# The single-process mode: one microcore, each component with its own
# certificate (PREFIX_RPC_TLS_*), the edge's extra variables made its own
# (EDGE_ prefixed when they are not already).
edge_env_start_single() {
  local build=$1 tmp=$2 a c
  shift 2
  local -a envs=()
  if [[ -n $edge_env_pki ]]; then
    for c in AUTH:svc-auth USER:svc-user ADMIN:svc-admin EDGE:edge; do
      envs+=("${c%%:*}_RPC_TLS_CERT_FILE=$edge_env_pki/${c#*:}.crt"
        "${c%%:*}_RPC_TLS_KEY_FILE=$edge_env_pki/${c#*:}.key")
    done
    envs+=("RPC_TLS_CA_FILE=$edge_env_pki/ca.crt" "RPC_TLS_CRL_FILE=$edge_env_pki/crl.pem")
  fi
  for a in "$@"; do
    if [[ $a == EDGE_* ]]; then envs+=("$a"); else envs+=("EDGE_$a"); fi
  done
  env AUTH_RPC_LISTEN="$AUTH_RPC_DIAL" USER_RPC_LISTEN="$USER_RPC_DIAL" \
    ADMIN_RPC_LISTEN="$ADMIN_RPC_DIAL" LOG_LEVEL="${SVC_LOG_LEVEL:-warn}" \
    METRICS_LISTEN="127.0.0.1:$metrics_single" \
    EDGE_LOG_LEVEL=warn EDGE_LISTEN="127.0.0.1:$edge_port" \
    EDGE_RPC_TIMEOUT_MS="$edge_env_rpc_timeout_ms" "${envs[@]}" \
    "$build/microcore/microcore" 2>"$tmp/microcore.log" &
  edge_env_pids+=($!)
  for c in auth user admin edge; do ln -sf microcore.log "$tmp/$c.log"; done
}
