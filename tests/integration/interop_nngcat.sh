#!/usr/bin/env bash
# A client nobody here wrote can call a service: the request envelope is
# encoded with `protoc --encode`, sent with `nngcat --req0`, and the reply
# decoded with `protoc --decode`, exactly as docs/rpc.md describes; over
# plain tcp:// and over mutual TLS (tls+tcp://, nngcat's --cert/--key/
# --cacert with certificates from scripts/certs.sh), where a client without
# a certificate, with one of another CA or with an expired one is refused,
# and the login throttle counts a non-edge caller's own address whatever
# client_ip it sends.
# Usage: interop_nngcat.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
pid=
tls_pid=
# shellcheck source=tests/integration/svc_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/svc_env.sh"
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [[ -n $tls_pid ]] && kill -TERM "$tls_pid" 2>/dev/null && wait "$tls_pid" 2>/dev/null
  svc_env_cleanup
  rm -rf "$tmp"
}
trap cleanup EXIT
svc_env_setup

# A free port, reserved against the other tests' (scripts/ports.sh).
port=$(free_port)
url="tcp://127.0.0.1:$port"

AUTH_RPC_LISTEN=$url LOG_LEVEL=warn "$build/svc-auth/svc-auth" 2>"$tmp/svc.log" &
pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

proto=(-I "$src/proto")
# 1. The method's input message, then the envelope carrying it. Text format
#    takes bytes as an escaped string: write every byte as \ooo.
printf 'service: "auth.v1.AuthService"\n' |
  protoc "${proto[@]}" --encode=core.v1.HealthCheckRequest core/v1/health.proto >"$tmp/payload.bin"
escaped=$(od -An -v -to1 "$tmp/payload.bin" | tr -s ' \n' ' ' | sed 's/ *$//; s/^ *//; s/ /\\/g; s/^/\\/')
printf 'method: "/core.v1.Health/Check"\npayload: "%s"\nmetadata { key: "request-id" value: "interop-1" }\n' "$escaped" |
  protoc "${proto[@]}" --encode=core.v1.Request core/v1/core.proto >"$tmp/request.bin"

# 2. Send it with nngcat and keep the raw reply. (nngcat 1.5.2 with
#    --count 1 alone races and may fail with "Cannot set recv timeout";
#    --interval avoids that. The reply itself is what is checked.)
timeout 10 nngcat --req0 --dial "$url" --file "$tmp/request.bin" --raw --count 1 --interval 1 \
  >"$tmp/reply.bin" || true
[[ -s $tmp/reply.bin ]] || { echo "FAIL: no reply" >&2; cat "$tmp/svc.log" >&2; exit 1; }

# 3. Decode the envelope, then the payload inside it.
protoc "${proto[@]}" --decode=core.v1.Response core/v1/core.proto <"$tmp/reply.bin" >"$tmp/reply.txt"
cat "$tmp/reply.txt"
if grep -q '^code:' "$tmp/reply.txt"; then
  echo "FAIL: reply carries a non-OK code" >&2
  exit 1
fi
# The payload (field 3) is itself a HealthCheckResponse: unescape, decode.
payload_status=$(protoc "${proto[@]}" --decode=core.v1.Response core/v1/core.proto <"$tmp/reply.bin" |
  sed -n 's/^payload: "\(.*\)"$/\1/p')
printf '%b' "$payload_status" >"$tmp/out_payload.bin"
protoc "${proto[@]}" --decode=core.v1.HealthCheckResponse core/v1/health.proto <"$tmp/out_payload.bin" | tee "$tmp/health.txt"
grep -qx 'status: SERVING' "$tmp/health.txt" || { echo "FAIL: not SERVING" >&2; exit 1; }

# An unknown method gets UNIMPLEMENTED, also from a foreign client.
printf 'method: "/auth.v1.AuthService/NoSuchMethod"\n' |
  protoc "${proto[@]}" --encode=core.v1.Request core/v1/core.proto >"$tmp/request2.bin"
{ timeout 10 nngcat --req0 --dial "$url" --file "$tmp/request2.bin" --raw --count 1 --interval 1 || true; } |
  protoc "${proto[@]}" --decode=core.v1.Response core/v1/core.proto | tee "$tmp/reply2.txt"
