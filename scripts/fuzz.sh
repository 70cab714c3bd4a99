#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) with clang into build-fuzz/
# and runs each in turn for SECONDS (default 60), starting from its
# committed seeds (tests/fuzz/corpus/<name>/, only read). What the fuzzers
# learn goes to a scratch directory outside the checkout. Prints one line a
# harness (executions, executions per second, coverage) and exits 1 when
# any found something: the input is saved under the scratch directory's
# <name>/findings/ (crash-*, leak-*, timeout-*, oom-*), which is kept.
#
# Usage: scripts/fuzz.sh [SECONDS] [--only NAME] [--runs N] [--work DIR]
#   SECONDS      how long each harness runs (0: no time limit, use --runs)
#   --only NAME  run only that harness (json, jwt, rpc, edge); repeatable
#   --runs N     stop each harness after N executions
#   --work DIR   scratch directory (default: a new one under /tmp, removed
#                at the end unless something was found); reusing one goes
#                on from the corpus learned last time
#
# Installs clang when it is missing (needs root or sudo). A finding becomes
# a regression: copy the input to tests/fuzz/corpus/<name>/regress-<what>
# and add a unit test (tests/fuzz/README.md).
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

secs=60
runs=""
work=""
only=()
while (($# > 0)); do
	case "$1" in
	--only)
		(($# >= 2)) || usage_error "--only needs a harness name"
		only+=("$2")
		shift
		;;
	--runs)
		(($# >= 2)) || usage_error "--runs needs a number"
		runs="$2"
		shift
		;;
	--work)
		(($# >= 2)) || usage_error "--work needs a directory"
		work="$2"
		shift
		;;
	-h | --help) show_help ;;
	[0-9]*) secs="$1" ;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done
[[ "$secs" =~ ^[0-9]+$ ]] || usage_error "SECONDS must be a number"
[[ -z "$runs" || "$runs" =~ ^[0-9]+$ ]] || usage_error "--runs must be a number"
((secs > 0)) || [[ -n "$runs" ]] || usage_error "SECONDS 0 needs --runs"
if ((${#only[@]} == 0)); then
	only=("${FUZZ_HARNESSES[@]}")
fi
for h in "${only[@]}"; do
	[[ " ${FUZZ_HARNESSES[*]} " == *" $h "* ]] || usage_error "no harness called $h"
done

install_cleanup_traps
missing=()
for p in "${MICROCORE_CLANG_PACKAGES[@]}"; do
	_pkg_installed "$p" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
	_install_packages "${missing[@]}"
fi
ensure_build_packages

fuzz_build "$ROOT/build-fuzz" || die "the fuzz build failed"

keep=0
if [[ -z "$work" ]]; then
	work="$(mktemp -d /tmp/microcore-fuzz.XXXXXX)"
else
	keep=1
	mkdir -p "$work"
fi
extra=()
[[ -n "$runs" ]] && extra+=("-runs=$runs")

found=0
for h in "${only[@]}"; do
	fuzz_run "$ROOT/build-fuzz" "$h" "$secs" "$work" "${extra[@]}" || found=$((found + 1))
done
if ((found > 0)); then
	printf 'fuzzing: %d harness(es) found something; inputs kept in %s\n' "$found" "$work" >&2
	exit 1
fi
((keep)) || rm -rf "$work"
printf 'fuzzing: %d harness(es), no finding\n' "${#only[@]}" >&2
