#!/usr/bin/env bash
# The OpenAPI document is well-formed and current: `redocly lint` (the
# committed redocly.yaml) passes on the document the edge serves at
# GET /openapi.json and on the checked-in docs/openapi.json, and the two are
# the same document (and the same as `edge --openapi` prints). Needs no
# service: the edge builds the document at start from its route table.
# Usage: lint.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
edge_pid=
# shellcheck source=tests/api/npm_env.sh
source "$here/npm_env.sh"
# shellcheck source=tests/integration/edge_env.sh
source "$repo/tests/integration/edge_env.sh"
cleanup() {
  [[ -n $edge_pid ]] && kill -TERM "$edge_pid" 2>/dev/null && wait "$edge_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
api_npm_install "$build"

failed=0
fail() {
  echo "FAIL: $*" >&2
  failed=$((failed + 1))
}

# The edge alone, its services' addresses pointing at free ports where
# nothing listens (it starts without them; /readyz says 503).
port=$(free_port)
AUTH_RPC_DIAL=tcp://127.0.0.1:$(free_port) USER_RPC_DIAL=tcp://127.0.0.1:$(free_port) \
  ADMIN_RPC_DIAL=tcp://127.0.0.1:$(free_port) EDGE_LISTEN=127.0.0.1:$port LOG_LEVEL=warn \
  "$build/edge/edge" 2>"$tmp/edge.log" &
edge_pid=$!
code=000
for _ in $(seq 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)
  [[ $code == 200 ]] && break
  sleep 0.05
done
code=$(curl -s -o "$tmp/served.json" -w '%{http_code}' "http://127.0.0.1:$port/openapi.json" || true)
if [[ $code != 200 ]]; then
  echo "FAIL: GET /openapi.json answered $code" >&2
  cat "$tmp/edge.log" >&2
  exit 1
fi
if ! "$build/edge/edge" --openapi >"$tmp/printed.json" 2>"$tmp/printed.err"; then
  fail "edge --openapi failed: $(cat "$tmp/printed.err")"
fi

redocly() {
  REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    node "$api_node_modules/@redocly/cli/bin/cli.js" "$@"
}
for doc in "$tmp/served.json" "$repo/docs/openapi.json"; do
  name=${doc#"$tmp/"}
  name=${name#"$repo/"}
  if [[ ! -f $doc ]]; then
    fail "$name is missing"
    continue
  fi
  if redocly lint --config "$here/redocly.yaml" --format stylish "$doc" >"$tmp/lint.out" 2>&1; then
    echo "redocly lint $name: no problem"
  else
    cat "$tmp/lint.out" >&2
    fail "redocly lint $name"
  fi
done

# The same document, whatever the layout: each is parsed and printed with
# two-space indentation before the comparison.
canon() { node -e 'const fs=require("fs");process.stdout.write(JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1],"utf8")),null,2)+"\n")' "$1"; }
canon "$tmp/served.json" >"$tmp/served.canon" || fail "the served document is not JSON"
if [[ -f $repo/docs/openapi.json ]]; then
  if ! canon "$repo/docs/openapi.json" >"$tmp/committed.canon"; then
    fail "docs/openapi.json is not JSON"
  elif ! diff -u --label docs/openapi.json --label "GET /openapi.json" \
    "$tmp/committed.canon" "$tmp/served.canon" >&2; then
    fail "docs/openapi.json differs from what the edge serves (diff above); regenerate it with:
    scripts/openapi.sh $build   (that is: $build/edge/edge --openapi > docs/openapi.json)"
  fi
fi
if [[ -s $tmp/printed.json ]]; then
  if ! canon "$tmp/printed.json" >"$tmp/printed.canon"; then
    fail "edge --openapi printed no JSON"
  elif ! diff -u --label "edge --openapi" --label "GET /openapi.json" \
    "$tmp/printed.canon" "$tmp/served.canon" >&2; then
    fail "edge --openapi prints another document than the edge serves"
  fi
fi

if ((failed > 0)); then
  echo "api_lint: $failed failed" >&2
  exit 1
fi
echo "api_lint: served and committed documents lint clean and are the same"
