#!/usr/bin/env bash
# The service metrics move when their events happen: svc-auth, svc-user and
# svc-admin each with its own metrics listener (METRICS_LISTEN), scraped
# before and after each event, every scrape checked with promtool check
# metrics. Logins by outcome, a throttle refusal, refresh rotations and a
# reuse, the Argon2 queue, mails queued/sent/failed and the outbox backlog
# (SMTP sink down and back), the profile cache (miss, hit, a broken entry),
# JWKS fetches, audit rows written and lost, PostgreSQL and Redis
# statements by outcome, and reconnects after a PostgreSQL stop and start
# (pg_ctl -m fast) and a Redis kill -9. Like store_restart.sh it starts its
# OWN PostgreSQL and Redis: the suite's servers must not go down under the
# tests running beside it.
# SERVICE_METRICS_MODE=single runs the three in one microcore process
# instead, with its one listener.
# Usage: service_metrics.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd -P)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=tests/integration/mail_env.sh
source "$here/mail_env.sh"
install_cleanup_traps
stop_pid() { kill -TERM "$1" 2>/dev/null || true; }

rpcctl=$build/cli/rpcctl
work=$(mktemp -d /tmp/service-metrics.XXXXXX)
chmod 755 "$work"
add_cleanup rm -rf "$work"
pg_port=$(free_port)
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$pg_port" --fast 2>/dev/null
redis_port=$(free_port "$pg_port")
add_cleanup redis_stop "$redis_port" "$work/redis"
redis_start "$work/redis" "$redis_port" 2>/dev/null
pg_psql "$pg_port" -d postgres -c "CREATE DATABASE authdb" \
  -c "CREATE DATABASE apidb" -c "CREATE DATABASE admindb" >/dev/null
pg_bin=$(pg_bindir)
mail_env_setup "$work"
add_cleanup sink_stop

auth_port=$(free_port)
user_port=$(free_port)
admin_port=$(free_port)
am=$(free_port) # the metrics listeners
um=$(free_port)
dm=$(free_port)
export AUTH_RPC_DIAL=tcp://127.0.0.1:$auth_port USER_RPC_DIAL=tcp://127.0.0.1:$user_port \
  ADMIN_RPC_DIAL=tcp://127.0.0.1:$admin_port
export REDIS_URL=redis://127.0.0.1:$redis_port/0 LOG_LEVEL=warn
export AUTH_DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/authdb \
  USER_DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/apidb \
  ADMIN_DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/admindb \
  AUTH_RPC_LISTEN=$AUTH_RPC_DIAL USER_RPC_LISTEN=$USER_RPC_DIAL ADMIN_RPC_LISTEN=$ADMIN_RPC_DIAL
export AUTH_KEK
AUTH_KEK=$(head -c 32 /dev/urandom | base64)
# Three failed logins per username, then refusals; a reused refresh token
# is reuse at once (no grace).
export AUTH_ARGON2_M_KIB=8192 AUTH_ARGON2_T=1 AUTH_LOGIN_MAX_PER_USER=3 \
  AUTH_LOGIN_MAX_PER_IP=1000 AUTH_REFRESH_GRACE_MS=0
if [[ ${SERVICE_METRICS_MODE:-split} == single ]]; then
  # One process, one listener: each component's series carry its name.
  um=$am dm=$am
  METRICS_LISTEN=127.0.0.1:$am "$build/microcore/microcore" --run auth,user,admin \
    2>"$work/auth.log" &
  add_cleanup stop_pid $!
  ln -s auth.log "$work/user.log"
  ln -s auth.log "$work/admin.log"
else
  METRICS_LISTEN=127.0.0.1:$am "$build/svc-auth/svc-auth" 2>"$work/auth.log" &
  add_cleanup stop_pid $!
  METRICS_LISTEN=127.0.0.1:$um "$build/svc-user/svc-user" 2>"$work/user.log" &
  add_cleanup stop_pid $!
  METRICS_LISTEN=127.0.0.1:$dm "$build/svc-admin/svc-admin" 2>"$work/admin.log" &
  add_cleanup stop_pid $!
fi

fail() {
  echo "FAIL: $*" >&2
  for s in auth user admin; do
    echo "--- svc-$s log" >&2
    tail -n 20 "$work/$s.log" >&2 || true
  done
  exit 1
}

for i in $(seq 151); do
  ((i <= 150)) || fail "the services did not start"
  "$rpcctl" --timeout 1000 health --service auth --service user --service admin \
    >/dev/null 2>&1 && break
  sleep 0.2
done

