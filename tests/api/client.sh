#!/usr/bin/env bash
# The typed client: TypeScript types generated with openapi-typescript from
# the document the running edge serves, client/main.ts type-checked against
# them (`tsc --noEmit`), compiled into the build tree and run with node
# against the whole stack (register, log in, read the profile).
# Usage: client.sh BUILD_DIR
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
export AUTH_ARGON2_T=1 AUTH_ARGON2_M_KIB=8192
edge_env_start "$build" "$tmp"

# The client's sources, the generated types and the packages side by side
# in the build tree (the source tree gets no generated file).
work=$build/api-client
rm -rf "$work"
mkdir -p "$work"
cp "$here/client/main.ts" "$here/client/tsconfig.json" "$work/"
printf '{"private":true,"type":"module"}\n' >"$work/package.json"
ln -s "$api_node_modules" "$work/node_modules"
code=$(curl -s -o "$work/openapi.json" -w '%{http_code}' "$edge_base/openapi.json" || true)
[[ $code == 200 ]] || { echo "FAIL: GET /openapi.json answered $code" >&2; exit 1; }

bin=$api_node_modules/.bin
step() {
  local what=$1
  shift
  if ! "$@" >"$tmp/step.out" 2>&1; then
    cat "$tmp/step.out" >&2
    echo "FAIL: $what" >&2
    exit 1
  fi
}
step "openapi-typescript" "$bin/openapi-typescript" "$work/openapi.json" -o "$work/api.d.ts"
step "tsc --noEmit (main.ts against the generated types)" "$bin/tsc" -p "$work" --noEmit
step "tsc (compiling main.ts)" "$bin/tsc" -p "$work"
if ! timeout 60 node "$work/out/main.js" "$edge_base"; then
  echo "FAIL: the typed client against the stack; logs in $tmp" >&2
  for f in "$tmp"/*.log; do [[ -s $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
fi
