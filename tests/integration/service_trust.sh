#!/usr/bin/env bash
# Trust between the services of a whole stack on mutual TLS (edge_env.sh):
# svc-admin's admin calls to svc-auth work; the same admin methods with an
# admin's token but the edge's or svc-user's certificate are
# PERMISSION_DENIED and logged naming the caller; the login throttle
# believes client_ip from the edge only and counts a non-edge caller's
# attempts under its real address; rpcctl's TLS options (flags, RPCCTL_*,
# a service's RPC_TLS_*), and a client that checks which service it
# reached.
# Usage: service_trust.sh BUILD_DIR
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
fails() { ! "$@"; }
has() { grep -qE -- "$2" "$1"; }

# The login counters this test fills for 127.0.0.1 are in a Redis database
# of its own (svc_env_setup). Cheap hashes; at most 3 failed logins per
# address; svc-auth logs the refusals (info).
rcli() { redis-cli -u "$TEST_REDIS_URL" "$@"; }
export AUTH_ARGON2_T=1 AUTH_ARGON2_M_KIB=8192 AUTH_LOGIN_MAX_PER_IP=3 SVC_LOG_LEVEL=info
edge_env_start "$build" "$tmp"
base=$edge_base
pki=$edge_env_pki
rpcctl="$build/cli/rpcctl"

