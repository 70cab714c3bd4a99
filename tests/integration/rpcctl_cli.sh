#!/usr/bin/env bash
# rpcctl against a real svc-auth and svc-user: every command, the exit
# status of every class of error (with nothing on stdout), "did you mean",
# and agreement with protoc: --output binary decoded by `protoc --decode`
# equals --output text, and a request made by `protoc --encode` goes in
# with --input binary. Usage: rpcctl_cli.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
auth_pid=
user_pid=
# shellcheck source=tests/integration/svc_env.sh
source "$here/svc_env.sh"
cleanup() {
  [[ -n $user_pid ]] && kill -TERM "$user_pid" 2>/dev/null && wait "$user_pid" 2>/dev/null
  [[ -n $auth_pid ]] && kill -TERM "$auth_pid" 2>/dev/null && wait "$auth_pid" 2>/dev/null
  svc_env_cleanup
  rm -rf "$tmp"
}
trap cleanup EXIT
svc_env_setup

command -v protoc >/dev/null || { echo "FAIL: protoc is not installed (protobuf-compiler)" >&2; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed" >&2; exit 1; }
rpcctl=$build/cli/rpcctl
proto=(-I "$src/proto" -I /usr/include)
passed=0

auth_port=$(free_port)
user_port=$(free_port)
dead_port=$(free_port) # nothing listens here
export AUTH_ARGON2_M_KIB=8192 AUTH_ARGON2_T=1 LOG_LEVEL=warn
AUTH_RPC_LISTEN=tcp://127.0.0.1:$auth_port "$build/svc-auth/svc-auth" 2>"$tmp/auth.log" &
auth_pid=$!
AUTH_RPC_DIAL=tcp://127.0.0.1:$auth_port USER_RPC_LISTEN=tcp://127.0.0.1:$user_port \
  "$build/svc-user/svc-user" 2>"$tmp/user.log" &
user_pid=$!
export AUTH_RPC_DIAL=tcp://127.0.0.1:$auth_port
export USER_RPC_DIAL=tcp://127.0.0.1:$user_port
export ADMIN_RPC_DIAL=tcp://127.0.0.1:$dead_port
unset RPCCTL_TOKEN AUTH_RPC_LISTEN USER_RPC_LISTEN ADMIN_RPC_LISTEN
for _ in $(seq 150); do
  "$rpcctl" --timeout 1000 health --service auth --service user >/dev/null 2>&1 && break
  sleep 0.2
done

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout" >&2
  head -c 4000 "$tmp/out" >&2 || true
  echo "--- stderr" >&2
  head -c 4000 "$tmp/err" >&2 || true
  echo "--- svc-auth log" >&2
  tail -n 20 "$tmp/auth.log" >&2 || true
  exit 1
}

# run WANT ARGS...: runs rpcctl ARGS (stdin from $stdin_file when set),
# stdout to $tmp/out, stderr to $tmp/err, and checks the exit status. An
# error must leave stdout empty.
stdin_file=/dev/null
run() {
  local want=$1 got=0
  shift
  "$rpcctl" "$@" <"$stdin_file" >"$tmp/out" 2>"$tmp/err" || got=$?
  ((got == want)) || fail "rpcctl $* exited $got, expected $want"
  if ((want != 0)) && [[ -s $tmp/out ]]; then
    fail "rpcctl $* printed on stdout although it failed"
  fi
  passed=$((passed + 1))
}
out_has() { grep -qF -- "$1" "$tmp/out" || fail "stdout lacks: $1"; }
err_has() { grep -qF -- "$1" "$tmp/err" || fail "stderr lacks: $1"; }

# --- health ----------------------------------------------------------------
run 0 health --service auth --service user
out_has "auth   SERVING"
out_has "user   SERVING"
run 5 health --service admin # nothing listens on its URL
err_has "admin: UNAVAILABLE"
run 5 --url "tcp://127.0.0.1:$dead_port" --timeout 1000 health
run 0 --url "tcp://127.0.0.1:$auth_port" health
# Without *_RPC_DIAL the services' own listen variables are used, a
# wildcard host dialed as loopback.
env -u AUTH_RPC_DIAL AUTH_RPC_LISTEN="tcp://0.0.0.0:$auth_port" \
  "$rpcctl" health --service auth >"$tmp/out" 2>"$tmp/err" || fail "health from AUTH_RPC_LISTEN"
out_has "auth   SERVING"

# --- list and describe --------------------------------------------------------
run 0 list
out_has "auth.v1.AuthService (auth)"
out_has "  /auth.v1.AuthService/Login(auth.v1.LoginRequest) returns (auth.v1.TokenResponse)"
out_has "  /core.v1.Health/Check(core.v1.HealthCheckRequest) returns (core.v1.HealthCheckResponse)"
n_methods=$(grep -c '^  /' "$tmp/out")
run 0 list --names
grep -qx '/user.v1.UserService/GetProfile' "$tmp/out" || fail "list --names lacks GetProfile"
[[ $(wc -l <"$tmp/out") -eq $n_methods ]] || fail "list --names: not one method per line"
run 0 list --short-names user
[[ $(cat "$tmp/out") == $'user.GetProfile\nuser.UpdateProfile\nuser.DeleteProfile' ]] || fail "list --short-names user"
run 3 list usr
err_has 'unknown service "usr"; did you mean: user'

