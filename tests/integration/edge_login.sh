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
# The counters this test fills for 127.0.0.1 are in a Redis database of
# its own (svc_env_setup).
edge_env_start "$build" "$tmp"
base=$edge_base
json=(-H 'Content-Type: application/json')
req() { # OUT_PREFIX CURL_ARGS... -> prints the status; headers in OUT.hdr, body in OUT.body
  local out=$1
  shift
  curl -s -D "$tmp/$out.hdr" -o "$tmp/$out.body" -w '%{http_code}' "$@" || true
}
pw='correct horse battery'
# Many logins in one curl process over one connection (no process per
# request): reads lines "X-FORWARDED-FOR<TAB>BODY" ("-": no header) and
# prints one status per line.
bulk() { # URL
  local url=$1 cfg=$tmp/bulk.cfg xff body first=1
  : >"$cfg"
  while IFS=$'\t' read -r xff body; do
    ((first)) || echo next >>"$cfg"
    first=0
    {
      echo 'silent'
      echo "url = \"$url\""
      echo 'header = "Content-Type: application/json"'
      [[ $xff == - ]] || echo "header = \"X-Forwarded-For: $xff\""
      echo "data = \"${body//\"/\\\"}\""
      echo 'output = "/dev/null"'
      echo 'write-out = "%{http_code}\\n"'
    } >>"$cfg"
  done
  curl -K "$cfg" || true
}
login_body() { printf '{"username":"%s","password":"%s"%s}' "$1" "$2" "${3:-}"; }

# A second edge in front of the same services that trusts this host as a
# proxy (and 10/8 behind it), and a third that reads Forwarded.
start_edge() { # RESULT_VAR VAR=value... -> the base URL in RESULT_VAR
  local var=$1 port
  shift
  port=$(free_port)
  edge_env_as edge env EDGE_LISTEN="127.0.0.1:$port" LOG_LEVEL=warn METRICS_LISTEN=off "$@" \
    "$build/edge/edge" >/dev/null 2>>"$tmp/edge2.log" &
  edge_env_pids+=($!)
  for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true) == 200 ]] && break
    sleep 0.05
  done
  printf -v "$var" '%s' "http://127.0.0.1:$port"
}

# --- Successful logins do not use up the address's attempts --------------
code=$(req reg -X POST "${json[@]}" -d '{"username":"many000","email":"many000@example.com","password":"correct horse battery"}' "$base/register")
check "register is 201" test "$code" = 201
# 299 more users with the same password hash, straight into authdb.
psql -q -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres -d "$svc_env_db" -c \
  "INSERT INTO users (username, email, password_hash)
   SELECT 'many' || lpad(i::text, 3, '0'), 'many' || i || '@example.com', password_hash
   FROM users, generate_series(1, 299) AS i WHERE username = 'many000'" >/dev/null
ok=$(for i in $(seq -f '%03g' 0 299); do printf -- '-\t%s\n' "$(login_body "many$i" "$pw")"; done |
  bulk "$base/login" | grep -c '^200$' || true)
check "300 logins of different users from one address all succeed ($ok)" test "$ok" = 300

