"""compose.yaml as Debian's docker-compose reads it: `config -q` is clean,
and the resolved configuration has what a single-host deployment needs.

Usage: check_compose.py CHECKOUT [COMPOSE_FILE]

Checks: every service has a health check and a restart policy; every
dependency waits for service_healthy; our containers run a real binary of
the image with real configuration variables only, as a non-root image user
on a read-only file system; secrets reach them as compose secrets through
NAME_FILE, and no secret value is written in the compose file; the edge dials
every replica of each service it calls; PostgreSQL and Redis keep their data
in named volumes, Redis with its append-only file. svc-auth's mail settings
come from the operator's .env (each one reaches svc-auth as written; left
out, svc-auth's default applies, no mail leaves and the links point at the
edge's public URL), its SMTP password from a compose secret, and svc-auth
alone has a way out to an SMTP server. Every RPC URL is tls+tcp://, and each
of our containers presents the certificate and key of its own identity
(compose secrets NAME_tls_crt/_key, mounted by that identity's containers
only) and checks its peers against the CA (rpc_ca).
"""

import os
import re
import subprocess
import sys
import tempfile

import yaml

import deploylib

BINARIES = {"svc-auth", "svc-user", "svc-admin", "edge"}
# Which dial variable reaches which binary, and the listen variable that
# binary's URL comes from.
DIALS = {
    "AUTH_RPC_DIAL": ("svc-auth", "AUTH_RPC_LISTEN", "auth"),
    "USER_RPC_DIAL": ("svc-user", "USER_RPC_LISTEN", "user"),
    "ADMIN_RPC_DIAL": ("svc-admin", "ADMIN_RPC_LISTEN", "admin"),
}
SERVICE_OF = {v[0]: (k, v[1], v[2]) for k, v in DIALS.items()}


def run_compose(root, compose, *args, env_file=None):
    # A clean environment: variables of the caller's shell must not change
    # what is checked. HOME for docker-compose's own files. env_file stands
    # for the operator's .env.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp")}
    opts = ["--env-file", env_file] if env_file else []
    return subprocess.run(
        ["docker-compose", *opts, "-f", compose, *args], cwd=root, env=env,
        capture_output=True, text=True, timeout=120)


def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def command_of(svc):
    cmd = svc.get("command")
    if isinstance(cmd, str):
        cmd = cmd.split()
    return cmd or []


def secrets_of(svc):
    """Names of the secrets a service mounts (short or long syntax)."""
    return {s.get("source") if isinstance(s, dict) else s
            for s in svc.get("secrets") or []}


