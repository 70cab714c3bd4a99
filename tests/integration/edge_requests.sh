#!/usr/bin/env bash
# Requests at the edge that used to hang, break or mislead: bodies declared
# or grown over the limit (413 before the body arrives), User-Agents that
# are long or not UTF-8, error details cut in a character, If-Match as RFC
# 9110 reads it, updates that change nothing, and readiness with a service
# down (no HTTP thread waits for a service). Usage: edge_requests.sh BUILD_DIR
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
has() { grep -qE -- "$2" "$1"; } # FILE REGEX
hasnt() { ! grep -qE -- "$2" "$1"; }

# Two HTTP threads: few enough that a handler blocking on a service would
# hold up everything else.
edge_env_start "$build" "$tmp" EDGE_THREADS=2 EDGE_MAX_BODY_BYTES=65536 EDGE_RPC_TIMEOUT_MS=1000
base=$edge_base
json=(-H 'Content-Type: application/json')
req() { # OUT_PREFIX CURL_ARGS... -> prints the status; headers in OUT.hdr, body in OUT.body
  local out=$1
  shift
  curl -s --max-time 10 -D "$tmp/$out.hdr" -o "$tmp/$out.body" -w '%{http_code}' "$@" || true
}
etag() { sed -n 's/^[Ee][Tt][Aa][Gg]: \(.*\)\r$/\1/p' "$tmp/$1.hdr"; }

