#!/usr/bin/env bash
# The web frontend in a real browser: headless Chromium (Debian's, driven by
# playwright-core from npm) registers, logs in, verifies the email address
# from the mail the local SMTP sink received, edits the profile, lists and
# ends sessions and logs out against the whole stack (on mutual TLS, as the
# stack command runs it): svc-auth, svc-user,
# svc-admin and the edge serving edge/www; then an admin (made with
# `svc-auth promote-admin`) lists, disables and enables that user, reads
# the audit trail and deletes another account; the user changes and resets
# the password and the email address, turns on two-factor login (codes from
# oathtool), logs in with a code and with a recovery code, makes new codes
# and turns it off, and the admin resets it; last, the user deletes their
# own account. Every message is checked by its plain words, and failures are
# simulated in the browser's network layer (a proxy's 502 HTML page, a lost
# network, a 10 s slow GET /profile and a 503 at start). Then every page is
# checked for WCAG 2.2 AA: axe-core at desktop and phone sizes, the keyboard
# alone (skip link, login, focus after actions), the contrast of the focus
# ring and input borders. Screenshots of every step stay in
# BUILD_DIR/e2e-output.
# Usage: browser.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
pids=()
# shellcheck source=tests/integration/svc_env.sh
source "$repo/tests/integration/svc_env.sh"
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  svc_env_cleanup
  rm -rf "$tmp"
}
trap cleanup EXIT

chromium=/usr/bin/chromium
if [[ ! -x $chromium ]]; then
  echo "FAIL: $chromium is missing: install the Debian package chromium (scripts/test.sh does)" >&2
  exit 1
fi
command -v node >/dev/null || { echo "FAIL: node is not installed" >&2; exit 1; }
# playwright-core (no bundled browser) is installed once per build tree,
# like jose for jose_verify.sh; it drives the system Chromium. axe-core
# (pinned: its rules change between versions) checks every page.
mods=$build/npm-e2e
if [[ ! -f $mods/node_modules/playwright-core/package.json || ! -f $mods/node_modules/axe-core/axe.min.js ]]; then
  mkdir -p "$mods"
  npm install --silent --no-audit --no-fund --prefix "$mods" playwright-core@1 axe-core@4.10.2 >/dev/null
fi

svc_env_setup

edge_port=$(free_port)
mail_port=$(free_port)
auth_port=$(free_port)
user_port=$(free_port)
admin_port=$(free_port)
# Mutual TLS between the processes, as the stack command runs them: a CA
# and a certificate per identity, each process presenting its own.
pki=$tmp/pki
"$repo/scripts/certs.sh" init "$pki" >/dev/null
export RPC_TLS_CA_FILE=$pki/ca.crt
tls_as() { # NAME: the certificate variables of identity NAME, for env
  printf '%s\n' "RPC_TLS_CERT_FILE=$pki/$1.crt" "RPC_TLS_KEY_FILE=$pki/$1.key"
}
export AUTH_RPC_LISTEN=tls+tcp://127.0.0.1:$auth_port AUTH_RPC_DIAL=tls+tcp://127.0.0.1:$auth_port \
  USER_RPC_LISTEN=tls+tcp://127.0.0.1:$user_port USER_RPC_DIAL=tls+tcp://127.0.0.1:$user_port \
  ADMIN_RPC_LISTEN=tls+tcp://127.0.0.1:$admin_port ADMIN_RPC_DIAL=tls+tcp://127.0.0.1:$admin_port \
  EDGE_LISTEN=127.0.0.1:$edge_port EDGE_WWW_DIR=$repo/edge/www EDGE_COOKIE_SECURE=0 \
  LOG_LEVEL=warn
# Mail goes to the local SMTP sink, one file per mail, which the browser
# test reads as a user reads their mailbox; links point at this edge.
maildir=$tmp/mail
"$repo/scripts/mail-sink.py" --port "$mail_port" --dir "$maildir" >"$tmp/mail-sink.log" 2>&1 &
pids+=($!)
export AUTH_SMTP_URL=smtp://127.0.0.1:$mail_port AUTH_PUBLIC_BASE_URL=http://localhost:$edge_port \
  AUTH_MAIL_POLL_MS=100 AUTH_MAIL_RETRY_BASE_S=1
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$mail_port") 2>/dev/null && break
  sleep 0.05
done

for svc in auth user admin; do
  mapfile -t tls <<<"$(tls_as "svc-$svc")"
  env "${tls[@]}" "$build/svc-$svc/svc-$svc" 2>"$tmp/$svc.log" &
  pids+=($!)
done
mapfile -t tls <<<"$(tls_as edge)"
env "${tls[@]}" "$build/edge/edge" 2>"$tmp/edge.log" &
pids+=($!)

base=http://localhost:$edge_port
code=000
for _ in $(seq 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)
  [[ $code == 200 ]] && break
  sleep 0.1
done
if [[ $code != 200 ]]; then
  echo "FAIL: the stack is not ready (GET /readyz answers $code)" >&2
  for f in "$tmp"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
  exit 1
fi

# The admin: registered through the API, promoted in authdb by svc-auth
# itself (AUTH_DATABASE_URL comes from svc_env_setup), before any login, so
# the admin's first token already carries the role.
admin_user="e2e_admin_$RANDOM$RANDOM"
admin_password="admin horse battery staple $RANDOM"
code=$(curl -s -o "$tmp/admin-register.json" -w '%{http_code}' -X POST "$base/register" \
  -H 'Content-Type: application/json' \
  -d "{\"username\":\"$admin_user\",\"email\":\"$admin_user@example.com\",\"password\":\"$admin_password\"}" || true)
if [[ $code != 201 ]]; then
  echo "FAIL: registering the admin answered $code: $(cat "$tmp/admin-register.json" 2>/dev/null)" >&2
  exit 1
fi
if ! "$build/svc-auth/svc-auth" promote-admin "$admin_user" >"$tmp/promote.out" 2>&1; then
  echo "FAIL: svc-auth promote-admin $admin_user: $(cat "$tmp/promote.out")" >&2
  exit 1
fi

out=$build/e2e-output
rm -rf "$out"
mkdir -p "$out"
rc=0
E2E_NODE_MODULES=$mods/node_modules E2E_CHROMIUM=$chromium \
  E2E_MAIL_DIR=$maildir E2E_ADMIN_USER=$admin_user E2E_ADMIN_PASSWORD=$admin_password \
  timeout 480 node "$here/browser.mjs" "$base" "$out" || rc=$?
if ((rc != 0)); then
  for f in "$tmp"/*.log; do
    [[ -s $f ]] || continue
    echo "--- $(basename "$f")" >&2
    tail -n 20 "$f" >&2
  done
  echo "browser_e2e: 0 passed, 1 failed (screenshots in $out)" >&2
  exit 1
fi
echo "browser_e2e: screenshots in $out"