def volumes_of(svc):
    """(source, target) of each mount, short ("src:dst:mode") or long
    syntax."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((str(v.get("source", "")), str(v.get("target", ""))))
        else:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out.append((parts[0], parts[1]))
    return out


def healthcheck_test(svc):
    test = (svc.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    return test or []


def check_raw_text(c, path):
    """No secret value in the file itself (before interpolation)."""
    with open(path, encoding="utf-8") as f:
        lines = [line.split("#", 1)[0] for line in f.read().splitlines()]
    bad = [n for n, code in enumerate(lines, 1)
           if deploylib.URL_WITH_PASSWORD.search(code)]
    c.check(not bad, f"{path}: URLs with a password on lines {bad}")
    bad = [n for n, code in enumerate(lines, 1)
           if re.search(r"[A-Za-z0-9+/]{43}=", code)]
    c.check(not bad, f"{path}: something like a base64 key on lines {bad}")
    for var in sorted(deploylib.SECRET_VARS):
        bad = [n for n, code in enumerate(lines, 1)
               if re.search(rf"\b{var}\s*[:=]", code)]
        c.check(not bad, f"{path}: {var} is set directly on lines {bad}; "
                         f"use {var}_FILE")


def check_ours(c, name, svc, conf, binaries_vars, images):
    cmd = command_of(svc)
    binary = cmd[0] if cmd else ""
    if not c.check(binary in BINARIES,
                   f"{name}: command {cmd} is not one of {sorted(BINARIES)}"):
        return None
    images.add(svc.get("image"))
    c.check("build" in svc, f"{name}: no build section (the image is built "
                            "from this checkout)")
    c.check(svc.get("read_only") is True, f"{name}: root file system not "
                                          "read-only")
    c.check("user" not in svc or svc["user"] not in ("root", "0", 0),
            f"{name}: runs as root")
    env = env_of(svc)
    allowed = deploylib.allowed_env(binaries_vars[binary])
    for k, v in env.items():
        c.check(k in allowed, f"{name}: {k} is not a configuration variable "
                              f"of {binary}")
        c.check(k not in deploylib.SECRET_VARS,
                f"{name}: {k} is set directly; use {k}_FILE")
        c.check(not deploylib.URL_WITH_PASSWORD.search(v),
                f"{name}: {k} holds a password")
        if k.endswith("_FILE") and v != "":
            # Empty: unset, the binary's default applies.
            secret = v.rsplit("/", 1)[-1]
            c.check(v == f"/run/secrets/{secret}",
                    f"{name}: {k} is not a file under /run/secrets")
            c.check(secret in secrets_of(svc),
                    f"{name}: {k} names the secret {secret}, which the "
                    "service does not mount")
            c.check(secret in (conf.get("secrets") or {}),
                    f"{name}: secret {secret} is not declared")
    test = " ".join(healthcheck_test(svc))
    if binary in SERVICE_OF:
        _, listen_var, short = SERVICE_OF[binary]
        port = deploylib.listen_port(env.get(listen_var, ""))
        c.check(port is not None and
                env.get(listen_var, "").startswith("tls+tcp://0.0.0.0:"),
                f"{name}: {listen_var} must listen on tls+tcp://0.0.0.0:PORT")
        c.check(re.search(rf"\brpcctl\b.*--service {short} --url "
                          rf"tls\+tcp://127\.0\.0\.1:{port}\b.*\bhealth\b",
                          test)
                is not None,
                f"{name}: health check is not rpcctl health of {short} at "
                f"port {port}: {test}")
    if binary == "edge":
        listen = env.get("EDGE_LISTEN", "")
        c.check(listen.startswith("0.0.0.0:"),
                f"{name}: EDGE_LISTEN must be 0.0.0.0:PORT")
        port = listen.rsplit(":", 1)[-1]
        c.check("/readyz" in test and f"/127.0.0.1/{port}" in test,
                f"{name}: health check is not GET /readyz on port {port}")
        published = [p for p in svc.get("ports") or []
                     if str(p.get("target")) == port]
        c.check(any(str(p.get("published")) == "8080" for p in published),
                f"{name}: port {port} is not published on 8080")
        c.check(env.get("EDGE_COOKIE_SECURE", "true") in ("true", "false"),
                f"{name}: EDGE_COOKIE_SECURE is not true or false")
    return binary, env


def check_dials(c, ours):
    """Every dial list names each replica of its target, by service name and
    listen port, and nothing else."""
    by_binary = {}
    for name, (binary, env) in ours.items():
        by_binary.setdefault(binary, []).append((name, env))
    for name, (binary, env) in ours.items():
        for var, (target, listen_var, _) in DIALS.items():
            if var not in env:
                continue
            urls = sorted(u.strip() for u in re.split(r"[ ,]+", env[var])
                          if u.strip())
            want = sorted(
                f"tls+tcp://{tname}:"
                f"{deploylib.listen_port(tenv[listen_var])}"
                for tname, tenv in by_binary.get(target, []))
            c.check(urls == want, f"{name}: {var} is {urls}, expected every "
                                  f"{target} replica {want}")
    c.check(len(by_binary.get("svc-user", [])) >= 2,
            "svc-user does not run two replicas")
    edge = [env for (b, env) in ours.values() if b == "edge"]
    for var in DIALS:
        c.check(bool(edge) and all(var in e for e in edge),
                f"the edge does not set {var}")


# An operator's .env for the mail settings: each value distinct, so that
# each can be found where it must arrive.
OPERATOR_MAIL = {
    "AUTH_SMTP_URL": "smtp://smtp.example.test:587",
    "AUTH_SMTP_STARTTLS": "true",
    "AUTH_SMTP_USER": "microcore-mailer",
    "AUTH_SMTP_PASSWORD_FILE": "/run/secrets/auth_smtp_password",
    "AUTH_MAIL_FROM": "no-reply@example.test",
    "AUTH_PUBLIC_BASE_URL": "https://id.example.test",
    "AUTH_REQUIRE_VERIFIED_EMAIL": "true",
}


def image_env(root):
    """The variables the Dockerfile's final stage sets (ENV)."""
    names, stage = set(), set()
    with open(os.path.join(root, "Dockerfile"), encoding="utf-8") as f:
        text = re.sub(r"\\\n", " ", f.read())
    for line in text.splitlines():
        word = line.strip().split(" ", 1)
        if word[0].upper() == "FROM":
            stage = set()
        elif word[0].upper() == "ENV" and len(word) > 1:
            stage |= set(re.findall(r"([A-Z][A-Z0-9_]*)=", word[1]))
        names = stage
    return names


