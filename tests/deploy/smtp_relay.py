#!/usr/bin/python3
"""An SMTP relay for the deployment test: like scripts/mail-sink.py it
writes each mail it accepts to DIR/<time>-<n>.eml (a temporary name, then
renamed), but only from a client that logged in (AUTH PLAIN or LOGIN) as
USER with the password in PASSWORD_FILE, as a provider's relay does. Plain
SMTP on a loopback port: svc-auth allows plain smtp:// only to loopback.

Prints "auth ok USER" or "auth refused USER" per login attempt, never a
password. Runs until SIGTERM or SIGINT. Needs Debian's python3-aiosmtpd.

    smtp_relay.py --port 2525 --dir DIR --user USER --password-file FILE
"""
import argparse
import asyncio
import hmac
import itertools
import logging
import os
import signal
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Relay:
    def __init__(self, directory):
        self.dir = directory
        self.n = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%06d.eml" % (time.time_ns(), next(self.n))
        tmp = os.path.join(self.dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.dir, name))
        return "250 OK"


class Login:
    """Accepts USER with the password of the file, compared in constant
    time."""

    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, self.user) and \
            hmac.compare_digest(auth_data.password, self.password)
        who = auth_data.login.decode("utf-8", "replace")
        print("auth %s %s" % ("ok" if ok else "refused", who), flush=True)
        return AuthResult(success=ok, handled=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    args = ap.parse_args()
    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().rstrip("\r\n")
    if not password:
        ap.error("the password file is empty")
    os.makedirs(args.dir, exist_ok=True)
    # A login without TLS is the point here (loopback only); aiosmtpd warns
    # of it on every connection.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    ctl = Controller(Relay(args.dir), hostname="127.0.0.1", port=args.port,
                     authenticator=Login(args.user, password),
                     auth_required=True, auth_require_tls=False)
    ctl.start()
    print("smtp-relay: smtp://127.0.0.1:%d -> %s" % (args.port, args.dir),
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    ctl.stop()


if __name__ == "__main__":
    main()
