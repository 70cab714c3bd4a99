#!/usr/bin/env bash
# The edge as browsers meet it: the web frontend's files (and path
# traversal), token cookies with the CSRF rules, CORS, /metrics, and the
# connection limits (slowloris, header size, per-IP connections, body size,
# invalid UTF-8). Usage: edge_web.sh BUILD_DIR
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

# A web root with a file, a dotfile and a symlink out of it: only the file
# is served.
www=$tmp/www
mkdir -p "$www"
cp "$here/../../edge/www/"* "$www/"
# A marker no served file contains (app.js speaks of TOTP secrets).
echo 'DOTENV_MARKER_NOT_FOR_THE_WEB' >"$www/.env"
ln -s /etc/passwd "$www/passwd.txt"

SVC_LOG_LEVEL=debug edge_env_start "$build" "$tmp" EDGE_WWW_DIR="$www" \
  EDGE_CORS_ORIGINS="https://app.example.com" EDGE_CONNECTION_TIMEOUT_S=2 \
  EDGE_MAX_CONNECTIONS_PER_IP=8 EDGE_MAX_HEADER_BYTES=8192
base=$edge_base
self="http://127.0.0.1:$edge_port"
json=(-H 'Content-Type: application/json')
req() { # OUT_PREFIX CURL_ARGS... -> prints the status; headers in OUT.hdr, body in OUT.body
  local out=$1
  shift
  curl -s -D "$tmp/$out.hdr" -o "$tmp/$out.body" -w '%{http_code}' "$@" || true
}

# --- The web frontend -------------------------------------------------------
code=$(req idx "$base/")
check "/ is the web frontend" test "$code" = 200
check "/ is HTML" has "$tmp/idx.hdr" '^content-type: text/html'
check "pages get the strict CSP" has "$tmp/idx.hdr" "^content-security-policy: default-src 'none'; script-src 'self'"
check "pages carry an ETag" has "$tmp/idx.hdr" '^etag: "[0-9a-f]{16}"'
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: \(.*\)\r$/\1/p' "$tmp/idx.hdr")
code=$(req idx2 -H "If-None-Match: $etag" "$base/")
check "a matching If-None-Match is 304" test "$code" = 304
code=$(req js "$base/app.js")
check "app.js is JavaScript" has "$tmp/js.hdr" '^content-type: text/javascript'
code=$(req head -I "$base/app.css")
check "HEAD on a file is 200" test "$code" = 200
check "HEAD sends no body" hasnt "$tmp/head.body" '[{}]'
code=$(req post -X POST "${json[@]}" -d '{}' "$base/app.js")
check "POST on a file is 405" test "$code" = 405
for p in /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /app.js/../../../etc/passwd \
  /..%2f..%2fetc%2fpasswd //etc/passwd /passwd.txt /.env /index.html%00.js \
  '/%c0%ae%c0%ae/etc/passwd' /www/index.html '/app.js?x=../../etc/passwd/'; do
  code=$(req trav --path-as-is "$base$p")
  if [[ $p == '/app.js?x=../../etc/passwd/' ]]; then
    check "a query string does not change the file ($p)" test "$code" = 200
  else
    check "traversal $p is 404" test "$code" = 404
  fi
  check "traversal $p leaks nothing" hasnt "$tmp/trav.body" 'root:|DOTENV_MARKER_NOT_FOR_THE_WEB'
done

# --- Cookies and CSRF -------------------------------------------------------
code=$(req reg -X POST "${json[@]}" \
  -d '{"username":"cookie_user","email":"cookie@example.com","password":"correct horse battery"}' "$base/register")
check "register is 201" test "$code" = 201
code=$(req login -X POST "${json[@]}" -H "Origin: $self" \
  -d '{"username":"cookie_user","password":"correct horse battery"}' "$base/login")
check "login is 200" test "$code" = 200
check "login is not cached" has "$tmp/login.hdr" '^cache-control: no-store'
check "access cookie: __Host-, HttpOnly, Secure, SameSite=Strict" \
  has "$tmp/login.hdr" '^set-cookie: __Host-access=[A-Za-z0-9_.-]+; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Strict'
check "refresh cookie likewise" \
  has "$tmp/login.hdr" '^set-cookie: __Host-refresh=[A-Za-z0-9_.-]+; Path=/; Max-Age=[0-9]+; HttpOnly; Secure; SameSite=Strict'
