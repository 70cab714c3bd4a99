#!/usr/bin/env bash
# Account deletion through the edge against the real services: a user
# deletes their own account with their password (a wrong one answered and
# throttled as a failed login), an admin deletes a user, the last active
# admin is kept; afterwards the user row, the profile, the cached profile,
# every session and every token are gone (read from the databases and
# Redis directly), the audit row keeps the id and no personal data, and the
# same username registered again is a new account that no old token
# reaches; with svc-user down nothing is half deleted and the same request
# finishes the job later. Usage: edge_delete.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
# shellcheck source=tests/integration/edge_env.sh
source "$here/edge_env.sh"
passed=0
failed=0
check() { # NAME COMMAND...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
has() { grep -qiE -- "$2" "$1"; }
hasnt() { ! grep -qiE -- "$2" "$1"; }

# Three failed attempts per username: the throttle is reached quickly.
export AUTH_LOGIN_MAX_PER_USER=3
edge_env_start "$build" "$tmp"
base=$edge_base
rcli() { redis-cli -u "$TEST_REDIS_URL" "$@"; }
sql() { # DB_URL SQL -> the rows, unaligned
  psql -X -q -tA -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres -d "${1##*/}" -c "$2"
}

json=(-H 'Content-Type: application/json')
pw="correct horse battery"
req() { # OUT CURL_ARGS... -> status; body in $tmp/OUT, headers in $tmp/OUT.h
  local out=$1
  shift
  curl -s -o "$tmp/$out" -D "$tmp/$out.h" -w '%{http_code}' "$@" || true
}
field() { sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" "$tmp/$1"; } # FILE KEY (last match)
register() { # USER -> status
  req "reg_$1" -X POST "${json[@]}" \
    -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"$pw\"}" "$base/register"
}
login() { # USER OUT -> status; tokens in $tmp/OUT
  req "$2" -X POST "${json[@]}" -d "{\"username\":\"$1\",\"password\":\"$pw\"}" "$base/login"
}
delete_account() { # OUT TOKEN PASSWORD -> status
  req "$1" -X POST "${json[@]}" -H "Authorization: Bearer $2" \
    -d "{\"current_password\":\"$3\"}" "$base/account/delete"
}
bearer() { # OUT TOKEN PATH -> status of a GET
  req "$1" -H "Authorization: Bearer $2" "$base$3"
}
refresh() { # OUT REFRESH_TOKEN -> status
  req "$1" -X POST "${json[@]}" -d "{\"refresh_token\":\"$2\"}" "$base/refresh"
}

# Names of this run: the failed-login counters live in the Redis that other
# tests share.
dora=dora$$x$RANDOM eve=eve$$x$RANDOM
rcli DEL "ratelimit:login:user:$dora" "ratelimit:login:user:$eve" >/dev/null

# ---- A user deletes their own account --------------------------------------
check "dora registers" test "$(register "$dora")" = 201
dora_id=$(field "reg_$dora" id)
login "$dora" l1 >/dev/null
login "$dora" l2 >/dev/null
a1=$(field l1 access_token) r1=$(field l1 refresh_token)
a2=$(field l2 access_token) r2=$(field l2 refresh_token)
sid1=${r1%%.*} sid2=${r2%%.*}
check "her profile is created" test "$(bearer prof "$a1" /profile)" = 200
check "and cached" test "$(rcli EXISTS "profile:$dora_id")" = 1
check "her profile row exists" test "$(sql "$USER_DATABASE_URL" "SELECT count(*) FROM profiles WHERE user_id = '$dora_id'")" = 1
check "she has two sessions" test "$(rcli SCARD "user_sessions:$dora_id")" = 2

check "no password is 400" test "$(delete_account nopw "$a1" "")" = 400
check "naming current_password" has "$tmp/nopw" '"field":"current_password"'
check "no token is 401" test "$(req notok -X POST "${json[@]}" -d "{\"current_password\":\"$pw\"}" "$base/account/delete")" = 401
check "a wrong password is 401 as a failed login" test "$(delete_account wrong "$a1" "not her password")" = 401
check "it counts on the username's failed-login counter" test "$(rcli GET "ratelimit:login:user:$dora")" = 1
check "and nothing is deleted" test "$(sql "$AUTH_DATABASE_URL" "SELECT count(*) FROM users WHERE id = '$dora_id'")" = 1
check "her token still works" test "$(bearer prof "$a1" /profile)" = 200

check "the right password deletes: 200" test "$(delete_account ok "$a1" "$pw")" = 200
check "the token cookies are expired" has "$tmp/ok.h" '^Set-Cookie: [^=]+=; .*Max-Age=0'
check "the user row is gone" test "$(sql "$AUTH_DATABASE_URL" "SELECT count(*) FROM users WHERE id = '$dora_id'")" = 0
check "the profile row is gone" test "$(sql "$USER_DATABASE_URL" "SELECT count(*) FROM profiles WHERE user_id = '$dora_id'")" = 0
check "the cached profile is gone" test "$(rcli EXISTS "profile:$dora_id")" = 0
check "both session keys are gone" test "$(rcli EXISTS "session:$sid1" "session:$sid2")" = 0
check "and the user's session set" test "$(rcli EXISTS "user_sessions:$dora_id")" = 0
check "revoked_before is set for her id" test "$(rcli EXISTS "revoked_before:$dora_id")" = 1
check "the old access token is refused by svc-user" test "$(bearer p1 "$a1" /profile)" = 401
check "the other session's token by svc-user" test "$(bearer p2 "$a2" /profile)" = 401
check "and by svc-auth" test "$(bearer s1 "$a2" /sessions)" = 401
check "the old refresh tokens are refused" test "$(refresh f1 "$r1")" = 401
check "both" test "$(refresh f2 "$r2")" = 401
check "deleting again with the old token is 401" test "$(delete_account again "$a2" "$pw")" = 401
check "no profile came back" test "$(sql "$USER_DATABASE_URL" "SELECT count(*) FROM profiles WHERE user_id = '$dora_id'")" = 0

# The audit row: the id and the time, no username, email or address.
sql "$ADMIN_DATABASE_URL" "SELECT row_to_json(a) FROM audit_log a WHERE action = 'account.delete' AND outcome = 'ok'" >"$tmp/audit"
check "one audit row records the deletion" test "$(wc -l <"$tmp/audit")" = 1
check "with her id as actor and target" has "$tmp/audit" "\"actor_id\":\"$dora_id\".*\"target\":\"$dora_id\""
check "and a time" has "$tmp/audit" '"time":"20[0-9]{2}-'
check "but not her username" hasnt "$tmp/audit" "$dora"
check "nor her email" hasnt "$tmp/audit" 'example\.com'
check "nor her address" has "$tmp/audit" '"client_ip":""'
check "the wrong password is recorded too, as denied" \
  test "$(sql "$ADMIN_DATABASE_URL" "SELECT count(*) FROM audit_log WHERE action = 'account.delete' AND outcome = 'denied' AND actor_id = '$dora_id' AND actor_username = ''")" = 1
check "no audit row names her, not even the refusal of her revoked token" \
  test "$(sql "$ADMIN_DATABASE_URL" "SELECT count(*) FROM audit_log a WHERE row_to_json(a)::text LIKE '%$dora%'")" = 0
check "no row holds the password" \
  test "$(sql "$ADMIN_DATABASE_URL" "SELECT count(*) FROM audit_log WHERE detail::text LIKE '%horse%' OR detail::text LIKE '%not her%'")" = 0

# ---- The same username again -----------------------------------------------
check "the username and email may be registered again" test "$(register "$dora")" = 201
new_id=$(field "reg_$dora" id)
check "as a new account with a new id" test -n "$new_id" -a "$new_id" != "$dora_id"
check "the old access token is still refused" test "$(bearer p3 "$a2" /profile)" = 401
check "by svc-auth too" test "$(bearer s3 "$a2" /sessions)" = 401
check "the old refresh token is still refused" test "$(refresh f3 "$r2")" = 401
check "the new account logs in" test "$(login "$dora" l3)" = 200
check "and reads its own, new profile" test "$(bearer p4 "$(field l3 access_token)" /profile)" = 200
check "with the new id" has "$tmp/p4" "\"user_id\":\"$new_id\""

# ---- Throttled as a failed login -------------------------------------------
register "$eve" >/dev/null
login "$eve" le >/dev/null
ae=$(field le access_token)
for i in 1 2 3; do
  check "eve's wrong password $i is 401" test "$(delete_account ew "$ae" "wrong password $i")" = 401
done
check "then 429, as login" test "$(delete_account ew4 "$ae" "wrong password 4")" = 429
check "with Retry-After" has "$tmp/ew4.h" '^Retry-After: [0-9]+'
check "login is throttled with it" test "$(login "$eve" le2)" = 429
check "and eve's account stays" test "$(sql "$AUTH_DATABASE_URL" "SELECT count(*) FROM users WHERE username = '$eve'")" = 1

# ---- An admin deletes a user -----------------------------------------------
register boss >/dev/null
register frank >/dev/null
boss_id=$(field reg_boss id)
frank_id=$(field reg_frank id)
"$build/svc-auth/svc-auth" promote-admin boss >"$tmp/promote.out" 2>&1
login boss lb >/dev/null
login frank lf >/dev/null
ab=$(field lb access_token)
af=$(field lf access_token) rf=$(field lf refresh_token)
bearer pf "$af" /profile >/dev/null
A=(-H "Authorization: Bearer $ab")
check "a non-admin may not delete a user: 403" \
  test "$(req d0 -X DELETE -H "Authorization: Bearer $af" "$base/admin/users/$boss_id")" = 403
check "a malformed id is 400" test "$(req d1 -X DELETE "${A[@]}" "$base/admin/users/nope")" = 400
check "an unknown id is 404" \
  test "$(req d2 -X DELETE "${A[@]}" "$base/admin/users/00000000-0000-4000-8000-000000000000")" = 404
check "the admin deletes frank: 200" test "$(req d3 -X DELETE "${A[@]}" "$base/admin/users/$frank_id")" = 200
check "his row is gone" test "$(sql "$AUTH_DATABASE_URL" "SELECT count(*) FROM users WHERE id = '$frank_id'")" = 0
check "his profile is gone" test "$(sql "$USER_DATABASE_URL" "SELECT count(*) FROM profiles WHERE user_id = '$frank_id'")" = 0
check "and its cache entry" test "$(rcli EXISTS "profile:$frank_id")" = 0
check "his session is gone" test "$(rcli EXISTS "session:${rf%%.*}" "user_sessions:$frank_id")" = 0
check "his access token is refused at once" test "$(bearer pf2 "$af" /profile)" = 401
check "his refresh token too" test "$(refresh ff "$rf")" = 401
check "a second delete is 404" test "$(req d4 -X DELETE "${A[@]}" "$base/admin/users/$frank_id")" = 404
check "the deletion is audited with the admin as actor" \
  test "$(sql "$ADMIN_DATABASE_URL" "SELECT count(*) FROM audit_log WHERE action = 'users.delete' AND outcome = 'ok' AND actor_id = '$boss_id' AND target = '$frank_id' AND detail::text NOT LIKE '%frank%'")" = 1
check "the admin still works" test "$(bearer pb "$ab" /profile)" = 200

# ---- The last active admin stays -------------------------------------------
check "deleting the last active admin is 400" \
  test "$(req d5 -X DELETE "${A[@]}" "$base/admin/users/$boss_id")" = 400
check "saying why" has "$tmp/d5" 'last active admin'
check "the last admin cannot delete their own account either" test "$(delete_account d6 "$ab" "$pw")" = 400
check "the admin is still there" test "$(sql "$AUTH_DATABASE_URL" "SELECT count(*) FROM users WHERE id = '$boss_id'")" = 1
check "and signed in" test "$(bearer pb2 "$ab" /profile)" = 200

# ---- svc-user down: nothing half deleted, and a retry finishes -------------
gus=gus$$x$RANDOM
register "$gus" >/dev/null
gus_id=$(field "reg_$gus" id)
login "$gus" lg >/dev/null
ag=$(field lg access_token)
bearer pg "$ag" /profile >/dev/null
kill -TERM "${edge_env_pids[1]}"
wait "${edge_env_pids[1]}" 2>/dev/null || true
check "with svc-user down the deletion is 503" test "$(delete_account gd "$ag" "$pw")" = 503
check "saying the account is signed out but not deleted" has "$tmp/gd" 'signed out everywhere but not deleted'
check "the user row stays" test "$(sql "$AUTH_DATABASE_URL" "SELECT count(*) FROM users WHERE id = '$gus_id'")" = 1
check "the profile row stays" test "$(sql "$USER_DATABASE_URL" "SELECT count(*) FROM profiles WHERE user_id = '$gus_id'")" = 1
check "the account is signed out: its token is refused" test "$(bearer gs "$ag" /sessions)" = 401
check "the failure is audited" \
  test "$(sql "$ADMIN_DATABASE_URL" "SELECT outcome FROM audit_log WHERE action = 'account.delete' AND actor_id = '$gus_id'")" = failed
USER_RPC_LISTEN=$USER_RPC_DIAL LOG_LEVEL=${SVC_LOG_LEVEL:-warn} METRICS_LISTEN=off \
  edge_env_as svc-user "$build/svc-user/svc-user" 2>>"$tmp/user.log" &
edge_env_pids[1]=$!
# Up to 30 s: a sanitizer build on a loaded machine takes seconds to start.
back=""
for _ in $(seq 600); do
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz") == 200 ]]; then
    back=1
    break
  fi
  sleep 0.05
done
check "svc-user is back (readyz 200)" test -n "$back"
check "svc-user back, the user logs in again" test "$(login "$gus" lg2)" = 200
check "and the same request deletes the account" test "$(delete_account gd2 "$(field lg2 access_token)" "$pw")" = 200
check "row gone" test "$(sql "$AUTH_DATABASE_URL" "SELECT count(*) FROM users WHERE id = '$gus_id'")" = 0
check "profile gone" test "$(sql "$USER_DATABASE_URL" "SELECT count(*) FROM profiles WHERE user_id = '$gus_id'")" = 0

# ---- A first read racing the deletion leaves no profile --------------------
# The read's token is checked before the deletion starts; its insert of the
# new profile is held (an uncommitted insert of the same row in another
# session makes it wait) until the deletion has finished, then let go.
hal=hal$$x$RANDOM
check "hal registers" test "$(register "$hal")" = 201
hal_id=$(field "reg_$hal" id)
login "$hal" lh >/dev/null
ah=$(field lh access_token)
mkfifo "$tmp/hold"
psql -X -q -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres -d "${USER_DATABASE_URL##*/}" \
  <"$tmp/hold" >"$tmp/hold.out" 2>&1 &
hold_pid=$!
exec 7>"$tmp/hold"
echo "BEGIN; INSERT INTO profiles (user_id, username) VALUES ('$hal_id', 'held');" >&7
waiting() { # SQL_CONDITION -> true once a backend of apidb matches it
  local i
  for i in $(seq 200); do
    [[ $(sql "$USER_DATABASE_URL" "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND $1") -ge 1 ]] && return 0
    sleep 0.05
  done
  return 1
}
check "the holding insert is in" waiting "state = 'idle in transaction'"
bearer hr "$ah" /profile >"$tmp/hr.status" &
read_pid=$!
check "the first read waits on its insert" waiting "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO profiles%'"
check "hal deletes his account meanwhile" test "$(delete_account hd "$ah" "$pw")" = 200
echo "ROLLBACK;" >&7
exec 7>&-
wait "$hold_pid" || true
wait "$read_pid" || true
check "the racing read is refused (401)" test "$(cat "$tmp/hr.status")" = 401
check "and no profile of hal is left" test "$(sql "$USER_DATABASE_URL" "SELECT count(*) FROM profiles WHERE user_id = '$hal_id'")" = 0

echo "edge_delete: $passed passed, $failed failed"
((failed == 0))