def check_mail(c, root, compose, conf, ours, binaries_vars):
    """svc-auth's mail settings, by default and from an operator's .env."""
    services = conf.get("services") or {}
    auth = [n for n, (b, _) in ours.items() if b == "svc-auth"]
    if not c.check(len(auth) == 1, f"one svc-auth expected: {auth}"):
        return
    name = auth[0]
    env = ours[name][1]
    wanted = deploylib.MAIL_SETTINGS + \
        deploylib.mail_tunables(binaries_vars["svc-auth"])
    for var in wanted:
        c.check(var in env, f"{name}: the mail setting {var} is not taken "
                            "from the operator's environment")
    # By default: no relay (mail waits in the outbox, nothing is sent to a
    # made-up server), links to the edge's public URL, the same as the
    # tokens' issuer.
    c.check(env.get("AUTH_SMTP_URL", "") == "",
            f"{name}: AUTH_SMTP_URL defaults to {env.get('AUTH_SMTP_URL')!r}, "
            "expected empty (mail waits in the outbox)")
    c.check(env.get("AUTH_SMTP_PASSWORD_FILE", "") == "",
            f"{name}: AUTH_SMTP_PASSWORD_FILE is set by default; the secret "
            "is empty until the operator fills it")
    edge = [e for n, (b, e) in ours.items() if b == "edge"]
    published = [str(p.get("published")) for n, (b, _) in ours.items()
                 if b == "edge" for p in services[n].get("ports") or []]
    c.check(env.get("AUTH_PUBLIC_BASE_URL") == env.get("AUTH_ISSUER") and
            published and env.get("AUTH_PUBLIC_BASE_URL") ==
            f"http://localhost:{published[0]}",
            f"{name}: AUTH_PUBLIC_BASE_URL {env.get('AUTH_PUBLIC_BASE_URL')!r}"
            f" is not the edge's URL and AUTH_ISSUER "
            f"{env.get('AUTH_ISSUER')!r}")
    c.check(bool(edge), "no edge")
    # An empty value in compose still replaces the image's ENV.
    for n, (b, e) in ours.items():
        for var in sorted(image_env(root) & set(e)):
            c.check(False, f"{n}: {var} replaces the image's value")

    # The password: a declared secret that svc-auth mounts, stored where
    # the others are.
    c.check("auth_smtp_password" in secrets_of(services[name]),
            f"{name}: does not mount the secret auth_smtp_password")
    c.check("auth_smtp_password" in (conf.get("secrets") or {}),
            "the secret auth_smtp_password is not declared")
    others = [n for n, svc in services.items() if n != name and
              "auth_smtp_password" in secrets_of(svc)]
    c.check(not others, f"auth_smtp_password is mounted by {others} too")

    # A way out for svc-auth only: a network that is not internal, with no
    # other member (PostgreSQL and Redis stay unreachable from outside).
    nets = conf.get("networks") or {}
    out = [n for n in services[name].get("networks") or {}
           if not (nets.get(n) or {}).get("internal")]
    c.check(bool(out), f"{name}: no network with a way out to an SMTP "
                       "server (its networks are all internal)")
    for net in out:
        members = sorted(n for n, svc in services.items()
                         if net in (svc.get("networks") or {}))
        c.check(members == [name], f"{name}'s way out, the network {net}, "
                                   f"is shared with {members}")

    # An operator's .env: each value reaches svc-auth as written.
    with tempfile.NamedTemporaryFile("w", suffix=".env") as f:
        f.writelines(f"{k}={v}\n" for k, v in OPERATOR_MAIL.items())
        f.flush()
        r = run_compose(root, compose, "config", env_file=f.name)
    if not c.check(r.returncode == 0, f"docker-compose config with an "
                                      f".env failed: {r.stderr.strip()}"):
        return
    got = env_of(yaml.safe_load(r.stdout)["services"][name])
    for k, v in OPERATOR_MAIL.items():
        c.check(got.get(k) == v, f"{name}: {k} from .env arrives as "
                                 f"{got.get(k)!r}, not {v!r}")
    why = deploylib.smtp_url_problem(got.get("AUTH_SMTP_URL", ""),
                                     got.get("AUTH_SMTP_STARTTLS", ""))
    c.check(why is None, f"{name}: svc-auth would refuse the example "
                         f"AUTH_SMTP_URL: {why}")


