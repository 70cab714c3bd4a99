#!/usr/bin/env bash
# An access token minted by svc-auth verifies with an independent JWT
# library (jose, from npm) given only the published JWKS document; a
# tampered copy does not. Usage: jose_verify.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
pid=
# shellcheck source=tests/integration/svc_env.sh
source "$here/svc_env.sh"
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  svc_env_cleanup
  rm -rf "$tmp"
}
trap cleanup EXIT
svc_env_setup

command -v node >/dev/null || { echo "FAIL: node is not installed" >&2; exit 1; }
# jose is installed once per build tree (the npm registry is reachable from
# every machine of this project; nothing is vendored).
mods=$build/npm-jose
if [[ ! -f $mods/node_modules/jose/package.json ]]; then
  mkdir -p "$mods"
  npm install --silent --no-audit --no-fund --prefix "$mods" jose@5 >/dev/null
fi

port=$(free_port)
url=tcp://127.0.0.1:$port
AUTH_RPC_LISTEN=$url LOG_LEVEL=warn "$build/svc-auth/svc-auth" 2>"$tmp/svc.log" &
pid=$!
rpcctl() { "$build/cli/rpcctl" --url "$url" --service auth "$@"; }
for _ in $(seq 100); do rpcctl health >/dev/null 2>&1 && break; sleep 0.1; done

rpcctl call auth.Register '{"username":"josecheck","email":"jose@example.com","password":"correct horse battery"}' >/dev/null
token=$(rpcctl call auth.Login '{"username":"josecheck","password":"correct horse battery"}' |
  sed -n 's/.*"access_token": "\([^"]*\)".*/\1/p')
rpcctl call auth.GetJwks | sed -n 's/^  "json": "\(.*\)",\{0,1\}$/\1/p' | sed 's/\\"/"/g' >"$tmp/jwks.json"
[[ -n $token && -s $tmp/jwks.json ]] || { echo "FAIL: no token or JWKS" >&2; cat "$tmp/svc.log" >&2; exit 1; }

cat >"$tmp/verify.mjs" <<'JS'
import { createLocalJWKSet, jwtVerify } from 'jose';
import { readFileSync } from 'node:fs';
const [jwksPath, token] = process.argv.slice(2);
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksPath, 'utf8')));
const opts = { issuer: 'http://127.0.0.1:8080', audience: 'microcore', typ: 'at+jwt', algorithms: ['EdDSA'] };
const { payload, protectedHeader } = await jwtVerify(token, jwks, opts);
if (payload.username !== 'josecheck' || protectedHeader.alg !== 'EdDSA') throw new Error('unexpected claims');
const parts = token.split('.');
const body = JSON.parse(Buffer.from(parts[1], 'base64url'));
body.role = 'admin';
const forged = [parts[0], Buffer.from(JSON.stringify(body)).toString('base64url'), parts[2]].join('.');
try { await jwtVerify(forged, jwks, opts); throw new Error('forged token accepted'); }
catch (e) { if (e.message === 'forged token accepted') throw e; }
console.log('jose: verified', protectedHeader.kid, '- forged copy rejected');
JS
# ESM resolves packages from the script's directory: put it beside them.
cp "$tmp/verify.mjs" "$mods/verify.mjs"
node "$mods/verify.mjs" "$tmp/jwks.json" "$token"
echo "jose_verify: 1 passed, 0 failed"
