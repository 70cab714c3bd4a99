#!/usr/bin/env bash
# Email change and registration with a taken address, end to end through
# the edge with real mail (svc-auth -> SMTP -> scripts/mail-sink.py, one
# file per mail). Neither answer says whether an address has an account:
# registration with a taken email answers as with a new one (but for the
# random id) and its owner gets a mail; a change to a taken address answers
# as to a free one and the mail there says so. The address changes only
# when the link is used, once (20 uses at once: one works); a newer request
# voids the older link; every bad token gets one 400; a wrong password is
# 401 and counted as a failed login; SMTP down, the change still commits.
# No token or password in any log line.
# Usage: email_change.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
# shellcheck source=tests/integration/edge_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/edge_env.sh"
# shellcheck source=tests/integration/mail_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/mail_env.sh"


pw="correct horse battery"
export AUTH_VERIFY_RESEND_MAX=50
# Every line svc-auth may write, so the token check sees them all.
export SVC_LOG_LEVEL=debug
# The counters start at zero: a Redis database of its own (svc_env_setup).
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
post() { # PATH BODY [TOKEN] [REQUEST-ID]: prints the status; body in $tmp/body, headers in $tmp/head
  curl -s -D "$tmp/head" -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    ${3:+-H "Authorization: Bearer $3"} ${4:+-H "X-Request-Id: $4"} -d "$2" "$edge_base$1"
}
register() { # NAME [EMAIL] [REQUEST-ID]
  post /register "{\"username\":\"$1\",\"email\":\"${2:-$1@example.com}\",\"password\":\"$pw\"}" "" "${3:-}"
}
login() { # NAME: prints the access token
  post /login "{\"username\":\"$1\",\"password\":\"$pw\"}" >/dev/null
  jq -r .access_token "$tmp/body"
}
change() { # TOKEN NEW-EMAIL [PASSWORD]: POST /email
  post /email "{\"new_email\":\"$2\",\"current_password\":\"${3:-$pw}\"}" "$1"
}
confirm() { # TOKEN: POST /email/confirm
  post /email/confirm "{\"token\":\"$1\"}"
}
claim() { # TOKEN NAME: a claim of an access token
  local p
  p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while ((${#p} % 4)); do p+="="; done
  base64 -d <<<"$p" | jq -c ".$2"
}
# The answer with what must differ taken out: the request id and date.
answer() { # FILE-PREFIX: saves status line, headers and body of the last post
  grep -viE '^(x-request-id|traceparent|date):' "$tmp/head" | tr -d '\r' | sort >"$tmp/$1.head"
  jq -S 'del(.instance, .request_id)' "$tmp/body" >"$tmp/$1.body"
}
tokens=()

# ---- Registration with a taken email ---------------------------------------
check "register ada is 201" test "$(register ada)" = 201
mail_n ada@example.com 1 >/dev/null || true
# Names and addresses of the same lengths: Content-Length must match too.
check "register ada2 with a fresh address is 201" test "$(register ada2 zed@example.com reg-fresh)" = 201
cp "$tmp/head" "$tmp/fresh.rawhead"
cp "$tmp/body" "$tmp/fresh.json"
check "register ada3 with ada's address (other case) is 201" \
  test "$(register ada3 Ada@Example.com reg-taken)" = 201
cp "$tmp/head" "$tmp/taken.rawhead"
cp "$tmp/body" "$tmp/taken.json"
same_shape() { # the two answers, the varying values replaced
  local f
  for f in fresh taken; do
    grep -viE '^(x-request-id|traceparent|date):' "$tmp/$f.rawhead" | tr -d '\r' | sort >"$tmp/$f.h"
    jq -S '.user.id |= (test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))
      | .user.created_at |= (test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\\.[0-9]+)?Z$"))
      | .user.updated_at |= (test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\\.[0-9]+)?Z$"))
      | .user.username = "u" | .user.email = "e"' "$tmp/$f.json" >"$tmp/$f.b"
  done
  cmp -s "$tmp/fresh.h" "$tmp/taken.h" && cmp -s "$tmp/fresh.b" "$tmp/taken.b" &&
    test "$(jq -c '[.user.id, .user.created_at, .user.updated_at]' "$tmp/fresh.b")" = '[true,true,true]'
}
check "  the same status, headers and body shape as a fresh address" same_shape
check "  with a random id, not ada's" \
  test "$(jq -r .user.id "$tmp/taken.json")" != "$(psql_auth "SELECT id FROM users WHERE username = 'ada'")"
check "  the body names the address as sent (normalised)" test "$(jq -r .user.email "$tmp/taken.json")" = ada@example.com
check "  no account is made" test "$(psql_auth "SELECT count(*) FROM users WHERE username = 'ada3'")" = 0
check "  the password was hashed all the same (no timing shortcut)" \
  grep -q '"request_id":"reg-taken".*"msg":"password hash"\|"msg":"password hash".*"request_id":"reg-taken"' "$tmp/auth.log"
f=$(mail_n ada@example.com 2) || f=""
check "  ada gets a mail" test -n "$f"
check "  saying someone tried to register" grep -q '^Subject: Someone tried to register with your address' "$f"
check "  pointing at login and password reset" grep -q 'https://app.example.test/#/login' "$f"
check "  with no link token in it" test -z "$(grep -o 'token=' "$f" || true)"
check "  the fresh address got its verification mail" test -n "$(mail_n zed@example.com 1)"
# The owner's mailbox is not flooded: past the per-address limit
# (AUTH_VERIFY_RESEND_MAX per window) the answer stays 201, the mail is
# left out.
key="ratelimit:register-taken:email:$(printf %s ada@example.com | sha256sum | cut -d' ' -f1)"
check "  the address's count is kept under its hash" test "$(redis-cli -u "$TEST_REDIS_URL" GET "$key")" = 1
redis-cli -u "$TEST_REDIS_URL" SET "$key" 50 EX 3600 >/dev/null
check "a taken address over its mail limit is still 201" test "$(register ada4 ada@example.com)" = 201
sleep 1
check "  and no third mail reaches ada" test "$(mails_to ada@example.com)" = 2
check "a taken username is still 409" test "$(register ada other@example.com reg-name)" = 409
check "  saying the username is taken" grep -q 'username is already registered' "$tmp/body"
check "  refused before any hash" test -z "$(grep '"request_id":"reg-name"' "$tmp/auth.log" | grep '"msg":"password hash"' || true)"

# ---- Change email ------------------------------------------------------------
check "register bob is 201" test "$(register bob)" = 201
vf=$(mail_n bob@example.com 1) || vf=""
bob_verify=$(link_token "$vf" verify-email)
tokens+=("$bob_verify")
check "register cyd is 201" test "$(register cyd)" = 201
bt=$(login bob)
check "bob's access token is not email_verified" test "$(claim "$bt" email_verified)" != true
check "POST /email without a token is 401" test "$(change "" bob.new@example.com)" = 401

# Free and taken: the same answer.
check "bob asks for bob.new@example.com (free): 200" test "$(change "$bt" bob.new@example.com)" = 200
answer free
f=$(mail_n bob.new@example.com 1) || f=""
check "  the new address gets a confirmation mail" test -n "$f"
tok1=$(link_token "$f" confirm-email)
tokens+=("$tok1")
check "  its link carries a 43-character token in the fragment" test "${#tok1}" = 43
check "  the HTML part links the same URL" grep -q "href=\"https://app.example.test/#/confirm-email?token=$tok1\"" "$f"
n=$(mail_n bob@example.com 2) || n=""
check "  the old address gets a notice" grep -q '^Subject: A change of your email address was requested' "$n"
check "  naming the new address" grep -q 'bob.new@example.com' "$n"
check "  without the link" test -z "$(grep -o 'token=' "$n" || true)"
check "  authdb keeps only the token's hash, with the new address" \
  test "$(psql_auth "SELECT purpose || ':' || new_email FROM one_time_tokens WHERE token_hash = sha256('$tok1'::bytea)")" = change_email:bob.new@example.com
check "  the address has not changed yet" \
  test "$(psql_auth "SELECT email FROM users WHERE username = 'bob'")" = bob@example.com

check "bob asks for cyd@example.com (taken): 200" test "$(change "$bt" CYD@example.com)" = 200
answer taken
check "  the same status and headers as a free address" cmp "$tmp/free.head" "$tmp/taken.head"
check "  the same body" cmp "$tmp/free.body" "$tmp/taken.body"
f=$(mail_n cyd@example.com 2) || f=""
check "  cyd's address gets a mail" test -n "$f"
check "  saying it already has an account" grep -q '^Subject: This address already has an account' "$f"
check "  with no link token" test -z "$(grep -o 'token=' "$f" || true)"
n=$(mail_n bob@example.com 3) || n=""
check "  the old address gets the notice all the same" grep -q 'cyd@example.com' "$n"
check "  and the earlier link is void, as a new request voids it" test "$(confirm "$tok1")" = 400
answer voided
check "  cyd keeps her address, bob his" \
  test "$(psql_auth "SELECT string_agg(email, ',' ORDER BY username) FROM users WHERE username IN ('bob', 'cyd')")" = bob@example.com,cyd@example.com

# A newer request voids the older.
check "bob asks for bob.new@example.com again: 200" test "$(change "$bt" bob.new@example.com)" = 200
f=$(mail_n bob.new@example.com 2) || f=""
tok2=$(link_token "$f" confirm-email)
tokens+=("$tok2")
check "bob asks for bob.newer@example.com: 200" test "$(change "$bt" bob.newer@example.com)" = 200
f=$(mail_n bob.newer@example.com 1) || f=""
tok3=$(link_token "$f" confirm-email)
tokens+=("$tok3")
check "  a new token" test -n "$tok3" -a "$tok3" != "$tok2"
check "  the older link is void (400)" test "$(confirm "$tok2")" = 400
answer older
check "  the same answer as any bad token" cmp "$tmp/voided.body" "$tmp/older.body"
check "garbage is 400" test "$(confirm garbage)" = 400
answer garbage
check "  the same answer" cmp "$tmp/voided.body" "$tmp/garbage.body"
check "  with no errors[] naming a member" test "$(jq '.errors // [] | length' "$tmp/body")" = 0
check "no token at all is 400" test "$(confirm '')" = 400
answer none
check "  the same answer" cmp "$tmp/voided.body" "$tmp/none.body"
check "a verification token (another purpose) is 400 here" test "$(confirm "$bob_verify")" = 400
answer purpose
check "  the same answer" cmp "$tmp/voided.body" "$tmp/purpose.body"
check "a change token is 400 at /email/verify" test "$(post /email/verify "{\"token\":\"$tok3\"}")" = 400
check "  and stays usable" \
  test "$(psql_auth "SELECT count(*) FROM one_time_tokens WHERE token_hash = sha256('$tok3'::bytea)")" = 1

# One token, 20 uses at once: exactly one succeeds.
for i in $(seq 20); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    -d "{\"token\":\"$tok3\"}" "$edge_base/email/confirm" >"$tmp/par$i" &
done
wait_pids=$(jobs -p | grep -v -w -e "$sink_pid" $(printf -- '-e %s ' "${edge_env_pids[@]}") || true)
for p in $wait_pids; do wait "$p" || true; done
check "20 parallel confirms: exactly one 200" test "$(cat "$tmp"/par* | grep -c '^200$')" = 1
check "  and 19 400s" test "$(cat "$tmp"/par* | grep -c '^400$')" = 19
check "bob's address is bob.newer@example.com now, verified" \
  test "$(psql_auth "SELECT email || ':' || email_verified FROM users WHERE username = 'bob'")" = bob.newer@example.com:true
check "  the old address's verification link no longer works" \
  test "$(post /email/verify "{\"token\":\"$bob_verify\"}")" = 400
check "  the old access token still says what it said (until a refresh)" \
  test "$(claim "$bt" email_verified)" != true
bt2=$(login bob)
check "  a new access token is email_verified" test "$(claim "$bt2" email_verified)" = true
check "  the used token is 400" test "$(confirm "$tok3")" = 400

# Bad input names the member; a wrong password is 401 and counted.
check "a bad new_email is 400" test "$(change "$bt2" not-an-email)" = 400
check "  problem+json naming new_email" \
  test "$(grep -i '^content-type:' "$tmp/head" | tr -d '\r' | cut -d' ' -f2-):$(jq -r '[.errors[].field] | join(",")' "$tmp/body")" = application/problem+json:new_email
check "missing members are 400" test "$(post /email '{}' "$bt2")" = 400
check "  naming both" test "$(jq -r '[.errors[].field] | sort | join(",")' "$tmp/body")" = current_password,new_email
check "the current address is 400" test "$(change "$bt2" Bob.Newer@example.com)" = 400
check "  naming new_email" test "$(jq -r '[.errors[].field] | join(",")' "$tmp/body")" = new_email
before=$(redis-cli -u "$TEST_REDIS_URL" GET ratelimit:login:user:bob)
check "a wrong current password is 401" test "$(change "$bt2" bob.x@example.com 'wrong wrong wrong')" = 401
check "  counted as a failed login" \
  test "$(redis-cli -u "$TEST_REDIS_URL" GET ratelimit:login:user:bob)" = $((${before:-0} + 1))
check "  and writes no mail" test "$(psql_auth "SELECT count(*) FROM outbox WHERE recipient = 'bob.x@example.com'")" = 0
check "  no token is stored" test "$(psql_auth "SELECT count(*) FROM one_time_tokens WHERE new_email = 'bob.x@example.com'")" = 0
check "the right password clears the username's count" \
  test "$(change "$bt2" bob.y@example.com)" = 200
check "  (0 failed logins left)" test -z "$(redis-cli -u "$TEST_REDIS_URL" GET ratelimit:login:user:bob)"
tokens+=("$(link_token "$(mail_n bob.y@example.com 1)" confirm-email)")

# Expired: the same 400, nothing changes.
f=$(mail_n bob.y@example.com 1) || f=""
tok4=$(link_token "$f" confirm-email)
psql_auth "UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = sha256('$tok4'::bytea)" >/dev/null
check "an expired token is 400" test "$(confirm "$tok4")" = 400
answer expired
check "  the same answer" cmp "$tmp/voided.body" "$tmp/expired.body"
check "  and bob keeps his address" \
  test "$(psql_auth "SELECT email FROM users WHERE username = 'bob'")" = bob.newer@example.com

# Taken between the request and the link: 409, nothing changes.
check "register dan is 201" test "$(register dan)" = 201
dt=$(login dan)
check "dan asks for eve@example.com (free): 200" test "$(change "$dt" eve@example.com)" = 200
f=$(mail_n eve@example.com 1) || f=""
tok5=$(link_token "$f" confirm-email)
tokens+=("$tok5")
check "eve registers eve@example.com meanwhile" test "$(register eve)" = 201
check "dan's link is then 409" test "$(confirm "$tok5")" = 409
check "  saying the address was taken meanwhile" grep -q 'registered to another account meanwhile' "$tmp/body"
check "  dan keeps his address" test "$(psql_auth "SELECT email FROM users WHERE username = 'dan'")" = dan@example.com
check "  the link is spent" test "$(confirm "$tok5")" = 400

# SMTP down: the change commits, its mails wait and go out later.
sink_stop
check "with the sink stopped, dan asks for dan.new@example.com: 200" \
  test "$(change "$dt" dan.new@example.com)" = 200
check "  the token is stored" \
  test "$(psql_auth "SELECT count(*) FROM one_time_tokens WHERE new_email = 'dan.new@example.com'")" = 1
for _ in $(seq 100); do
  [[ -n $(psql_auth "SELECT last_error FROM outbox WHERE recipient = 'dan.new@example.com' AND last_error IS NOT NULL") ]] && break
  sleep 0.1
done
check "  its mail waits in the outbox (queued, or sending its retry)" \
  test "$(psql_auth "SELECT state IN ('queued', 'sending') FROM outbox WHERE recipient = 'dan.new@example.com' AND attempts >= 1")" = t
sink_start
f=$(mail_n dan.new@example.com 1 20) || f=""
check "  and goes out once the sink is back" test -n "$f"
tok6=$(link_token "$f" confirm-email)
tokens+=("$tok6")
check "  its link works" test "$(confirm "$tok6")" = 200
check "  dan's address is dan.new@example.com" \
  test "$(psql_auth "SELECT email FROM users WHERE username = 'dan'")" = dan.new@example.com

# No token, password or mail body in any log line.
leak=0
for t in "${tokens[@]}"; do
  [[ -n $t ]] || continue
  if grep -qF -- "$t" "$tmp"/*.log; then leak=1; echo "token in a log: $t" >&2; fi
done
check "no token in any log" test "$leak" = 0
check "no password in any log" test -z "$(grep -lF -- "$pw" "$tmp"/*.log || true)"
check "no mail body in any log" test -z "$(grep -lE 'someone asked to move|someone tried to create' "$tmp"/*.log || true)"

sink_stop
edge_env_stop || { echo "FAIL: a process did not stop cleanly" >&2; failed=$((failed + 1)); }
echo "email_change: $passed passed, $failed failed"
((failed == 0))