access=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-access=\([^;]*\);.*/\1/p' "$tmp/login.hdr")
refresh=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-refresh=\([^;]*\);.*/\1/p' "$tmp/login.hdr")
cookies="__Host-access=$access; __Host-refresh=$refresh"

code=$(req cp -H "Cookie: $cookies" -H 'X-Request-Id: edge-web-cookie-1' "$base/profile")
check "GET /profile with the cookie is 200" test "$code" = 200
check "the request id reaches svc-user's log" grep -q '"request_id":"edge-web-cookie-1"' "$tmp/user.log"
code=$(req csrf1 -X PATCH "${json[@]}" -H "Cookie: $cookies" -d '{"bio":"x"}' "$base/profile")
check "a cookie write without Origin is 403" test "$code" = 403
code=$(req csrf2 -X PATCH "${json[@]}" -H "Cookie: $cookies" -H 'Origin: https://evil.example' \
  -d '{"bio":"x"}' "$base/profile")
check "a cookie write from another origin is 403" test "$code" = 403
code=$(req csrf3 -X PATCH "${json[@]}" -H "Cookie: $cookies" -H 'Origin: null' -d '{"bio":"x"}' "$base/profile")
check "a cookie write from Origin null is 403" test "$code" = 403
code=$(req csrf4 -X PATCH -H 'Content-Type: text/plain' -H "Cookie: $cookies" -H "Origin: $self" \
  -d '{"bio":"x"}' "$base/profile")
check "a text/plain cookie write is 415" test "$code" = 415
code=$(req csrf5 -X POST -H 'Content-Type: application/x-www-form-urlencoded' -H "Cookie: $cookies" \
  -H "Origin: $self" -d 'refresh_token=x' "$base/logout")
check "a form post is 415" test "$code" = 415
code=$(req csrf6 -X POST -F 'a=b' -H "Cookie: $cookies" -H "Origin: $self" "$base/logout")
check "a multipart post is 415" test "$code" = 415
code=$(req csrf7 -X DELETE -H "Cookie: $cookies" -H "Origin: $self" "$base/sessions/AAAAAAAAAAAAAAAAAAAAAA")
check "a cookie DELETE without a JSON type is 415" test "$code" = 415
code=$(req del -X DELETE "${json[@]}" -H "Cookie: $cookies" -H "Origin: $self" "$base/sessions/AAAAAAAAAAAAAAAAAAAAAA")
check "a cookie DELETE from this origin reaches the service (404)" test "$code" = 404
code=$(req cw -X PATCH "${json[@]}" -H "Cookie: $cookies" -H "Origin: $self" -H 'If-Match: "v1"' \
  -d '{"display_name":"Cookie Monster"}' "$base/profile")
check "a cookie write from this origin is 200" test "$code" = 200
check "and answers the new profile" has "$tmp/cw.body" '"display_name":"Cookie Monster"'
code=$(req bw -X PATCH "${json[@]}" -H "Authorization: Bearer $access" -d '{"bio":"bearer"}' "$base/profile")
check "a Bearer write needs no Origin" test "$code" = 200
code=$(req bw2 -X PATCH "${json[@]}" -H "Authorization: Bearer $access" -H 'Origin: https://evil.example' \
  -d '{"bio":"evil"}' "$base/profile")
check "any write from a foreign page is 403" test "$code" = 403

