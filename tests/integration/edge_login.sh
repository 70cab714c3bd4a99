#!/usr/bin/env bash
# Login abuse limits through the edge: the per-IP counter counts failures
# only; the client address behind trusted proxies (Forwarded /
# X-Forwarded-For); device tokens that let a user in while their username is
# throttled; cookie-only token delivery for browsers. Usage:
# edge_login.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
# shellcheck source=tests/integration/edge_env.sh
source "$here/edge_env.sh"
passed=0
failed=0
check() { # NAME COMMAND...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
has() { grep -qiE -- "$2" "$1"; } # FILE REGEX
hasnt() { ! grep -qiE -- "$2" "$1"; }

# The default limits (100 attempts per IP, 10 per username per window),
# cheap hashes.
export AUTH_ARGON2_T=1 AUTH_ARGON2_M_KIB=8192 AUTH_LOGIN_MAX_PER_IP=100 AUTH_LOGIN_MAX_PER_USER=10
# A Redis database of its own: the counters this test fills for 127.0.0.1
# must not throttle the logins of tests running beside it (or of a rerun).
: "${TEST_REDIS_PORT:?run the tests with scripts/test.sh}"
export TEST_REDIS_URL="redis://127.0.0.1:$TEST_REDIS_PORT/11"
redis-cli -p "$TEST_REDIS_PORT" -n 11 FLUSHDB >/dev/null
edge_env_start "$build" "$tmp"
base=$edge_base
json=(-H 'Content-Type: application/json')
req() { # OUT_PREFIX CURL_ARGS... -> prints the status; headers in OUT.hdr, body in OUT.body
  local out=$1
  shift
  curl -s -D "$tmp/$out.hdr" -o "$tmp/$out.body" -w '%{http_code}' "$@" || true
}
pw='correct horse battery'
login_body() { printf '{"username":"%s","password":"%s"%s}' "$1" "$2" "${3:-}"; }

# A second edge in front of the same services that trusts this host as a
# proxy (and 10/8 behind it), and a third that reads Forwarded.
start_edge() { # VAR=value... -> prints the base URL
  local port
  port=$(edge_env_free_port)
  env EDGE_LISTEN="127.0.0.1:$port" LOG_LEVEL=warn "$@" \
    "$build/edge/edge" 2>>"$tmp/edge2.log" &
  edge_env_pids+=($!)
  for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true) == 200 ]] && break
    sleep 0.05
  done
  echo "http://127.0.0.1:$port"
}

# --- Successful logins do not use up the address's attempts --------------
code=$(req reg -X POST "${json[@]}" -d '{"username":"many000","email":"many000@example.com","password":"correct horse battery"}' "$base/register")
check "register is 201" test "$code" = 201
# 299 more users with the same password hash, straight into authdb.
psql -q -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres -d "$svc_env_db" -c \
  "INSERT INTO users (username, email, password_hash)
   SELECT 'many' || lpad(i::text, 3, '0'), 'many' || i || '@example.com', password_hash
   FROM users, generate_series(1, 299) AS i WHERE username = 'many000'" >/dev/null
ok=0
for i in $(seq -f '%03g' 0 299); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${json[@]}" -d "$(login_body "many$i" "$pw")" "$base/login")
  [[ $code == 200 ]] && ok=$((ok + 1)) || echo "$i $code" >&2
done
check "300 logins of different users from one address all succeed ($ok)" test "$ok" = 300

status=0
edge_env_stop || status=$?
check "every process exits 0 on SIGTERM" test "$status" = 0
echo "edge_login: $passed passed, $failed failed"
[[ $failed == 0 ]]
