# Sourced by the shell tests that start the services: gives each a database
# of its own on the test PostgreSQL, the test Redis and a fresh KEK. Needs the
# variables scripts/test.sh exports; call svc_env_cleanup on exit.
svc_env_db=""

# free_port: a free port, reserved for this test (scripts/ports.sh).
# shellcheck source=scripts/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/ports.sh"

# eventually SECONDS COMMAND...: runs COMMAND until it succeeds, for at most
# SECONDS. For what a process does after what the test saw: a log line
# written after the database change or the HTTP answer the test waited for.
eventually() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

svc_env_setup() {
  : "${TEST_PG_PORT:?run the tests with scripts/test.sh (TEST_PG_PORT is not set)}"
  : "${TEST_REDIS_URL:?run the tests with scripts/test.sh (TEST_REDIS_URL is not set)}"
  svc_env_db="shtest_$$_$RANDOM"
  # One database per service, as in production: each keeps its own
  # schema_migrations.
  for db in "$svc_env_db" "${svc_env_db}_user" "${svc_env_db}_admin"; do
    psql -q -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres -d postgres \
      -c "CREATE DATABASE $db" >/dev/null
  done
  export AUTH_DATABASE_URL="postgresql://postgres@127.0.0.1:$TEST_PG_PORT/$svc_env_db"
  export USER_DATABASE_URL="postgresql://postgres@127.0.0.1:$TEST_PG_PORT/${svc_env_db}_user"
  export ADMIN_DATABASE_URL="postgresql://postgres@127.0.0.1:$TEST_PG_PORT/${svc_env_db}_admin"
  # A Redis database of the test's own, empty: the throttle counters one
  # test fills for 127.0.0.1 and its usernames must not reach a test
  # running beside it (its _single twin uses the same names).
  svc_env_redis_db || return 1
  export TEST_REDIS_URL="$svc_env_redis_url" REDIS_URL="$svc_env_redis_url"
  # Every test registers from 127.0.0.1 into one Redis, in parallel: the
  # per-address registration throttle would add them all up.
  export AUTH_REGISTER_MAX_PER_IP="${AUTH_REGISTER_MAX_PER_IP:-100000}"
  AUTH_KEK=$(head -c 32 /dev/urandom | base64)
  export AUTH_KEK
}

# svc_env_redis_db: reserves an empty database of the test Redis (1-15; the
# C tests use 0) for this test until svc_env_cleanup, with the reservations
# of scripts/ports.sh, and sets svc_env_redis_url to it. Call it in the
# test's shell, not in $(...): the reservation is remembered for cleanup.
svc_env_redis_dbs=()
svc_env_redis_url=""
svc_env_redis_db() {
  : "${TEST_REDIS_PORT:?run the tests with scripts/test.sh (TEST_REDIS_PORT is not set)}"
  local n
  mkdir -p "$PORT_RESERVE_DIR" 2>/dev/null || true
  for n in $(seq 1 15); do
    port_reserve "redis-$TEST_REDIS_PORT-db$n" || continue
    svc_env_redis_dbs+=("$PORT_RESERVE_DIR/redis-$TEST_REDIS_PORT-db$n")
    svc_env_redis_url="redis://127.0.0.1:$TEST_REDIS_PORT/$n"
    redis-cli -u "$svc_env_redis_url" FLUSHDB >/dev/null
    return 0
  done
  echo "FAIL: every database of the test Redis is taken by a running test" >&2
  return 1
}

svc_env_cleanup() {
  local d
  for d in "${svc_env_redis_dbs[@]}"; do rmdir "$d" 2>/dev/null || true; done
  svc_env_redis_dbs=()
  [[ -n $svc_env_db ]] || return 0
  for db in "$svc_env_db" "${svc_env_db}_user" "${svc_env_db}_admin"; do
    psql -q -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres -d postgres \
      -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