grep -q '^code: UNIMPLEMENTED' "$tmp/reply2.txt" || { echo "FAIL: expected UNIMPLEMENTED" >&2; exit 1; }

# Mutual TLS: the same request over tls+tcp:// to a svc-auth holding the
# svc-auth certificate of a fresh CA. nngcat checks the server's certificate
# against the URL's host name, so it dials "localhost" (every certificate of
# scripts/certs.sh names it).
"$src/scripts/certs.sh" init "$tmp/pki" >/dev/null
"$src/scripts/certs.sh" init "$tmp/other" >/dev/null
"$src/scripts/certs.sh" issue "$tmp/pki" expired --not-before 20200101000000Z \
  --not-after 20200102000000Z >/dev/null
tls_port=$(free_port "$port")
tls_url="tls+tcp://localhost:$tls_port"
# A Redis database of its own: the login counters this part fills for
# 127.0.0.1 must not throttle tests running beside it (or a rerun).
svc_env_redis_db
REDIS_URL="$svc_env_redis_url" AUTH_LOGIN_MAX_PER_IP=3 \
  AUTH_RPC_LISTEN="tls+tcp://127.0.0.1:$tls_port" LOG_LEVEL=warn \
  RPC_TLS_CERT_FILE="$tmp/pki/svc-auth.crt" RPC_TLS_KEY_FILE="$tmp/pki/svc-auth.key" \
  RPC_TLS_CA_FILE="$tmp/pki/ca.crt" RPC_TLS_CRL_FILE="$tmp/pki/crl.pem" \
  "$build/svc-auth/svc-auth" 2>"$tmp/tls.log" &
tls_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$tls_port") 2>/dev/null && break
  sleep 0.05
done

# tls_call NAME [nngcat TLS options...]: the raw reply to the Health request
# in $tmp/tls-NAME.bin (empty when the handshake was refused).
tls_call() {
  local name=$1
  shift
  timeout 10 nngcat --req0 --dial "$tls_url" "$@" --file "$tmp/request.bin" --raw \
    --count 1 --interval 1 >"$tmp/tls-$name.bin" 2>"$tmp/tls-$name.err" || true
}
tls_call ops --cert "$tmp/pki/ops.crt" --key "$tmp/pki/ops.key" --cacert "$tmp/pki/ca.crt"
[[ -s $tmp/tls-ops.bin ]] || { echo "FAIL: no reply over TLS" >&2; cat "$tmp/tls-ops.err" "$tmp/tls.log" >&2; exit 1; }
protoc "${proto[@]}" --decode=core.v1.Response core/v1/core.proto <"$tmp/tls-ops.bin" |
  sed -n 's/^payload: "\(.*\)"$/\1/p' >"$tmp/tls-payload.txt"
printf '%b' "$(cat "$tmp/tls-payload.txt")" |
  protoc "${proto[@]}" --decode=core.v1.HealthCheckResponse core/v1/health.proto | tee "$tmp/tls-health.txt"
grep -qx 'status: SERVING' "$tmp/tls-health.txt" || { echo "FAIL: not SERVING over TLS" >&2; exit 1; }

refused() {
  local name=$1 why=$2
  if [[ -s $tmp/tls-$name.bin ]]; then
    echo "FAIL: a client $why got a reply" >&2
    exit 1
  fi
  echo "refused: a client $why"
}
tls_call nocert --cacert "$tmp/pki/ca.crt"
refused nocert "without a certificate"
tls_call other --cert "$tmp/other/ops.crt" --key "$tmp/other/ops.key" --cacert "$tmp/pki/ca.crt"
refused other "with a certificate of another CA"
tls_call expired --cert "$tmp/pki/expired.crt" --key "$tmp/pki/expired.key" --cacert "$tmp/pki/ca.crt"
refused expired "with an expired certificate"
grep -q 'No client certification received' "$tmp/tls.log" || { echo "FAIL: no log of the missing certificate" >&2; exit 1; }
grep -q 'not correctly signed by the trusted CA' "$tmp/tls.log" || { echo "FAIL: no log of the foreign CA" >&2; exit 1; }
grep -q 'certificate validity has expired' "$tmp/tls.log" || { echo "FAIL: no log of the expired certificate" >&2; exit 1; }

