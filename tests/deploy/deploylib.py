"""Helpers shared by the deployment checks: the configuration variables each
binary really reads (from its C sources), and a counter of named checks that
ends with the line "N passed, M failed"."""

import os
import re
import sys

# Which sources declare each long-running binary's configuration table. The
# services add libcore's common items (service.c) and their listen variable;
# svc-user and svc-admin the items of their link to svc-auth (auth_link.c).
BINARY_SOURCES = {
    "svc-auth": ["svc-auth/main.c", "libcore/src/service.c"],
    "svc-user": ["svc-user/main.c", "libcore/src/service.c",
                 "svc-auth/client/auth_link.c"],
    "svc-admin": ["svc-admin/main.c", "libcore/src/service.c",
                  "svc-auth/client/auth_link.c"],
    "edge": ["edge/main.c"],
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
}

# A URL with a password in it: scheme://[user]:password@...
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@")

ITEM = re.compile(r'\{\s*"([A-Z][A-Z0-9_]*)"\s*,')
LISTEN = re.compile(r'\.listen_env\s*=\s*"([A-Z][A-Z0-9_]*)"')


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
        out[binary] = names
    return out


def allowed_env(names):
    return set(names) | {n + "_FILE" for n in names}


def listen_port(url):
    """The port of tcp://host:port, or None."""
    m = re.match(r"^tcp://[^/]*:(\d+)$", url or "")
    return int(m.group(1)) if m else None


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
