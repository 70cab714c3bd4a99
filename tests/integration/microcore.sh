#!/usr/bin/env bash
# The single-process mode itself (microcore): bad --run lists exit 2; the
# whole stack in one process (edge_env.sh, EDGE_ENV_MODE=single) logs one
# stream with the component in each line (a request's lines under the
# components that served it), reads a component's own PREFIX_NAME before
# the shared NAME, listens for the other components on one inproc:// URL
# per caller and for the outside on its tls+tcp:// URLs (rpcctl health),
# and exits 0 on SIGTERM after draining. A subset (--run auth,user) serves
# on its own, svc-user dialling svc-auth inside the process.
# Usage: microcore.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
passed=0
failed=0
check() { # NAME COMMAND...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
has() { grep -qE -- "$2" "$1"; }
fails_grep() { ! grep -qE -- "$2" "$1"; }
exits() { # STATUS COMMAND...: COMMAND exits with STATUS
  local want=$1 rc=0
  shift
  "$@" >/dev/null 2>"$tmp/err" || rc=$?
  test "$rc" = "$want"
}
mc="$build/microcore/microcore"

check "an unknown component is a usage error (exit 2)" exits 2 "$mc" --run auth,bogus
check "  naming it" has "$tmp/err" '"bogus" is unknown'
check "a component listed twice is a usage error" exits 2 "$mc" --run user,user
check "an empty list is a usage error" exits 2 "$mc" --run ""
check "an unknown argument is a usage error" exits 2 "$mc" --serve

# shellcheck source=tests/integration/edge_env.sh
source "$here/edge_env.sh"
export SVC_LOG_LEVEL=info USER_RPC_WORKERS=3
EDGE_ENV_MODE=single edge_env_start "$build" "$tmp" LOG_LEVEL=info
log=$tmp/microcore.log
for c in microcore svc-auth svc-user svc-admin edge; do
  check "the one log has lines of $c" has "$log" "\"service\":\"$c\""
done
check "svc-user reads its own USER_RPC_WORKERS" \
  has "$log" '"service":"svc-user","msg":"configuration","config":\{[^}]*"USER_RPC_WORKERS":"3"'
check "svc-auth the shared RPC_WORKERS" \
  has "$log" '"service":"svc-auth","msg":"configuration","config":\{[^}]*"RPC_WORKERS":"8"'
check "svc-auth listens for the edge on its own inproc:// URL" \
  has "$log" '"service":"svc-auth","msg":"listening","url":"inproc://svc-auth/from/edge"'
check "  and for svc-admin on another" \
  has "$log" '"service":"svc-auth","msg":"listening","url":"inproc://svc-auth/from/svc-admin"'
check "  and for the outside on tls+tcp://" \
  has "$log" '"service":"svc-auth","msg":"listening","url":"tls\+tcp://'
check "each component logs when it is ready" \
  test "$(grep -cE '"msg":"(ready|listening)","(since_start_ms|url":"127)' "$log")" -ge 4
check "rpcctl reaches every service from outside" "$build/cli/rpcctl" --timeout 3000 health

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -H 'X-Request-Id: microcore-reg-1' \
  -d '{"username":"mc_user","email":"mc@example.com","password":"correct horse battery"}' \
  "$edge_base/register")
check "a registration through the edge is 201" test "$code" = 201
check "  its request id is in svc-auth's lines (a worker thread of svc-auth)" \
  has "$log" '"service":"svc-auth","request_id":"microcore-reg-1"'

kill -TERM "${edge_env_pids[0]}"
rc=0
wait "${edge_env_pids[0]}" || rc=$?
edge_env_pids=()
check "SIGTERM: exit 0" test "$rc" = 0
check "  after draining each service" \
  test "$(grep -c '"msg":"signal 15: stopping"\|"msg":"stopped after' "$log")" -ge 4

# A subset: svc-auth and svc-user only, on plain tcp:// for brevity.
auth_port=$(free_port)
user_port=$(free_port)
env -u RPC_TLS_CA_FILE AUTH_RPC_LISTEN="tcp://127.0.0.1:$auth_port" \
  USER_RPC_LISTEN="tcp://127.0.0.1:$user_port" "$mc" --run user,auth 2>"$tmp/sub.log" &
sub=$!
edge_env_pids=("$sub")
ok=1
for _ in $(seq 100); do
  if AUTH_RPC_DIAL="tcp://127.0.0.1:$auth_port" "$build/cli/rpcctl" --timeout 500 \
    health --service auth >/dev/null 2>&1 &&
    USER_RPC_DIAL="tcp://127.0.0.1:$user_port" "$build/cli/rpcctl" --timeout 500 \
      health --service user >/dev/null 2>&1; then
    ok=0
    break
  fi
  sleep 0.1
done
check "--run user,auth serves both" test "$ok" = 0
check "  svc-user dials svc-auth inside the process" \
  has "$tmp/sub.log" '"service":"svc-auth","msg":"listening","url":"inproc://svc-auth/from/svc-user"'
check "  and no edge runs" fails_grep "$tmp/sub.log" '"service":"edge"'
kill -TERM "$sub"
rc=0
wait "$sub" || rc=$?
edge_env_pids=()
check "  SIGTERM: exit 0" test "$rc" = 0

# The components start at once, each in a thread of its own: every one has
# read its configuration before the first is ready (one after the other,
# svc-admin and the edge would begin only after svc-auth and svc-user).
line_of() { grep -nE -- "$2" "$1" | head -n1 | cut -d: -f1; }
first_ready=$(line_of "$log" '"msg":"ready","since_start_ms"')
check "the components start at once: all configured before the first is ready" \
  test "$(line_of "$log" '"service":"edge","msg":"configuration"')" -lt "${first_ready:-0}" -a \
  "$(line_of "$log" '"service":"svc-admin","msg":"configuration"')" -lt "${first_ready:-0}"
# A component that cannot start stops the others that did, whatever the
# order they finished in: bad configuration (exit 2), a failed init (exit 1).
admin_port=$(free_port)
run_failing() { # LOG ENV... : microcore --run auth,user,admin on plain tcp://
  local out=$1
  shift
  env -u RPC_TLS_CA_FILE AUTH_RPC_LISTEN="tcp://127.0.0.1:$auth_port" \
    USER_RPC_LISTEN="tcp://127.0.0.1:$user_port" ADMIN_RPC_LISTEN="tcp://127.0.0.1:$admin_port" \
    "$@" "$mc" --run auth,user,admin 2>"$out"
}
rc=0
run_failing "$tmp/bad.log" ADMIN_RPC_WORKERS=0 || rc=$?
check "a bad setting of one component: exit 2" test "$rc" = 2
check "  it names the setting" has "$tmp/bad.log" '"msg":"bad configuration: RPC_WORKERS'
check "  the others started beside it and are stopped" \
  test "$(grep -cE '"service":"svc-(auth|user)","msg":"stopped after' "$tmp/bad.log")" = 2
rc=0
run_failing "$tmp/kek.log" AUTH_KEK=not-a-key || rc=$?
check "a failed init of the first component: exit 1" test "$rc" = 1
check "  its reason logged" has "$tmp/kek.log" '"service":"svc-auth".*AUTH_KEK must be'
check "  the later ones, started at the same time, are stopped" \
  test "$(grep -cE '"service":"svc-(user|admin)","msg":"stopped after' "$tmp/kek.log")" = 2
check "  and the process stops cleanly" has "$tmp/kek.log" '"service":"microcore","msg":"stopped"'

echo "microcore: $passed passed, $failed failed"
((failed == 0))
