#!/usr/bin/env bash
# Two-factor login with TOTP end to end, through the edge, with real mail:
# enrolment (password, secret, otpauth URI, QR code) and its confirmation;
# login answers a ticket instead of tokens, POST /login/mfa completes it;
# the window of accepted steps (-1..+1, not +-2), replay (also of one code
# at two svc-auth replicas at once), recovery codes (one used by 20
# callers at once works once), tickets expired, reused, from another
# client or after a password change; the throttle of wrong codes per user
# and per address (429 with Retry-After; a known device counted on its
# own); new recovery codes; disabling; an admin's reset (audited); amr in
# the access tokens; a notice mail for every change; no secret in the
# logs. Codes are made with oathtool.
# Usage: mfa_totp.sh BUILD_DIR
set -euo pipefail
build=$1
command -v oathtool >/dev/null || {
  echo "FAIL: oathtool is not installed (scripts/lib.sh lists it)" >&2
  exit 1
}
tmp=$(mktemp -d)
# shellcheck source=tests/integration/edge_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/edge_env.sh"
# shellcheck source=tests/integration/mail_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/mail_env.sh"
mail_env_setup "$tmp"

ttl=8
export AUTH_MFA_TICKET_TTL_S=$ttl AUTH_MFA_MAX_PER_USER=25 AUTH_MFA_MAX_PER_IP=30 \
  AUTH_TOTP_ISSUER="Micro Core" AUTH_ARGON2_T=1 AUTH_ARGON2_M_KIB=8192
# Every line svc-auth may write, so the secret check sees them all.
export SVC_LOG_LEVEL=debug
# The throttle counters start at zero: a Redis database of its own,
# emptied (svc_env_setup).
# The edge believes X-Forwarded-For from the test (loopback): each part of
# the test comes from an address of its own, so the per-address counters
# of one part do not reach another.
edge_env_start "$build" "$tmp" EDGE_TRUSTED_PROXIES=127.0.0.1/32
trap 'sink_stop; edge_env_stop; rm -rf "$tmp"' EXIT
psql_auth() { psql -qtA "$AUTH_DATABASE_URL" -c "$1"; }

