#!/usr/bin/env bash
# Registration's throttle through the edge: the edge passes the client's
# address to Register (never the body's), and a client over the limit gets
# 429 with Retry-After and a problem+json naming the wait.
# Usage: edge_register.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
# Every test registers from 127.0.0.1, and this one counts on a fresh
# counter for that address: svc_env_setup gives it an empty Redis database.
export AUTH_REGISTER_MAX_PER_IP=2 AUTH_REGISTER_WINDOW_S=60
# shellcheck source=tests/integration/edge_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/edge_env.sh"
edge_env_start "$build" "$tmp"
passed=0
failed=0
check() { # NAME CONDITION...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
register() { # N [EXTRA JSON]: POST /register of user N; prints the status
  curl -s -D "$tmp/h$1" -o "$tmp/b$1" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' \
    -d "{\"username\":\"ip_user$1\",\"email\":\"ip$1@example.com\",\"password\":\"correct horse battery\"${2:-}}" \
    "$edge_base/register"
}

check "first registration is 201" test "$(register 1)" = 201
# The body cannot name another address: a body that tries is refused and
# counts nothing; the edge's own address is what is throttled.
check "a body naming an address is 400" test "$(register 2 ',"client_ip":"203.0.113.9"')" = 400
check "  naming the member" grep -q '"field":"client_ip"' "$tmp/b2"
check "second registration is 201" test "$(register 2)" = 201
check "the count is kept for the peer's address" \
  test "$(redis-cli -u "$TEST_REDIS_URL" GET ratelimit:register:ip:127.0.0.1)" = 2
code=$(register 3)
check "third registration is 429" test "$code" = 429
check "429 has Retry-After" grep -qiE '^retry-after: [1-9][0-9]*' "$tmp/h3"
check "429 is problem+json with retry_after" grep -q '"retry_after":[1-9]' "$tmp/b3"
check "429 says what happened" grep -q 'too many registrations' "$tmp/b3"
# A taken name from a throttled address is throttled too: probing names
# costs the same budget.
check "taken name over the limit is 429" test "$(register 1)" = 429

edge_env_stop || { echo "FAIL: a process did not stop cleanly" >&2; failed=$((failed + 1)); }
echo "edge_register: $passed passed, $failed failed"
((failed == 0))
