# shellcheck shell=bash
# Sourced by the tests of tests/api: installs the packages of
# tests/api/package-lock.json (exact versions) into the build tree with
# `npm ci`, once per build tree and again whenever the lock file changes;
# the source tree gets no node_modules. Several of these tests may start at
# once (ctest -j): the first installs, the others wait on a lock.
# Usage: api_npm_install BUILD_DIR   (sets api_node_modules)
api_npm_install() {
  local build=$1 src dir
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  dir=$build/npm-api
  command -v node >/dev/null || { echo "FAIL: node is not installed (scripts/test.sh installs it)" >&2; return 1; }
  command -v npm >/dev/null || { echo "FAIL: npm is not installed (scripts/test.sh installs it)" >&2; return 1; }
  mkdir -p "$dir"
  (
    flock 9
    if ! cmp -s "$src/package-lock.json" "$dir/installed-lock.json" ||
      [[ ! -d $dir/node_modules ]]; then
      rm -rf "$dir/node_modules" "$dir/installed-lock.json"
      cp "$src/package.json" "$src/package-lock.json" "$dir/"
      # No install scripts: none of these packages needs one to work.
      if ! npm ci --prefix "$dir" --silent --no-audit --no-fund --ignore-scripts >"$dir/npm.log" 2>&1; then
        echo "FAIL: npm ci in $dir failed:" >&2
        tail -n 20 "$dir/npm.log" >&2
        exit 1
      fi
      cp "$src/package-lock.json" "$dir/installed-lock.json"
    fi
  ) 9>"$dir/.lock" || return 1
  # shellcheck disable=SC2034 # read by the scripts that source this file
  api_node_modules=$dir/node_modules
}
