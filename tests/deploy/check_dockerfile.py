"""The Dockerfile, checked statically (no container engine, no hadolint).

Usage: check_dockerfile.py CHECKOUT BUILD_DIR

A multi-stage build: a Debian bookworm build stage that builds exactly as
scripts/stack.sh does (lib.sh's ensure_build_packages and build_tree, with
no other arguments), and a bookworm-slim final stage that installs no
compiler, build tool or -dev package, holds the five binaries, the
migrations and the web frontend where its ENV says, and runs as a numeric
non-root user. The final stage's packages cover every shared library the
binaries built in BUILD_DIR load (readelf + dpkg -S, as ldd would show),
and no secret is set in the image. The mail templates are where
AUTH_MAIL_TEMPLATES_DIR says, and the CA bundle is there for TLS to the
SMTP relay. .dockerignore sends the builder an
allow-list that leaves out local state and compose's secrets.
"""

import os
import re
import shlex
import subprocess
import sys

import deploylib

BINARIES = {
    "svc-auth": "svc-auth/svc-auth",
    "svc-user": "svc-user/svc-user",
    "svc-admin": "svc-admin/svc-admin",
    "edge": "edge/edge",
    "rpcctl": "cli/rpcctl",
}
FORBIDDEN = {"gcc", "g++", "cpp", "clang", "cc", "make", "cmake",
             "build-essential", "pkg-config", "pkgconf", "protobuf-compiler",
             "protobuf-c-compiler", "git", "binutils", "ninja-build"}
# Sanitizer runtimes appear only in sanitizer builds, never in the image's.
SANITIZER = re.compile(r"^lib(a|ub|l|t)san\.so")


def instructions(path):
    """[(INSTRUCTION, argument text)] with continuations joined and
    comments dropped."""
    out, cur = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if cur and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur += line
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def stages(instrs):
    """[(FROM argument, [instructions])]."""
    out = []
    for ins, arg in instrs:
        if ins == "FROM":
            out.append((arg, []))
        elif out:
            out[-1][1].append((ins, arg))
    return out


def apt_packages(run):
    """Packages named by apt-get install commands in a RUN line."""
    pkgs = set()
    for part in re.split(r"&&|;|\|\|", run):
        words = shlex.split(part)
        if "apt-get" in words and "install" in words:
            after = words[words.index("install") + 1:]
            pkgs.update(w for w in after if not w.startswith("-"))
    return pkgs