# --- Trusted proxies -----------------------------------------------------
start_edge trusted EDGE_TRUSTED_PROXIES="127.0.0.0/8, 10.0.0.0/8, fd00::/8"
start_edge fwd EDGE_TRUSTED_PROXIES="127.0.0.1" EDGE_CLIENT_IP_HEADER=forwarded
session_ip() { # BASE OUT CURL_ARGS... -> the client_ip of the login's session
  local b=$1 out=$2 user=$3
  shift 3
  req "$out" -X POST "${json[@]}" "$@" -d "$(login_body "$user" "$pw")" "$b/login" >/dev/null
  local at
  at=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$tmp/$out.body")
  curl -s -H "Authorization: Bearer $at" "$b/sessions/current" | sed -n 's/.*"client_ip":"\([^"]*\)".*/\1/p'
}
ip=$(session_ip "$trusted" tp1 many002 -H 'X-Forwarded-For: 6.6.6.6, 203.0.113.50, 10.0.0.2')
check "from a trusted proxy the rightmost untrusted hop is the client ($ip)" test "$ip" = 203.0.113.50
ip=$(session_ip "$trusted" tp2 many003 -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-For: 203.0.113.51')
check "several X-Forwarded-For fields are one list ($ip)" test "$ip" = 203.0.113.51
ip=$(session_ip "$trusted" tp3 many004 -H 'X-Forwarded-For: 203.0.113.52, <garbage>')
check "a malformed hop falls back to the peer ($ip)" test "$ip" = 127.0.0.1
ip=$(session_ip "$trusted" tp4 many005 -H 'X-Forwarded-For: 10.1.1.1, 10.2.2.2')
check "trusted hops all the way: the leftmost ($ip)" test "$ip" = 10.1.1.1
ip=$(session_ip "$fwd" tp5 many006 -H 'Forwarded: for="[2001:db8::7]:4711";proto=https' -H 'X-Forwarded-For: 9.9.9.9')
check "Forwarded when configured, IPv6 ($ip)" test "$ip" = 2001:db8::7
ip=$(session_ip "$fwd" tp6 many007 -H 'Forwarded: for="[2001:db8::7]:4711' -H 'X-Forwarded-For: 9.9.9.9')
check "a Forwarded header that cannot be read falls back to the peer ($ip)" test "$ip" = 127.0.0.1
ip=$(session_ip "$base" tp7 many008 -H 'X-Forwarded-For: 203.0.113.53' -H 'Forwarded: for=203.0.113.54')
check "an edge that trusts no proxy ignores both headers ($ip)" test "$ip" = 127.0.0.1

# The throttle follows the client the rule picks: 100 failures from
# 203.0.113.60 behind the proxy (whatever the client forged to the left),
# then that address is refused and its neighbour is not.
for i in $(seq 100); do
  printf '%s\t%s\n' "198.18.0.$i, 203.0.113.60" "$(login_body "many$(printf %03d $((100 + i)))" 'wrong password!')"
done | bulk "$trusted/login" >/dev/null
code=$(req tt1 -X POST "${json[@]}" -H 'X-Forwarded-For: 1.1.1.1, 203.0.113.60' -d "$(login_body many201 "$pw")" "$trusted/login")
check "the 101st attempt from the hop behind the proxy is 429 ($code)" test "$code" = 429
check "with Retry-After" has "$tmp/tt1.hdr" '^retry-after: [1-9]'
code=$(req tt2 -X POST "${json[@]}" -H 'X-Forwarded-For: 203.0.113.61' -d "$(login_body many201 "$pw")" "$trusted/login")
check "another client behind the same proxy logs in ($code)" test "$code" = 200

# --- Device tokens: a flood of wrong passwords does not lock the user out -
# (through the trusted edge, as client 192.0.2.77)
from=(-H 'X-Forwarded-For: 192.0.2.77')
tok() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"; }
code=$(req dv1 -X POST "${json[@]}" "${from[@]}" -d "$(login_body many299 "$pw")" "$trusted/login")
check "a login is 200" test "$code" = 200
dtok=$(tok device_token "$tmp/dv1.body")
check "and answers a device token (API client)" test -n "$dtok"
check "and sets the device cookie: HttpOnly, Secure, SameSite=Strict, for /login only" \
  has "$tmp/dv1.hdr" '^set-cookie: __Secure-device=[A-Za-z0-9_-]+; Path=/login; Max-Age=[0-9]+; HttpOnly; Secure; SameSite=Strict'
dcookie=$(sed -n 's/^[Ss]et-[Cc]ookie: __Secure-device=\([^;]*\);.*/\1/p' "$tmp/dv1.hdr")
req dv2 -X POST "${json[@]}" "${from[@]}" -d "$(login_body many298 "$pw")" "$trusted/login" >/dev/null
other=$(tok device_token "$tmp/dv2.body")
code=$(for i in $(seq 100); do printf '192.0.2.77\t%s\n' "$(login_body many299 "wrong guess $i")"; done |
  bulk "$trusted/login" | tail -n 1)
check "100 wrong passwords: the last is throttled ($code)" test "$code" = 429
code=$(req dv3 -X POST "${json[@]}" "${from[@]}" -d "$(login_body many299 "$pw")" "$trusted/login")
check "the right password without a device token is throttled ($code)" test "$code" = 429
check "with Retry-After" has "$tmp/dv3.hdr" '^retry-after: [1-9]'
code=$(req dv4 -X POST "${json[@]}" "${from[@]}" -H "Cookie: __Secure-device=$dcookie" \
  -d "$(login_body many299 "$pw")" "$trusted/login")
check "with the device cookie the real user logs in at once ($code)" test "$code" = 200
code=$(req dv5 -X POST "${json[@]}" "${from[@]}" -d "$(login_body many299 "$pw" ",\"device_token\":\"$dtok\"")" "$trusted/login")
check "with the device token in the body too ($code)" test "$code" = 200
fresh=$(tok device_token "$tmp/dv5.body")
forged="${dtok:0:40}$([[ ${dtok:40:1} == A ]] && echo B || echo A)${dtok:41}"
for t in "$forged" "$other" "x" "$dtok.$dtok"; do
  code=$(req dv6 -X POST "${json[@]}" "${from[@]}" -d "$(login_body many299 "$pw" ",\"device_token\":\"$t\"")" "$trusted/login")
  check "a forged, another user's or malformed device token counts as none ($code)" test "$code" = 429
done
code=$(req dv7 -X POST "${json[@]}" "${from[@]}" -H "Cookie: __Secure-device=$other" \
  -d "$(login_body many299 "$pw")" "$trusted/login")
check "another user's device cookie counts as none ($code)" test "$code" = 429
# A device has its own small limit (5 by default).
for i in 1 2 3 4 5; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${json[@]}" "${from[@]}" \
    -d "$(login_body many299 "wrong $i" ",\"device_token\":\"$dtok\"")" "$trusted/login")
  check "a wrong password with a device token is 401 ($i: $code)" test "$code" = 401
done
code=$(req dv8 -X POST "${json[@]}" "${from[@]}" -d "$(login_body many299 "$pw" ",\"device_token\":\"$dtok\"")" "$trusted/login")
check "past the device's limit that device is throttled ($code)" test "$code" = 429
code=$(req dv9 -X POST "${json[@]}" "${from[@]}" -d "$(login_body many299 "$pw" ",\"device_token\":\"$fresh\"")" "$trusted/login")
check "and another device of the user is not ($code)" test "$code" = 200

# --- Cookie-only tokens for browsers --------------------------------------
code=$(req ck1 -X POST "${json[@]}" -H 'Token-Delivery: cookie' -d "$(login_body many009 "$pw")" "$base/login")
check "a cookie-mode login is 200" test "$code" = 200
check "cookie mode: no refresh_token in the body" hasnt "$tmp/ck1.body" 'refresh_token'
check "cookie mode: no access_token or device_token either" hasnt "$tmp/ck1.body" '"(access_token|device_token)"'
check "cookie mode: the rest of the answer stays" has "$tmp/ck1.body" '"expires_in":900'
check "cookie mode: the refresh cookie is set" has "$tmp/ck1.hdr" '^set-cookie: __Host-refresh=[A-Za-z0-9_.-]+;'
check "cookie mode: the access cookie is set" has "$tmp/ck1.hdr" '^set-cookie: __Host-access=[A-Za-z0-9_.-]+;'
check "cookie mode: the device cookie is set" has "$tmp/ck1.hdr" '^set-cookie: __Secure-device=[A-Za-z0-9_-]+;'
rck=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-refresh=\([^;]*\);.*/\1/p' "$tmp/ck1.hdr")
code=$(req ck2 -X POST "${json[@]}" -H 'Token-Delivery: cookie' -H "Origin: $base" \
  -H "Cookie: __Host-refresh=$rck" -d '{}' "$base/refresh")
check "a cookie-mode refresh is 200 ($code)" test "$code" = 200
check "cookie-mode refresh: no token in the body" hasnt "$tmp/ck2.body" 'refresh_token|access_token'
check "cookie-mode refresh: new cookies" has "$tmp/ck2.hdr" '^set-cookie: __Host-refresh=[A-Za-z0-9_.-]+;'
code=$(req ap1 -X POST "${json[@]}" -d "$(login_body many010 "$pw")" "$base/login")
check "an API login answers the tokens in the body" has "$tmp/ap1.body" '"refresh_token":"[^"]+".*"device_token":"[^"]+"'
check "an API login answers the access token too" has "$tmp/ap1.body" '"access_token":"[^"]+"'
code=$(req ap2 -X POST "${json[@]}" -H 'Token-Delivery: body' -d "{\"refresh_token\":\"$(tok refresh_token "$tmp/ap1.body")\"}" "$base/refresh")
check "an API refresh (Token-Delivery: body) answers the tokens in the body ($code)" has "$tmp/ap2.body" '"refresh_token":"[^"]+"'
code=$(req bad1 -X POST "${json[@]}" -H 'Token-Delivery: both' -d "$(login_body many011 "$pw")" "$base/login")
check "an unknown Token-Delivery is 400 ($code)" test "$code" = 400
check "which says what it takes" has "$tmp/bad1.body" 'Token-Delivery must be'

# A forged X-Forwarded-For from an untrusted peer changes nothing: 100
# failures, each claiming another address, use up the peer's attempts.
for i in $(seq 100); do
  printf '%s\t%s\n' "198.19.0.$i" "$(login_body "many$(printf %03d $((100 + i)))" 'wrong password!')"
done | bulk "$base/login" >/dev/null
code=$(req ut1 -X POST "${json[@]}" -H 'X-Forwarded-For: 198.19.1.1' -d "$(login_body many202 "$pw")" "$base/login")
check "a forged X-Forwarded-For from an untrusted peer is ignored: 429 ($code)" test "$code" = 429

# A bad list stops the edge at start.
rc=0
env EDGE_LISTEN="127.0.0.1:$(free_port)" EDGE_TRUSTED_PROXIES="10.0.0.1/8" \
  timeout 10 "$build/edge/edge" >/dev/null 2>"$tmp/badcfg.log" || rc=$?
check "EDGE_TRUSTED_PROXIES with host bits set stops the edge (exit $rc)" test "$rc" = 2
check "and says why" has "$tmp/badcfg.log" 'EDGE_TRUSTED_PROXIES.*10.0.0.1/8'

status=0
edge_env_stop || status=$?
check "every process exits 0 on SIGTERM" test "$status" = 0
echo "edge_login: $passed passed, $failed failed"
[[ $failed == 0 ]]
