#!/usr/bin/env bash
# The password flows end to end through the edge, with real mail read from
# the local SMTP sink's files (scripts/mail-sink.py): forgot (the same
# answer for a known and an unknown address, throttled per address and per
# client IP), reset (one-time, voided by a newer link, expired, the same
# 400 for every bad token, ends every session and kills live access
# tokens), change (wrong current password counted as a failed login, the
# caller goes on, every other session ends), the notice mails, bad input,
# SMTP down, and no token, password or mail body in any log line.
# Usage: password_flows.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
auth2_pid=""
# shellcheck source=tests/integration/edge_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/edge_env.sh"
# shellcheck source=tests/integration/mail_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/mail_env.sh"

auth2_stop() {
  [[ -n $auth2_pid ]] || return 0
  kill -TERM "$auth2_pid" 2>/dev/null || true
  wait "$auth2_pid" 2>/dev/null || true
  auth2_pid=""
}

# Small limits the test can reach.
export AUTH_FORGOT_MAX_PER_EMAIL=3 AUTH_FORGOT_MAX_PER_IP=5 AUTH_FORGOT_MIN_MS=200 \
  AUTH_LOGIN_MAX_PER_USER=4
# Every line svc-auth may write, so the secret checks see them all.
export SVC_LOG_LEVEL=debug
# The counters start at zero: a Redis database of its own (svc_env_setup).
mail_env_setup "$tmp"
# The edge believes X-Forwarded-For from loopback: each part of the test
# speaks from a client address of its own.
edge_env_start "$build" "$tmp" EDGE_TRUSTED_PROXIES=127.0.0.1
trap 'sink_stop; auth2_stop; edge_env_stop; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
psql_auth() { psql -qtA "$AUTH_DATABASE_URL" -c "$1"; }