# --- Bodies over the limit --------------------------------------------------
# Sends the headers (and what follows) on a raw connection, never the rest
# of the body, and keeps what the edge answers within 5 s.
raw() { # OUT REQUEST_FILE
  local out=$1 reqfile=$2
  exec 7<>"/dev/tcp/127.0.0.1/$edge_port"
  cat "$reqfile" >&7 2>/dev/null || true
  timeout 5 head -c 4096 <&7 >"$tmp/$out.raw" 2>/dev/null || true
  exec 7<&-
}
printf 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{"username":' >"$tmp/declared.req"
raw declared "$tmp/declared.req"
check "a body declared over the limit is 413 before it is sent" has "$tmp/declared.raw" '^HTTP/1.1 413'
check "as problem+json" has "$tmp/declared.raw" '"status":413'
printf 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n' >"$tmp/huge.req"
raw huge "$tmp/huge.req"
check "a Content-Length past any number is 413 too" has "$tmp/huge.raw" '^HTTP/1.1 413'
{
  printf 'POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'
  printf '%x\r\n' 70000
  head -c 70000 /dev/zero | tr '\0' ' '
  printf '\r\n'
} >"$tmp/chunked.req"
raw chunked "$tmp/chunked.req"
check "a chunked body is 413 once it passes the limit" has "$tmp/chunked.raw" '^HTTP/1.1 413'
code=$(req under -X POST "${json[@]}" --data-binary @<(printf '{"username":"%s"}' "$(head -c 60000 /dev/zero | tr '\0' a)") "$base/login")
check "a body under the limit still reaches the service (400 for the name)" test "$code" = 400
code=$(req alive "$base/healthz")
check "and the edge keeps serving" test "$code" = 200

# --- User-Agent and error details -------------------------------------------
code=$(req reg -X POST "${json[@]}" \
  -d '{"username":"agent","email":"agent@example.com","password":"correct horse battery"}' "$base/register")
check "register is 201" test "$code" = 201
login() { # OUT USER_AGENT
  req "$1" -X POST "${json[@]}" -H "User-Agent: $2" \
    -d '{"username":"agent","password":"correct horse battery"}' "$base/login"
}
token() { sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$tmp/$1.body"; }
long_ua=$(printf 'é%.0s' $(seq 500)) # 1000 bytes, two per character
code=$(login long "$long_ua")
check "login with a 1000-byte multibyte User-Agent is 200" test "$code" = 200
code=$(req longs -H "Authorization: Bearer $(token long)" "$base/sessions/current")
check "the session keeps whole characters of it (127 of them)" \
  has "$tmp/longs.body" "\"user_agent\":\"$(printf 'é%.0s' $(seq 127))\""
code=$(login latin1 $'Caf\xe9 Browser/1.0')
check "login with a Latin-1 User-Agent is 200" test "$code" = 200
code=$(req latin1s -H "Authorization: Bearer $(token latin1)" "$base/sessions/current")
check "its invalid byte is kept as U+FFFD" has "$tmp/latin1s.body" '"user_agent":"Caf'$'\xef\xbf\xbd'' Browser/1.0"'
refresh=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$tmp/latin1.body")
code=$(req rf -X POST "${json[@]}" -H $'User-Agent: \xff\xfe'"$long_ua" -d "{\"refresh_token\":\"$refresh\"}" "$base/refresh")
check "refresh with a long, broken User-Agent is 200" test "$code" = 200
# A parameter name cut for the error detail must stay whole characters.
name="a$(printf '%%C3%%A9%.0s' $(seq 100))"
code=$(req dup -H "Authorization: Bearer $(token latin1)" "$base/admin/users?$name=1&$name=2")
check "a long parameter given twice is 400" test "$code" = 400
check "naming it in valid JSON" jq -e '.detail | test("given twice")' "$tmp/dup.body" >/dev/null

# --- If-Match and updates that change nothing -------------------------------
code=$(login plain 'EdgeTest/1.0')
auth=(-H "Authorization: Bearer $(token plain)")
patch() { # OUT IF_MATCH BODY
  if [[ -n $2 ]]; then
    req "$1" -X PATCH "${json[@]}" "${auth[@]}" -H "If-Match: $2" -d "$3" "$base/profile"
  else
    req "$1" -X PATCH "${json[@]}" "${auth[@]}" -d "$3" "$base/profile"
  fi
}
code=$(req p0 "${auth[@]}" "$base/profile")
check "the profile starts at v1" test "$(etag p0)" = '"v1"'
code=$(patch weak 'W/"v1"' '{"bio":"weak"}')
check "a weak ETag never matches (412)" test "$code" = 412
code=$(patch im1 '1' '{"bio":"unquoted"}')
check "If-Match: 1 (not an ETag) is 400" test "$code" = 400
code=$(patch im2 'v1' '{"bio":"unquoted"}')
check "If-Match: v1 (not quoted) is 400" test "$code" = 400
code=$(patch other '"x1"' '{"bio":"other"}')
check "an ETag not of this API never matches (412)" test "$code" = 412
code=$(req nochange "${auth[@]}" "$base/profile")
check "and none of them changed the profile" test "$(etag nochange)" = '"v1"'
code=$(patch star '*' '{"bio":"star"}')
check "If-Match: * updates the profile" test "$code" = 200
check "to v2" test "$(etag star)" = '"v2"'
code=$(patch empty '"v2"' '{}')
check "PATCH {} is 200" test "$code" = 200
check "and keeps the version" test "$(etag empty)" = '"v2"'
code=$(patch same '' '{"bio":"star"}')
check "a PATCH that sets what is already there keeps the version" test "$(etag same)" = '"v2"'
code=$(req put -X PUT "${json[@]}" "${auth[@]}" -H 'If-Match: "v2"' -d '{"bio":"star","locale":""}' "$base/profile")
check "and so does such a PUT" test "$code:$(etag put)" = '200:"v2"'
code=$(patch tab2 '"v2"' '{"display_name":"Second Tab"}')
check "so another tab's If-Match still holds (200)" test "$code" = 200
check "and its change bumps the version" test "$(etag tab2)" = '"v3"'
code=$(patch stale '"v2"' '{}')
check "a stale If-Match is 412 even for a change of nothing" test "$code" = 412
code=$(patch list '"x", W/"v3", "v3"' '{"bio":"listed"}')
check "a list matches by its strong ETag of this API" test "$code:$(etag list)" = '200:"v4"'
code=$(patch two '"v4", "v5"' '{"bio":"two"}')
check "a list of two versions is 400" test "$code" = 400
code=$(patch bad '"v4' '{"bio":"unterminated"}')
check "an unterminated ETag is 400" test "$code" = 400

# --- A service down ---------------------------------------------------------
admin_pid=${edge_env_pids[2]}
kill -TERM "$admin_pid"
wait "$admin_pid" || true
edge_env_pids=("${edge_env_pids[@]:0:2}" "${edge_env_pids[@]:3}")
code=000
for _ in $(seq 600); do # up to 30 s and more: the probe runs late under load
  code=$(req rz --max-time 2 "$base/readyz")
  [[ $code == 503 ]] && break
  sleep 0.05
done
check "readyz is 503 with the admin service down" test "$code" = 503
check "naming it, and only it" has "$tmp/rz.body" '"down":\["admin"\]'
check "with every service's state" has "$tmp/rz.body" '"auth":"SERVING","user":"SERVING","admin":"UNAVAILABLE"'
code=$(req adm "${auth[@]}" "$base/admin/users")
check "a route of the service down is 503" test "$code" = 503
check "saying which" has "$tmp/adm.body" 'admin service'
# Back up: ready again.
ADMIN_RPC_LISTEN=$ADMIN_RPC_DIAL LOG_LEVEL=warn METRICS_LISTEN=off \
  edge_env_as svc-admin "$build/svc-admin/svc-admin" 2>>"$tmp/admin.log" &
admin_pid=$!
edge_env_pids+=("$admin_pid")
ready() { # OUT -> waits 30 s and more for /readyz 200 (a sanitizer build
  # on a loaded machine takes seconds to start)
  local code=000
  for _ in $(seq 600); do
    code=$(req "$1" --max-time 2 "$base/readyz")
    [[ $code == 200 ]] && break
    sleep 0.05
  done
  [[ $code == 200 ]]
}
check "readyz is 200 again once it is back" ready rz2

# A service that holds its connections but answers nothing (stopped): its
# Health calls time out. Many clients on /readyz at once (one curl, 48
# connections, until it is stopped) while /healthz and a route of a live
# service are asked: none of them waits for the stopped service.
trap 'kill -CONT "$admin_pid" 2>/dev/null || true; edge_env_stop; rm -rf "$tmp"' EXIT
kill -STOP "$admin_pid"
curl -s --parallel --parallel-max 48 -o /dev/null -w '%{http_code}\n' "$base/readyz?[1-1000000]" \
  >"$tmp/hammer.codes" 2>/dev/null &
hammer=$!
for _ in $(seq 600); do # up to 30 s: how fast they come depends on the load
  [[ $(wc -l <"$tmp/hammer.codes") -ge 96 ]] && break
  sleep 0.05
done
ok=0
for _ in $(seq 20); do
  code=$(curl -s -o /dev/null --max-time 3 -w '%{http_code}' "$base/healthz" || true)
  [[ $code == 200 ]] && ok=$((ok + 1))
done
code=$(req busy --max-time 3 "${auth[@]}" "$base/profile")
kill "$hammer" 2>/dev/null || true
wait "$hammer" 2>/dev/null || true
kill -CONT "$admin_pid"
check "all of 20 healthz answer within 3 s each while /readyz is hammered ($ok)" test "$ok" = 20
check "so does a route of a live service" test "$code" = 200
check "the hammer was answered (>= 96 readyz)" test "$(wc -l <"$tmp/hammer.codes")" -ge 96
check "readyz is 200 once the service answers again" ready rz3

status=0
edge_env_stop || status=$?
check "every process exits 0 on SIGTERM" test "$status" = 0
if [[ $status != 0 ]]; then
  for f in "$tmp"/*.log; do
    echo "--- $f (last lines)" >&2
    tail -n 30 "$f" >&2
  done
fi
echo "edge_requests: $passed passed, $failed failed"
[[ $failed == 0 ]]