passed=0
failed=0
check() { # NAME CONDITION...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
ip=192.0.2.1
ua=mfa-test
req() { # METHOD PATH BODY [TOKEN]: prints the status; body in $tmp/body, headers in $tmp/head
  curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -X "$1" \
    -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" -A "$ua" \
    ${4:+-H "Authorization: Bearer $4"} -d "$3" "$edge_base$2"
}
pw='correct horse battery'
register() { # NAME
  req POST /register "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"$pw\"}" >/dev/null
}
login() { # NAME: prints the status; the answer in $tmp/body
  req POST /login "{\"username\":\"$1\",\"password\":\"$pw\"}"
}
token_of() { # NAME: logs in (no second factor): the access token
  login "$1" >/dev/null
  jq -r .access_token "$tmp/body"
}
ticket_of() { # NAME: logs in: the mfa ticket
  login "$1" >/dev/null
  jq -r .mfa_ticket "$tmp/body"
}
mfa() { # TICKET CODE [RECOVERY]: POST /login/mfa
  if [[ -n ${3:-} ]]; then
    req POST /login/mfa "{\"mfa_ticket\":\"$1\",\"recovery_code\":\"$3\"}"
  else
    req POST /login/mfa "{\"mfa_ticket\":\"$1\",\"code\":\"$2\"}"
  fi
}
code() { # SECRET [STEPS]: the code of the step STEPS (default 0) from now
  oathtool --totp -b -N "@$(($(date +%s) + 30 * ${2:-0}))" "$1"
}
claim() { # TOKEN NAME: a claim of an access token
  local p
  p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while ((${#p} % 4)); do p+="="; done
  base64 -d <<<"$p" | jq -c ".$2"
}
early_in_step() { # [SECONDS]: waits until at least SECONDS (10) of the current step are left
  while (($(date +%s) % 30 > 30 - ${1:-10})); do sleep 1; done
}
mails_saying() { # ADDRESS TEXT: how many mails to ADDRESS say TEXT (waits up to 10 s for one)
  local n=0
  for _ in $(seq 200); do
    n=$(grep -l "^To: <$1>" "$maildir"/*.eml 2>/dev/null | xargs -r grep -l -e "$2" | wc -l)
    ((n > 0)) && break
    sleep 0.05
  done
  echo "$n"
}
enable() { # NAME TOKEN: enrols and confirms; sets $secret and $codes (a file of the recovery codes)
  req POST /mfa/totp "{\"current_password\":\"$pw\"}" "$2" >/dev/null
  secret=$(jq -r .secret "$tmp/body")
  req POST /mfa/totp/confirm "{\"code\":\"$(code "$secret")\"}" "$2" >/dev/null
  codes=$tmp/codes.$1
  jq -r '.recovery_codes[]' "$tmp/body" >"$codes"
}

# ---- Enrolment -----------------------------------------------------------
register ada
at=$(token_of ada)
check "GET /mfa says off" test "$(req GET /mfa '' "$at")" = 200
check "  totp_enabled false" test "$(jq .totp_enabled "$tmp/body")" = false
check "enrolment with a wrong password is 401" \
  test "$(req POST /mfa/totp '{"current_password":"wrong password!"}' "$at")" = 401
check "enrolment without a password is 400" test "$(req POST /mfa/totp '{}' "$at")" = 400
check "enrolment without a token is 401" \
  test "$(req POST /mfa/totp "{\"current_password\":\"$pw\"}")" = 401
check "confirming with nothing pending is 400" \
  test "$(req POST /mfa/totp/confirm '{"code":"123456"}' "$at")" = 400
check "enrolment is 200" test "$(req POST /mfa/totp "{\"current_password\":\"$pw\"}" "$at")" = 200
secret=$(jq -r .secret "$tmp/body")
ada_secret=$secret
check "  a 32-character base32 secret" grep -qx '[A-Z2-7]\{32\}' <<<"$secret"
check "  its otpauth URI" test "$(jq -r .otpauth_uri "$tmp/body")" = \
  "otpauth://totp/Micro%20Core:ada?secret=$secret&issuer=Micro%20Core&algorithm=SHA1&digits=6&period=30"
check "  a QR code as SVG" grep -q '^<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 [0-9]* [0-9]*".*<path fill="#000" d="M' \
  <<<"$(jq -r .qr_svg "$tmp/body")"
check "  10 minutes to confirm" test "$(jq .expires_in "$tmp/body")" = 600
check "  authdb holds the secret sealed, not in clear" \
  test "$(psql_auth "SELECT length(secret_sealed) FROM user_totp u JOIN users ON users.id = u.user_id WHERE username = 'ada' AND NOT enabled")" = 60
check "a pending enrolment changes no login: tokens" test "$(token_of ada)" != null
check "confirming with a wrong code is 401" \
  test "$(req POST /mfa/totp/confirm '{"code":"000000"}' "$at")" = 401
check "confirming with a current code is 200" \
  test "$(req POST /mfa/totp/confirm "{\"code\":\"$(code "$secret")\"}" "$at")" = 200
check "  ten recovery codes xxxxx-xxxxx" \
  test "$(jq -r '.recovery_codes[]' "$tmp/body" | grep -cx '[0-9a-z]\{5\}-[0-9a-z]\{5\}')" = 10
jq -r '.recovery_codes[]' "$tmp/body" >"$tmp/ada.codes"
check "  stored as hashes only" \
  test "$(psql_auth "SELECT count(*) FROM mfa_recovery_codes WHERE length(code_hash) = 32")" = 10
check "  a notice mail: turned on" test "$(mails_saying ada@example.com 'was turned on')" = 1
check "GET /mfa says on, 10 codes left" test "$(req GET /mfa '' "$at")" = 200
check "  totp_enabled true" test "$(jq -c '[.totp_enabled, .recovery_codes_left]' "$tmp/body")" = '[true,10]'
check "enrolling again while on is 400" \
  test "$(req POST /mfa/totp "{\"current_password\":\"$pw\"}" "$at")" = 400

# ---- Login ---------------------------------------------------------------
early_in_step # the ticket lives 8 s: no wait between it and its code
t_login=$(date +%s)
check "login with the password is 200" test "$(login ada)" = 200
check "  mfa_required" test "$(jq .mfa_required "$tmp/body")" = true
check "  with a ticket of 43 characters" test "$(jq -r '.mfa_ticket | length' "$tmp/body")" = 43
check "  that expires in AUTH_MFA_TICKET_TTL_S" test "$(jq .mfa_ticket_expires_in "$tmp/body")" = $ttl
check "  no access or refresh token" \
  test "$(jq -c '[.access_token // "", .refresh_token // "", .device_token // ""]' "$tmp/body")" = '["","",""]'
check "  no cookie" test "$(grep -ci '^set-cookie' "$tmp/head")" = 0
t=$(jq -r .mfa_ticket "$tmp/body")
check "login with a wrong password is still 401, no ticket" \
  test "$(req POST /login '{"username":"ada","password":"wrong password!"}')" = 401
check "  (no mfa_ticket)" test "$(jq -r '.mfa_ticket // ""' "$tmp/body")" = ""
check "POST /login/mfa with both code and recovery_code is 400" \
  test "$(req POST /login/mfa "{\"mfa_ticket\":\"$t\",\"code\":\"123456\",\"recovery_code\":\"x\"}")" = 400
check "POST /login/mfa with neither is 400" test "$(req POST /login/mfa "{\"mfa_ticket\":\"$t\"}")" = 400
check "POST /login/mfa with the ticket and a current code is 200" \
  test "$(mfa "$t" "$(code "$secret" 1)")" = 200
at=$(jq -r .access_token "$tmp/body")
rt=$(jq -r .refresh_token "$tmp/body")
check "  an access token with amr [pwd, otp]" test "$(claim "$at" amr)" = '["pwd","otp"]'
check "  CheckToken (rpcctl) says amr [pwd, otp] too" \
  test "$("$build/cli/rpcctl" call auth.CheckToken "{\"token\":\"$at\"}" | jq -c .claims.amr)" = '["pwd","otp"]'
auth_time=$(claim "$at" auth_time)
check "  and auth_time now ($auth_time)" \
  test "$auth_time" -ge "$t_login" -a "$auth_time" -le "$(date +%s)"
check "  the token cookies are set" test "$(grep -ci '^set-cookie' "$tmp/head")" -ge 2
check "  a refresh keeps amr [pwd, otp]" \
  test "$(req POST /refresh "{\"refresh_token\":\"$rt\"}")" = 200
check "    (refreshed)" test "$(claim "$(jq -r .access_token "$tmp/body")" amr)" = '["pwd","otp"]'
check "the used ticket again (with a recovery code) is 401" \
  test "$(mfa "$t" "" "$(sed -n 1p "$tmp/ada.codes")")" = 401
check "  says why" grep -q ticket "$tmp/body"
check "  and left the recovery code unused" \
  test "$(psql_auth "SELECT count(*) FROM mfa_recovery_codes WHERE used_at IS NOT NULL")" = 0
register bob
check "a user without two-factor login gets amr [pwd]" test "$(claim "$(token_of bob)" amr)" = '["pwd"]'
register gil
check "gil (no second factor) changes his password (200)" test "$(req POST /password \
  "{\"current_password\":\"$pw\",\"new_password\":\"a changed horse battery\"}" "$(token_of gil)")" = 200
check "  its new tokens say amr [pwd]" test "$(claim "$(jq -r .access_token "$tmp/body")" amr)" = '["pwd"]'

# The window: with the last used step put back, the steps -2 and +2 are
# refused, -1, 0 and +1 accepted, each once and in order: 16 calls, all in
# one step (the codes are of steps from now, the last step is checked).
early_in_step 20
psql_auth "UPDATE user_totp SET last_step = 0" >/dev/null
for s in -2 2; do
  check "a code of step $s is 401" test "$(mfa "$(ticket_of ada)" "$(code "$secret" "$s")")" = 401
done
c_prev=$(code "$secret" -1)
check "a code of step -1 is 200" test "$(mfa "$(ticket_of ada)" "$c_prev")" = 200
check "  the same code again (replay) is 401" test "$(mfa "$(ticket_of ada)" "$c_prev")" = 401
c_now=$(code "$secret")
check "a code of step 0 is 200" test "$(mfa "$(ticket_of ada)" "$c_now")" = 200
check "  replayed is 401" test "$(mfa "$(ticket_of ada)" "$c_now")" = 401
check "a code of step +1 is 200" test "$(mfa "$(ticket_of ada)" "$(code "$secret" 1)")" = 200
check "  then the earlier step 0 is 401" test "$(mfa "$(ticket_of ada)" "$c_now")" = 401
check "  the last step is kept in authdb" \
  test "$(psql_auth "SELECT last_step FROM user_totp")" = $((($(date +%s) / 30) + 1))

# Tickets: from another client, after a password change, expired.
ip=192.0.2.2
t=$(ticket_of ada)
ip=192.0.2.3
check "the ticket from another address is 401" test "$(mfa "$t" "" "$(sed -n 1p "$tmp/ada.codes")")" = 401
ip=192.0.2.2
ua=another-agent
check "the ticket from another user agent is 401" test "$(mfa "$t" "" "$(sed -n 1p "$tmp/ada.codes")")" = 401
ua=mfa-test
check "  nothing was used: the recovery codes are all unused" \
  test "$(psql_auth "SELECT count(*) FROM mfa_recovery_codes WHERE used_at IS NULL")" = 10
check "the ticket from its own client, with a recovery code, is 200" \
  test "$(mfa "$t" "" "$(sed -n 1p "$tmp/ada.codes" | tr '[:lower:]' '[:upper:]' | tr -d -)")" = 200
check "  amr [pwd, otp]" test "$(claim "$(jq -r .access_token "$tmp/body")" amr)" = '["pwd","otp"]'
at=$(jq -r .access_token "$tmp/body")
check "  the recovery code is used" \
  test "$(psql_auth "SELECT count(*) FROM mfa_recovery_codes WHERE used_at IS NOT NULL")" = 1
check "  the used recovery code again is 401" \
  test "$(mfa "$(ticket_of ada)" "" "$(sed -n 1p "$tmp/ada.codes")")" = 401
# A password change keeps what the caller's session had proven: its new
# session's tokens say [pwd, otp] (and it is changed back for what follows).
check "ada changes her password with that token (200)" test "$(req POST /password \
  "{\"current_password\":\"$pw\",\"new_password\":\"a changed horse battery\"}" "$at")" = 200
at=$(jq -r .access_token "$tmp/body")
check "  its new tokens keep amr [pwd, otp]" test "$(claim "$at" amr)" = '["pwd","otp"]'
check "  and back (200)" test "$(req POST /password \
  "{\"current_password\":\"a changed horse battery\",\"new_password\":\"$pw\"}" "$at")" = 200
t=$(ticket_of ada)
hash=$(psql_auth "SELECT password_hash FROM users WHERE username = 'ada'")
psql_auth "UPDATE users SET password_hash = password_hash || 'x' WHERE username = 'ada'" >/dev/null
check "a ticket from before a password change is 401" \
  test "$(mfa "$t" "" "$(sed -n 2p "$tmp/ada.codes")")" = 401
psql_auth "UPDATE users SET password_hash = '$hash' WHERE username = 'ada'" >/dev/null
t=$(ticket_of ada)
sleep $((ttl + 1))
check "an expired ticket is 401" test "$(mfa "$t" "" "$(sed -n 2p "$tmp/ada.codes")")" = 401
check "  and the recovery code stays unused" \
  test "$(psql_auth "SELECT count(*) FROM mfa_recovery_codes WHERE used_at IS NULL")" = 9

# One recovery code, 20 callers at once (each with a ticket of its own):
# exactly one gets in.
ip=192.0.2.4
# Four logins at a time, each with a body of its own: one after another, 20
# logins could outlast the first ticket's AUTH_MFA_TICKET_TTL_S on a loaded
# machine under the sanitizers.
ticket_into() { # NAME FILE: logs in: the mfa ticket into FILE
  curl -s -X POST -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" -A "$ua" \
    -d "{\"username\":\"$1\",\"password\":\"$pw\"}" "$edge_base/login" | jq -r .mfa_ticket >"$2"
}
batch=()
for i in $(seq 20); do
  ticket_into ada "$tmp/t.$i" &
  batch+=($!)
  if ((${#batch[@]} == 4)); then
    wait "${batch[@]}"
    batch=()
  fi
done
check "  (the 20 tickets are live)" \
  test "$(redis-cli -u "$TEST_REDIS_URL" --scan --pattern 'mfa_ticket:*' | wc -l)" = 20
rc=$(sed -n 3p "$tmp/ada.codes")
par_pids=()
for i in $(seq 20); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    -H "X-Forwarded-For: $ip" -A "$ua" \
    -d "{\"mfa_ticket\":\"$(cat "$tmp/t.$i")\",\"recovery_code\":\"$rc\"}" \
    "$edge_base/login/mfa" >"$tmp/par.$i" &
  par_pids+=($!)
done
wait "${par_pids[@]}"
check "one recovery code used by 20 at once: exactly one 200" test "$(cat "$tmp"/par.* | grep -c '^200$')" = 1
check "  and 19 401s" test "$(cat "$tmp"/par.* | grep -c '^401$')" = 19

# Across replicas: a second svc-auth on the same authdb and Redis. One
# code given to both at once (each with a ticket of its own) gets in once.
auth2_port=$(free_port)
auth2=tcp://127.0.0.1:$auth2_port
AUTH_RPC_LISTEN=$auth2 LOG_LEVEL=debug METRICS_LISTEN=off \
  edge_env_as svc-auth "$build/svc-auth/svc-auth" 2>"$tmp/auth2.log" &
edge_env_pids+=($!)
for _ in $(seq 200); do
  "$build/cli/rpcctl" --url "$auth2" health >/dev/null 2>&1 && break
  sleep 0.05
done
ip=192.0.2.9
mfa2() { # TICKET CODE [RECOVERY]: LoginMfa at the second replica (rpcctl), as the edge would pass it
  local proof="\"code\":\"$2\""
  [[ -n ${3:-} ]] && proof="\"recovery_code\":\"$3\""
  "$build/cli/rpcctl" --url "$auth2" call auth.LoginMfa \
    "{\"mfa_ticket\":\"$1\",$proof,\"client_ip\":\"$ip\",\"user_agent\":\"$ua\"}" >/dev/null 2>&1
}
refused() { ! "$@"; }
early_in_step
# The window test above used the next step already: put it back.
psql_auth "UPDATE user_totp SET last_step = 0 FROM users WHERE users.id = user_totp.user_id AND username = 'ada'" >/dev/null
t1=$(ticket_of ada)
t2=$(ticket_of ada)
c_next=$(code "$secret" 1)
mfa "$t1" "$c_next" >"$tmp/rep.1" &
rep_pid=$!
won2=0
if mfa2 "$t2" "$c_next"; then won2=1; fi
wait "$rep_pid"
check "one code at two replicas at once: exactly one gets in" \
  test "$(($(grep -c '^200$' "$tmp/rep.1") + won2))" = 1
t2=$(ticket_of ada)
check "  and the code again at the second replica is refused" refused mfa2 "$t2" "$c_next"
check "  while a ticket of one replica works at the other" mfa2 "$t2" "" "$(sed -n 6p "$tmp/ada.codes")"

# ---- Throttle of wrong codes -----------------------------------------------
register cyd
ip=192.0.2.5
at=$(token_of cyd)
cyd_device=$(jq -r .device_token "$tmp/body")
enable cyd "$at"
for i in $(seq 25); do
  mfa "$(ticket_of cyd)" 000000
  echo
done >"$tmp/st"
check "25 wrong codes for cyd are 401 (the per-user limit)" test "$(grep -c '^401$' "$tmp/st")" = 25
check "the 26th is 429" test "$(mfa "$(ticket_of cyd)" 000000)" = 429
check "  with Retry-After" grep -qi '^retry-after: [1-9]' "$tmp/head"
check "  even with the right code" test "$(mfa "$(ticket_of cyd)" "$(code "$secret")")" = 429
check "  but from cyd's own device (its device token) a code of the next step is 200" \
  test "$(req POST /login/mfa "{\"mfa_ticket\":\"$(ticket_of cyd)\",\"code\":\"$(code "$secret" 1)\",\"device_token\":\"$cyd_device\"}")" = 200
check "    with a new device cookie" grep -qi '^set-cookie: __Secure-device=' "$tmp/head"
check "  and the device's wrong codes are its own: another device is still 429" \
  test "$(mfa "$(ticket_of cyd)" 000000)" = 429
check "  and a wrong password is a 401 of its own counter" \
  test "$(req POST /login '{"username":"cyd","password":"wrong password!"}')" = 401
# Per address: 30 wrong codes from one address across users.
ip=192.0.2.6
register dee
enable dee "$(token_of dee)"
register eve
enable eve "$(token_of eve)"
for i in $(seq 15); do mfa "$(ticket_of dee)" 000000 >/dev/null; mfa "$(ticket_of eve)" 000000 >/dev/null; done
check "the 31st wrong code from one address is 429 (the per-address limit)" \
  test "$(mfa "$(ticket_of eve)" 000000)" = 429
check "  with Retry-After" grep -qi '^retry-after: [1-9]' "$tmp/head"
ip=192.0.2.7
check "  from another address eve is only counted (401)" test "$(mfa "$(ticket_of eve)" 000000)" = 401

# ---- New recovery codes, disabling -----------------------------------------
ip=192.0.2.8
secret=$ada_secret
mfa "$(ticket_of ada)" "" "$(sed -n 4p "$tmp/ada.codes")" >/dev/null
at=$(jq -r .access_token "$tmp/body")
check "new recovery codes with a wrong code are 401" \
  test "$(req POST /mfa/recovery-codes '{"code":"000000"}' "$at")" = 401
check "new recovery codes with neither proof are 400" test "$(req POST /mfa/recovery-codes '{}' "$at")" = 400
early_in_step
psql_auth "UPDATE user_totp SET last_step = 0 FROM users WHERE users.id = user_totp.user_id AND username = 'ada'" >/dev/null
check "new recovery codes with a current code are 200" \
  test "$(req POST /mfa/recovery-codes "{\"code\":\"$(code "$secret")\"}" "$at")" = 200
jq -r '.recovery_codes[]' "$tmp/body" >"$tmp/ada.codes2"
check "  ten new codes" test "$(wc -l <"$tmp/ada.codes2")" = 10
check "  a notice mail: new recovery codes" test "$(mails_saying ada@example.com 'New recovery codes')" = 1
check "  an old unused code no longer works (401)" \
  test "$(mfa "$(ticket_of ada)" "" "$(sed -n 5p "$tmp/ada.codes")")" = 401
check "  a new one does (200)" test "$(mfa "$(ticket_of ada)" "" "$(sed -n 1p "$tmp/ada.codes2")")" = 200
at=$(jq -r .access_token "$tmp/body")
check "disabling with a wrong code is 401" test "$(req DELETE /mfa/totp '{"code":"000000"}' "$at")" = 401
check "disabling with a recovery code is 200" \
  test "$(req DELETE /mfa/totp "{\"recovery_code\":\"$(sed -n 2p "$tmp/ada.codes2")\"}" "$at")" = 200
check "  a notice mail: turned off" test "$(mails_saying ada@example.com 'was turned off')" = 1
check "  the secret and the codes are gone" \
  test "$(psql_auth "SELECT (SELECT count(*) FROM user_totp u JOIN users ON users.id = u.user_id WHERE username = 'ada') + (SELECT count(*) FROM mfa_recovery_codes r JOIN users ON users.id = r.user_id WHERE username = 'ada')")" = 0
check "  login gives tokens again, amr [pwd]" test "$(claim "$(token_of ada)" amr)" = '["pwd"]'
check "disabling again is 400 (not on)" \
  test "$(req DELETE /mfa/totp '{"recovery_code":"aaaaa-aaaaa"}' "$at")" = 400

# ---- An admin's reset -------------------------------------------------------
register root
"$build/svc-auth/svc-auth" promote-admin root >/dev/null 2>&1
admin=$(token_of root)
cy_id=$(psql_auth "SELECT id FROM users WHERE username = 'cyd'")
check "a user cannot reset another's second factor (403)" \
  test "$(req DELETE "/admin/users/$cy_id/mfa" '' "$(token_of bob)")" = 403
check "an admin resets cyd's (200)" test "$(req DELETE "/admin/users/$cy_id/mfa" '' "$admin")" = 200
check "  it was on" test "$(jq .was_enabled "$tmp/body")" = true
check "  a notice mail: an administrator" test "$(mails_saying cyd@example.com 'An administrator turned')" = 1
check "  cyd logs in with the password alone" test "$(token_of cyd)" != null
check "  again: it was off" test "$(req DELETE "/admin/users/$cy_id/mfa" '' "$admin")" = 200
check "    was_enabled false" test "$(jq .was_enabled "$tmp/body")" = false
check "  no such user is 404" \
  test "$(req DELETE /admin/users/00000000-0000-4000-8000-000000000000/mfa '' "$admin")" = 404
req GET "/admin/audit?action=users.reset_mfa" '' "$admin" >/dev/null
check "  audited: three rows of users.reset_mfa by root" \
  test "$(jq '[.entries[] | select(.actor_username == "root")] | length' "$tmp/body")" = 3
check "  the first names cyd and what was on" \
  test "$(jq -c '[.entries[] | select(.outcome == "ok" and .target == "'"$cy_id"'") | .detail.was_enabled]' "$tmp/body")" = '[false,true]'
check "  bob's refusal is audited too" \
  test "$(req GET "/admin/audit?action=users.reset_mfa" '' "$admin" >/dev/null; jq '[.entries[] | select(.outcome == "denied")] | length' "$tmp/body")" = 1

# No secret, code or ticket in any log line.
check "the logs hold no TOTP secret" bash -c "! grep -q '$ada_secret' '$tmp'/*.log"
check "  no recovery code" bash -c "! grep -qFf '$tmp/ada.codes2' '$tmp'/*.log"
check "  and no ticket" bash -c "! grep -qFf <(cat '$tmp'/t.*) '$tmp'/*.log"

echo "mfa_totp: $passed passed, $failed failed"
((failed == 0))
