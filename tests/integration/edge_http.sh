#!/usr/bin/env bash
# The edge over real HTTP: liveness, readiness with services down and up,
# problem+json errors, request ids, clean exit on SIGTERM.
# Usage: edge_http.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
pids=()
# shellcheck source=tests/integration/svc_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/svc_env.sh"
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  svc_env_cleanup
  rm -rf "$tmp"
}
trap cleanup EXIT
svc_env_setup
passed=0
failed=0
check() { # NAME CONDITION...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}

edge_port=$(free_port)
auth_port=$(free_port)
user_port=$(free_port)
admin_port=$(free_port)
export AUTH_RPC_DIAL=tcp://127.0.0.1:$auth_port USER_RPC_DIAL=tcp://127.0.0.1:$user_port \
  ADMIN_RPC_DIAL=tcp://127.0.0.1:$admin_port EDGE_LISTEN=127.0.0.1:$edge_port \
  EDGE_RPC_TIMEOUT_MS=3000 EDGE_WWW_DIR=none LOG_LEVEL=warn AUTH_JWKS_MAX_AGE_S=45
"$build/edge/edge" 2>"$tmp/edge.log" &
edge_pid=$!
pids+=("$edge_pid")
base=http://127.0.0.1:$edge_port
# Up to 30 s: a sanitizer build on a loaded machine starts slowly.
for _ in $(seq 600); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

# Liveness does not depend on the services.
code=$(curl -s -o "$tmp/h.json" -w '%{http_code}' "$base/healthz")
check "healthz is 200" test "$code" = 200
check "healthz body" grep -q '"status":"ok"' "$tmp/h.json"

code=$(curl -s -o "$tmp/i.json" -w '%{http_code}' "$base/")
check "index points to the API description" grep -q '"openapi":"/openapi.json"' "$tmp/i.json"

# Readiness names every service that is down, as problem+json.
code=$(curl -s -D "$tmp/r.hdr" -o "$tmp/r.json" -w '%{http_code}' "$base/readyz")
check "readyz is 503 with services down" test "$code" = 503
check "readyz is problem+json" grep -qi '^content-type: application/problem+json' "$tmp/r.hdr"
check "readyz names the services down" grep -q '"down":\["auth","user","admin"\]' "$tmp/r.json"

# Errors and request ids.
code=$(curl -s -D "$tmp/n.hdr" -o "$tmp/n.json" -w '%{http_code}' -H 'X-Request-Id: edge-test-1' --path-as-is "$base/nope/../../etc/passwd")
check "unknown path is 404" test "$code" = 404
check "404 is problem+json" grep -q '"status":404' "$tmp/n.json"
check "valid request id is echoed" grep -qi '^x-request-id: edge-test-1' "$tmp/n.hdr"
curl -s -D "$tmp/bad.hdr" -o /dev/null -H 'X-Request-Id: bad id"<>' "$base/healthz"
check "invalid request id is replaced" grep -qiE '^x-request-id: [0-9a-f]{32}' "$tmp/bad.hdr"
code=$(curl -s -D "$tmp/m.hdr" -o /dev/null -w '%{http_code}' -X POST -d '{}' "$base/healthz")
check "wrong method is 405" test "$code" = 405
check "405 lists Allow" grep -qi '^allow: GET, HEAD' "$tmp/m.hdr"
check "security headers" grep -qi '^x-content-type-options: nosniff' "$tmp/m.hdr"

# With every service up, ready.
for svc in auth user admin; do
  var=${svc^^}_RPC_LISTEN
  port_var=${svc}_port
  env "$var=tcp://127.0.0.1:${!port_var}" "$build/svc-$svc/svc-$svc" 2>"$tmp/$svc.log" &
  pids+=($!)
done
code=000
for _ in $(seq 300); do
  code=$(curl -s -o "$tmp/r2.json" -w '%{http_code}' "$base/readyz")
  [[ $code == 200 ]] && break
  sleep 0.05
done
check "readyz is 200 with every service up" test "$code" = 200
check "readyz reports SERVING" grep -q '"auth":"SERVING","user":"SERVING","admin":"SERVING"' "$tmp/r2.json"

# The REST routes, through the services.
json=(-H 'Content-Type: application/json')
code=$(curl -s -D "$tmp/reg.hdr" -o "$tmp/reg.json" -w '%{http_code}' -X POST "${json[@]}" \
  -d '{"username":"Edgy","email":"edgy@example.com","password":"correct horse battery"}' "$base/register")
check "register is 201" test "$code" = 201
check "register sets Location" grep -qi '^location: /profile' "$tmp/reg.hdr"
check "register answers the user, snake_case" grep -q '"username":"edgy"' "$tmp/reg.json"
code=$(curl -s -o "$tmp/dup.json" -w '%{http_code}' -X POST "${json[@]}" \
  -d '{"username":"edgy","email":"x@example.com","password":"correct horse battery"}' "$base/register")
check "duplicate is 409" test "$code" = 409
code=$(curl -s -o "$tmp/bad.json" -w '%{http_code}' -X POST "${json[@]}" \
  -d '{"username":"a b","email":"no","password":"short"}' "$base/register")
check "invalid fields are 400" test "$code" = 400
check "400 names every field" grep -q '"field":"username".*"field":"email".*"field":"password"' "$tmp/bad.json"
code=$(curl -s -o "$tmp/typ.json" -w '%{http_code}' -X POST "${json[@]}" -d '{"username":5}' "$base/login")
check "wrong JSON type is 400 naming the field" grep -q '"field":"username"' "$tmp/typ.json"
code=$(curl -s -o "$tmp/mal.json" -w '%{http_code}' -X POST "${json[@]}" -d '{"username":"x",' "$base/login")
check "malformed JSON is 400" test "$code" = 400
check "its detail says where" grep -q '"detail":"the body cannot be read as JSON: .*(line 1, column [0-9]*)"' "$tmp/mal.json"
check "and names no member" bash -c '! grep -q "\"errors\"" "$1"' _ "$tmp/mal.json"
code=$(curl -s -o "$tmp/arr.json" -w '%{http_code}' -X POST "${json[@]}" -d '[1]' "$base/login")
check "a body that is not an object is 400 naming no member" \
  bash -c '[[ $0 == 400 ]] && grep -q "expected a JSON object" "$1" && ! grep -q "\"errors\"" "$1"' "$code" "$tmp/arr.json"
code=$(curl -s -o "$tmp/unk.json" -w '%{http_code}' -X POST "${json[@]}" -d '{"usernme":"x"}' "$base/login")
check "unknown field is 400" test "$code" = 400
check "naming it" grep -q '"errors":\[{"field":"usernme","message":"unknown field' "$tmp/unk.json"
code=$(curl -s -o "$tmp/camel.json" -w '%{http_code}' -X POST "${json[@]}" \
  -d '{"username":"x","password":"y","deviceToken":"z"}' "$base/login")
check "a lowerCamelCase member is 400 naming it and its name" \
  grep -q '"field":"deviceToken","message":"unknown field \\"deviceToken\\" (the name is \\"device_token\\")"' "$tmp/camel.json"
code=$(curl -s -o "$tmp/ip.json" -w '%{http_code}' -X POST "${json[@]}" \
  -d '{"username":"x","password":"y","client_ip":"10.9.8.7"}' "$base/login")
check "a member the edge fills is 400 naming it" test "$code" = 400
check "  and names it" grep -q '"field":"client_ip"' "$tmp/ip.json"
code=$(curl -s -D "$tmp/oa.hdr" -o "$tmp/oa.json" -w '%{http_code}' "$base/openapi.json")
check "openapi.json is 200" test "$code" = 200
check "openapi.json is the document the binary prints" cmp -s "$tmp/oa.json" <("$build/edge/edge" --openapi)
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^[:space:]]*\).*/\1/p' "$tmp/oa.hdr")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/openapi.json")
check "openapi.json revalidates by its ETag" test "$code" = 304
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: text/plain' -d 'x' "$base/login")
check "non-JSON body is 415" test "$code" = 415
head -c 2000000 /dev/zero | tr '\0' 'a' >"$tmp/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${json[@]}" --data-binary @"$tmp/big" "$base/login")
check "a 2 MB body is 413" test "$code" = 413
code=$(curl -s -o "$tmp/login.json" -w '%{http_code}' -X POST "${json[@]}" \
  -d '{"username":"edgy","password":"correct horse battery"}' "$base/login")