def tls_secret(identity, what):
    """The compose secret of an identity's certificate or key."""
    return f"{identity.replace('-', '_')}_tls_{what}"


def check_tls(c, services, ours):
    """Each of our containers: its own identity's certificate and key, the
    CA; no container holds another identity's key."""
    for name, (binary, env) in ours.items():
        want = {"RPC_TLS_CERT_FILE": tls_secret(binary, "crt"),
                "RPC_TLS_KEY_FILE": tls_secret(binary, "key"),
                "RPC_TLS_CA_FILE": "rpc_ca"}
        for var, secret in want.items():
            c.check(env.get(var) == f"/run/secrets/{secret}",
                    f"{name}: {var} is {env.get(var)!r}, expected "
                    f"/run/secrets/{secret} (its own identity, {binary})")
        for var in deploylib.TLS_VARS:
            c.check(var not in env, f"{name}: {var} is set inline; use "
                                    f"{var}_FILE (re-read when renewed)")
    for name, svc in services.items():
        binary = ours.get(name, (None, None))[0]
        for ident in deploylib.IDENTITIES:
            if ident != binary:
                c.check(tls_secret(ident, "key") not in secrets_of(svc),
                        f"{name}: mounts the key of {ident}")


def git_ignores(root, rel):
    """True when git would ignore rel; outside a git work tree (a source
    tarball), when .gitignore names its directory."""
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"],
                            cwd=root, capture_output=True, text=True)
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return subprocess.run(["git", "check-ignore", "-q", rel],
                              cwd=root).returncode == 0
    with open(os.path.join(root, ".gitignore"), encoding="utf-8") as f:
        rules = [ln.strip().strip("/") for ln in f]
    return any(rel == r or rel.startswith(r + "/") for r in rules if r)