run 0 describe auth
out_has "service auth.v1.AuthService {"
out_has "  rpc Login(auth.v1.LoginRequest) returns (auth.v1.TokenResponse);"
run 0 describe user.UpdateProfile
out_has "rpc /user.v1.UserService/UpdateProfile(user.v1.UpdateProfileRequest) returns (user.v1.UpdateProfileResponse)"
out_has "message user.v1.UpdateProfileRequest {"
out_has "  oneof {"
out_has "    string display_name = 1;"
out_has "    int64 expected_version = 5;"
out_has "  user.v1.Profile profile = 1;"
run 0 describe auth.v1.AdminGetUserResponse
out_has "  repeated auth.v1.Session sessions = 2;"
run 0 describe auth.v1.User
out_has "  auth.v1.Role role = 4;"
out_has "  google.protobuf.Timestamp created_at = 6;"
out_has "enum auth.v1.Role {"
out_has "  ROLE_ADMIN = 2;"
run 0 describe LoginRequest # a unique short name
out_has "message auth.v1.LoginRequest {"
run 3 describe auth.v1.Usr
err_has "did you mean: auth.v1.User"

# --- call: names and request sources -------------------------------------------
run 0 call /auth.v1.AuthService/Register \
  '{"username":"ada","email":"ada@example.com","password":"correct horse battery"}'
[[ $(jq -r .user.username "$tmp/out") == ada ]] || fail "Register did not answer the user"
run 0 call auth.Register '{"username":"bob","email":"bob@example.com","password":"correct horse battery"}'
printf '{"username": "ada",\n "password": "correct horse battery"}\n' >"$tmp/login.json"
run 0 call auth.Login "@$tmp/login.json"
user_token=$(jq -r .access_token "$tmp/out")
[[ $user_token == ey* ]] || fail "no access token"
stdin_file=$tmp/login.json run 0 call AuthService.Login -
out_has '"token_type": "Bearer"'
run 0 call auth.v1.AuthService.GetJwks
run 0 call core.v1.Health/Check --service user '{}'
out_has '"status": "SERVING"'

# --- every exit status class; stdout stays empty -------------------------------
run 2 call                             # usage: no method
err_has "usage: rpcctl call METHOD"
run 2 frobnicate
run 2 --output xml call auth.GetJwks
run 2 call auth.GetJwks --names
run 2 call core.v1.Health/Check        # served by every service: which?
run 2 --timeout soon call auth.GetJwks
run 3 call auth.Logn '{}'              # unknown method, close matches
err_has 'unknown method "auth.Logn"; did you mean: auth.Login'
run 3 call /auth.v1.AuthService/GetJwk
err_has "did you mean: /auth.v1.AuthService/GetJwks"
run 3 call auth.Login '{"username":"x",'
err_has "invalid JSON at line 1, column 16"
run 3 call auth.Login $'{\n  "username": "x"\n  "password": "y"}'
err_has "invalid JSON at line 3, column"
run 3 call auth.Login '{"usernme":"ada"}'
err_has 'usernme: unknown field "usernme"'
run 3 call auth.Login "@$tmp/no-such-file.json"
run 3 call auth.Register '{"username":"x","email":"not-an-email","password":"correct horse battery"}'
err_has "INVALID_ARGUMENT"
run 4 call user.GetProfile             # no token
err_has "UNAUTHENTICATED"
run 4 call auth.ListSessions
err_has "UNAUTHENTICATED"
run 4 --token not-a-token call user.GetProfile
run 5 --url "tcp://127.0.0.1:$dead_port" --timeout 1000 call auth.GetJwks
err_has "UNAVAILABLE"
run 1 call auth.Register '{"username":"ada","email":"ada@example.com","password":"correct horse battery"}'
err_has "ALREADY_EXISTS"

# --- tokens and metadata -----------------------------------------------------------
run 0 --token "$user_token" call user.GetProfile
out_has '"username": "ada"'
RPCCTL_TOKEN=$user_token run 0 call auth.ListSessions
out_has '"current": true'
run 0 --token "Bearer $user_token" call user.GetProfile
run 0 --meta "Authorization=Bearer $user_token" --meta request-id=rpcctl-test call user.GetProfile
run 2 --token "$user_token" --meta "authorization=Bearer $user_token" call user.GetProfile

# --- output formats agree with protoc ------------------------------------------------
decode() { protoc "${proto[@]}" --decode="$1" "$2"; }
run 0 call auth.GetJwks --output binary
decode auth.v1.GetJwksResponse auth/v1/auth.proto <"$tmp/out" >"$tmp/protoc.txt"
run 0 call auth.GetJwks --output text
cmp -s "$tmp/out" "$tmp/protoc.txt" || fail "--output text differs from protoc --decode"
grep -q '^  kty: "OKP"$' "$tmp/out" || fail "text format lacks the key"
grep -qF 'json: "{\"keys\":[' "$tmp/out" || fail "text format does not escape quotes"
# Non-ASCII, quotes, a backslash, a newline and a tab: escaped as protoc does.
run 0 --token "$user_token" call user.UpdateProfile \
  '{"display_name":"Ada Lovelace é \"A\" '\''L'\''","bio":"line one\nline\ttwo \\ end"}'
