#!/usr/bin/env bash
# Email verification end to end, with real mail: svc-auth delivers over
# SMTP to the local sink (scripts/mail-sink.py), which writes each mail to a
# file. Register -> the mail and its link -> POST /email/verify -> the user
# and new tokens say email_verified; every bad token gets the same 400; one
# token used 20 times at once works once; with the sink stopped the
# registration still commits and its mail goes out when the sink is back;
# no token in any log line.
# Usage: mail_verify.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
# shellcheck source=tests/integration/edge_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/edge_env.sh"
# shellcheck source=tests/integration/mail_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/mail_env.sh"


export AUTH_VERIFY_RESEND_MAX=3
# Every line svc-auth may write, so the token check sees them all.
export SVC_LOG_LEVEL=debug
# The resend counters start at zero: a Redis database of its own
# (svc_env_setup).
mail_env_setup "$tmp"
edge_env_start "$build" "$tmp"
trap 'sink_stop; edge_env_stop; rm -rf "$tmp"' EXIT
psql_auth() { psql -qtA "$AUTH_DATABASE_URL" -c "$1"; }

passed=0
failed=0
check() { # NAME CONDITION...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
post() { # PATH BODY [TOKEN]: prints the status; body in $tmp/body
  curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    ${3:+-H "Authorization: Bearer $3"} -d "$2" "$edge_base$1"
}
register() { # NAME
  post /register "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"correct horse battery\"}"
}
login() { # NAME: prints the access token
  post /login "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" >/dev/null
  jq -r .access_token "$tmp/body"
}
claim() { # TOKEN NAME: a claim of an access token
  local p
  p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while ((${#p} % 4)); do p+="="; done
  base64 -d <<<"$p" | jq -c ".$2"
}
mail_for() { # ADDRESS [SECONDS]: waits for a mail to ADDRESS, prints its file
  local f
  for _ in $(seq $((${2:-10} * 20))); do
    f=$(grep -l "^To: <$1>" "$maildir"/*.eml 2>/dev/null | tail -n1 || true)
    [[ -n $f ]] && { echo "$f"; return 0; }
    sleep 0.05
  done
  return 1
}
token_in() { link_token "$1" verify-email; } # FILE
tokens=()

# Registration writes the mail; the sender delivers it to the sink.
check "register ada is 201" test "$(register ada)" = 201
check "  the new user is not verified" test "$(jq .user.email_verified "$tmp/body")" != true
f=$(mail_for ada@example.com) || f=""
check "a mail for ada lands in the sink" test -n "$f"
tok=$(token_in "$f")
tokens+=("$tok")
check "  its link carries a 43-character token in the fragment" test "${#tok}" = 43
check "  it has a plain-text and an HTML part" \
  grep -q 'multipart/alternative' "$f"
check "  the HTML part links the same URL" grep -q "href=\"https://app.example.test/#/verify-email?token=$tok\"" "$f"
check "  the outbox row is sent and its bodies cleared" \
  test "$(psql_auth "SELECT state || ':' || length(body_text) FROM outbox WHERE recipient = 'ada@example.com'")" = sent:0
check "  authdb keeps only the token's hash" \
  test "$(psql_auth "SELECT count(*) FROM one_time_tokens WHERE token_hash = sha256('$tok'::bytea)")" = 1
check "  and never the token itself" \
  test "$(psql_auth "SELECT count(*) FROM one_time_tokens WHERE encode(token_hash, 'escape') LIKE '%$tok%'")" = 0
at=$(login ada)
check "ada's first access token is not email_verified" test "$(claim "$at" email_verified)" = null
curl -s -o "$tmp/profile" -H "Authorization: Bearer $at" "$edge_base/profile"
check "  GET /profile says email_verified false" test "$(jq .email_verified "$tmp/profile")" = false

check "POST /email/verify with the token is 200" test "$(post /email/verify "{\"token\":\"$tok\"}")" = 200
at2=$(login ada)
check "  a new access token is email_verified" test "$(claim "$at2" email_verified)" = true
curl -s -o "$tmp/profile" -H "Authorization: Bearer $at2" "$edge_base/profile"
check "  GET /profile with it says email_verified true" test "$(jq .email_verified "$tmp/profile")" = true
"$build/svc-auth/svc-auth" promote-admin ada >/dev/null 2>&1
at3=$(login ada)
id=$(claim "$at3" sub | tr -d '"')
curl -s -o "$tmp/user" -H "Authorization: Bearer $at3" "$edge_base/admin/users/$id"
check "  the user (admin view) is email_verified" test "$(jq .user.email_verified "$tmp/user")" = true
check "  resend is refused once verified (400)" test "$(post /email/verify/resend '' "$at3")" = 400

# Every bad token: the same status and problem, saying nothing of why.
check "the used token again is 400" test "$(post /email/verify "{\"token\":\"$tok\"}")" = 400
jq -S 'del(.instance, .request_id)' "$tmp/body" >"$tmp/used"
check "garbage is 400" test "$(post /email/verify '{"token":"garbage"}')" = 400
jq -S 'del(.instance, .request_id)' "$tmp/body" >"$tmp/garbage"
check "  the same answer as a used token" cmp -s "$tmp/used" "$tmp/garbage"
check "  with no errors[] naming a member" test "$(jq '.errors // [] | length' "$tmp/body")" = 0
check "no token at all is 400" test "$(post /email/verify '{}')" = 400
jq -S 'del(.instance, .request_id)' "$tmp/body" >"$tmp/none"
check "  the same answer" cmp -s "$tmp/used" "$tmp/none"
check "register bob is 201" test "$(register bob)" = 201
f=$(mail_for bob@example.com) || f=""
old=$(token_in "$f")
tokens+=("$old")
bt=$(login bob)
check "bob asks for a new mail (200)" test "$(post /email/verify/resend '' "$bt")" = 200
for _ in $(seq 200); do
  [[ $(grep -l '^To: <bob@example.com>' "$maildir"/*.eml | wc -l) -ge 2 ]] && break
  sleep 0.05
done
new=$(token_in "$(grep -l '^To: <bob@example.com>' "$maildir"/*.eml | tail -n1)")
tokens+=("$new")
check "  a second mail with another token" test -n "$new" -a "$new" != "$old"
check "the voided first token is 400" test "$(post /email/verify "{\"token\":\"$old\"}")" = 400
jq -S 'del(.instance, .request_id)' "$tmp/body" >"$tmp/voided"
check "  the same answer" cmp -s "$tmp/used" "$tmp/voided"
psql_auth "UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = sha256('$new'::bytea)" >/dev/null
check "an expired token is 400" test "$(post /email/verify "{\"token\":\"$new\"}")" = 400
jq -S 'del(.instance, .request_id)' "$tmp/body" >"$tmp/expired"
check "  the same answer" cmp -s "$tmp/used" "$tmp/expired"
check "  and bob is still not verified" \
  test "$(psql_auth "SELECT email_verified FROM users WHERE username = 'bob'")" = f
# The resend throttle: 3 per window (one spent above).
post /email/verify/resend '' "$bt" >/dev/null
post /email/verify/resend '' "$bt" >/dev/null
check "the fourth resend is 429" test "$(post /email/verify/resend '' "$bt")" = 429

# One token, 20 uses at once: exactly one succeeds.
check "register cyd is 201" test "$(register cyd)" = 201
f=$(mail_for cyd@example.com) || f=""
ct=$(token_in "$f")
tokens+=("$ct")
for i in $(seq 20); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    -d "{\"token\":\"$ct\"}" "$edge_base/email/verify" >"$tmp/par$i" &
done
wait_pids=$(jobs -p | grep -v -w -e "$sink_pid" $(printf -- '-e %s ' "${edge_env_pids[@]}") || true)
for p in $wait_pids; do wait "$p" || true; done
check "20 parallel uses: exactly one 200" test "$(cat "$tmp"/par* | grep -c '^200$')" = 1
check "  and 19 400s" test "$(cat "$tmp"/par* | grep -c '^400$')" = 19

# SMTP down: the registration commits, the mail waits and goes out later.
sink_stop
check "register dee with the sink stopped is 201" test "$(register dee)" = 201
for _ in $(seq 100); do
  [[ -n $(psql_auth "SELECT last_error FROM outbox WHERE recipient = 'dee@example.com' AND last_error IS NOT NULL") ]] && break
  sleep 0.1
done
check "  its mail failed and waits in the outbox (queued, or sending its retry)" \
  test "$(psql_auth "SELECT state IN ('queued', 'sending') FROM outbox WHERE recipient = 'dee@example.com' AND attempts >= 1")" = t
check "  the failure is logged" eventually 10 grep -q 'mail not sent; will retry' "$tmp/auth.log"
sink_start
f=$(mail_for dee@example.com 20) || f=""
check "  the mail goes out once the sink is back" test -n "$f"
check "  exactly once" test "$(grep -l '^To: <dee@example.com>' "$maildir"/*.eml | wc -l)" = 1
tokens+=("$(token_in "$f")")

# A second replica beside the first, sharing the outbox: its login needs a
# verified address, and its sender gives up after one attempt.
auth2_port=$(free_port)
AUTH_RPC_LISTEN=tcp://127.0.0.1:$auth2_port AUTH_REQUIRE_VERIFIED_EMAIL=true \
  AUTH_MAIL_MAX_ATTEMPTS=1 LOG_LEVEL=debug METRICS_LISTEN=off \
  edge_env_as svc-auth "$build/svc-auth/svc-auth" 2>"$tmp/auth2.log" &
auth2_pid=$!
rpc2() { AUTH_RPC_DIAL=tcp://127.0.0.1:$auth2_port "$build/cli/rpcctl" --timeout 5000 call "$@"; }
for _ in $(seq 100); do
  AUTH_RPC_DIAL=tcp://127.0.0.1:$auth2_port "$build/cli/rpcctl" --timeout 500 health \
    --service auth >/dev/null 2>&1 && break
  sleep 0.1
done
login2() { rpc2 auth.Login "{\"username\":\"$1\",\"password\":\"correct horse battery\"}"; }
code=0
login2 bob >/dev/null 2>"$tmp/login2.err" || code=$?
check "with AUTH_REQUIRE_VERIFIED_EMAIL an unverified user cannot log in" test "$code" != 0
check "  PERMISSION_DENIED saying why" grep -q 'PERMISSION_DENIED.*not verified' "$tmp/login2.err"
login2_quiet() { login2 "$@" >/dev/null; }
check "  a verified user can" login2_quiet ada

# Two senders, one outbox: 60 mails queued at once, each delivered once.
t0=$(date +%s%N)
psql_auth "INSERT INTO outbox (recipient, subject, body_text, body_html)
  SELECT 'bulk' || i || '@example.com', 'bulk ' || i, 'text ' || i, '<p>' || i || '</p>'
  FROM generate_series(1, 60) AS i" >/dev/null
for _ in $(seq 300); do
  [[ $(psql_auth "SELECT count(*) FROM outbox WHERE recipient LIKE 'bulk%' AND state = 'sent'") == 60 ]] && break
  sleep 0.1
done
echo "60 mails through two senders in $((($(date +%s%N) - t0) / 1000000)) ms" \
  "($(grep -c '"msg":"mail sent"' "$tmp/auth2.log") by the second replica)"
check "60 queued mails are all sent" \
  test "$(psql_auth "SELECT count(*) FROM outbox WHERE recipient LIKE 'bulk%' AND state = 'sent'")" = 60
check "  each exactly once" \
  test "$(grep -h '^To: <bulk' "$maildir"/*.eml | sort | uniq | wc -l):$(grep -h '^To: <bulk' "$maildir"/*.eml | wc -l)" = 60:60
check "  by both senders" test "$(grep -c '"msg":"mail sent"' "$tmp/auth2.log")" -gt 0

# Dead letters: with SMTP down a mail whose last attempt fails is dead; the
# row is re-queued as docs/operations.md says and goes out once. Which
# replica claims it is theirs to race for: the second gives up after one
# attempt, the first (8 attempts, doubling from 1 s) could keep winning the
# retries for minutes. So once a sender has tried it (or at once), the row
# is marked as having spent its attempts (the claim adds one: past either
# limit), and whichever replica tries it next gives up.
sink_stop
check "register eve with the sink stopped is 201" test "$(register eve)" = 201
eve_state() { psql_auth "SELECT state FROM outbox WHERE recipient = 'eve@example.com'"; }
for _ in $(seq 200); do
  [[ $(eve_state) == dead ]] && break
  psql_auth "UPDATE outbox SET attempts = 99 WHERE recipient = 'eve@example.com'
    AND state = 'queued' AND attempts < 99" >/dev/null
  sleep 0.1
done
check "  the mail goes dead after its last attempt" test "$(eve_state)" = dead
check "  the dead letter is logged" eventually 10 grep -q 'mail dead: no more attempts' "$tmp/auth.log" "$tmp/auth2.log"
sink_start
sleep 1
check "  a dead mail is not sent" test -z "$(grep -l '^To: <eve@example.com>' "$maildir"/*.eml)"
psql_auth "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = now() WHERE state = 'dead'" >/dev/null
f=$(mail_for eve@example.com 10) || f=""
check "  re-queued, it goes out" test -n "$f"
sleep 1
check "  exactly once, with two senders" test "$(grep -l '^To: <eve@example.com>' "$maildir"/*.eml | wc -l)" = 1
tokens+=("$(token_in "$f")")
kill -TERM "$auth2_pid"
check "the second replica stops cleanly" wait "$auth2_pid"

# A deleted account's mail goes with it: queued while SMTP is down, it is
# never sent.
sink_stop
check "register fay with the sink stopped is 201" test "$(register fay)" = 201
ft=$(login fay)
code=$(post /account/delete '{"current_password":"correct horse battery"}' "$ft")
check "  fay deletes her account (200; got $code $(head -c 300 "$tmp/body"))" test "$code" = 200
[[ $code == 200 ]] || grep -hE '"level":"(warn|error)"' "$tmp"/*.log | tail -n 20 >&2
check "  her mail left the outbox" \
  test "$(psql_auth "SELECT count(*) FROM outbox WHERE recipient = 'fay@example.com'")" = 0
sink_start
sleep 1.5
check "  and never reaches the sink" test -z "$(grep -l '^To: <fay@example.com>' "$maildir"/*.eml)"

# Plain SMTP only to loopback: anything else stops the start, saying why.
for url in smtp://mail.example.com:25 smtp://127.evil.example:25 ftp://127.0.0.1:25; do
  code=0
  (AUTH_SMTP_URL=$url AUTH_RPC_LISTEN=tcp://127.0.0.1:$(free_port) METRICS_LISTEN=off \
    edge_env_as svc-auth timeout 10 "$build/svc-auth/svc-auth") 2>"$tmp/badurl.err" || code=$?
  check "svc-auth refuses AUTH_SMTP_URL=$url" test "$code" = 1
  check "  saying why" grep -q 'AUTH_SMTP_URL' "$tmp/badurl.err"
done

# No token in any log line.
leak=0
for t in "${tokens[@]}"; do
  [[ -n $t ]] || continue
  if grep -qF -- "$t" "$tmp"/*.log; then leak=1; fi
done
check "no token in any log" test "$leak" = 0
check "the sender logged its counters" grep -q '"sent_total"' "$tmp/auth.log"
check "the sender logged the outbox's states" grep -q '"msg":"outbox","queued"' "$tmp/auth.log"

sink_stop
edge_env_stop || { echo "FAIL: a process did not stop cleanly" >&2; failed=$((failed + 1)); }
echo "mail_verify: $passed passed, $failed failed"
((failed == 0))
