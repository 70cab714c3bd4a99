#!/usr/bin/env bash
# What preparing a statement once per connection saves the server: the
# lookup every refresh and cache miss makes (one users row by key, the
# columns svc-auth reads), run by pgbench against a throwaway PostgreSQL,
# alternating the unnamed extended protocol (parse and plan on every call,
# what core_pg_exec did before) and prepared statements (parse and plan once
# per connection, what it does now). Prints a Markdown table, one row per
# round, and the median ratio.
#
# Usage: bench/run-pg.sh
# Environment (defaults in brackets):
#   BENCH_SECONDS [5]   duration of each pgbench run
#   BENCH_ROUNDS [3]    rounds (each: one unnamed run, one prepared run)
#   BENCH_CLIENTS [4]   pgbench connections (2 threads)
# Needs root (or sudo) on a fresh machine: packages, PostgreSQL.
set -euo pipefail

# shellcheck source=scripts/lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

secs="${BENCH_SECONDS:-5}"
rounds="${BENCH_ROUNDS:-3}"
clients="${BENCH_CLIENTS:-4}"
for v in secs rounds clients; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

install_cleanup_traps
ensure_packages

work="$(mktemp -d /tmp/microcore-bench-pg.XXXXXX)"
chmod 755 "$work"
add_cleanup rm -rf "$work"
pg_port="$(free_port)"
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$pg_port" --fast
pg_create_db "$pg_port" bench
pg_psql "$pg_port" -d bench <<'SQL'
CREATE TABLE users (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	username text NOT NULL UNIQUE,
	email text NOT NULL UNIQUE,
	password_hash text NOT NULL,
	status text NOT NULL DEFAULT 'active',
	role text NOT NULL DEFAULT 'user',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (username, email, password_hash)
SELECT 'user' || i, 'user' || i || '@example.com', 'x'
FROM generate_series(1, 10000) AS i;
ANALYZE users;
SQL
cat >"$work/lookup.sql" <<'SQL'
\set n random(1, 10000)
SELECT id, username, email, status, role, created_at, updated_at FROM users WHERE username = 'user' || :n;
SQL

tps() { # MODE: transactions/s of one pgbench run
	"$(pg_bindir)/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -n \
		-M "$1" -c "$clients" -j 2 -T "$secs" -f "$work/lookup.sql" bench 2>&1 |
		awk '/^tps = / { printf "%.0f", $3 }'
}

printf '\nload average before: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| round | unnamed (parse+plan each call) tps | prepared tps | ratio |\n'
printf '|---|---:|---:|---:|\n'
ratios=()
for ((r = 1; r <= rounds; r++)); do
	u="$(tps extended)"
	p="$(tps prepared)"
	[[ -n "$u" && -n "$p" ]] || die "pgbench printed no rate"
	ratio="$(awk -v p="$p" -v u="$u" 'BEGIN { printf "%.2f", p / u }')"
	ratios+=("$ratio")
	printf '| %d | %s | %s | %s |\n' "$r" "$u" "$p" "$ratio"
done
median="$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
printf '\nmedian ratio prepared/unnamed: %s; load average after: %s\n' \
	"$median" "$(cut -d' ' -f1-3 /proc/loadavg)"