run 0 --token "$user_token" call user.GetProfile -o binary
decode user.v1.GetProfileResponse user/v1/user.proto <"$tmp/out" >"$tmp/protoc.txt"
run 0 --token "$user_token" call user.GetProfile -o text
cmp -s "$tmp/out" "$tmp/protoc.txt" || fail "GetProfile: --output text differs from protoc --decode"
out_has "display_name: \"Ada Lovelace \\303\\251 \\\"A\\\" \\'L\\'\""
out_has 'bio: "line one\nline\ttwo \\ end"'
out_has "  created_at {"

# A request encoded by protoc goes in with --input binary.
printf 'username: "ada"\npassword: "correct horse battery"\n' |
  protoc "${proto[@]}" --encode=auth.v1.LoginRequest auth/v1/auth.proto >"$tmp/login.bin"
run 0 call auth.Login --input binary "@$tmp/login.bin"
[[ $(jq -r .token_type "$tmp/out") == Bearer ]] || fail "--input binary login"
stdin_file=$tmp/login.bin run 0 call auth.Login --input binary -o text
out_has 'token_type: "Bearer"'
printf '\377\377\377' >"$tmp/garbage.bin"
run 3 call auth.Login --input binary "@$tmp/garbage.bin"
err_has "not a valid auth.v1.LoginRequest"
run 2 call auth.Login --input binary '{}'

# --- keys: an admin may, a user may not --------------------------------------------
run 4 keys list
err_has "UNAUTHENTICATED"
run 4 --token "$user_token" keys list
err_has "PERMISSION_DENIED"
run 4 --token "$user_token" keys rotate
err_has "PERMISSION_DENIED"
"$build/svc-auth/svc-auth" promote-admin ada >"$tmp/promote.out" 2>&1 ||
  { cat "$tmp/promote.out" >&2; fail "svc-auth promote-admin ada"; }
run 0 call auth.Login "@$tmp/login.json"
admin_token=$(jq -r .access_token "$tmp/out")
export RPCCTL_TOKEN=$admin_token
run 0 keys list
out_has "KID"
first_kid=$(awk 'NR == 2 {print $1}' "$tmp/out")
[[ $(awk 'NR == 2 {print $2}' "$tmp/out") == yes ]] || fail "the only key is not active"
run 0 keys rotate
out_has "new active signing key: "
new_kid=$(sed -n 's/^new active signing key: \([^ ]*\) .*/\1/p' "$tmp/out")
[[ -n $new_kid && $new_kid != "$first_kid" ]] || fail "rotate did not make a new key"
run 0 keys list --output json
[[ $(jq -r '.keys[] | select(.active) | .kid' "$tmp/out") == "$new_kid" ]] || fail "new key not active"
[[ $(jq -r --arg k "$first_kid" '.keys[] | select(.kid == $k) | .retire_after' "$tmp/out") == 20* ]] ||
  fail "old key has no retire_after"
run 0 keys list --output binary
decode auth.v1.ListKeysResponse auth/v1/auth.proto <"$tmp/out" >"$tmp/protoc.txt"
run 0 keys list --output text
cmp -s "$tmp/out" "$tmp/protoc.txt" || fail "keys list: --output text differs from protoc --decode"
run 2 keys rotat
err_has "did you mean: rotate"
run 2 --service user keys list
# After a leak: a new key, and the one it replaces retired at once.
run 0 call auth.RotateKeys '{"retire_previous": true}'
run 0 keys list --output json
[[ -z $(jq -r --arg k "$new_kid" '.keys[] | select(.kid == $k) | .kid' "$tmp/out") ]] ||
  fail "RotateKeys retire_previous left the previous key published"
[[ $(jq -r '.keys[] | select(.active) | .kid' "$tmp/out") != "$new_kid" ]] || fail "no new active key"
unset RPCCTL_TOKEN

# --- help and completion -------------------------------------------------------------
for c in call health keys list describe help; do
  run 0 "$c" --help
  out_has "usage: rpcctl"
done
run 0 call --help
out_has "Examples:"
run 0 help keys
out_has "rotate"
run 0 --help
out_has "Exit status"
words=$(bash -c 'source "$1/cli/rpcctl.bash-completion"
  COMP_WORDS=("$2" call auth.Lo); COMP_CWORD=2; _rpcctl; echo "${COMPREPLY[*]}"' _ "$src" "$rpcctl")
[[ $words == "auth.Login auth.Logout auth.LoginMfa" ]] || fail "completion of auth.Lo gave: $words"
passed=$((passed + 1))

echo "rpcctl_cli: $passed passed, 0 failed"