passed=0
failed=0
check() { # NAME CONDITION...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
ip=198.51.100.1
post() { # PATH BODY [TOKEN]: prints the status; body in $tmp/body, headers in $tmp/head
  curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" \
    ${3:+-H "Authorization: Bearer $3"} -d "$2" "$edge_base$1"
}
get() { # PATH TOKEN: prints the status
  curl -s -o "$tmp/body" -w '%{http_code}' -H "X-Forwarded-For: $ip" \
    -H "Authorization: Bearer $2" "$edge_base$1"
}
PW="correct horse battery"
register() { # NAME
  post /register "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"$PW\"}"
}
login() { # NAME PASSWORD: prints the status; tokens in $tmp/body
  post /login "{\"username\":\"$1\",\"password\":\"$2\"}"
}
refresh() { # REFRESH_TOKEN: prints the status
  post /refresh "{\"refresh_token\":\"$1\"}"
}
problem() { # FILE: the problem without what differs per request
  jq -S 'del(.instance, .request_id)' "$tmp/body" >"$1"
}
reset_token_in() { link_token "$1" reset-password; } # FILE
tokens=()
secrets=("$PW")

# ---- Forgot: the same answer for a known and an unknown address.
check "register ada is 201" test "$(register ada)" = 201
verify_tok=$(grep -o 'verify-email?token=[A-Za-z0-9_-]\{43\}' "$(mail_n ada@example.com 1)" | head -n1 | sed 's/.*=//')
tokens+=("$verify_tok")
login ada "$PW" >/dev/null
at_a=$(jq -r .access_token "$tmp/body")
rt_a=$(jq -r .refresh_token "$tmp/body")
login ada "$PW" >/dev/null
at_b=$(jq -r .access_token "$tmp/body")
rt_b=$(jq -r .refresh_token "$tmp/body")
tokens+=("$at_a" "$rt_a" "$at_b" "$rt_b")

ip=198.51.100.10
t_known=$(curl -s -o "$tmp/known.body" -D "$tmp/known.head" -w '%{http_code} %{time_total}' -X POST \
  -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" \
  -d '{"email":"ADA@example.com"}' "$edge_base/password/forgot")
ip=198.51.100.11
t_unknown=$(curl -s -o "$tmp/unknown.body" -D "$tmp/unknown.head" -w '%{http_code} %{time_total}' -X POST \
  -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" \
  -d '{"email":"nobody@example.com"}' "$edge_base/password/forgot")
check "forgot for a known address is 202" test "${t_known% *}" = 202
check "forgot for an unknown address is 202" test "${t_unknown% *}" = 202
check "  the same body" cmp -s "$tmp/known.body" "$tmp/unknown.body"
strip() { grep -viE '^(x-request-id|traceparent|date):' "$1" | tr -d '\r'; }
check "  the same headers but X-Request-Id, traceparent and Date" \
  diff <(strip "$tmp/known.head") <(strip "$tmp/unknown.head")
check "  both take at least AUTH_FORGOT_MIN_MS" \
  awk -v a="${t_known#* }" -v b="${t_unknown#* }" 'BEGIN { exit !(a >= 0.2 && b >= 0.2) }'
f=$(mail_n ada@example.com 2) || f=""
check "a reset mail for ada lands in the sink" test -n "$f"
tok1=$(reset_token_in "$f")
tokens+=("$tok1")
check "  its link carries a 43-character token in the fragment" test "${#tok1}" = 43
check "  the HTML part links the same URL" \
  grep -q "href=\"https://app.example.test/#/reset-password?token=$tok1\"" "$f"
check "  it says how long the link works" grep -q 'for 30 minutes' "$f"
check "  authdb keeps only the token's hash" \
  test "$(psql_auth "SELECT purpose FROM one_time_tokens WHERE token_hash = sha256('$tok1'::bytea)")" = reset_password
sleep 1
check "the unknown address got no mail" test "$(mails_to nobody@example.com)" = 0

# ---- Throttles: per address (3) and per client IP (5), 429 with Retry-After.
ip=198.51.100.20
check "register bob is 201" test "$(register bob)" = 201
for i in 1 2; do
  ip=198.51.100.2$i
  post /password/forgot '{"email":"bob@example.com"}' >/dev/null
done
ip=198.51.100.23
check "a third request for bob's address is 202" test "$(post /password/forgot '{"email":"bob@example.com"}')" = 202
ip=198.51.100.24
check "the fourth for that address (from another client) is 429" \
  test "$(post /password/forgot '{"email":"Bob@Example.com"}')" = 429
check "  with Retry-After" grep -qiE '^retry-after: [1-9][0-9]*' "$tmp/head"
check "  as problem+json" grep -qi '^content-type: application/problem+json' "$tmp/head"
ip=198.51.100.30
for i in 1 2 3 4 5; do post /password/forgot "{\"email\":\"nobody$i@example.com\"}" >/dev/null; done
check "the sixth request from one client address is 429" \
  test "$(post /password/forgot '{"email":"nobody6@example.com"}')" = 429
check "  with Retry-After" grep -qiE '^retry-after: [1-9][0-9]*' "$tmp/head"
ip=198.51.100.31
check "  another client address is not held back" \
  test "$(post /password/forgot '{"email":"nobody6@example.com"}')" = 202
check "forgot without an email is 400 naming it" \
  test "$(post /password/forgot '{}'):$(jq -r '.errors[0].field' "$tmp/body")" = 400:email
check "forgot with no address is 400 naming email" \
  test "$(post /password/forgot '{"email":"not an address"}'):$(jq -r '.errors[0].field' "$tmp/body")" = 400:email

# ---- Reset: a newer link voids the older; every bad token the same 400.
ip=198.51.100.40
check "ada asks again (202)" test "$(post /password/forgot '{"email":"ada@example.com"}')" = 202
f=$(mail_n ada@example.com 3) || f=""
tok2=$(reset_token_in "$f")
tokens+=("$tok2")
check "  a second mail with another token" test -n "$tok2" -a "$tok2" != "$tok1"
NEW="new horse battery staple"
secrets+=("$NEW")
check "the voided first token is 400" \
  test "$(post /password/reset "{\"token\":\"$tok1\",\"new_password\":\"$NEW\"}")" = 400
problem "$tmp/voided"
check "  with no errors[] naming a member" test "$(jq '.errors // [] | length' "$tmp/body")" = 0
check "garbage is 400" test "$(post /password/reset "{\"token\":\"garbage\",\"new_password\":\"$NEW\"}")" = 400
problem "$tmp/garbage"
check "  the same answer" cmp -s "$tmp/voided" "$tmp/garbage"
check "no token is 400" test "$(post /password/reset "{\"new_password\":\"$NEW\"}")" = 400
problem "$tmp/none"
check "  the same answer" cmp -s "$tmp/voided" "$tmp/none"
check "a token of another purpose (verification) is 400" \
  test "$(post /password/reset "{\"token\":\"$verify_tok\",\"new_password\":\"$NEW\"}")" = 400
problem "$tmp/purpose"
check "  the same answer" cmp -s "$tmp/voided" "$tmp/purpose"
# Bad new passwords name the field and leave the token usable.
check "no new_password is 400 naming it" \
  test "$(post /password/reset "{\"token\":\"$tok2\"}"):$(jq -r '.errors[0].field' "$tmp/body")" = 400:new_password
check "a short new_password is 400 naming it" \
  test "$(post /password/reset "{\"token\":\"$tok2\",\"new_password\":\"short\"}"):$(jq -r '.errors[0].field' "$tmp/body")" = 400:new_password
long=$(printf 'x%.0s' $(seq 129))
check "a 129-character new_password is 400 naming it" \
  test "$(post /password/reset "{\"token\":\"$tok2\",\"new_password\":\"$long\"}"):$(jq -r '.errors[0].field' "$tmp/body")" = 400:new_password
check "a new_password with a control character is 400 naming it" \
  test "$(post /password/reset "{\"token\":\"$tok2\",\"new_password\":\"abc\\u0001defghij\"}"):$(jq -r '.errors[0].field' "$tmp/body")" = 400:new_password
check "  problem+json" grep -qi '^content-type: application/problem+json' "$tmp/head"

# ---- Reset: sets the password, ends every session, kills access tokens.
check "ada's access token works before the reset" test "$(get /profile "$at_a")" = 200
check "reset with the live token is 200" \
  test "$(post /password/reset "{\"token\":\"$tok2\",\"new_password\":\"$NEW\"}")" = 200
check "  both sessions ended" test "$(jq .sessions_revoked "$tmp/body")" = 2
check "  the old access token is refused at once (401)" test "$(get /profile "$at_a")" = 401
check "  so is the other session's" test "$(get /profile "$at_b")" = 401
check "  a refresh of a session is refused (401)" test "$(refresh "$rt_a")" = 401
check "  so is the other's" test "$(refresh "$rt_b")" = 401
f=$(mail_n ada@example.com 4) || f=""
check "  a notice mail arrives" grep -q '^Subject: Your password was changed' "$f"
check "  saying what to do if it was not you" grep -q 'If it was not you' "$f"
check "  linking the forgot page" grep -q 'https://app.example.test/#/forgot-password' "$f"
check "  and no token" bash -c "! grep -q 'token=' '$f'"
check "the old password no longer logs in (401)" test "$(login ada "$PW")" = 401
check "the new one does (200)" test "$(login ada "$NEW")" = 200
tokens+=("$(jq -r .access_token "$tmp/body")" "$(jq -r .refresh_token "$tmp/body")")
check "the used token again is 400" \
  test "$(post /password/reset "{\"token\":\"$tok2\",\"new_password\":\"another horse battery\"}")" = 400
problem "$tmp/used"
check "  the same answer" cmp -s "$tmp/voided" "$tmp/used"

# ---- One token, 20 uses at once: exactly one succeeds.
ip=198.51.100.50
n0=$(mails_to bob@example.com)
# bob's address used up its requests above: its counter goes, as at the
# end of its window.
redis-cli -u "$TEST_REDIS_URL" DEL "ratelimit:forgot:email:bob@example.com" >/dev/null
check "bob asks for a link (202)" test "$(post /password/forgot '{"email":"bob@example.com"}')" = 202
f=$(mail_n bob@example.com $((n0 + 1))) || f=""
bt=$(reset_token_in "$f")
tokens+=("$bt")
for i in $(seq 20); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    -d "{\"token\":\"$bt\",\"new_password\":\"parallel horse $i\"}" "$edge_base/password/reset" >"$tmp/par$i" &
done
wait_pids=$(jobs -p | grep -v -w -e "$sink_pid" $(printf -- '-e %s ' "${edge_env_pids[@]}") || true)
for p in $wait_pids; do wait "$p" || true; done
check "20 parallel uses: exactly one 200" test "$(cat "$tmp"/par* | grep -c '^200$')" = 1
# The others are refused: 400 when the token was spent first, or 429 when
# the password hasher's queue (bounded by the RPC workers) was full.
check "  and 19 refusals (400 or 429)" test "$(cat "$tmp"/par* | grep -cE '^(400|429)$')" = 19
check "  at least one of them a spent token (400)" grep -qx 400 "$tmp"/par*
winner=$(grep -l '^200$' "$tmp"/par* | sed 's/.*par//' || true)
check "  the winner's password is bob's" test "$(login bob "parallel horse $winner")" = 200

# ---- Expiry: a second replica with AUTH_RESET_TTL_S=1 writes the link.
auth2_port=$(free_port)
AUTH_RPC_LISTEN=tcp://127.0.0.1:$auth2_port AUTH_RESET_TTL_S=1 LOG_LEVEL=debug METRICS_LISTEN=off \
  edge_env_as svc-auth "$build/svc-auth/svc-auth" 2>"$tmp/auth2.log" &
auth2_pid=$!
for _ in $(seq 300); do
  AUTH_RPC_DIAL=tcp://127.0.0.1:$auth2_port "$build/cli/rpcctl" --timeout 500 health \
    --service auth >/dev/null 2>&1 && break
  sleep 0.1
done
check "register cyd is 201" test "$(register cyd)" = 201
AUTH_RPC_DIAL=tcp://127.0.0.1:$auth2_port "$build/cli/rpcctl" call auth.ForgotPassword \
  '{"email":"cyd@example.com","client_ip":"198.51.100.60"}' >/dev/null || true
# cyd now has two mails, the address check of registering and the reset
# link; the senders of two replicas share the outbox and may deliver them in
# either order: the one with the reset link.
f=""
if mail_n cyd@example.com 2 30 >/dev/null; then
  for m in "$maildir"/*.eml; do
    grep -q '^To: <cyd@example.com>' "$m" && grep -q 'reset-password?token=' "$m" && f=$m
  done
fi
ct=$(reset_token_in "$f")
tokens+=("$ct")
check "  a link that works for 1 minute (rounded up)" grep -q 'for 1 minutes' "$f"
sleep 2
check "an expired token is 400" \
  test "$(post /password/reset "{\"token\":\"$ct\",\"new_password\":\"$NEW\"}")" = 400
problem "$tmp/expired"
check "  the same answer" cmp -s "$tmp/voided" "$tmp/expired"
check "  and cyd's password is unchanged" test "$(login cyd "$PW")" = 200
auth2_stop
check "AUTH_RESET_TTL_S above 1800 stops the start" \
  bash -c "! AUTH_RESET_TTL_S=1801 AUTH_RPC_LISTEN=tcp://127.0.0.1:$(free_port) \
    timeout 10 '$build/svc-auth/svc-auth' 2>'$tmp/ttl.err'"
check "  saying why" grep -q 'AUTH_RESET_TTL_S' "$tmp/ttl.err"

# ---- Change: the caller goes on, every other session ends.
ip=198.51.100.70
check "register dee is 201" test "$(register dee)" = 201
login dee "$PW" >/dev/null
d1_at=$(jq -r .access_token "$tmp/body")
d1_rt=$(jq -r .refresh_token "$tmp/body")
login dee "$PW" >/dev/null
d2_at=$(jq -r .access_token "$tmp/body")
d2_rt=$(jq -r .refresh_token "$tmp/body")
tokens+=("$d1_at" "$d1_rt" "$d2_at" "$d2_rt")
DNEW="dee's new horse battery"
secrets+=("$DNEW")
body() { jq -nc --arg c "$1" --arg n "$2" '{current_password: $c, new_password: $n}'; }
check "change without a token is 401" test "$(post /password "$(body "$PW" "$DNEW")")" = 401
check "change without new_password is 400 naming it" \
  test "$(post /password "{\"current_password\":\"$PW\"}" "$d1_at"):$(jq -r '[.errors[].field] | join(",")' "$tmp/body")" = 400:new_password
check "change without either names both" \
  test "$(post /password '{}' "$d1_at"):$(jq -r '[.errors[].field] | sort | join(",")' "$tmp/body")" = 400:current_password,new_password
check "a 129-character current_password is 400 naming it" \
  test "$(post /password "$(body "$long" "$DNEW")" "$d1_at"):$(jq -r '.errors[0].field' "$tmp/body")" = 400:current_password
check "a new password that is the username is 400 naming new_password" \
  test "$(post /password "$(body "$PW" "DEE")" "$d1_at"):$(jq -r '.errors[0].field' "$tmp/body")" = 400:new_password
check "a new password equal to the current one is 400 naming new_password" \
  test "$(post /password "$(body "$PW" "$PW")" "$d1_at"):$(jq -r '.errors[0].field' "$tmp/body")" = 400:new_password
check "a wrong current password is 401" \
  test "$(post /password "$(body "wrong horse battery" "$DNEW")" "$d1_at")" = 401
check "  and the password is unchanged (login 200)" test "$(login dee "$PW")" = 200
tokens+=("$(jq -r .access_token "$tmp/body")" "$(jq -r .refresh_token "$tmp/body")")
n0=$(mails_to dee@example.com)
check "change with the right current password is 200" \
  test "$(post /password "$(body "$PW" "$DNEW")" "$d1_at")" = 200
n_at=$(jq -r .access_token "$tmp/body")
n_rt=$(jq -r .refresh_token "$tmp/body")
tokens+=("$n_at" "$n_rt")
check "  it answers a new token pair" test "${#n_at}" -gt 100 -a "${#n_rt}" -gt 40
check "  and sets the token cookies" grep -qi '^set-cookie: .*access' "$tmp/head"
check "  the caller's new access token works" test "$(get /profile "$n_at")" = 200
check "  the caller's new refresh token works" test "$(refresh "$n_rt")" = 200
tokens+=("$(jq -r .access_token "$tmp/body")" "$(jq -r .refresh_token "$tmp/body")")
check "  the caller's old access token is refused (401)" test "$(get /profile "$d1_at")" = 401
check "  the other session's access token is refused (401)" test "$(get /profile "$d2_at")" = 401
check "  the other session's refresh is refused (401)" test "$(refresh "$d2_rt")" = 401
f=$(mail_n dee@example.com $((n0 + 1))) || f=""
check "  a notice mail arrives" grep -q '^Subject: Your password was changed' "$f"
check "the old password no longer logs in (401)" test "$(login dee "$PW")" = 401
check "the new one does (200)" test "$(login dee "$DNEW")" = 200
tokens+=("$(jq -r .access_token "$tmp/body")" "$(jq -r .refresh_token "$tmp/body")")
# Token-Delivery: cookie (the web frontend): the tokens only as cookies.
login dee "$DNEW" >/dev/null
d3_at=$(jq -r .access_token "$tmp/body")
tokens+=("$d3_at" "$(jq -r .refresh_token "$tmp/body")")
DNEW2="dee's third horse battery"
secrets+=("$DNEW2")
code=$(curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' -H 'Token-Delivery: cookie' -H "X-Forwarded-For: $ip" \
  -H "Authorization: Bearer $d3_at" -d "$(body "$DNEW" "$DNEW2")" "$edge_base/password")
check "change with Token-Delivery: cookie is 200" test "$code" = 200
check "  no token in the body" test "$(jq 'has("access_token") or has("refresh_token")' "$tmp/body")" = false
check "  the tokens as cookies" test "$(grep -ciE '^set-cookie: __Host-(access|refresh)=' "$tmp/head")" = 2

# ---- A wrong current password counts as a failed login (4 per username).
ip=198.51.100.80
check "register eve is 201" test "$(register eve)" = 201
login eve "$PW" >/dev/null
et=$(jq -r .access_token "$tmp/body")
tokens+=("$et" "$(jq -r .refresh_token "$tmp/body")")
for i in 1 2 3; do
  ip=198.51.100.8$i
  check "eve's wrong current password $i is 401" \
    test "$(post /password "$(body "wrong horse battery" "eve's new horse battery")" "$et")" = 401
done
ip=198.51.100.84
check "a wrong login for eve is 401 (the fourth failure)" test "$(login eve "wrong horse battery")" = 401
ip=198.51.100.85
check "then even eve's right password is 429" test "$(login eve "$PW")" = 429
check "  with Retry-After" grep -qiE '^retry-after: [1-9][0-9]*' "$tmp/head"
check "and so is a change of her password" \
  test "$(post /password "$(body "$PW" "eve's new horse battery")" "$et")" = 429

# ---- SMTP down: the change commits, the notice waits in the outbox.
ip=198.51.100.90
check "register fay is 201" test "$(register fay)" = 201
mail_n fay@example.com 1 >/dev/null || true
login fay "$PW" >/dev/null
ft=$(jq -r .access_token "$tmp/body")
tokens+=("$ft" "$(jq -r .refresh_token "$tmp/body")")
sink_stop
FNEW="fay's new horse battery"
secrets+=("$FNEW")
check "with the sink stopped fay's change is 200" \
  test "$(post /password "$(body "$PW" "$FNEW")" "$ft")" = 200
check "  her new password works at once" test "$(login fay "$FNEW")" = 200
tokens+=("$(jq -r .access_token "$tmp/body")" "$(jq -r .refresh_token "$tmp/body")")
for _ in $(seq 100); do
  [[ -n $(psql_auth "SELECT 1 FROM outbox WHERE recipient = 'fay@example.com' AND subject LIKE 'Your password%' AND last_error IS NOT NULL") ]] && break
  sleep 0.1
done
check "  the notice failed and waits in the outbox (queued, or sending its retry)" \
  test "$(psql_auth "SELECT state IN ('queued', 'sending') FROM outbox WHERE recipient = 'fay@example.com' AND subject LIKE 'Your password%'")" = t
sink_start
f=$(mail_n fay@example.com 2 20) || f=""
check "  and goes out once the sink is back" grep -q '^Subject: Your password was changed' "$f"

# ---- No token, password or mail body in any log line.
leak=""
for t in "${tokens[@]}" "${secrets[@]}"; do
  [[ -n $t && $t != null ]] || continue
  if grep -qF -- "$t" "$tmp"/*.log; then leak+=" ${t:0:12}…"; fi
done
check "no token or password in any log${leak:+ (found:$leak)}" test -z "$leak"
check "no mail body in any log" \
  bash -c "! grep -qE 'someone \\(we hope you\\)|was just changed' '$tmp'/*.log"

sink_stop
edge_env_stop || { echo "FAIL: a process did not stop cleanly" >&2; failed=$((failed + 1)); }
echo "password_flows: $passed passed, $failed failed"
((failed == 0))