check "login is 200" test "$code" = 200
check "expires_in is a JSON number" grep -q '"expires_in":900' "$tmp/login.json"
token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$tmp/login.json")
code=$(curl -s -D "$tmp/p.hdr" -o "$tmp/p.json" -w '%{http_code}' -H "Authorization: Bearer $token" "$base/profile")
check "profile is 200 with an ETag" grep -qi '^etag: "v1"' "$tmp/p.hdr"
check "the profile says the role by its REST name" grep -q '"role":"user"' "$tmp/p.json"
check "and has every member, empty ones too" grep -q '"bio":"",' "$tmp/p.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "${json[@]}" -H "Authorization: Bearer $token" \
  -H 'If-Match: "v1"' -d '{"display_name":"Edgy"}' "$base/profile")
check "PATCH with the right If-Match is 200" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "${json[@]}" -H "Authorization: Bearer $token" \
  -H 'If-Match: "v1"' -d '{"bio":"x"}' "$base/profile")
check "a stale If-Match is 412" test "$code" = 412
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "${json[@]}" -H "Authorization: Bearer $token" \
  -H 'If-Match: nonsense' -d '{"bio":"x"}' "$base/profile")
check "a malformed If-Match is 400" test "$code" = 400
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $token" \
  "$base/sessions/a%2Fb")
