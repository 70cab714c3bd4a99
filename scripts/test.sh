#!/usr/bin/env bash
# The project's test command: installs what is missing, builds build/ (plain,
# warnings as errors), build-release/ (-O3, warnings as errors, no tests:
# the optimiser warns where -O2 does not), build-asan/ (AddressSanitizer
# + UBSan) and build-clang/ (clang with its AddressSanitizer + UBSan,
# warnings as errors: clang reports undefined behaviour gcc's UBSan does
# not), builds the libFuzzer harnesses (build-fuzz/) and runs each for
# 100,000 executions or 12 s (one check each), starts a throwaway
# PostgreSQL and Redis on free ports, runs ctest on build/ and build-asan/
# and the unit tests on build-clang/, and ends with the line "N passed, M
# failed". Exits non-zero when anything failed, a build included.
#
# Usage: scripts/test.sh [--no-asan] [--no-clang] [--only REGEX]
#   --no-asan     skip the gcc sanitizer build and its test run
#   --no-clang    skip the clang build, its unit tests and the fuzzing
#   --only REGEX  run only the tests whose names match (ctest -R)
#
# Needs root (or sudo) on a fresh machine to install packages and to run
# PostgreSQL as the postgres user; works from any current directory.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

asan=1
clang=1
only=""
# How long each fuzz harness runs here: 4 harnesses, under a minute in all
# (scripts/fuzz.sh runs them longer). A fixed seed and a fixed number of
# executions make a run the same every time (on a loaded machine the time
# limit may end it earlier, with fewer of the same executions).
FUZZ_SECONDS=12
FUZZ_RUNS=100000
while (($# > 0)); do
	case "$1" in
	--no-asan) asan=0 ;;
	--no-clang) clang=0 ;;
	--only)
		(($# >= 2)) || die "--only needs a regular expression"
		only="$2"
		shift
		;;
	--only=*) only="${1#--only=}" ;;
	-h | --help) show_help ;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

install_cleanup_traps
ensure_packages
ensure_test_packages

# Every build and every ctest run adds to these; a build that fails or a ctest
# run that prints no summary counts as one failure, so the closing line can
# never read "0 failed" on a failing run.
passed=0
failed=0
problems=()

# Builds first, before any server runs: they take most of the time and need
# none. A failed build is recorded and its tests are skipped, but the other
# tree is still built and tested so one run reports as much as it can.
trees=()
if build_tree "$ROOT/build" -DCORE_WERROR=ON; then
	trees+=(build)
else
	failed=$((failed + 1))
	problems+=("build of build/ failed")
fi
# Release: what bench/ and a packager build. Compiled only (counted as one
# check), since gcc's -O3 finds "maybe uninitialized" paths -O2 does not.
if build_tree "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release \
	-DCORE_WERROR=ON -DBUILD_TESTING=OFF; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	problems+=("build of build-release/ failed")
fi
if ((asan)); then
	if build_tree "$ROOT/build-asan" -DCORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug; then
		trees+=(build-asan)
	else
		failed=$((failed + 1))
		problems+=("build of build-asan/ failed")
	fi
fi

if ((clang)); then
	# clang, ASan + UBSan, -Werror: compiles everything (clang's warnings
	# differ from gcc's); only the unit tests run here (labelled unit: no
	# server needed; the fuzz corpora too).
	if CC=clang build_tree "$ROOT/build-clang" -DCORE_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=Debug -DCORE_WERROR=ON; then
		trees+=(build-clang)
	else
		failed=$((failed + 1))
		problems+=("build of build-clang/ failed")
	fi
	# The fuzz harnesses, a short run each, before any server starts.
	if fuzz_build "$ROOT/build-fuzz"; then
		fuzz_work="$(mktemp -d /tmp/microcore-fuzz.XXXXXX)"
		for h in "${FUZZ_HARNESSES[@]}"; do
			if fuzz_run "$ROOT/build-fuzz" "$h" "$FUZZ_SECONDS" "$fuzz_work" \
				-seed=1 "-runs=$FUZZ_RUNS"; then
				passed=$((passed + 1))
			else
				failed=$((failed + 1))
				problems+=("fuzz_$h found something; the input is in $fuzz_work/$h/findings/")
			fi
		done
		if ((failed == 0)); then
			rm -rf "$fuzz_work"
		fi
	else
		failed=$((failed + 1))
		problems+=("build of build-fuzz/ failed")
	fi
fi

# run_ctest TREE [ENV=VALUE...]: runs the tree's tests with the given extra
# environment and adds its counts to the totals.
run_ctest() {
	local tree="$1" out line total nfail rc=0
	shift
	local args=(--test-dir "$ROOT/$tree" --output-on-failure -j2 --no-tests=error)
	[[ -n "$only" ]] && args+=(-R "$only")
	[[ "$tree" == build-clang ]] && args+=(-L unit)
	out="$work/ctest-$tree.log"
	log "running tests in $tree/"
	env "$@" ctest "${args[@]}" 2>&1 | tee "$out" || rc=$?
	# ctest's summary: "95% tests passed, 1 tests failed out of 20".
	line="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n1 || true)"
	if [[ -z "$line" ]]; then
		failed=$((failed + 1))
		problems+=("ctest in $tree/ ran no test or printed no summary (exit $rc)")
		return 0
	fi
	nfail="$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")"
	total="$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")"
	passed=$((passed + total - nfail))
	failed=$((failed + nfail))
	if ((nfail > 0)); then
		problems+=("$nfail test(s) failed in $tree/")
	elif ((rc != 0)); then
		# e.g. a crash of ctest itself after its summary.
		failed=$((failed + 1))
		problems+=("ctest in $tree/ exited $rc")
	fi
}

if ((${#trees[@]} > 0)); then
	# Under /tmp with an explicit template, not $TMPDIR: it must be
	# traversable by the postgres user, which a TMPDIR under a private home
	# is not.
	work="$(mktemp -d /tmp/microcore-test.XXXXXX)"
	chmod 755 "$work"
	add_cleanup rm -rf "$work"
	mkdir -p "$work/tmp"

	pg_port="$(free_port)"
	add_cleanup pg_stop "$work/pg"
	pg_start "$work/pg" "$pg_port" --fast
	# The PostgreSQL port is bound by now, so free_port cannot hand it out
	# again; it is excluded anyway in case the server binds late.
	redis_port="$(free_port "$pg_port")"
	add_cleanup redis_stop "$redis_port" "$work/redis"
	redis_start "$work/redis" "$redis_port"

	# Superuser URL: the tests create and drop their own databases.
	export TEST_PG_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"
	export TEST_PG_PORT="$pg_port"
	export TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
	export TEST_REDIS_PORT="$redis_port"
	export TEST_TMPDIR="$work/tmp"

	for tree in "${trees[@]}"; do
		if [[ "$tree" == build-asan || "$tree" == build-clang ]]; then
			# The plain run's keys must not leak into the sanitizer run.
			redis-cli -p "$redis_port" FLUSHALL >/dev/null
			run_ctest "$tree" \
				ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
				UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		else
			run_ctest "$tree"
		fi
	done
fi

# Stop the servers before the summary so that it really is the last line.
run_cleanups

for p in "${problems[@]}"; do
	printf 'FAILED: %s\n' "$p"
done
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
