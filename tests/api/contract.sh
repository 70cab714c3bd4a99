#!/usr/bin/env bash
# The contract test (contract.mjs) against the whole stack: svc-auth,
# svc-user, svc-admin and the edge on free ports, each service on a
# database of its own, an admin made with `svc-auth promote-admin`. The
# limits are lowered so that a few requests reach them: 3 registrations per
# address, 3 failed logins per username, 4 KiB bodies. The edge trusts
# 127.0.0.1 as a proxy, so each test client has an address of its own
# (X-Forwarded-For).
# Usage: contract.sh BUILD_DIR [DOCUMENT]
#   DOCUMENT: check the answers against this file instead of the document
#   the edge serves (to try a changed description without a rebuild).
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
# shellcheck source=tests/api/npm_env.sh
source "$here/npm_env.sh"
# shellcheck source=tests/integration/edge_env.sh
source "$repo/tests/integration/edge_env.sh"
api_npm_install "$build"

register_max=3
login_max=3
max_body=4096
export AUTH_ARGON2_T=1 AUTH_ARGON2_M_KIB=8192 AUTH_REGISTER_MAX_PER_IP=$register_max \
  AUTH_LOGIN_MAX_PER_USER=$login_max
edge_env_start "$build" "$tmp" EDGE_TRUSTED_PROXIES=127.0.0.1/32 EDGE_MAX_BODY_BYTES=$max_body \
  EDGE_RPC_TIMEOUT_MS=2000

doc=${2:-$tmp/openapi.json}
if [[ -z ${2:-} ]]; then
  code=$(curl -s -o "$doc" -w '%{http_code}' "$edge_base/openapi.json" || true)
  [[ $code == 200 ]] || { echo "FAIL: GET /openapi.json answered $code" >&2; exit 1; }
fi

rc=0
API_NODE_MODULES=$api_node_modules API_SVC_AUTH=$build/svc-auth/svc-auth \
  API_PIDS="auth:${edge_env_pids[0]} user:${edge_env_pids[1]} admin:${edge_env_pids[2]}" \
  API_REGISTER_MAX=$register_max API_LOGIN_MAX=$login_max API_MAX_BODY=$max_body \
  timeout 150 node "$here/contract.mjs" "$edge_base" "$doc" || rc=$?
if ((rc != 0)); then
  for f in "$tmp"/*.log; do
    [[ -s $f ]] || continue
    echo "--- $(basename "$f")" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
fi