# scrape PORT: the metrics text, checked by promtool.
scrape() {
  local text
  text=$(curl -sf "http://127.0.0.1:$1/metrics") || fail "no metrics on port $1"
  promtool check metrics <<<"$text" >"$work/promtool.out" 2>&1 ||
    fail "promtool check metrics (port $1): $(cat "$work/promtool.out")"
  printf '%s\n' "$text"
}
# value PORT SAMPLE: the sample's value (SAMPLE: name{labels} as rendered,
# component first), 0 when absent.
value() {
  scrape "$1" | awk -v s="$2" 'index($0, s " ") == 1 { v = $2 } END { print v + 0 }'
}
# moved WHAT PORT SAMPLE BEFORE N: the sample is now at least BEFORE + N,
# waiting up to 10 s for it (the mail sender works on its own).
moved() {
  local v
  for _ in $(seq 100); do
    v=$(value "$2" "$3")
    awk -v v="$v" -v w="$(($4 + $5))" 'BEGIN { exit !(v >= w) }' && return 0
    sleep 0.1
  done
  fail "$1: $3 is $v, expected at least $(($4 + $5))"
}
# is WHAT PORT SAMPLE WANT: the sample's value is WANT (within 10 s).
is() {
  local v
  for _ in $(seq 100); do
    v=$(value "$2" "$3")
    awk -v v="$v" -v w="$4" 'BEGIN { exit !(v == w) }' && return 0
    sleep 0.1
  done
  fail "$1: $3 is $v, expected $4"
}
at() { value "$@" | cut -d. -f1; } # an integer value now

A='component="svc-auth"'
U='component="svc-user"'
D='component="svc-admin"'
pw='"password":"correct horse battery"'
call() { # SERVICE METHOD JSON [TOKEN]
  "$rpcctl" --timeout 5000 ${4:+--token "$4"} call --service "$1" "$2" "$3"
}
register() { call auth /auth.v1.AuthService/Register "{\"username\":\"$1\",\"email\":\"$1@example.com\",$pw}"; }
login() { call auth /auth.v1.AuthService/Login "{\"username\":\"$1\",$pw}"; }
bad_login() {
  call auth /auth.v1.AuthService/Login "{\"username\":\"$1\",\"password\":\"wrong horse battery\"}"
}
refresh() { call auth /auth.v1.AuthService/Refresh "{\"refresh_token\":\"$1\"}"; }

# ---- Mail, the outbox and the Argon2 queue (svc-auth) --------------------
queued=$(at "$am" "auth_mails_total{$A,outcome=\"queued\"}")
sent=$(at "$am" "auth_mails_total{$A,outcome=\"sent\"}")
hashes=$(at "$am" "auth_argon2_queue_wait_seconds_count{$A}")
register ada >/dev/null || fail "register ada"
moved "a registration queues its mail" "$am" "auth_mails_total{$A,outcome=\"queued\"}" "$queued" 1
moved "the sender sends it" "$am" "auth_mails_total{$A,outcome=\"sent\"}" "$sent" 1
moved "a registration hashes through the gate" "$am" \
  "auth_argon2_queue_wait_seconds_count{$A}" "$hashes" 1
is "the Argon2 queue is empty" "$am" "auth_argon2_queue_depth{$A}" 0
is "the outbox is empty" "$am" "auth_mail_outbox_backlog{$A}" 0

sink_stop
failed=$(at "$am" "auth_mails_total{$A,outcome=\"failed\"}")
register bob >/dev/null || fail "register bob"
moved "a delivery to a sink that is down fails" "$am" \
  "auth_mails_total{$A,outcome=\"failed\"}" "$failed" 1
moved "the mail waits in the outbox" "$am" "auth_mail_outbox_backlog{$A}" 0 1
moved "the backlog ages" "$am" "auth_mail_outbox_oldest_age_seconds{$A}" 0 1
sent=$(at "$am" "auth_mails_total{$A,outcome=\"sent\"}")
sink_start
moved "the retry sends it" "$am" "auth_mails_total{$A,outcome=\"sent\"}" "$sent" 1
is "the outbox is empty again" "$am" "auth_mail_outbox_backlog{$A}" 0
is "no row waits" "$am" "auth_mail_outbox_oldest_age_seconds{$A}" 0
echo "ok: mails queued, sent, failed; outbox backlog; Argon2 queue"

# ---- Logins and the throttle ---------------------------------------------
L="auth_logins_total{$A,outcome="
ok=$(at "$am" "${L}\"success\"}")
bad=$(at "$am" "${L}\"bad_credentials\"}")
thr=$(at "$am" "${L}\"throttled\"}")
ref=$(at "$am" "auth_throttle_refusals_total{$A,limit=\"login_user\"}")
login ada >/dev/null || fail "login ada"
moved "a login" "$am" "${L}\"success\"}" "$ok" 1
for _ in 1 2 3; do
  bad_login ada >/dev/null 2>&1 && fail "a wrong password logged in"
