#!/usr/bin/env bash
# Real restarts of PostgreSQL (pg_ctl restart -m fast) and Redis (kill -9,
# then a new redis-server on the same port) under svc-auth and svc-user:
# once the server is back, no call fails and Health answers SERVING at
# once. Each scenario runs on a quiet stack and under load (calls in flight
# through the restart); a last kill of Redis comes while GetProfile reads
# wait on svc-user's pipelined connection. The test starts its OWN PostgreSQL and Redis on free
# ports in a throwaway directory: ctest runs other tests in parallel against
# the suite's servers, which a restart would break.
# Usage: store_restart.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd -P)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
install_cleanup_traps
stop_pid() { kill -TERM "$1" 2>/dev/null || true; }

rpcctl=$build/cli/rpcctl
work=$(mktemp -d /tmp/store-restart.XXXXXX)
chmod 755 "$work"
add_cleanup rm -rf "$work"
pg_port=$(free_port)
add_cleanup pg_stop "$work/pg"
pg_start "$work/pg" "$pg_port" --fast 2>/dev/null
redis_port=$(free_port "$pg_port")
add_cleanup redis_stop "$redis_port" "$work/redis"
redis_start "$work/redis" "$redis_port" 2>/dev/null
pg_psql "$pg_port" -d postgres -c "CREATE DATABASE authdb" -c "CREATE DATABASE apidb"
pg_bin=$(pg_bindir)

auth_port=$(free_port "$pg_port" "$redis_port")
user_port=$(free_port "$pg_port" "$redis_port" "$auth_port")
export AUTH_RPC_DIAL=tcp://127.0.0.1:$auth_port USER_RPC_DIAL=tcp://127.0.0.1:$user_port
# Four clients may log in at once: two hash, two wait in the hash gate's
# queue (with fewer workers svc-auth shortens the queue and refuses the
# fourth with RESOURCE_EXHAUSTED, which is the gate working, not a fault).
export REDIS_URL=redis://127.0.0.1:$redis_port/0 LOG_LEVEL=warn RPC_WORKERS=8 \
  AUTH_HASH_CONCURRENCY=2 AUTH_HASH_QUEUE=4
export AUTH_KEK
AUTH_KEK=$(head -c 32 /dev/urandom | base64)
AUTH_ARGON2_M_KIB=8192 AUTH_ARGON2_T=1 AUTH_LOGIN_MAX_PER_IP=1000000 \
  AUTH_LOGIN_MAX_PER_USER=100000 AUTH_RPC_LISTEN=$AUTH_RPC_DIAL \
  AUTH_DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/authdb \
  "$build/svc-auth/svc-auth" 2>"$work/auth.log" &
auth_pid=$!
add_cleanup stop_pid "$auth_pid"
USER_RPC_LISTEN=$USER_RPC_DIAL \
  USER_DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/apidb \
  "$build/svc-user/svc-user" 2>"$work/user.log" &
user_pid=$!
add_cleanup stop_pid "$user_pid"

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/load.*; do
    [[ -e $f ]] && { echo "--- $f (failed calls)"; awk '$3 != 0' "$f" | head -n 20; } >&2
  done
  echo "--- svc-auth log" >&2
  tail -n 30 "$work/auth.log" >&2 || true
  echo "--- svc-user log" >&2
  tail -n 30 "$work/user.log" >&2 || true
  exit 1
}

for i in $(seq 151); do
  ((i <= 150)) || fail "the services did not start"
  "$rpcctl" --timeout 1000 health --service auth --service user >/dev/null 2>&1 && break
  sleep 0.2
done

now_us() { echo "${EPOCHREALTIME/./}"; }

register() { # NAME
  "$rpcctl" call --service auth /auth.v1.AuthService/Register \
    "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"correct horse battery\"}" >/dev/null
}
login() { # NAME: prints an access token
  "$rpcctl" call --service auth /auth.v1.AuthService/Login \
    "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" | jq -r .access_token
}
get_profile() { # TOKEN
  "$rpcctl" --token "$1" call --service user /user.v1.UserService/GetProfile >/dev/null
}
uncache() { # drops the profile cache so GetProfile reads PostgreSQL
  redis-cli -p "$redis_port" --scan --pattern 'profile:*' |
    xargs -r redis-cli -p "$redis_port" DEL >/dev/null
}

for i in 1 2 3 4; do
  register "user$i" || fail "register user$i"
  token[i]=$(login "user$i") || fail "login user$i"
  get_profile "${token[i]}" || fail "GetProfile user$i"
done