code=$(req rf0 -X POST "${json[@]}" -H "Cookie: __Host-refresh=$refresh" -d '{}' "$base/refresh")
check "refresh from the cookie without Origin is 403" test "$code" = 403
code=$(req rf -X POST "${json[@]}" -H "Cookie: __Host-refresh=$refresh" -H "Origin: $self" -d '{}' "$base/refresh")
check "refresh from the cookie is 200" test "$code" = 200
check "refresh sets new cookies" has "$tmp/rf.hdr" '^set-cookie: __Host-access=[A-Za-z0-9_.-]+; Path=/; Max-Age=900'
access2=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-access=\([^;]*\);.*/\1/p' "$tmp/rf.hdr")
refresh2=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-refresh=\([^;]*\);.*/\1/p' "$tmp/rf.hdr")
check "the rotated refresh token differs" test "$refresh2" != "$refresh"
cookies2="__Host-access=$access2; __Host-refresh=$refresh2"
code=$(req lo -X POST "${json[@]}" -H "Cookie: $cookies2" -H "Origin: $self" -d '{}' "$base/logout")
check "logout with cookies is 200" test "$code" = 200
check "logout expires the access cookie" has "$tmp/lo.hdr" '^set-cookie: __Host-access=; Path=/; Max-Age=0'
check "logout expires the refresh cookie" has "$tmp/lo.hdr" '^set-cookie: __Host-refresh=; Path=/; Max-Age=0'
code=$(req after -H "Cookie: $cookies2" "$base/profile")
check "the access cookie is refused after logout" test "$code" = 401
code=$(req after2 -X POST "${json[@]}" -H "Cookie: __Host-refresh=$refresh2" -H "Origin: $self" -d '{}' "$base/refresh")
check "the refresh cookie is refused after logout" test "$code" = 401

# Login passes the connection's IP and the User-Agent on; a body cannot
# set them (it is refused when it tries).
code=$(req forged -X POST "${json[@]}" -A 'EdgeTest/1.0 (probe)' \
  -d '{"username":"cookie_user","password":"correct horse battery","client_ip":"6.6.6.6","user_agent":"forged"}' \
  "$base/login")
check "a body naming the client is 400" test "$code" = 400
code=$(req ua -X POST "${json[@]}" -A 'EdgeTest/1.0 (probe)' \
  -d '{"username":"cookie_user","password":"correct horse battery"}' \
  "$base/login")
a4=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$tmp/ua.body")
code=$(req sess -H "Authorization: Bearer $a4" "$base/sessions")
check "the session records the User-Agent" has "$tmp/sess.body" '"user_agent":"EdgeTest/1.0 \(probe\)"'
check "and the client IP from the connection" has "$tmp/sess.body" '"client_ip":"127.0.0.1"'
check "never the body's word" hasnt "$tmp/sess.body" '6\.6\.6\.6|forged'

# The access cookie only stands in for Authorization on routes that take a
# token: a body-token refresh from a client with a cookie jar is not a
# cookie-authenticated write.
code=$(req login2 -X POST "${json[@]}" -d '{"username":"cookie_user","password":"correct horse battery"}' "$base/login")
r3=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$tmp/login2.body")
a3=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$tmp/login2.body")
code=$(req rfb -X POST "${json[@]}" -H "Cookie: __Host-access=$a3" -d "{\"refresh_token\":\"$r3\"}" "$base/refresh")
check "refresh with a body token and a stray access cookie is 200" test "$code" = 200
code=$(req lg3 -X POST "${json[@]}" -H "Cookie: __Host-access=$a3" \
  -d '{"username":"cookie_user","password":"wrong password here"}' "$base/login")
check "login ignores the access cookie (401 for a wrong password, not 403)" test "$code" = 401

# --- CORS -------------------------------------------------------------------
app=https://app.example.com
code=$(req pf -X OPTIONS -H "Origin: $app" -H 'Access-Control-Request-Method: PATCH' \
  -H 'Access-Control-Request-Headers: content-type, if-match' "$base/profile")