done
moved "wrong passwords" "$am" "${L}\"bad_credentials\"}" "$bad" 3
bad_login ada >"$work/out" 2>&1 && fail "the fourth wrong password was not refused"
grep -q RESOURCE_EXHAUSTED "$work/out" || fail "the fourth attempt: $(cat "$work/out")"
moved "a throttled login" "$am" "${L}\"throttled\"}" "$thr" 1
moved "the refusal by its limit" "$am" "auth_throttle_refusals_total{$A,limit=\"login_user\"}" "$ref" 1
is "wrong passwords were not counted twice" "$am" "${L}\"bad_credentials\"}" $((bad + 3))

# Two-factor login: a ticket, a wrong code, the right one.
command -v oathtool >/dev/null || fail "oathtool is not installed (scripts/lib.sh lists it)"
register erin >/dev/null || fail "register erin"
etoken=$(login erin | jq -r .access_token) || fail "login erin"
secret=$(call auth /auth.v1.AuthService/EnrollTotp "{\"current_password\":\"correct horse battery\"}" \
  "$etoken" | jq -r .secret) || fail "EnrollTotp"
call auth /auth.v1.AuthService/ConfirmTotp "{\"code\":\"$(oathtool --totp -b "$secret")\"}" \
  "$etoken" >/dev/null || fail "ConfirmTotp"
need=$(at "$am" "${L}\"mfa_required\"}")
mfail=$(at "$am" "${L}\"mfa_failed\"}")
ok=$(at "$am" "${L}\"success\"}")
ticket=$(login erin | jq -r .mfa_ticket) || fail "login erin with two-factor login on"
moved "a login that needs its second factor" "$am" "${L}\"mfa_required\"}" "$need" 1
mfa() { call auth /auth.v1.AuthService/LoginMfa "{\"mfa_ticket\":\"$ticket\",\"code\":\"$1\"}"; }
mfa 000000 >/dev/null 2>&1 && fail "a wrong code was taken"
moved "a wrong code" "$am" "${L}\"mfa_failed\"}" "$mfail" 1
# The next step's code: the step of ConfirmTotp's code is used up.
mfa "$(oathtool --totp -b -N "@$(($(date +%s) + 30))" "$secret")" >/dev/null ||
  fail "LoginMfa with the right code"
moved "the second factor completes the login" "$am" "${L}\"success\"}" "$ok" 1
echo "ok: logins by outcome, throttle refusals by limit, second factors"

# ---- Refresh rotation and reuse -------------------------------------------
R="auth_refresh_total{$A,outcome="
rok=$(at "$am" "${R}\"success\"}")
rbad=$(at "$am" "${R}\"invalid\"}")
reuse=$(at "$am" "${R}\"reuse_detected\"}")
reuses=$(at "$am" "auth_refresh_reuse_detected_total{$A}")
r1=$(login bob | jq -r .refresh_token) || fail "login bob"
refresh "$r1" >/dev/null || fail "refresh"
moved "a rotation" "$am" "${R}\"success\"}" "$rok" 1
refresh "$r1" >/dev/null 2>&1 && fail "a rotated token was taken again"
moved "a reuse" "$am" "${R}\"reuse_detected\"}" "$reuse" 1
moved "the reuse counter" "$am" "auth_refresh_reuse_detected_total{$A}" "$reuses" 1
refresh "nosuchsession.secret" >/dev/null 2>&1 && fail "a made-up token was taken"
moved "an unknown token" "$am" "${R}\"invalid\"}" "$rbad" 1
echo "ok: refresh outcomes and reuse detections"

# ---- The profile cache and JWKS (svc-user) --------------------------------
P="user_profile_cache_total{$U,result="
register carol >/dev/null || fail "register carol"
token=$(login carol | jq -r .access_token) || fail "login carol"
miss=$(at "$um" "${P}\"miss\"}")
hit=$(at "$um" "${P}\"hit\"}")
perr=$(at "$um" "${P}\"error\"}")
id=$(call user /user.v1.UserService/GetProfile '{}' "$token" | jq -r .profile.user_id) ||
  fail "GetProfile"
moved "a first read misses" "$um" "${P}\"miss\"}" "$miss" 1
moved "svc-user fetched the keys" "$um" "jwks_refetches_total{$U,outcome=\"ok\"}" 0 1
call user /user.v1.UserService/GetProfile '{}' "$token" >/dev/null || fail "GetProfile again"
moved "a second read hits" "$um" "${P}\"hit\"}" "$hit" 1
redis-cli -p "$redis_port" SET "profile:$id" "not a profile" >/dev/null
call user /user.v1.UserService/GetProfile '{}' "$token" >/dev/null ||
  fail "GetProfile with a broken cache entry"
moved "a broken entry is an error" "$um" "${P}\"error\"}" "$perr" 1
echo "ok: profile cache hit, miss, error; JWKS fetches"

