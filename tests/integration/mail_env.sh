# Sourced by the shell tests that read real mail: svc-auth delivers over
# SMTP to the repository's sink (scripts/mail-sink.py) on a free loopback
# port, which writes each mail to a file of $maildir, named so that the
# files sort in the order they arrived. Source after edge_env.sh (for its
# free ports), before edge_env_start (svc-auth reads the exports):
#   mail_env_setup TMPDIR   # exports svc-auth's mail settings, starts the sink
#   sink_stop / sink_start  # SMTP down and back
#   mails_to ADDRESS, mail_n ADDRESS N [SECONDS], link_token FILE PAGE
mail_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
sink_pid=""

sink_start() {
  "$mail_env_root/scripts/mail-sink.py" --port "$sink_port" --dir "$maildir" \
    >>"$mail_env_tmp/sink.out" 2>&1 &
  sink_pid=$!
  for _ in $(seq 600); do # up to 30 s on a loaded machine
    (exec 3<>"/dev/tcp/127.0.0.1/$sink_port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "FAIL: the mail sink did not start" >&2
  cat "$mail_env_tmp/sink.out" >&2
  return 1
}

sink_stop() {
  [[ -n $sink_pid ]] || return 0
  kill -TERM "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  sink_pid=""
}

# Links point at https://app.example.test; a failed delivery is tried
# again after 1 s; the sender looks for mail every 100 ms.
mail_env_setup() {
  mail_env_tmp=$1
  maildir=$mail_env_tmp/mail
  sink_port=$(free_port)
  export AUTH_SMTP_URL=smtp://127.0.0.1:$sink_port AUTH_MAIL_RETRY_BASE_S=1 \
    AUTH_MAIL_POLL_MS=100 AUTH_SMTP_TIMEOUT_S=5 \
    AUTH_PUBLIC_BASE_URL=https://app.example.test
  sink_start
}

mails_to() { # ADDRESS: how many mails the sink holds for it
  grep -l "^To: <$1>" "$maildir"/*.eml 2>/dev/null | wc -l
}

mail_n() { # ADDRESS N [SECONDS]: waits for the Nth mail to ADDRESS, prints its file
  local f
  for _ in $(seq $((${3:-10} * 20))); do
    f=$(grep -l "^To: <$1>" "$maildir"/*.eml 2>/dev/null | sed -n "${2}p" || true)
    [[ -n $f ]] && { echo "$f"; return 0; }
    sleep 0.05
  done
  return 1
}

link_token() { # FILE PAGE: the token of the link to #/PAGE in the plain-text part
  grep -o "https://app.example.test/#/$2?token=[A-Za-z0-9_-]\{43\}" "$1" |
    head -n1 | sed 's/.*?token=//' || true
}
