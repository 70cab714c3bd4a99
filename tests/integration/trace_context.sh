#!/usr/bin/env bash
# W3C trace context across the whole stack: an admin deleting a user goes
# edge -> svc-admin -> svc-auth -> svc-user; its traceparent's trace id is
# in the log of every one of them (each hop a span of its own) and in the
# response's traceparent. A malformed, uppercase or repeated traceparent
# starts a new trace (never an error), and two requests without one get
# different traces. A mail queued by a request is delivered later by
# svc-auth's sender, whose lines carry the trace of that request. Every
# process logs at debug: the RPC server's line per call and the edge's per
# request. Usage: trace_context.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
# shellcheck source=tests/integration/edge_env.sh
source "$here/edge_env.sh"
# shellcheck source=tests/integration/mail_env.sh
source "$here/mail_env.sh"
passed=0
failed=0
check() { # NAME COMMAND...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}

export SVC_LOG_LEVEL=debug
mail_env_setup "$tmp"
edge_env_start "$build" "$tmp" LOG_LEVEL=debug EDGE_CORS_ORIGINS=https://app.example
base=$edge_base
json=(-H 'Content-Type: application/json')
req() { # OUT CURL_ARGS... -> status; body in $tmp/OUT, headers in $tmp/OUT.h
  local out=$1
  shift
  curl -s -o "$tmp/$out" -D "$tmp/$out.h" -w '%{http_code}' "$@" || true
}
field() { sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" "$tmp/$1"; } # FILE KEY
# The traceparent response header of OUT ("" when none).
traceparent() { tr -d '\r' <"$tmp/$1.h" | sed -n 's/^traceparent: //Ip'; }
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; } # BYTES -> 2*BYTES hex
register() { req "reg_$1" -X POST "${json[@]}" \
  -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"correct horse battery\"}" "$base/register" >/dev/null; }
login() { # USER -> access token
  req "login_$1" -X POST "${json[@]}" -d "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" \
    "$base/login" >/dev/null
  field "login_$1" access_token
}
# Whether the log of PROCESS (auth, user, admin, edge) has a line of that
# service in trace TRACE_ID that matches PATTERN (a fixed string; "" any).
in_log() { # PROCESS SERVICE TRACE_ID [PATTERN]
  grep -F "\"trace_id\":\"$3\"" "$tmp/$1.log" | grep -F "\"service\":\"$2\"" | grep -qF -- "${4:-}"
}
# The span ids of SERVICE's lines in trace TRACE_ID, one per line.
spans() { # PROCESS SERVICE TRACE_ID
  grep -F "\"trace_id\":\"$3\"" "$tmp/$1.log" | grep -F "\"service\":\"$2\"" |
    sed -n 's/.*"span_id":"\([0-9a-f]*\)".*/\1/p' | sort -u
}

register boss
register carol
"$build/svc-auth/svc-auth" promote-admin boss >"$tmp/promote.out" 2>&1
admin=$(login boss)
A=(-H "Authorization: Bearer $admin")
carol_id=$(field reg_carol id)
check "the admin has a token" test -n "$admin"

# ---- One request through every process -------------------------------------
trace=$(hex 16)
parent=$(hex 8)
code=$(req del -X DELETE "${A[@]}" -H "traceparent: 00-$trace-$parent-01" "$base/admin/users/$carol_id")
check "the admin deletes carol: 200" test "$code" = 200
tp=$(traceparent del)
check "the response carries the trace back ($tp)" \
  grep -qE "^00-$trace-[0-9a-f]{16}-01$" <<<"$tp"
edge_span=$(cut -d- -f3 <<<"$tp")
check "with the edge's own span, not the caller's" test "$edge_span" != "$parent"
# Each process logs a call before its answer, the edge a request after.
check "the edge's log has the request in the trace" \
  eventually 10 in_log edge edge "$trace" "\"span_id\":\"$edge_span\""
rid=$(tr -d '\r' <"$tmp/del.h" | sed -n 's/^X-Request-Id: //Ip')
check "and with the request id" eventually 10 in_log edge edge "$trace" "\"request_id\":\"$rid\""
check "svc-admin's log has DeleteUser in the trace" \
  eventually 10 in_log admin svc-admin "$trace" '"method":"/admin.v1.AdminService/DeleteUser"'
check "svc-auth's log has AdminDeleteUser in the trace" \
  eventually 10 in_log auth svc-auth "$trace" '"method":"/auth.v1.AuthService/AdminDeleteUser"'
check "svc-user's log has DeleteProfile in the trace" \
  eventually 10 in_log user svc-user "$trace" '"method":"/user.v1.UserService/DeleteProfile"'
all_spans=$( (spans edge edge "$trace" && spans admin svc-admin "$trace" &&
  spans auth svc-auth "$trace" && spans user svc-user "$trace") | sort -u | wc -l)
check "each process works in a span of its own ($all_spans spans)" test "$all_spans" -ge 4
nobody_has() { ! grep -qF "\"span_id\":\"$1\"" "$tmp"/*.log; } # SPAN_ID
check "the caller's span is nobody's" nobody_has "$parent"

# ---- Work done later, on another thread -------------------------------------
# Registering queues a verification mail in the outbox; the sender delivers
# it on a thread of its own, in the trace of the registration.
mtrace=$(hex 16)
code=$(req reg_dora -X POST "${json[@]}" -H "traceparent: 00-$mtrace-$(hex 8)-01" \
  -d '{"username":"dora","email":"dora@example.com","password":"correct horse battery"}' "$base/register")
check "dora registers: 201" test "$code" = 201
delivered() { mail_n "$@" >/dev/null; } # ADDRESS N SECONDS
check "her verification mail is delivered" delivered dora@example.com 1 10
check "svc-auth's sender logs it in the registration's trace" \
  eventually 10 in_log auth svc-auth "$mtrace" '"msg":"mail sent"'
check "and the registration itself is in that trace" \
  in_log auth svc-auth "$mtrace" '"method":"/auth.v1.AuthService/Register"'

# ---- What starts a new trace -------------------------------------------------
# Each: a request with these traceparent fields must succeed with a new
# trace, seen in svc-admin's log, and not the one it was given.
new_trace() { # NAME CURL_HEADER_ARGS...
  local name=$1 code tp t
  shift
  code=$(req "$name" "${A[@]}" "$@" "$base/admin/users?page_size=1")
  check "$name: not an error ($code)" test "$code" = 200
  tp=$(traceparent "$name")
  check "$name: a valid traceparent comes back ($tp)" grep -qE '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$' <<<"$tp"
  t=$(cut -d- -f2 <<<"$tp")
  check "$name: a new trace" test "$t" != "$trace"
  check "$name: svc-admin logs the call in the new trace" \
    eventually 10 in_log admin svc-admin "$t" '"method":"/admin.v1.AdminService/ListUsers"'
  echo "$t" >"$tmp/$name.trace"
}
new_trace malformed -H "traceparent: 00-$trace-$parent-1"
new_trace uppercase -H "traceparent: 00-${trace^^}-$parent-01"
new_trace zero_parent -H "traceparent: 00-$trace-0000000000000000-01"
new_trace repeated -H "traceparent: 00-$trace-$parent-01" -H "traceparent: 00-$trace-$parent-01"
new_trace first
new_trace second
check "two requests without a traceparent get different traces" \
  test "$(cat "$tmp/first.trace")" != "$(cat "$tmp/second.trace")"

# A later version is read as 00 and answered as 00.
code=$(req v2 "${A[@]}" -H "traceparent: 01-$trace-$parent-01-later" "$base/admin/users?page_size=1")
check "a later version continues the trace" grep -qE "^00-$trace-[0-9a-f]{16}-01$" <<<"$(traceparent v2)"

# Browsers may send it and read it back.
code=$(req cors -H "Origin: https://app.example" "${A[@]}" "$base/admin/users?page_size=1")
check "CORS exposes traceparent" grep -qiE '^Access-Control-Expose-Headers:.*traceparent' "$tmp/cors.h"
code=$(req pre -X OPTIONS -H "Origin: https://app.example" \
  -H "Access-Control-Request-Method: GET" "$base/admin/users")
check "and a preflight allows it" grep -qiE '^Access-Control-Allow-Headers:.*traceparent' "$tmp/pre.h"

status=0
sink_stop
edge_env_stop || status=$?
check "every process exits 0 on SIGTERM" test "$status" = 0
echo "trace_context: $passed passed, $failed failed"
[[ $failed == 0 ]]
