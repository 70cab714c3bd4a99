#!/usr/bin/env bash
# Writes docs/openapi.json, the checked-in copy of the OpenAPI document the
# edge serves at GET /openapi.json, from the edge binary itself
# (`edge --openapi`): the document is generated from the route table and
# the descriptors, so after changing a route, a message or a field rule,
# run this and commit the result. With --check, changes nothing: prints the
# difference and exits 1 when the copy is stale (the test command runs
# this as the test openapi_current).
#
# Usage: scripts/openapi.sh [--check] [BUILD_DIR]   (BUILD_DIR: build/)
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check=0
build="$ROOT/build"
while (($# > 0)); do
	case "$1" in
	--check) check=1 ;;
	-h | --help) show_help ;;
	-*) usage_error "unknown option: $1" ;;
	*) build="$1" ;;
	esac
	shift
done

edge="$build/edge/edge"
[[ -x $edge ]] || die "$edge is not built (cmake --build $build --target edge)"
copy="$ROOT/docs/openapi.json"
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
"$edge" --openapi >"$fresh" || die "edge --openapi failed"

if ((check == 0)); then
	cp "$fresh" "$copy"
	log "wrote docs/openapi.json ($(wc -c <"$copy") bytes)"
	exit 0
fi
if [[ ! -f $copy ]] || ! cmp -s "$fresh" "$copy"; then
	diff -u "$copy" "$fresh" | head -60 >&2 || true
	echo "FAIL: docs/openapi.json is not what the edge serves: run scripts/openapi.sh and commit it" >&2
	exit 1
fi
echo "docs/openapi.json is what the edge serves"