# Client facts: logins of users that do not exist, each claiming another
# client_ip. From the edge each address is counted on its own (the limit is
# 3 an address: none is throttled); from any other identity the server
# replaces client_ip with the caller's own address, so all count on
# 127.0.0.1 and the fourth is throttled.
# login_code IDENTITY N: the status of login N of IDENTITY.
login_code() {
  local who=$1 n=$2 esc
  printf 'username: "ghost-%s-%s"\npassword: "not the password"\nclient_ip: "198.51.100.%s"\nuser_agent: "forged"\n' \
    "$who" "$n" "$n" |
    protoc "${proto[@]}" --encode=auth.v1.LoginRequest auth/v1/auth.proto >"$tmp/login.bin"
  esc=$(od -An -v -to1 "$tmp/login.bin" | tr -s ' \n' ' ' | sed 's/ *$//; s/^ *//; s/ /\\/g; s/^/\\/')
  printf 'method: "/auth.v1.AuthService/Login"\npayload: "%s"\n' "$esc" |
    protoc "${proto[@]}" --encode=core.v1.Request core/v1/core.proto >"$tmp/login-req.bin"
  timeout 10 nngcat --req0 --dial "$tls_url" --cert "$tmp/pki/$who.crt" --key "$tmp/pki/$who.key" \
    --cacert "$tmp/pki/ca.crt" --file "$tmp/login-req.bin" --raw --count 1 --interval 1 \
    >"$tmp/login-rep.bin" 2>/dev/null || true
  protoc "${proto[@]}" --decode=core.v1.Response core/v1/core.proto <"$tmp/login-rep.bin" |
    sed -n 's/^code: //p'
}
for n in 1 2 3 4 5; do
  code=$(login_code edge "$n")
  [[ $code == UNAUTHENTICATED ]] || { echo "FAIL: edge login $n: '$code', expected UNAUTHENTICATED" >&2; exit 1; }
done
echo "client facts: the edge's client_ip is believed (5 addresses, none throttled)"
for n in 1 2 3; do
  code=$(login_code svc-user "$n")
  [[ $code == UNAUTHENTICATED ]] || { echo "FAIL: svc-user login $n: '$code', expected UNAUTHENTICATED" >&2; exit 1; }
done
code=$(login_code svc-user 4)
[[ $code == RESOURCE_EXHAUSTED ]] || { echo "FAIL: svc-user login 4: '$code', expected RESOURCE_EXHAUSTED" >&2; exit 1; }
echo "client facts: svc-user's client_ip is replaced (its 4th login throttled on 127.0.0.1)"

# Bad TLS settings stop a service at start with status 2 and say why.
start_status() { # EXPECTED_TEXT ENV... : runs svc-auth with ENV, checks
  local want=$1 rc=0
  shift
  env "$@" AUTH_RPC_LISTEN="tls+tcp://127.0.0.1:$tls_port" timeout 20 \
    "$build/svc-auth/svc-auth" 2>"$tmp/bad.log" || rc=$?
  ((rc == 2)) || { echo "FAIL: exit $rc, expected 2 ($want)" >&2; cat "$tmp/bad.log" >&2; exit 1; }
  grep -qF -- "$want" "$tmp/bad.log" || { echo "FAIL: no '$want' in the log" >&2; cat "$tmp/bad.log" >&2; exit 1; }
  echo "refused at start: $want"
}
start_status "no TLS credentials" RPC_TLS_CERT_FILE= RPC_TLS_KEY_FILE= RPC_TLS_CA_FILE=
start_status "does not match" RPC_TLS_CERT_FILE="$tmp/pki/svc-auth.crt" \
  RPC_TLS_KEY_FILE="$tmp/pki/edge.key" RPC_TLS_CA_FILE="$tmp/pki/ca.crt"
start_status "does not verify" RPC_TLS_CERT_FILE="$tmp/other/svc-auth.crt" \
  RPC_TLS_KEY_FILE="$tmp/other/svc-auth.key" RPC_TLS_CA_FILE="$tmp/pki/ca.crt"
echo "interop: 4 passed, 0 failed"
