#!/usr/bin/env bash
# Formats every C file of the checkout in place with clang-format and the
# committed .clang-format, or checks that they are formatted.
#
# Usage: scripts/format.sh           reformat every .c and .h file in place
#        scripts/format.sh --check   change nothing; list the files that are
#                                    not formatted and exit 1 if there are any
#        scripts/format.sh --stat    change nothing; print how many lines
#                                    formatting would change in each file
#                                    (most last) and in all
#        scripts/format.sh FILE...   (any mode) only these files
#
# The files are what git tracks (git ls-files '*.c' '*.h'); outside a git
# checkout, every .c and .h file below the root except build*/ trees.
# Works from any current directory. Needs clang-format (Debian package
# clang-format; the style is written for version 14, Debian 12's).
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=format
files=()
while (($# > 0)); do
	case "$1" in
	--check) mode=check ;;
	--stat) mode=stat ;;
	-h | --help) show_help ;;
	-*) usage_error "unknown option: $1" ;;
	*) files+=("$(realpath -m --relative-to="$ROOT" "$1")") ;;
	esac
	shift
done

command -v clang-format >/dev/null ||
	die "clang-format not found (Debian package clang-format)"
[[ -f "$ROOT/.clang-format" ]] || die "no .clang-format in $ROOT"

cd "$ROOT"
if ((${#files[@]} == 0)); then
	mapfile -t files < <(c_sources)
fi
((${#files[@]} > 0)) || die "no C files found under $ROOT"

case "$mode" in
format)
	clang-format -i --style=file -- "${files[@]}"
	exit 0
	;;
stat)
	# Lines removed plus lines added, as diff counts them.
	for f in "${files[@]}"; do
		n="$(clang-format --style=file -- "$f" | diff -- "$f" - |
			grep -c '^[<>]' || true)"
		printf '%6d %s\n' "$n" "$f"
	done | sort -n | awk '{ print; total += $1 }
		END { printf "%6d lines in all\n", total }'
	exit 0
	;;
esac

# One clang-format per file so that the verdict names the file; of its
# messages only the first (where, and the line as it stands) is shown.
bad=()
for f in "${files[@]}"; do
	if ! out="$(clang-format --dry-run -Werror --style=file -- "$f" 2>&1)"; then
		bad+=("$f")
		printf '%s\n' "$out" | head -n 3 >&2
	fi
done
if ((${#bad[@]} > 0)); then
	printf '\n%d of %d files are not formatted (fix: scripts/format.sh):\n' \
		"${#bad[@]}" "${#files[@]}"
	printf '  %s\n' "${bad[@]}"
	exit 1
fi
printf '%d files formatted\n' "${#files[@]}"
