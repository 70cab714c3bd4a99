"""Helpers shared by the deployment checks: the configuration variables each
binary really reads (from its C sources), and a counter of named checks that
ends with the line "N passed, M failed"."""

import os
import re
import sys

# Which sources declare each long-running binary's configuration table (a
# service's in its <svc>_component.c, which microcore runs too). The
# services add libcore's common items (service.c) and their listen variable;
# svc-user and svc-admin the items of their link to svc-auth (auth_link.c).
# Every binary reads the RPC transport's TLS credentials (tls_env.c's
# table of RPC_TLS_* names, no default); the edge's main.c reads its
# metrics listener (a service's is among libcore's common items).
BINARY_SOURCES = {
    "svc-auth": ["svc-auth/auth_component.c", "libcore/src/service.c",
                 "libcore/src/tls_env.c"],
    "svc-user": ["svc-user/user_component.c", "libcore/src/service.c",
                 "svc-auth/client/auth_link.c", "libcore/src/tls_env.c"],
    "svc-admin": ["svc-admin/admin_component.c", "libcore/src/service.c",
                  "svc-auth/client/auth_link.c", "libcore/src/tls_env.c"],
    "edge": ["edge/config.c", "proto/registry.c", "libcore/src/tls_env.c",
             "edge/main.c"],
}

# Variables whose values are secrets: never written into a deployment file,
# only read from a file (NAME_FILE). REDIS_URL may be set directly when it
# carries no password.
SECRET_VARS = {
    "AUTH_KEK",
    "AUTH_DATABASE_URL",
    "USER_DATABASE_URL",
    "ADMIN_DATABASE_URL",
    "POSTGRES_PASSWORD",
    "AUTH_SMTP_PASSWORD",
    "RPC_TLS_KEY",
}

# svc-auth's mail settings that every deployment hands to svc-auth, from
# its operator's configuration: the SMTP relay, the sender address, where
# the links point, and whether login waits for a verified address. The
# password only as a file.
MAIL_SETTINGS = [
    "AUTH_SMTP_URL",
    "AUTH_SMTP_STARTTLS",
    "AUTH_SMTP_USER",
    "AUTH_SMTP_PASSWORD_FILE",
    "AUTH_MAIL_FROM",
    "AUTH_PUBLIC_BASE_URL",
    "AUTH_REQUIRE_VERIFIED_EMAIL",
]

# A URL with a password in it: scheme://[user]:password@...
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@")

ITEM = re.compile(r'\{\s*"([A-Z][A-Z0-9_]*)"\s*,')
LISTEN = re.compile(r'\.listen_env\s*=\s*"([A-Z][A-Z0-9_]*)"')
# A row of the service registry: {"auth", "AUTH_RPC_DIAL", "tcp://...", ...}:
# the edge reads one dial variable per service from it.
REGISTRY_ROW = re.compile(
    r'\{\s*"[a-z]+"\s*,\s*"([A-Z][A-Z0-9_]*)"\s*,\s*"([^"]*)"')


def config_vars(root):
    """{binary: set of variable names} read from the C configuration
    tables; every NAME also allows NAME_FILE."""
    out = {}
    for binary, files in BINARY_SOURCES.items():
        names = set()
        for rel in files:
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                text = f.read()
            names.update(ITEM.findall(text))
            names.update(LISTEN.findall(text))
            names.update(n for n, _ in REGISTRY_ROW.findall(text))
        out[binary] = names
    return out


def mail_tunables(names):
    """svc-auth's other mail variables (names: its configuration table):
    the delivery's timeouts and retries and the verification links' limits,
    which keep their defaults unless the operator sets them. Not the
    templates' directory, which the image sets."""
    return sorted(n for n in names
                  if n.startswith(("AUTH_SMTP_", "AUTH_MAIL_", "AUTH_VERIFY_"))
                  and n not in MAIL_SETTINGS and n not in SECRET_VARS
                  and n != "AUTH_MAIL_TEMPLATES_DIR")


def smtp_url_problem(url, starttls):
    """Why svc-auth would refuse this AUTH_SMTP_URL at start (the rule of
    svc-auth/mail_sender.c), or None. Empty: no mail is sent."""
    if url == "":
        return None
    m = re.match(r"^(smtps?)://(\[[^]]*\]|[^/:]*)", url)
    if not m:
        return "not smtp:// or smtps://"
    host = m.group(2)
    loopback = host in ("localhost", "[::1]") or host.startswith("127.")
    if m.group(1) == "smtp" and starttls != "true" and not loopback:
        return "plain smtp:// to a host that is not loopback, without " \
               "AUTH_SMTP_STARTTLS=true"
    return None


def allowed_env(names):
    return set(names) | {n + "_FILE" for n in names}


def listen_port(url):
    """The port of tls+tcp://host:port (or plain tcp://host:port), or
    None."""
    m = re.match(r"^(?:tls\+)?tcp://[^/]*:(\d+)$", url or "")
    return int(m.group(1)) if m else None


# The identities of the RPC transport's certificates (their commonName):
# one per binary, and the operators' (rpcctl).
IDENTITIES = ["edge", "svc-auth", "svc-user", "svc-admin", "ops"]

# The variables of a process's own credentials for mutual TLS, each given
# as a file (NAME_FILE) so that a renewed certificate is re-read.
TLS_VARS = ["RPC_TLS_CERT", "RPC_TLS_KEY", "RPC_TLS_CA"]


class Checks:
    """Counts checks; prints a line per failure and a summary."""

    def __init__(self, title):
        self.title = title
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", file=sys.stderr)
        return ok

    def finish(self):
        print(f"{self.title}: {self.passed} passed, {self.failed} failed")
        if self.passed == 0:
            print("FAIL: nothing was checked", file=sys.stderr)
            return 1
        return 1 if self.failed else 0