# ---- Audit rows (svc-admin) and PostgreSQL down and back -----------------
"$build/svc-auth/svc-auth" promote-admin carol >/dev/null 2>&1 || fail "promote-admin"
admin=$(login carol | jq -r .access_token) || fail "login carol as admin"
W="admin_audit_rows_total{$D,outcome="
written=$(at "$dm" "${W}\"written\"}")
call admin /admin.v1.AdminService/ListUsers '{}' "$admin" >/dev/null || fail "ListUsers"
moved "an admin call writes its row" "$dm" "${W}\"written\"}" "$written" 1
moved "svc-admin fetched the keys" "$dm" "jwks_refetches_total{$D,outcome=\"ok\"}" 0 1
bob=$(call admin /admin.v1.AdminService/ListUsers '{}' "$admin" |
  jq -r '.users[] | select(.username == "bob") | .id') || fail "ListUsers"
call admin /admin.v1.AdminService/UpdateUser "{\"id\":\"$bob\",\"status\":\"USER_STATUS_DISABLED\"}" \
  "$admin" >/dev/null || fail "disable bob"
moved "a change writes its row" "$dm" "${W}\"written\"}" "$written" 3
dis=$(at "$am" "${L}\"disabled\"}")
login bob >/dev/null 2>&1 && fail "a disabled user logged in"
moved "a disabled user's login" "$am" "${L}\"disabled\"}" "$dis" 1

lost=$(at "$dm" "${W}\"failed\"}")
down=$(at "$dm" "pg_statements_total{$D,outcome=\"unavailable\"}")
aerr=$(at "$am" "${L}\"error\"}")
re_auth=$(at "$am" "pg_reconnects_total{$A}")
re_admin=$(at "$dm" "pg_reconnects_total{$D}")
_as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast -w -t 60 stop >/dev/null || fail "pg_ctl stop"
call admin /admin.v1.AdminService/ListUsers '{}' "$admin" >/dev/null 2>&1 &&
  fail "ListUsers answered without its audit log"
moved "a row the log did not take" "$dm" "${W}\"failed\"}" "$lost" 1
moved "statements without a server" "$dm" "pg_statements_total{$D,outcome=\"unavailable\"}" "$down" 1
login nobody >/dev/null 2>&1 && fail "a login without authdb"
moved "a login without its database" "$am" "${L}\"error\"}" "$aerr" 1
_as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w -t 60 start >/dev/null ||
  fail "pg_ctl start"
sleep 0.6 # past the handles' reconnect pause
call admin /admin.v1.AdminService/ListUsers '{}' "$admin" >/dev/null || fail "ListUsers after the restart"
login carol >/dev/null || fail "login after the restart"
moved "svc-admin reconnected" "$dm" "pg_reconnects_total{$D}" "$re_admin" 1
moved "svc-auth reconnected" "$am" "pg_reconnects_total{$A}" "$re_auth" 1
moved "svc-auth has connections" "$am" "pg_connections{$A}" 0 1
moved "svc-auth's statements" "$am" "pg_statements_total{$A,outcome=\"ok\"}" 0 1
moved "their latency" "$am" "pg_statement_duration_seconds_count{$A}" 0 1
echo "ok: audit rows written and failed; PostgreSQL statements, connections, reconnects"

# ---- Redis killed and back -------------------------------------------------
rre=$(at "$um" "redis_reconnects_total{$U}")
rdown=$(at "$am" "redis_commands_total{$A,outcome=\"unavailable\"}")
kill -KILL "$(cat "$work/redis/redis.pid")"
while [[ $(timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]]; do sleep 0.05; done
login nobody >/dev/null 2>&1 && fail "a login without Redis"
moved "commands without a server" "$am" "redis_commands_total{$A,outcome=\"unavailable\"}" "$rdown" 1
# As store_restart.sh: not redis_start, whose free-port check sees the
# killed server's half-closed connections.
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" \
  --daemonize yes --pidfile "$work/redis/redis.pid" \
  --logfile "$work/redis/redis.log" --save "" --appendonly no >/dev/null
for _ in $(seq 250); do
  [[ $(timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]] && break
  sleep 0.02
done
sleep 0.6
call user /user.v1.UserService/GetProfile '{}' "$token" >/dev/null || fail "GetProfile after Redis came back"
moved "svc-user reconnected to Redis" "$um" "redis_reconnects_total{$U}" "$rre" 1
moved "svc-user has Redis connections" "$um" "redis_connections{$U}" 0 1
moved "svc-user's commands" "$um" "redis_commands_total{$U,outcome=\"ok\"}" 0 1
moved "their latency" "$um" "redis_command_duration_seconds_count{$U}" 0 1
echo "ok: Redis commands, connections, reconnects"
echo "PASS: service metrics"