def main():
    root = os.path.abspath(sys.argv[1])
    compose = sys.argv[2] if len(sys.argv) > 2 else "compose.yaml"
    c = deploylib.Checks("compose")

    q = run_compose(root, compose, "config", "-q")
    c.check(q.returncode == 0, f"docker-compose config -q exited "
                               f"{q.returncode}: {q.stderr.strip()}")
    c.check(q.stderr.strip() == "" and q.stdout.strip() == "",
            f"docker-compose config -q is not silent: {q.stderr.strip()}")
    full = run_compose(root, compose, "config")
    if not c.check(full.returncode == 0, "docker-compose config failed"):
        return c.finish()
    conf = yaml.safe_load(full.stdout)
    services = conf.get("services") or {}
    binaries_vars = deploylib.config_vars(root)

    check_raw_text(c, os.path.join(root, compose))

    expected = {"postgres", "redis", "svc-auth", "svc-admin", "edge"}
    c.check(expected <= set(services),
            f"missing services: {sorted(expected - set(services))}")

    ours, images = {}, set()
    for name, svc in sorted(services.items()):
        c.check(bool(healthcheck_test(svc)) and
                healthcheck_test(svc)[0] in ("CMD", "CMD-SHELL") and
                not (svc.get("healthcheck") or {}).get("disable"),
                f"{name}: no health check")
        c.check(svc.get("restart") in ("always", "unless-stopped",
                                       "on-failure"),
                f"{name}: no restart policy")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {} for d in deps}
        for dep, how in deps.items():
            c.check((how or {}).get("condition") == "service_healthy",
                    f"{name}: depends on {dep} without service_healthy")
        env = env_of(svc)
        for k, v in env.items():
            c.check(not deploylib.URL_WITH_PASSWORD.search(v),
                    f"{name}: {k} holds a password")
        # Not ours: the stores, and the optional Prometheus (its wiring:
        # check_observability.py).
        if name in ("postgres", "redis", "prometheus"):
            continue
        got = check_ours(c, name, svc, conf, binaries_vars, images)
        if got:
            ours[name] = got
    c.check(len(images) == 1,
            f"our services do not all run the one image: {sorted(images)}")
    check_dials(c, ours)
    check_tls(c, services, ours)
    check_mail(c, root, compose, conf, ours, binaries_vars)
    binaries = {b for b, _ in ours.values()}
    c.check(binaries == BINARIES, f"binaries run: {sorted(binaries)}")

    # Every dependency of ours waits for what it calls; but svc-auth's
    # calls to svc-user (deleting an account), which waits for svc-auth:
    # the two cannot wait for each other, and svc-auth dials in the
    # background and answers UNAVAILABLE until svc-user is up.
    for name, (binary, env) in ours.items():
        deps = set(services[name].get("depends_on") or {})
        for var, (target, _, _) in DIALS.items():
            if binary == "svc-auth" and target == "svc-user":
                continue
            if var in env:
                for tname, (tb, _) in ours.items():
                    if tb == target:
                        c.check(tname in deps,
                                f"{name} does not wait for {tname}")

    # Data in named volumes; Redis with its append-only file; PostgreSQL
    # set up by the init script, its superuser password from a secret.
    named = set(conf.get("volumes") or {})
    for name, target in (("postgres", "/var/lib/postgresql/data"),
                         ("redis", "/data")):
        vols = volumes_of(services.get(name, {}))
        c.check(any(src in named and dst == target for src, dst in vols),
                f"{name}: {target} is not a named volume")
    redis_cmd = " ".join(command_of(services.get("redis", {})))
    c.check("--appendonly yes" in redis_cmd, "redis runs without AOF")
    pg = services.get("postgres", {})
    pg_env = env_of(pg)
    c.check(pg_env.get("POSTGRES_PASSWORD_FILE") ==
            "/run/secrets/postgres_password",
            "postgres: superuser password not from a secret")
    init = [src for src, dst in volumes_of(pg)
            if dst.startswith("/docker-entrypoint-initdb.d/")]
    c.check(len(init) == 1 and os.path.isfile(os.path.join(root, init[0])) and
            os.path.samefile(os.path.join(root, init[0]),
                             os.path.join(root, "deploy/compose/"
                                                "postgres-init.sh")),
            "postgres: deploy/compose/postgres-init.sh is not mounted as an "
            "init script")
    for s in ("auth_database_url", "user_database_url", "admin_database_url"):
        c.check(s in secrets_of(pg),
                f"postgres: the init script cannot read {s}")

    # The secrets' files stay out of git and out of the image.
    for sname, s in (conf.get("secrets") or {}).items():
        f = s.get("file", "")
        rel = os.path.relpath(f, root)
        c.check(not rel.startswith(".."), f"secret {sname} lies outside the "
                                          "checkout by default")
        c.check(git_ignores(root, rel),
                f"secret {sname} ({rel}) is not ignored by git")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
