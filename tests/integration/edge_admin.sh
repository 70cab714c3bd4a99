#!/usr/bin/env bash
# The admin routes through the edge against the real services: who may use
# them, what they do, the audit trail they leave, the last-admin rule, a
# disabled user locked out at once, and paging over many users.
# Usage: edge_admin.sh BUILD_DIR
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

edge_env_start "$build" "$tmp"
base=$edge_base

# svc-auth has wiped the KEK's text from its environment once loaded: what
# /proc/PID/environ shows (the original bytes) no longer holds it.
kek_gone() { ! tr '\0' '\n' <"/proc/$1/environ" | grep -qF -- "$2"; }
check "AUTH_KEK is wiped from svc-auth's environment" kek_gone "${edge_env_pids[0]}" "$AUTH_KEK"
json=(-H 'Content-Type: application/json')
req() { # OUT CURL_ARGS... -> status; body in $tmp/OUT
  local out=$1
  shift
  curl -s -o "$tmp/$out" -w '%{http_code}' "$@" || true
}
field() { sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" "$tmp/$1"; } # FILE KEY (last match)
register() { req "reg_$1" -X POST "${json[@]}" \
  -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"correct horse battery\"}" "$base/register" >/dev/null; }
login() { # USER -> access token
  req "login_$1" -X POST "${json[@]}" -d "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" \
    "$base/login" >/dev/null
  field "login_$1" access_token
}

register boss
register carol
"$build/svc-auth/svc-auth" promote-admin boss >"$tmp/promote.out" 2>&1
check "promote-admin makes the first admin" grep -q 'now an active admin' "$tmp/promote.out"
admin=$(login boss)
user=$(login carol)
A=(-H "Authorization: Bearer $admin")
U=(-H "Authorization: Bearer $user")
carol_id=$(field reg_carol id)
boss_id=$(field reg_boss id)

# Everyone else is refused on every route, and the refusal is audited.
for r in "GET /admin/users" "GET /admin/users/$carol_id" "PATCH /admin/users/$carol_id" \
  "POST /admin/users/$carol_id/revoke-sessions" "GET /admin/audit"; do
  m=${r%% *} p=${r#* }
  body=()
  [[ $m == GET ]] || body=("${json[@]}" -d '{}')
  code=$(req deny -X "$m" "${U[@]}" "${body[@]}" "$base$p")
  check "a non-admin gets 403 on $m ${p//$carol_id/{id\}}" test "$code" = 403
  code=$(req anon -X "$m" "${body[@]}" "$base$p")
  check "no token gets 401 on $m ${p//$carol_id/{id\}}" test "$code" = 401
done

# The admin's flows.
code=$(req list "${A[@]}" "$base/admin/users?query=ca&page_size=5")
check "list users is 200" test "$code" = 200
check "the prefix finds carol" has "$tmp/list" '"username":"carol"'
check "and only carol" test "$(grep -o '"username"' "$tmp/list" | wc -l)" = 1
code=$(req listmid "${A[@]}" "$base/admin/users?query=ARO")
check "a middle part of the username finds carol, ignoring case" has "$tmp/listmid" '"username":"carol"'
check "with the total of matches" has "$tmp/listmid" '"total":1([,}])'
code=$(req listdom "${A[@]}" "$base/admin/users?query=example.c&page_size=1")
check "a part of the email finds both, one per page" test "$(grep -o '"username"' "$tmp/listdom" | wc -l)" = 1
check "the total counts every page" has "$tmp/listdom" '"total":2([,}])'
code=$(req listpct "${A[@]}" "$base/admin/users?query=c%25l")
check "a % in the query matches only itself" bash -c '! grep -q "\"username\"" "$1"' _ "$tmp/listpct"
code=$(req listst "${A[@]}" "$base/admin/users?status=active&role=admin")
check "the status and role filters find the admin" has "$tmp/listst" '"username":"boss"'
check "and only the admin" test "$(grep -o '"username"' "$tmp/listst" | wc -l)" = 1
check "whose role and status are REST names" has "$tmp/listst" '"role":"admin","status":"active"'
code=$(req listpn "${A[@]}" "$base/admin/users?role=ROLE_ADMIN")
check "a proto enum name is 400 naming the parameter" has "$tmp/listpn" '"field":"role","message":"unknown value \\"ROLE_ADMIN\\" for Role: expected one of \\"user\\", \\"admin\\""'
code=$(req listun "${A[@]}" "$base/admin/users?status=unspecified")
check "the zero value is 400 saying to leave it out" has "$tmp/listun" 'leave the member out'
code=$(req bad1 "${A[@]}" "$base/admin/users?page_size=x")
check "a non-numeric page_size is 400" test "$code" = 400
code=$(req bad2 "${A[@]}" "$base/admin/users?page_size=201")
check "page_size over 200 is 400" test "$code" = 400
code=$(req bad3 "${A[@]}" "$base/admin/users?colour=red")
check "an unknown parameter is 400 naming it" has "$tmp/bad3" '"field":"colour"'
code=$(req bad4 "${A[@]}" "$base/admin/users?query=a&query=b")
check "a repeated parameter is 400" test "$code" = 400
code=$(req bad5 "${A[@]}" "$base/admin/users?status=ASLEEP")
check "an unknown enum value is 400" test "$code" = 400
code=$(req bad6 "${A[@]}" "$base/admin/users?query=%ff%fe")
check "a parameter that is not UTF-8 is 400" test "$code" = 400
check "and says which" has "$tmp/bad6" 'query.*not valid UTF-8'
code=$(req bad6k "${A[@]}" "$base/admin/users?%ff=1")
check "a parameter name that is not UTF-8 is 400" test "$code" = 400
code=$(req bad7 "${A[@]}" "$base/admin/audit?since=yesterday")
check "a malformed timestamp is 400 naming since" has "$tmp/bad7" '"field":"since"'
code=$(req bad8 "${A[@]}" "$base/admin/users?page_token=%%%")
check "a malformed page token is 400" test "$code" = 400
code=$(req get "${A[@]}" "$base/admin/users/$carol_id")
check "get user is 200" test "$code" = 200
check "with the user's sessions" has "$tmp/get" '"sessions":\[\{'
code=$(req get404 "${A[@]}" "$base/admin/users/00000000-0000-4000-8000-000000000000")
check "an unknown user is 404" test "$code" = 404
code=$(req get400 "${A[@]}" "$base/admin/users/not-a-uuid")
check "an id that is not a UUID is 400" test "$code" = 400

# Disabling carol locks her out at once.
code=$(req p0 "${U[@]}" "$base/profile")
check "carol's token works before" test "$code" = 200
code=$(req dis -X PATCH "${json[@]}" "${A[@]}" -d '{"status":"disabled"}' "$base/admin/users/$carol_id")
check "disable is 200" test "$code" = 200
check "and answers the disabled user" has "$tmp/dis" '"status":"disabled"'
code=$(req p1 "${U[@]}" "$base/profile")
check "carol's live token fails GET /profile on the next request" test "$code" = 401
code=$(req l1 -X POST "${json[@]}" -d '{"username":"carol","password":"correct horse battery"}' "$base/login")
check "carol cannot log in" test "$code" = 403
refresh=$(field login_carol refresh_token)
code=$(req r1 -X POST "${json[@]}" -d "{\"refresh_token\":\"$refresh\"}" "$base/refresh")
check "nor refresh" test "$code" != 200
code=$(req en -X PATCH "${json[@]}" "${A[@]}" -d '{"status":"active"}' "$base/admin/users/$carol_id")
check "enable is 200" test "$code" = 200
user2=$(login carol)
check "carol can log in again" test -n "$user2"
code=$(req rv -X POST "${A[@]}" "$base/admin/users/$carol_id/revoke-sessions")
check "revoke-sessions without a body is 200" test "$code" = 200
check "and counts what it ended" has "$tmp/rv" '"revoked":[1-9]'
code=$(req p2 -H "Authorization: Bearer $user2" "$base/profile")
check "her new token is refused after revoke-sessions" test "$code" = 401

# The last active admin.
code=$(req last -X PATCH "${json[@]}" "${A[@]}" -d '{"role":"user"}' "$base/admin/users/$boss_id")
check "the last active admin cannot demote themselves (400)" test "$code" = 400
check "and is told why" has "$tmp/last" 'last active admin'
code=$(req last2 -X PATCH "${json[@]}" "${A[@]}" -d '{"status":"disabled"}' "$base/admin/users/$boss_id")
check "nor disable themselves" test "$code" = 400

code=$(req typo -X PATCH "${json[@]}" "${A[@]}" -d '{"stauts":"disabled"}' "$base/admin/users/$carol_id")
check "an unknown body member is 400 naming it" has "$tmp/typo" '"field":"stauts","message":"unknown field'
code=$(req pn -X PATCH "${json[@]}" "${A[@]}" -d '{"status":"USER_STATUS_DISABLED"}' "$base/admin/users/$carol_id")
check "a proto enum name in a body is 400" test "$code" = 400

# The audit trail: every action, allowed or denied.
code=$(req au "${A[@]}" "$base/admin/audit?page_size=200")
check "the audit trail is 200" test "$code" = 200
check "it has the disable, by boss, on carol" \
  grep -qE "\"actor_username\":\"boss\",\"action\":\"users.update\",\"target\":\"$carol_id\",\"outcome\":\"ok\"" "$tmp/au"
check "with before and after" has "$tmp/au" 'before.*active.*after|after.*disabled.*before'
check "the detail is an object, not JSON in a string" has "$tmp/au" '"detail":\{"'
check "and no entry carries detail_json" bash -c '! grep -q detail_json "$1"' _ "$tmp/au"
check "it has carol's denied attempts" \
  grep -qE '"actor_username":"carol","action":"users.list"(,"target":"")?,"outcome":"denied"' "$tmp/au"
check "it has the refused self-demotion" \
  grep -qE "\"action\":\"users.update\",\"target\":\"$boss_id\",\"outcome\":\"failed\"" "$tmp/au"
check "it records the client IP" has "$tmp/au" '"client_ip":"127.0.0.1"'
target_named() { # ID KEY VALUE: every entry on target ID has KEY = VALUE
  python3 -c 'import json,sys
e=[x for x in json.load(open(sys.argv[1]))["entries"] if x.get("target")==sys.argv[2]]
sys.exit(not e or any(json.dumps(x.get(sys.argv[3])) != sys.argv[4] for x in e))' "$tmp/au" "$@"
}
check "it names an existing target by its username" target_named "$carol_id" target_username '"carol"'
check "and a target that is no user as deleted" \
  target_named 00000000-0000-4000-8000-000000000000 target_deleted true
code=$(req auf "${A[@]}" "$base/admin/audit?action=users.revoke_sessions")
check "filtered by action" test "$(grep -o '"action":"[a-z_.]*"' "$tmp/auf" | sort -u)" = '"action":"users.revoke_sessions"'
# The entries' actions (an audit.list detail names a filtered action too).
actions() { grep -oE '"actor_username":"[^"]*","action":"[a-z_.]*"' "$tmp/$1" | sed 's/.*,//' | sort -u | tr '\n' ' '; }
code=$(req auc "${A[@]}" "$base/admin/audit?kind=changes&page_size=200")
check "kind=changes is 200" test "$code" = 200
check "and lists no reads" bash -c '! grep -qE "\"action\":\"(users\.list|users\.get|audit\.list)\"" "$1"' _ "$tmp/auc"
check "but the changes, refused ones too" test "$(actions auc)" = \
  '"action":"users.revoke_sessions" "action":"users.update" '
code=$(req aur "${A[@]}" "$base/admin/audit?kind=reads&page_size=200")
check "kind=reads lists only the reads, denied ones too" test "$(actions aur)" = \
  '"action":"audit.list" "action":"users.get" "action":"users.list" '
check "carol's denied list among them" \
  grep -qE '"actor_username":"carol","action":"users.list"(,"target":"")?,"outcome":"denied"' "$tmp/aur"
code=$(req aua "${A[@]}" "$base/admin/audit?kind=all&page_size=200")
check "kind=all lists both" test "$(actions aua | wc -w)" = 5
code=$(req auk "${A[@]}" "$base/admin/audit?kind=writes")
check "an unknown kind is 400 naming kind" has "$tmp/auk" '"field":"kind","message":"must be changes, reads or all"'
code=$(req aup "${A[@]}" "$base/admin/audit?kind=changes&page_size=1")
token=$(field aup next_page_token)
code=$(req aupr "${A[@]}" "$base/admin/audit?kind=reads&page_size=1&page_token=$token")
check "a page token of kind=changes is refused for kind=reads" has "$tmp/aupr" '"field":"page_token"'
code=$(req aupc "${A[@]}" "$base/admin/audit?kind=changes&page_size=1&page_token=$token")
check "and continues kind=changes" test "$(actions aupc)" = '"action":"users.update" '
code=$(req aus "${A[@]}" "$base/admin/audit?since=2999-01-01T00:00:00Z")
check "since in the future lists nothing" has "$tmp/aus" '^\{\}$|"entries":\[\]'

# Paging over many users: each exactly once.
psql -q -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres -d "${AUTH_DATABASE_URL##*/}" -c \
  "INSERT INTO users (username, email, password_hash)
   SELECT 'pg' || lpad(i::text, 4, '0'), 'pg' || i || '@example.com', 'x'
   FROM generate_series(1, 250) AS i" >/dev/null
token=""
: >"$tmp/names"
for _ in $(seq 20); do
  code=$(req page "${A[@]}" "$base/admin/users?query=pg&page_size=37${token:+&page_token=$token}")
  [[ $code == 200 ]] || break
  grep -o '"username":"[^"]*"' "$tmp/page" >>"$tmp/names" || true
  token=$(field page next_page_token)
  [[ -n $token ]] || break
done
check "paging returns 250 names" test "$(wc -l <"$tmp/names")" = 250
check "each exactly once" test "$(sort -u "$tmp/names" | wc -l)" = 250
code=$(req pgt "${A[@]}" "$base/admin/users?query=g01&page_size=5")
check "the total of a substring counts all pages" has "$tmp/pgt" '"total":100([,}])'

status=0
edge_env_stop || status=$?
check "every process exits 0 on SIGTERM" test "$status" = 0
echo "edge_admin: $passed passed, $failed failed"
[[ $failed == 0 ]]
