#!/usr/bin/env bash
# Checks the size rules and the banned functions of the C code, and lists
# every offender as FILE:LINE with what is wrong; exits 1 when there is one.
#
# Usage: scripts/check-structure.sh [FILE...]
#
# Rules (tests/ is exempt from all of them):
#   - a function is at most 80 lines long, counted from its opening brace
#     to its closing brace (both at column 0, the style's function braces);
#   - a C file is at most 700 lines, except the codec (libcore/src/json.c);
#   - edge/main.c, which only wires the edge together, stays under 300;
#   - none of curl's banned functions: sprintf vsprintf strcpy strcat
#     strncpy strtok atoi gets (use snprintf, memcpy with a length, strtol);
#   - and, beside the C rules: every block of the frontend's stylesheets
#     (edge/www/*.css) is closed (an unclosed @media swallows what follows).
#
# The files are what git tracks (git ls-files '*.c' '*.h'); outside a git
# checkout, every .c and .h file below the root except build*/ trees.
# Works from any current directory.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FUNC_MAX=80
FILE_MAX=700
EDGE_MAIN_LIMIT=300
FILE_MAX_EXEMPT=(libcore/src/json.c)
BANNED='sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|gets'

files=()
while (($# > 0)); do
	case "$1" in
	-h | --help) show_help ;;
	-*) usage_error "unknown option: $1" ;;
	*) files+=("$(realpath -m --relative-to="$ROOT" "$1")") ;;
	esac
	shift
done

cd "$ROOT"
if ((${#files[@]} == 0)); then
	mapfile -t files < <(c_sources)
fi

checked=()
for f in "${files[@]}"; do
	[[ "$f" == tests/* ]] || checked+=("$f")
done
((${#checked[@]} > 0)) || die "no C files to check under $ROOT"

# long_functions FILE...: "FILE:LINE: function NAME is N lines (max M)".
# A function body starts at a line holding only "{" at column 0 and ends at
# the next line starting with "}" at column 0; N is the difference of their
# line numbers. The name is taken from the nearest line above the brace
# that starts at column 0 and has an identifier followed by "(" (so
# "static inline int f(void)" on one line works as well as the return type
# on a line of its own), and LINE is that line.
long_functions() {
	awk -v max="$FUNC_MAX" '
	FNR == 1 { in_body = 0; decl_line = 0; name = "" }
	!in_body && /^[A-Za-z_]/ && match($0, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/) {
		decl_line = FNR
		name = substr($0, RSTART, RLENGTH)
		sub(/[ \t]*\($/, "", name)
	}
	!in_body && /^\{[ \t]*(\/[*\/].*)?$/ {
		in_body = 1
		open = FNR
		next
	}
	in_body && /^\}/ {
		in_body = 0
		n = FNR - open
		if (n > max) {
			printf "%s:%d: function %s is %d lines (max %d)\n",
			    FILENAME, decl_line ? decl_line : open,
			    name != "" ? name : "?", n, max
		}
		decl_line = 0
		name = ""
	}
	' "$@"
}

# long_files FILE...: files over their line limit.
long_files() {
	local f n ex exempt
	for f in "$@"; do
		n="$(wc -l <"$f")"
		if [[ "$f" == edge/main.c ]]; then
			if ((n >= EDGE_MAIN_LIMIT)); then
				printf '%s:%d: file is %d lines (edge/main.c must stay under %d)\n' \
					"$f" "$n" "$n" "$EDGE_MAIN_LIMIT"
			fi
			continue
		fi
		exempt=0
		for ex in "${FILE_MAX_EXEMPT[@]}"; do
			[[ "$f" == "$ex" ]] && exempt=1
		done
		if ((!exempt && n > FILE_MAX)); then
			printf '%s:%d: file is %d lines (max %d)\n' "$f" "$n" "$n" "$FILE_MAX"
		fi
	done
}

# banned_calls FILE...: calls of the banned functions, outside comments and
# string literals (a message may well say "atoi").
banned_calls() {
	awk -v banned="$BANNED" '
	FNR == 1 { in_comment = 0 }
	{
		line = $0
		out = ""
		# Drop comments (also those spanning lines) and literals.
		while (line != "") {
			if (in_comment) {
				i = index(line, "*/")
				if (i == 0) { line = ""; break }
				line = substr(line, i + 2)
				in_comment = 0
				continue
			}
			if (match(line, /\/\*|\/\/|"|'\''/) == 0) {
				out = out line
				break
			}
			out = out substr(line, 1, RSTART - 1)
			tok = substr(line, RSTART, RLENGTH)
			line = substr(line, RSTART + RLENGTH)
			if (tok == "//") { break }
			if (tok == "/*") { in_comment = 1; continue }
			# A literal: skip to its unescaped closing quote.
			while (line != "") {
				c = substr(line, 1, 1)
				line = substr(line, 2)
				if (c == "\\") { line = substr(line, 2); continue }
				if (c == tok) { break }
			}
			out = out " "
		}
		rest = out
		re = "(^|[^A-Za-z0-9_])(" banned ")[ \t]*\\("
		while (match(rest, re)) {
			call = substr(rest, RSTART, RLENGTH)
			sub(/^[^A-Za-z_]/, "", call)
			sub(/[ \t]*\($/, "", call)
			printf "%s:%d: banned function %s\n", FILENAME, FNR, call
			rest = substr(rest, RSTART + RLENGTH)
		}
	}
	' "$@"
}

# unbalanced_css FILE...: a stylesheet whose blocks do not all close (an
# unclosed @media block swallows every rule after it, silently: the CSS
# stays valid). Braces inside comments and strings are not counted.
unbalanced_css() {
	awk '
	FNR == 1 { if (prev != "" && depth != 0) report(prev); depth = 0; prev = FILENAME; incomment = 0 }
	{
		line = $0
		out = ""
		for (i = 1; i <= length(line); i++) {
			two = substr(line, i, 2)
			if (incomment) {
				if (two == "*/") { incomment = 0; i++ }
				continue
			}
			if (two == "/*") { incomment = 1; i++; continue }
			c = substr(line, i, 1)
			if (c == "{") depth++
			else if (c == "}") { depth--; if (depth < 0) { printf "%s:%d: a } that closes nothing\n", FILENAME, FNR; depth = 0 } }
		}
	}
	function report(f) { printf "%s: %d block(s) not closed at the end\n", f, depth }
	END { if (prev != "" && depth != 0) report(prev) }
	' "$@"
}

report="$(
	long_functions "${checked[@]}"
	long_files "${checked[@]}"
	banned_calls "${checked[@]}"
	unbalanced_css "$ROOT"/edge/www/*.css
)"
if [[ -n "$report" ]]; then
	printf '%s\n' "$report"
	printf '\n%d problem(s) in %d files checked (tests/ exempt)\n' \
		"$(wc -l <<<"$report")" "${#checked[@]}"
	exit 1
fi
printf '%d files checked: no function over %d lines, no file over its limit, no banned function\n' \
	"${#checked[@]}" "$FUNC_MAX"
