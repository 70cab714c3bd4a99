#!/usr/bin/env bash
# Formats every C file of the checkout in place with clang-format and the
# committed .clang-format, or checks that they are formatted.
#
# Usage: scripts/format.sh           reformat every .c and .h file in place
#        scripts/format.sh --check   change nothing; list the files that are
#                                    not formatted and exit 1 if there are any
#        scripts/format.sh FILE...   (either mode) only these files
#
# The files are what git tracks (git ls-files '*.c' '*.h'); outside a git
# checkout, every .c and .h file below the root except build*/ trees.
# Works from any current directory. Needs clang-format (Debian package
# clang-format; the style is written for version 14, Debian 12's).
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check=0
files=()
while (($# > 0)); do
	case "$1" in
	--check) check=1 ;;
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

if ((check == 0)); then
	clang-format -i --style=file -- "${files[@]}"
	exit 0
fi

# One clang-format per file so that the verdict names the file; its own
# messages (which line, what it wants) are kept short to the first few.
bad=()
for f in "${files[@]}"; do
	if ! out="$(clang-format --dry-run -Werror --style=file -- "$f" 2>&1)"; then
		bad+=("$f")
		printf '%s\n' "$out" | head -n 6 >&2
	fi
done
if ((${#bad[@]} > 0)); then
	printf '\n%d of %d files are not formatted (fix: scripts/format.sh):\n' \
		"${#bad[@]}" "${#files[@]}"
	printf '  %s\n' "${bad[@]}"
	exit 1
fi
printf '%d files formatted\n' "${#files[@]}"