json=(-H 'Content-Type: application/json')
req() { # OUT CURL_ARGS... -> status; body in $tmp/OUT
  local out=$1
  shift
  curl -s -o "$tmp/$out" -w '%{http_code}' "$@" || true
}
field() { sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" "$tmp/$1"; }
req reg -X POST "${json[@]}" \
  -d '{"username":"boss","email":"boss@example.com","password":"correct horse battery"}' "$base/register" >/dev/null
"$build/svc-auth/svc-auth" promote-admin boss >"$tmp/promote.out" 2>&1
req login -X POST "${json[@]}" -d '{"username":"boss","password":"correct horse battery"}' "$base/login" >/dev/null
admin=$(field login access_token)
check "the admin logs in through the edge" test -n "$admin"

# svc-admin calls svc-auth's admin methods over TLS as "svc-admin".
code=$(req users -H "Authorization: Bearer $admin" "$base/admin/users")
check "GET /admin/users through svc-admin is 200" test "$code" = 200
check "  and lists boss" has "$tmp/users" '"username":"boss"'
check "every process speaks TLS: svc-auth listens on tls+tcp://" \
  has "$tmp/auth.log" '"msg":"listening".*"url":"tls\+tcp://'

# rpcctl as someone: IDENTITY [ARGS...] with that identity's certificate.
as() {
  local who=$1
  shift
  env -u RPCCTL_CERT -u RPCCTL_KEY -u RPCCTL_CACERT "$rpcctl" --timeout 3000 \
    --cert "$pki/$who.crt" --key "$pki/$who.key" --cacert "$pki/ca.crt" "$@"
}
status_of() { # IDENTITY ARGS... -> rpcctl's exit status; stderr in $tmp/as.err
  local rc=0
  as "$@" >"$tmp/as.out" 2>"$tmp/as.err" || rc=$?
  echo "$rc"
}
list_admin='{"page_size":5}'
check "ops may call AdminListUsers (svc-auth)" \
  test "$(status_of ops --token "$admin" call auth.AdminListUsers "$list_admin")" = 0
check "ops may list the signing keys" test "$(status_of ops --token "$admin" keys list)" = 0
for who in edge svc-user; do
  check "$who's certificate with an admin token: AdminListUsers is PERMISSION_DENIED (exit 4)" \
    test "$(status_of "$who" --token "$admin" call auth.AdminListUsers "$list_admin")" = 4
  check "  saying so" has "$tmp/as.err" 'PERMISSION_DENIED: this method does not accept calls from this service'
  check "  and svc-auth logs the refusal naming $who" \
    has "$tmp/auth.log" "\"msg\":\"call refused\",\"method\":\"/auth.v1.AuthService/AdminListUsers\",\"reason\":\"caller not allowed\",\"caller\":\"$who\""
  check "$who's certificate: keys list is PERMISSION_DENIED" \
    test "$(status_of "$who" --token "$admin" keys list)" = 4
done
check "the edge's certificate: svc-admin's ListUsers is served" \
  test "$(status_of edge --token "$admin" call admin.ListUsers '{"page_size":1}')" = 0
check "svc-user's certificate: svc-admin's ListUsers is PERMISSION_DENIED" \
  test "$(status_of svc-user --token "$admin" call admin.ListUsers '{"page_size":1}')" = 4
check "  and svc-admin logs the refusal naming svc-user" \
  has "$tmp/admin.log" '"msg":"call refused","method":"/admin.v1.AdminService/ListUsers","reason":"caller not allowed","caller":"svc-user"'

# The login throttle (3 failures per address). From the edge, client_ip is
# the end user's: four addresses, one failure each, none throttled.
login_as() { # IDENTITY USER IP -> rpcctl's exit status; stderr in $tmp/as.err
  status_of "$1" call auth.Login \
    "{\"username\":\"$2\",\"password\":\"not the password\",\"client_ip\":\"$3\",\"user_agent\":\"test\"}"
}
throttled=0
for i in 1 2 3 4; do
  login_as edge "ghost$i" "198.51.100.$i" >/dev/null
  grep -q RESOURCE_EXHAUSTED "$tmp/as.err" && throttled=$((throttled + 1))
done
check "from the edge, client_ip is believed: no address throttled" test "$throttled" = 0
check "  each counted under its own address" test "$(rcli GET ratelimit:login:ip:198.51.100.4)" = 1
# From svc-user, client_ip is replaced by its real address: the fourth
# failure, whatever address it claims, is throttled.
for i in 5 6 7 8; do
  login_as svc-user "ghost$i" "198.51.100.$i" >/dev/null
done
check "from svc-user, a forged client_ip is ignored: the 4th failure is throttled" \
  has "$tmp/as.err" 'RESOURCE_EXHAUSTED'
check "  nothing is counted under the claimed addresses" test -z "$(rcli GET ratelimit:login:ip:198.51.100.5)"
check "  but under the connection's own address" test "$(rcli GET ratelimit:login:ip:127.0.0.1)" -ge 3

# rpcctl's credentials: RPCCTL_* (edge_env.sh sets ops), none, half a set,
# a service's own RPC_TLS_*.
check "rpcctl with RPCCTL_* (ops): health of every service" "$rpcctl" --timeout 3000 health
check "without a certificate, a tls+tcp:// URL is refused before anything is sent" \
  fails env -u RPCCTL_CERT -u RPCCTL_KEY -u RPCCTL_CACERT "$rpcctl" --timeout 3000 health --service auth
check "  saying what to give" bash -c "env -u RPCCTL_CERT -u RPCCTL_KEY -u RPCCTL_CACERT \
  '$rpcctl' health --service auth 2>&1 | grep -q 'needs a certificate: --cert, --key and --cacert'"
rc=0
"$rpcctl" --cert "$pki/ops.crt" health --service auth >/dev/null 2>"$tmp/half.err" || rc=$?
check "--cert without --key and --cacert is a usage error (exit 2)" test "$rc" = 2
check "  saying they go together" has "$tmp/half.err" 'go together'
check "inside a service's environment rpcctl speaks as that service (RPC_TLS_*)" \
  bash -c "env -u RPCCTL_CERT -u RPCCTL_KEY -u RPCCTL_CACERT RPC_TLS_CERT_FILE='$pki/svc-user.crt' \
    RPC_TLS_KEY_FILE='$pki/svc-user.key' RPC_TLS_CA_FILE='$pki/ca.crt' \
    '$rpcctl' --timeout 3000 --token '$admin' keys list 2>&1 | grep -q PERMISSION_DENIED"

# A client checks which service it reached: svc-auth's URL asked for as
# the user service is refused at the handshake, as the auth service it works.
check "svc-auth's URL dialed as svc-user: no connection" \
  fails "$rpcctl" --timeout 1500 --url "$AUTH_RPC_DIAL" --service user health
check "  dialed as svc-auth: SERVING" "$rpcctl" --timeout 3000 --url "$AUTH_RPC_DIAL" --service auth health
check "  the refusal is in svc-auth's log" has "$tmp/auth.log" '"msg":"TLS handshake failed"'

status=0
edge_env_stop || status=$?
check "every process exits 0 on SIGTERM" test "$status" = 0
rm -rf "$tmp"
echo "service_trust: $passed passed, $failed failed"
((failed == 0))