def needed_packages(build):
    """{binary: set of Debian packages} of the libraries each built binary
    loads directly (its DT_NEEDED entries, resolved as ldd does)."""
    out = {}
    for name, rel in BINARIES.items():
        path = os.path.join(build, rel)
        dyn = subprocess.run(["readelf", "-d", path], capture_output=True,
                             text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dyn)
        ldd = subprocess.run(["ldd", path], capture_output=True, text=True,
                             check=True).stdout
        where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        pkgs = set()
        for lib in needed:
            if SANITIZER.match(lib):
                continue
            target = where.get(lib)
            if not target:
                pkgs.add(f"<{lib} not found>")
                continue
            real = os.path.realpath(target)
            for candidate in (target, real, "/usr" + target, "/usr" + real):
                r = subprocess.run(["dpkg", "-S", candidate],
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    pkgs.add(r.stdout.split(":", 1)[0])
                    break
            else:
                pkgs.add(f"<no package owns {lib}>")
        out[name] = pkgs
    return out


def main():
    root = os.path.abspath(sys.argv[1])
    build = os.path.abspath(sys.argv[2])
    c = deploylib.Checks("dockerfile")
    st = stages(instructions(os.path.join(root, "Dockerfile")))
    if not c.check(len(st) >= 2, "not a multi-stage build"):
        return c.finish()

    first_from, first = st[0]
    m = re.match(r"^(\S+)\s+AS\s+(\S+)$", first_from, re.I)
    c.check(m is not None and re.match(r"^debian:bookworm(-\d{8})?$",
                                       m.group(1)) is not None,
            f"build stage is not FROM debian:bookworm AS ...: {first_from}")
    build_name = m.group(2) if m else ""
    runs = [a for i, a in first if i == "RUN"]
    c.check(any("source scripts/lib.sh" in r and "ensure_build_packages" in r
                for r in runs),
            "the build stage does not install lib.sh's build packages")
    calls = [re.search(r"build_tree\s+([^'\"&;|]*)", r) for r in runs]
    calls = [x.group(1).split() for x in calls if x]
    c.check(len(calls) == 1 and len(calls[0]) == 1,
            f"the build stage must call build_tree DIR with no other "
            f"arguments, as scripts/stack.sh does: {calls}")
    with open(os.path.join(root, "scripts/stack.sh"), encoding="utf-8") as f:
        stack = f.read()
    c.check(re.search(r'^build_tree "\$ROOT/build"$', stack, re.M) is not None,
            "scripts/stack.sh no longer builds with plain build_tree; the "
            "image must build the same way")
    build_dir = calls[0][0] if calls and calls[0] else ""

    final_from, final = st[-1]
    c.check(re.match(r"^debian:bookworm-slim(\s+AS\s+\S+)?$", final_from,
                     re.I) is not None,
            f"final stage is not FROM debian:bookworm-slim: {final_from}")
    users = [a for i, a in final if i == "USER"]
    user = users[-1].split(":")[0] if users else ""
    c.check(user.isdigit() and int(user) >= 1000,
            f"final stage must end as a numeric non-root USER, not {user!r}")
    installed = set()
    for ins, arg in final:
        if ins == "RUN":
            installed |= apt_packages(arg)
    # smtps:// and STARTTLS to the SMTP relay, and TLS to a managed
    # PostgreSQL, verify the server against the system's CA bundle.
    c.check("ca-certificates" in installed,
            "final stage lacks ca-certificates (TLS to the SMTP relay and "
            "managed databases)")
    bad = sorted(p for p in installed
                 if p in FORBIDDEN or p.endswith("-dev"))
    c.check(not bad, f"final stage installs build tools: {bad}")
    c.check(not any(i in ("ARG", "ENV") and re.search(
        r"\b(" + "|".join(deploylib.SECRET_VARS) + r"|REDIS_URL)\b", a)
        for st_ in st for i, a in st_[1]),
        "a secret variable is set in the image")

    needs = needed_packages(build)
    for name, pkgs in sorted(needs.items()):
        missing = sorted(pkgs - installed - {"libc6"})
        c.check(not missing, f"{name} needs {missing}, which the final "
                             "stage does not install")

    copies = [a for i, a in final if i == "COPY"]
    dests = {}
    for a in copies:
        words = a.split()
        if words and words[0] == f"--from={build_name}":
            srcs, dst = words[1:-1], words[-1]
            for s in srcs:
                dests[s] = dst
    for name, rel in BINARIES.items():
        src = f"{build_dir}/{rel}"
        c.check(dests.get(src) == "/usr/local/bin/",
                f"{src} is not copied to /usr/local/bin/")
    env = {}
    for ins, arg in final:
        if ins == "ENV":
            for w in shlex.split(arg):
                k, _, v = w.partition("=")
                env[k] = v
    for var, src in (("AUTH_MIGRATIONS_DIR", "svc-auth/migrations"),
                     ("USER_MIGRATIONS_DIR", "svc-user/migrations"),
                     ("ADMIN_MIGRATIONS_DIR", "svc-admin/migrations"),
                     ("EDGE_WWW_DIR", "edge/www"),
                     ("AUTH_MAIL_TEMPLATES_DIR", "svc-auth/mail")):
        copied = dests.get(f"/src/{src}")
        c.check(copied is not None and env.get(var) == copied,
                f"{var}={env.get(var)!r} is not where {src} is copied "
                f"({copied!r})")
    known = set().union(*deploylib.config_vars(root).values())
    for k in env:
        c.check(k in known, f"ENV {k} is not a configuration variable")

    with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
        rules = [ln.strip() for ln in f if ln.strip() and
                 not ln.lstrip().startswith("#")]
    c.check(bool(rules) and rules[0] == "*",
            ".dockerignore is not an allow-list starting with *")
    for private in (".run", ".git", "deploy", "build", "build-asan"):
        c.check(not any(r.lstrip("!").strip("/").split("/")[0] == private
                        for r in rules if r.startswith("!")),
                f".dockerignore lets {private} into the build context")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