check "a session id with odd characters is 404" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $token" \
  "$base/sessions/AAAAAAAAAAAAAAAAAAAAAA")
check "someone else's or no session is 404" test "$code" = 404
code=$(curl -s -o "$tmp/cur.json" -w '%{http_code}' -H "Authorization: Bearer $token" "$base/sessions/current")
check "GET /sessions/current is 200" test "$code" = 200
check "the current session is the login's" grep -q '"current":true' "$tmp/cur.json"
check "with its client" grep -q '"user_agent":"curl/' "$tmp/cur.json"
check "and when it was made and last used" grep -q '"created_at":"20.*"last_used_at":"20' "$tmp/cur.json"
check "its id is in GET /sessions" grep -qF -e "\"id\":\"$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$tmp/cur.json")\"" \
  <(curl -s -H "Authorization: Bearer $token" "$base/sessions")
code=$(curl -s -D "$tmp/cu.hdr" -o "$tmp/cu.json" -w '%{http_code}' "$base/sessions/current")
check "GET /sessions/current without a token is 401" test "$code" = 401
check "as problem+json" grep -qi '^content-type: application/problem+json' "$tmp/cu.hdr"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer not.a.token" "$base/sessions/current")
check "GET /sessions/current with a forged token is 401" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "$base/sessions/current")
check "POST /sessions/current is 405" test "$code" = 405
code=$(curl -s -D "$tmp/u.hdr" -o /dev/null -w '%{http_code}' "$base/profile")
check "no token is 401 with WWW-Authenticate" grep -qi '^www-authenticate: Bearer' "$tmp/u.hdr"
code=$(curl -s -D "$tmp/j.hdr" -o "$tmp/jwks.json" -w '%{http_code}' "$base/.well-known/jwks.json")
check "JWKS is cacheable for svc-auth's max age" grep -qi '^cache-control: public, max-age=45' "$tmp/j.hdr"
check "JWKS lists a key" grep -q '"kty":"OKP"' "$tmp/jwks.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${json[@]}" -H "Authorization: Bearer $token" -d '{}' "$base/logout")
check "logout is 200" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/profile")
check "the token is refused after logout" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/sessions/current")
check "and so is its session" test "$code" = 401

# A session ended elsewhere while its access token still verifies: 404.
login() {
  curl -s -X POST "${json[@]}" -d '{"username":"edgy","password":"correct horse battery"}' "$base/login" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
t1=$(login)
t2=$(login)
sid1=$(curl -s -H "Authorization: Bearer $t1" "$base/sessions/current" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
check "a second login has its own current session" test -n "$sid1"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $t2" "$base/sessions/$sid1")
check "ending the first session from the second is 200" test "$code" = 200
code=$(curl -s -o "$tmp/gone.json" -w '%{http_code}' -H "Authorization: Bearer $t1" "$base/sessions/current")
check "the ended session's GET /sessions/current is 404" test "$code" = 404
check "saying so" grep -q 'no such session' "$tmp/gone.json"

# SIGTERM: every process exits 0.
for p in "${pids[@]}"; do kill -TERM "$p"; done
status_all=0
for p in "${pids[@]}"; do wait "$p" || status_all=$?; done
pids=()
check "every process exits 0 on SIGTERM" test "$status_all" = 0

echo "edge_http: $passed passed, $failed failed"
[[ $failed == 0 ]]