pg_restart() {
  _as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -m fast -w -t 60 \
    restart >/dev/null || fail "pg_ctl restart"
}
redis_restart() {
  kill -KILL "$(cat "$work/redis/redis.pid")"
  while [[ $(timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]]; do
    sleep 0.05
  done
  # Not redis_start: the killed server's ends of the services' connections
  # still hold the port (FIN-WAIT-2) until the services close theirs, which
  # its free-port check counts as taken. redis-server binds with
  # SO_REUSEADDR.
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" \
    --daemonize yes --pidfile "$work/redis/redis.pid" \
    --logfile "$work/redis/redis.log" --save "" --appendonly no >/dev/null
  for _ in $(seq 250); do
    [[ $(timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]] && return 0
    sleep 0.02
  done
  fail "redis-server did not come back"
}

# health_at_once: the first Health probe of both services once the server
# is back answers SERVING (no probe is needed to repair a connection);
# prints how long the probe took.
health_at_once() {
  local t0
  t0=$(now_us)
  "$rpcctl" --timeout 5000 health --service auth --service user >/dev/null 2>&1 ||
    fail "the first Health probe after the server was back was not SERVING"
  echo "$((($(now_us) - t0) / 1000)) ms"
}

# quiet RESTART-FUNCTION NAME: restarts a server while nothing calls, then
# every call succeeds at the first try, on every worker (eight of each).
quiet() {
  local restart=$1 name=$2 ms i
  uncache
  $restart
  ms=$(health_at_once)
  echo "$name, quiet: first Health probe SERVING in $ms"
  for i in $(seq 8); do
    "$rpcctl" --timeout 1000 health --service auth --service user >/dev/null ||
      fail "$name, quiet: Health probe $i not SERVING"
  done
  for i in $(seq 8); do
    uncache
    get_profile "${token[1 + i % 4]}" || fail "$name, quiet: GetProfile $i failed"
    login "user$((1 + i % 4))" >/dev/null || fail "$name, quiet: Login $i failed"
  done
  register "quiet_${name}" || fail "$name, quiet: a registration failed"
}

# load_loop N: calls Login and GetProfile (a cache miss every other time)
# until $work/stop exists; one line per call: start end status.
load_loop() {
  local n=$1 out=$work/load.$1 t0 rc
  while [[ ! -e $work/stop ]]; do
    t0=$(now_us)
    rc=0
    login "user$n" >/dev/null 2>&1 || rc=$?
    echo "$t0 $(now_us) $rc login" >>"$out"
    t0=$(now_us)
    rc=0
    if ((n % 2 == 0)); then uncache 2>/dev/null || true; fi
    get_profile "${token[n]}" 2>/dev/null || rc=$?
    echo "$t0 $(now_us) $rc profile" >>"$out"
  done
}

# loaded RESTART-FUNCTION NAME: restarts a server while four clients call
# without pause; the calls started once it is back all succeed.
loaded() {
  local restart=$1 name=$2 pids=() i t_down t_back bad n_after n_during ms
  rm -f "$work"/load.* "$work/stop"
  for i in 1 2 3 4; do
    load_loop "$i" &
    pids+=($!)
  done
  sleep 1
  t_down=$(now_us)
  $restart
  t_back=$(now_us)
  ms=$(health_at_once)
  sleep 1.5
  touch "$work/stop"
  wait "${pids[@]}"
  bad=$(cat "$work"/load.* | awk -v b="$t_back" '$1 >= b && $3 != 0' | wc -l)
  n_after=$(cat "$work"/load.* | awk -v b="$t_back" '$1 >= b' | wc -l)
  n_during=$(cat "$work"/load.* | awk -v d="$t_down" -v b="$t_back" '$1 < b && $2 > d' | wc -l)
  echo "$name, under load: $n_during calls in flight during the restart" \
    "($(cat "$work"/load.* | awk -v b="$t_back" '$1 < b && $3 != 0' | wc -l) failed)," \
    "$n_after after it, $bad of them failed; first Health probe SERVING in $ms"
  ((n_during > 0)) || fail "$name, under load: no call was in flight during the restart"
  ((n_after >= 8)) || fail "$name, under load: too few calls after the restart ($n_after)"
  ((bad == 0)) || fail "$name, under load: $bad calls failed after the server was back"
  register "loaded_${name}" || fail "$name, under load: a registration after it failed"
}

# mid_read: GetProfile's reads wait on svc-user's pipelined Redis
# connection (CLIENT PAUSE holds every command) when Redis is killed: each
# such call is refused UNAVAILABLE with the store's message (none hangs,
# none fails another way), and the calls after the restart succeed.
mid_read() {
  local i pids=() refused=0
  rm -f "$work"/mid.*
  redis-cli -p "$redis_port" CLIENT PAUSE 10000 ALL >/dev/null
  for i in $(seq 12); do
    {
      rc=0
      "$rpcctl" --timeout 5000 --token "${token[1 + i % 4]}" call --service user \
        /user.v1.UserService/GetProfile >/dev/null 2>"$work/mid.$i" || rc=$?
      echo "rc=$rc" >>"$work/mid.$i"
    } &
    pids+=($!)
  done
  # Time for some of the 12 (sanitized processes, each a TLS handshake) to
  # reach the paused Redis; a paused Redis cannot be asked which have.
  sleep 1.5
  redis_restart
  wait "${pids[@]}"
  for i in $(seq 12); do
    [[ $(tail -n 1 "$work/mid.$i") == rc=0 ]] && continue
    grep -q "session store is unavailable" "$work/mid.$i" ||
      fail "a GetProfile waiting on the killed Redis failed otherwise: $(cat "$work/mid.$i")"
    refused=$((refused + 1))
  done
  ((refused > 0)) || fail "no GetProfile was waiting on Redis when it was killed"
  for i in $(seq 8); do
    get_profile "${token[1 + i % 4]}" || fail "GetProfile $i after the restart failed"
  done
  echo "redis killed under waiting reads: $refused of 12 refused UNAVAILABLE; the calls after it succeeded"
}

quiet pg_restart postgres
loaded pg_restart postgres
quiet redis_restart redis
loaded redis_restart redis
mid_read
echo "PASS"