check "a preflight from a listed origin is 204" test "$code" = 204
check "preflight echoes the origin" has "$tmp/pf.hdr" "^access-control-allow-origin: $app"
check "preflight allows credentials" has "$tmp/pf.hdr" '^access-control-allow-credentials: true'
check "preflight lists the methods" has "$tmp/pf.hdr" '^access-control-allow-methods: GET, PUT, PATCH'
check "preflight allows If-Match" has "$tmp/pf.hdr" '^access-control-allow-headers: .*If-Match'
code=$(req pf2 -X OPTIONS -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: PATCH' "$base/profile")
check "a preflight from another origin is 403" test "$code" = 403
check "and carries no CORS grant" hasnt "$tmp/pf2.hdr" '^access-control-allow-origin'
code=$(req pf3 -X OPTIONS "$base/nowhere")
check "OPTIONS on an unknown path is 404" test "$code" = 404
code=$(req cg -H "Origin: $app" "$base/.well-known/jwks.json")
check "a listed origin gets CORS headers" has "$tmp/cg.hdr" "^access-control-allow-origin: $app"
check "CORS exposes ETag" has "$tmp/cg.hdr" '^access-control-expose-headers: ETag'
check "CORS answers vary by Origin" has "$tmp/cg.hdr" '^vary: Origin'
code=$(req cg2 -H 'Origin: https://evil.example' "$base/.well-known/jwks.json")
check "another origin gets no CORS grant" hasnt "$tmp/cg2.hdr" '^access-control-allow-origin'

# --- Metrics ----------------------------------------------------------------
code=$(req met "$base/metrics")
check "/metrics is 200" test "$code" = 200
check "/metrics is Prometheus text" has "$tmp/met.hdr" '^content-type: text/plain; version=0.0.4'
check "requests by route and status" has "$tmp/met.body" '^edge_http_requests_total\{component="edge",route="GET /profile",status="200"\} [1-9]'
check "403s are counted" has "$tmp/met.body" '^edge_http_requests_total\{component="edge",route="PATCH /profile",status="403"\} [1-9]'
check "a latency histogram" has "$tmp/met.body" '^edge_http_request_duration_seconds_bucket\{component="edge",route="GET /profile",le="\+Inf"\} [1-9]'
check "RPC errors by service and code" has "$tmp/met.body" '^edge_rpc_errors_total\{component="edge",service="user",code="UNAUTHENTICATED"\} [1-9]'
check "unmatched paths share one label" has "$tmp/met.body" 'route="unmatched",status="404"'
check "no raw path becomes a label" hasnt "$tmp/met.body" 'passwd'

# --- Bad input and limits ---------------------------------------------------
printf '{"username":"\xff\xfe","password":"correct horse battery"}' >"$tmp/utf8.json"
code=$(req u8 -X POST "${json[@]}" --data-binary @"$tmp/utf8.json" "$base/login")
check "invalid UTF-8 in a body is 400" test "$code" = 400
check "and says so" has "$tmp/u8.body" 'UTF-8'
printf '{"username":"a\\u0000b","password":"correct horse battery"}' >"$tmp/nul.json"
code=$(req nul -X POST "${json[@]}" --data-binary @"$tmp/nul.json" "$base/login")
check "a NUL escape in a body is 400" test "$code" = 400
code=$(req u8p --path-as-is "$base/profile%ff")
check "invalid UTF-8 in the path is 404" test "$code" = 404
head -c 1048576 /dev/zero | tr '\0' ' ' >"$tmp/mib"
code=$(req mib -X POST "${json[@]}" --data-binary @"$tmp/mib" "$base/login")
check "a 1 MiB body is 413" test "$code" = 413
check "413 is problem+json" has "$tmp/mib.hdr" '^content-type: application/problem\+json'
big=$(head -c 12000 /dev/zero | tr '\0' 'a')
code=$(req hdr -H "X-Big: $big" "$base/healthz")
check "headers over the limit are refused (431)" test "$code" = 431
code=$(req ok1 "$base/healthz")
check "and the edge keeps serving" test "$code" = 200

# Slowloris: a request that never finishes its headers is cut after the
# connection timeout (2 s here) while others are served.
exec 5<>"/dev/tcp/127.0.0.1/$edge_port"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&5
code=$(req slow1 "$base/healthz")
check "served while a slow client holds a connection" test "$code" = 200
start=$SECONDS
rc=0
timeout 10 cat <&5 >/dev/null || rc=$?
check "the slow connection is closed by the timeout" test "$rc" = 0
check "within a few seconds" test $((SECONDS - start)) -le 6
exec 5<&-

# Per-IP connection limit (8 here): a 9th connection is refused; once the
# others close, service resumes.
for fd in 10 11 12 13 14 15 16 17; do
  eval "exec $fd<>/dev/tcp/127.0.0.1/$edge_port"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$base/healthz" || true)
check "a connection past the per-IP limit is refused" test "$code" = 000
for fd in 10 11 12 13 14 15 16 17; do eval "exec $fd<&-"; done
code=000
for _ in $(seq 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz" || true)
  [[ $code == 200 ]] && break
  sleep 0.1
done
check "and served again once they close" test "$code" = 200

status=0
edge_env_stop || status=$?
check "every process exits 0 on SIGTERM" test "$status" = 0
echo "edge_web: $passed passed, $failed failed"
[[ $failed == 0 ]]
