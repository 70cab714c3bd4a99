"""The Kubernetes manifests in deploy/k8s: every YAML document parses and
has the fields a cluster requires for its kind, and the objects fit
together.

Usage: check_k8s.py CHECKOUT [MANIFEST_DIR]

Per object: apiVersion, kind, metadata.name (a DNS label), labels.
Deployment: a selector matching its pod template's labels; containers with
an image, a command that is one of our binaries, CPU and memory requests
and limits (requests at most the limits), readiness and liveness probes
(HTTP on the edge; rpcctl health of the container's own service at its own
port otherwise), a non-root, no-escalation, read-only security context;
environment variables that are real configuration variables of the binary,
secrets only as files (NAME_FILE) from a mounted Secret whose template has
the key; dial lists naming Services that exist, at their ports.
Service: a selector matching exactly one Deployment, ports whose targetPort
is a port of that Deployment's container. PodDisruptionBudget: a selector
matching a Deployment, and minAvailable or maxUnavailable. Every component
has its Deployment, Service and PodDisruptionBudget; kustomization.yaml
lists every manifest but the Secret template. svc-auth gets every mail
setting (the SMTP relay, with its password from the Secret; the sender;
where the links point, the same public URL as the issuer), with values
svc-auth accepts.
Mutual TLS: every RPC listen and dial URL is tls+tcp://; each Deployment
reads its certificate, key and CA (RPC_TLS_*_FILE) from the Secret of a
cert-manager Certificate whose commonName is its own identity, issued by
the CA Issuer of a CA Certificate; every identity (the operators' too) has
its Certificate (ECDSA, server and client auth, renewed before it ends).
NetworkPolicy: each component's pods are selected by one policy, which
admits to each RPC port exactly the components that dial it (read from
their dial variables) and the operators' pods, the edge's HTTP port
from anywhere, and the metrics port from Prometheus's pods (in the
namespace monitoring) only.
"""

import glob
import os
import re
import shlex
import sys

import yaml

import deploylib

API = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "PodDisruptionBudget": "policy/v1",
    "Secret": "v1",
    "ConfigMap": "v1",
    "Issuer": "cert-manager.io/v1",
    "Certificate": "cert-manager.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
BINARIES = {"svc-auth", "svc-user", "svc-admin", "edge"}
RPC = {  # binary: (listen variable, rpcctl service name)
    "svc-auth": ("AUTH_RPC_LISTEN", "auth"),
    "svc-user": ("USER_RPC_LISTEN", "user"),
    "svc-admin": ("ADMIN_RPC_LISTEN", "admin"),
}
DIALS = {"AUTH_RPC_DIAL": "svc-auth", "USER_RPC_DIAL": "svc-user",
         "ADMIN_RPC_DIAL": "svc-admin"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def cpu(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def memory(q):
    m = re.match(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$", str(q))
    if not m:
        raise ValueError(q)
    mult = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30,
            "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    return float(m.group(1)) * mult[m.group(2)]


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v
                                  for k, v in selector.items())


def probe_command(probe):
    """The command of an exec probe as one list (sh -c scripts split)."""
    cmd = ((probe or {}).get("exec") or {}).get("command") or []
    if len(cmd) == 3 and cmd[0] in ("sh", "/bin/sh") and cmd[1] == "-c":
        return shlex.split(cmd[2])
    return cmd


def check_rpc_probe(c, where, probe, short, port, kind):
    cmd = probe_command(probe)
    text = " ".join(cmd)
    c.check(bool(cmd) and cmd[0] == "rpcctl" and "health" in cmd and
            f"--service {short}" in text and
            f"--url tls+tcp://127.0.0.1:{port}" in text,
            f"{where}: {kind} is not rpcctl health of {short} at "
            f"tls+tcp://127.0.0.1:{port}: {text}")
    c.check(int(probe.get("timeoutSeconds", 1)) >= 2,
            f"{where}: {kind} times out before rpcctl's 2 s deadline")


def cert_secret_keys(objs, secret_name):
    """The keys of the Secret a cert-manager Certificate writes, when one
    of the manifests' Certificates writes secret_name; else None."""
    for (k, _), d in objs.items():
        if k == "Certificate" and \
                (d.get("spec") or {}).get("secretName") == secret_name:
            return {"tls.crt", "tls.key", "ca.crt"}
    return None


def check_container(c, where, ctr, pod_sc, vars_of, objs, volumes):
    cmd = ctr.get("command") or []
    binary = cmd[0] if cmd else ""
    c.check(bool(ctr.get("name")), f"{where}: container without a name")
    image = ctr.get("image", "")
    c.check(bool(image) and not image.endswith(":latest") and ":" in image,
            f"{where}: image {image!r} has no fixed tag")
    if not c.check(binary in BINARIES, f"{where}: command {cmd} is not one "
                                       f"of {sorted(BINARIES)}"):
        return None
    res = ctr.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    for what in ("cpu", "memory"):
        ok = c.check(what in req and what in lim,
                     f"{where}: {what} request and limit required")
        if ok:
            conv = cpu if what == "cpu" else memory
            try:
                c.check(conv(req[what]) <= conv(lim[what]),
                        f"{where}: {what} request above its limit")
            except ValueError:
                c.check(False, f"{where}: bad {what} quantity")
    ready, live = ctr.get("readinessProbe"), ctr.get("livenessProbe")
    c.check(bool(ready) and bool(live),
            f"{where}: readiness and liveness probes required")

    sc = ctr.get("securityContext") or {}
    non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    c.check(non_root is True, f"{where}: runAsNonRoot is not true")
    c.check(uid is None or int(uid) != 0, f"{where}: runAsUser 0")
    c.check(sc.get("allowPrivilegeEscalation") is False,
            f"{where}: allowPrivilegeEscalation is not false")
    c.check(sc.get("readOnlyRootFilesystem") is True,
            f"{where}: root file system not read-only")
    c.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []),
            f"{where}: capabilities not dropped")

    env = {}
    allowed = deploylib.allowed_env(vars_of[binary])
    for e in ctr.get("env") or []:
        name = e.get("name", "")
        env[name] = e.get("value")
        c.check(name in allowed,
                f"{where}: {name} is not a configuration variable of {binary}")
        c.check(name not in deploylib.SECRET_VARS,
                f"{where}: {name} is set directly; use {name}_FILE")
        c.check(("value" in e) != ("valueFrom" in e),
                f"{where}: {name} needs exactly one of value, valueFrom")
        if "value" in e:
            c.check(isinstance(e["value"], str),
                    f"{where}: {name}'s value is not a string")
            c.check(not deploylib.URL_WITH_PASSWORD.search(str(e["value"])),
                    f"{where}: {name} holds a password")
        ref = (e.get("valueFrom") or {})
        if "secretKeyRef" in ref:
            c.check(False, f"{where}: {name} takes a secret into the "
                           "environment; mount it and use NAME_FILE")
        if "configMapKeyRef" in ref:
            r = ref["configMapKeyRef"]
            cm = objs.get(("ConfigMap", r.get("name")))
            c.check(cm is not None and r.get("key") in (cm.get("data") or {}),
                    f"{where}: {name} refers to a missing ConfigMap key "
                    f"{r.get('name')}/{r.get('key')}")
            # The value the container gets, for the checks below.
            env[name] = ((cm or {}).get("data") or {}).get(r.get("key"))

    # NAME_FILE: a path inside a mounted Secret volume that has the key.
    mounts = {m.get("mountPath"): m.get("name")
              for m in ctr.get("volumeMounts") or []}
    for name, value in env.items():
        if not name.endswith("_FILE"):
            continue
        d, _, f = str(value).rpartition("/")
        vol = volumes.get(mounts.get(d))
        secret = (vol or {}).get("secret")
        if not c.check(secret is not None, f"{where}: {name} points into "
                                           f"{d}, which mounts no Secret"):
            continue
        items = {i.get("path"): i.get("key") for i in secret.get("items")
                 or []} or None
        key = items.get(f) if items is not None else f
        tmpl = objs.get(("Secret", secret.get("secretName")))
        keys = set((tmpl or {}).get("stringData") or {}) | \
            set((tmpl or {}).get("data") or {}) | \
            (cert_secret_keys(objs, secret.get("secretName")) or set())
        c.check(key is not None and key in keys,
                f"{where}: {name} needs key {key!r} of Secret "
                f"{secret.get('secretName')!r}, not in its template")
    return binary, env


def check_mail(c, env_of):
    """svc-auth's mail settings: all there, and values it would accept."""
    if not c.check("svc-auth" in env_of, "no svc-auth Deployment"):
        return
    env = env_of["svc-auth"]
    where = "Deployment svc-auth"
    for var in deploylib.MAIL_SETTINGS:
        c.check(var in env, f"{where}: the mail setting {var} is not set")
    c.check(env.get("AUTH_PUBLIC_BASE_URL") == env.get("AUTH_ISSUER"),
            f"{where}: the links in mail point at "
            f"{env.get('AUTH_PUBLIC_BASE_URL')!r}, not the edge's public URL "
            f"{env.get('AUTH_ISSUER')!r} (the issuer)")
    why = deploylib.smtp_url_problem(str(env.get("AUTH_SMTP_URL") or ""),
                                     str(env.get("AUTH_SMTP_STARTTLS") or ""))
    c.check(why is None, f"{where}: svc-auth would refuse AUTH_SMTP_URL "
                         f"{env.get('AUTH_SMTP_URL')!r}: {why}")
    for var in ("AUTH_SMTP_STARTTLS", "AUTH_REQUIRE_VERIFIED_EMAIL"):
        c.check(env.get(var, "false") in ("true", "false"),
                f"{where}: {var} is not true or false")
    c.check(re.fullmatch(r"[^\s<>@]+@[^\s<>@]+",
                         str(env.get("AUTH_MAIL_FROM") or "")) is not None,
            f"{where}: AUTH_MAIL_FROM {env.get('AUTH_MAIL_FROM')!r} is not a "
            "bare address")


def certificate_of_secret(objs, secret_name):
    for (k, n), d in objs.items():
        if k == "Certificate" and \
                (d.get("spec") or {}).get("secretName") == secret_name:
            return n, d
    return None, None


def check_certificates(c, objs, files_of, deployments, env_of):
    """The CA, a Certificate per identity, and each Deployment's TLS
    variables pointing at the files of its own identity's Certificate."""
    certs = {n: d for (k, n), d in objs.items() if k == "Certificate"}
    issuers = {n: d for (k, n), d in objs.items() if k == "Issuer"}
    # The CA Issuers: spec.ca naming the Secret of a CA Certificate.
    ca_issuers = set()
    for name, d in issuers.items():
        ca = (d.get("spec") or {}).get("ca")
        if ca is None:
            continue
        _, cert = certificate_of_secret(objs, ca.get("secretName"))
        if c.check(cert is not None and
                   (cert.get("spec") or {}).get("isCA") is True,
                   f"Issuer {name}: its CA Secret {ca.get('secretName')!r} "
                   "is not made by a Certificate with isCA"):
            ca_issuers.add(name)
    c.check(len(ca_issuers) == 1, f"one CA Issuer expected: "
                                  f"{sorted(ca_issuers)}")
    by_identity = {}
    for name, d in certs.items():
        spec = d.get("spec") or {}
        ref = spec.get("issuerRef") or {}
        c.check(ref.get("kind", "Issuer") in ("Issuer", "ClusterIssuer") and
                ref.get("name") in issuers,
                f"Certificate {name}: issuerRef {ref} is not an Issuer of "
                "the manifests")
        if spec.get("isCA"):
            continue
        cn = spec.get("commonName")
        where = f"{files_of[('Certificate', name)]}: Certificate {name}"
        c.check(cn in deploylib.IDENTITIES,
                f"{where}: commonName {cn!r} is not an identity "
                f"{deploylib.IDENTITIES}")
        c.check(cn not in by_identity, f"{where}: a second certificate "
                                       f"for {cn}")
        by_identity[cn] = name
        c.check(ref.get("name") in ca_issuers,
                f"{where}: not issued by the CA Issuer")
        c.check(cn in (spec.get("dnsNames") or []),
                f"{where}: dnsNames lack {cn!r} (clients check the server's "
                "identity as its DNS name)")
        usages = set(spec.get("usages") or [])
        c.check({"server auth", "client auth"} <= usages,
                f"{where}: usages need server auth and client auth")
        key = spec.get("privateKey") or {}
        c.check(key.get("algorithm") == "ECDSA" and key.get("size") == 256,
                f"{where}: the key is not ECDSA P-256")
        try:
            dur = int(str(spec.get("duration", "")).rstrip("h"))
            renew = int(str(spec.get("renewBefore", "")).rstrip("h"))
            c.check(0 < renew < dur, f"{where}: renewBefore is not within "
                                     "the duration")
        except ValueError:
            c.check(False, f"{where}: duration and renewBefore in hours "
                           "expected")
    for ident in deploylib.IDENTITIES:
        c.check(ident in by_identity, f"no Certificate for the identity "
                                      f"{ident}")

    for name, d in deployments.items():
        env = env_of.get(name)
        if env is None:
            continue
        where = f"{files_of[('Deployment', name)]}: Deployment {name}"
        pod = d["spec"]["template"]["spec"]
        ctr = pod["containers"][0]
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        mounts = {m.get("mountPath"): m.get("name")
                  for m in ctr.get("volumeMounts") or []}
        want = {"RPC_TLS_CERT": "tls.crt", "RPC_TLS_KEY": "tls.key",
                "RPC_TLS_CA": "ca.crt"}
        secrets = set()
        for var, key in want.items():
            c.check(var not in env, f"{where}: {var} is set inline; use "
                                    f"{var}_FILE (re-read when renewed)")
            path = str(env.get(var + "_FILE") or "")
            d_, _, f = path.rpartition("/")
            vol = volumes.get(mounts.get(d_)) or {}
            sname = (vol.get("secret") or {}).get("secretName")
            items = {i.get("path"): i.get("key")
                     for i in (vol.get("secret") or {}).get("items") or []}
            c.check(bool(path) and items.get(f, f) == key,
                    f"{where}: {var}_FILE ({path!r}) is not the {key} of a "
                    "mounted certificate Secret")
            secrets.add(sname)
        if not c.check(len(secrets) == 1,
                       f"{where}: its TLS files come from {secrets}, not "
                       "one Secret"):
            continue
        cname, cert = certificate_of_secret(objs, secrets.pop())
        cn = ((cert or {}).get("spec") or {}).get("commonName")
        c.check(cn == name, f"{where}: presents the certificate {cname} of "
                            f"{cn!r}, not its own identity {name!r}")


# The scraper the metrics ports admit: Prometheus's pods in the namespace
# "monitoring" (one peer: both selectors must match).
SCRAPER = "prometheus@monitoring"


def rule_sources(rule):
    """The app.kubernetes.io/name of each podSelector in a rule's from
    list (SCRAPER for Prometheus's pods in the namespace monitoring, "?"
    for any other peer with a namespace or address); None for a rule from
    anywhere (no from)."""
    if not rule.get("from"):
        return None
    out = set()
    for peer in rule["from"]:
        labels = ((peer.get("podSelector") or {}).get("matchLabels") or {})
        ns = ((peer.get("namespaceSelector") or {}).get("matchLabels") or {})
        if "namespaceSelector" not in peer and "ipBlock" not in peer:
            out.add(labels.get("app.kubernetes.io/name", "?"))
        elif "ipBlock" not in peer and labels == {
                "app.kubernetes.io/name": "prometheus"} and ns == {
                "kubernetes.io/metadata.name": "monitoring"}:
            out.add(SCRAPER)
        else:
            out.add("?")
    return out


def check_policies(c, objs, files_of, deployments, env_of, ports_of,
                   binary_of):
    """Who may reach which port: the callers the dial lists name, and the
    operators."""
    policies = {n: d for (k, n), d in objs.items() if k == "NetworkPolicy"}
    callers = {}  # deployment name -> the deployments that dial it
    for name, env in env_of.items():
        for var, target in DIALS.items():
            if var in env:
                callers.setdefault(target, set()).add(name)
    for name, d in deployments.items():
        labels = d["spec"]["template"]["metadata"].get("labels") or {}
        mine = [p for p, pd in policies.items()
                if matches(((pd.get("spec") or {}).get("podSelector") or {})
                           .get("matchLabels") or {}, labels)]
        if not c.check(len(mine) == 1, f"Deployment {name}: selected by "
                                       f"the policies {mine}, not one"):
            continue
        pol = policies[mine[0]]
        where = f"{files_of[('NetworkPolicy', mine[0])]}: NetworkPolicy " \
                f"{mine[0]}"
        spec = pol.get("spec") or {}
        c.check("Ingress" in (spec.get("policyTypes") or []),
                f"{where}: policyTypes lacks Ingress")
        ports = ports_of.get(name, {})
        admitted = {}  # container port -> set of sources, None = anyone
        for rule in spec.get("ingress") or []:
            src = rule_sources(rule)
            for p in rule.get("ports") or []:
                num = ports.get(p.get("port"), p.get("port"))
                c.check(num in ports.values() and
                        p.get("protocol", "TCP") == "TCP",
                        f"{where}: port {p.get('port')!r} is not a TCP port "
                        f"of {name}")
                if src is None or admitted.get(num, set()) is None:
                    admitted[num] = None
                else:
                    admitted[num] = admitted.get(num, set()) | src
            c.check(bool(rule.get("ports")), f"{where}: a rule for every "
                                             "port")
        for pname, num in ports.items():
            if pname == "metrics":
                c.check(admitted.get(num, set()) == {SCRAPER},
                        f"{where}: the metrics port {num} admits "
                        f"{admitted.get(num, set())}, expected Prometheus "
                        "only")
                continue
            if binary_of.get(name) == "edge":
                c.check(admitted.get(num, set()) is None,
                        f"{where}: the edge's port {num} is not open to "
                        "its clients")
                continue
            want = callers.get(name, set()) | {"ops"}
            got = admitted.get(num, set())
            c.check(got == want, f"{where}: port {num} admits {got}, "
                                 f"expected its callers {sorted(want)}")


def main():
    root = os.path.abspath(sys.argv[1])
    mdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root,
                                                               "deploy/k8s")
    c = deploylib.Checks("k8s")
    vars_of = deploylib.config_vars(root)

    objs, files_of = {}, {}
    kustomization = None
    files = sorted(glob.glob(os.path.join(mdir, "*.yaml")))
    c.check(bool(files), f"no manifests in {mdir}")
    for path in files:
        base = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            c.check(False, f"{base}: does not parse: {e}")
            continue
        for d in docs:
            kind = d.get("kind") if isinstance(d, dict) else None
            if kind == "Kustomization":
                kustomization = (base, d)
                continue
            meta = d.get("metadata") or {} if isinstance(d, dict) else {}
            name = meta.get("name", "")
            where = f"{base}: {kind} {name}"
            if not c.check(kind in API, f"{where}: unknown kind"):
                continue
            c.check(d.get("apiVersion") == API[kind],
                    f"{where}: apiVersion {d.get('apiVersion')!r}, "
                    f"expected {API[kind]}")
            c.check(bool(DNS_LABEL.match(name)) and len(name) <= 63,
                    f"{where}: metadata.name is not a DNS label")
            labels = meta.get("labels") or {}
            c.check(labels.get("app.kubernetes.io/part-of") == "microcore"
                    and bool(labels.get("app.kubernetes.io/name")),
                    f"{where}: labels app.kubernetes.io/name and part-of "
                    "required")
            c.check((kind, name) not in objs, f"{where}: defined twice")
            objs[(kind, name)] = d
            files_of[(kind, name)] = base

    deployments = {n: d for (k, n), d in objs.items() if k == "Deployment"}
    ports_of, env_of, binary_of = {}, {}, {}
    for name, d in deployments.items():
        where = f"{files_of[('Deployment', name)]}: Deployment {name}"
        spec = d.get("spec") or {}
        tmpl = spec.get("template") or {}
        tlabels = (tmpl.get("metadata") or {}).get("labels") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        c.check(matches(sel, tlabels),
                f"{where}: selector.matchLabels does not match the template")
        c.check(isinstance(spec.get("replicas"), int) and
                spec["replicas"] >= 2,
                f"{where}: fewer than 2 replicas (a PodDisruptionBudget "
                "could never allow an eviction)")
        pod = tmpl.get("spec") or {}
        pod_sc = pod.get("securityContext") or {}
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        ctrs = pod.get("containers") or []
        if not c.check(len(ctrs) == 1, f"{where}: one container expected"):
            continue
        ctr = ctrs[0]
        got = check_container(c, where, ctr, pod_sc, vars_of, objs, volumes)
        if not got:
            continue
        binary, env = got
        binary_of[name] = binary
        env_of[name] = env
        c.check(name == binary, f"{where}: named after {binary} expected")
        ports = {p.get("name"): p.get("containerPort")
                 for p in ctr.get("ports") or []}
        ports_of[name] = ports
        if binary in RPC:
            var, short = RPC[binary]
            port = deploylib.listen_port(env.get(var))
            c.check(str(env.get(var, "")).startswith("tls+tcp://0.0.0.0:"),
                    f"{where}: {var} must be tls+tcp://0.0.0.0:PORT")
            c.check(port in ports.values(),
                    f"{where}: {var} port {port} is not a containerPort")
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                if ctr.get(kind):
                    check_rpc_probe(c, where, ctr[kind], short, port, kind)
            # Liveness must not fail while a dependency is down: only the
            # readiness probe may require SERVING.
            live = " ".join((ctr.get("livenessProbe") or {}).get("exec", {})
                            .get("command") or [])
            c.check("grep -q SERVING" in live,
                    f"{where}: liveness must pass while NOT_SERVING")
        else:
            listen = str(env.get("EDGE_LISTEN", ""))
            c.check(listen.startswith("0.0.0.0:"),
                    f"{where}: EDGE_LISTEN must be 0.0.0.0:PORT")
            port = int(listen.rsplit(":", 1)[-1]) if ":" in listen else None
            c.check(port in ports.values(),
                    f"{where}: EDGE_LISTEN port is not a containerPort")
            for kind, path in (("readinessProbe", "/readyz"),
                               ("livenessProbe", "/healthz")):
                get = (ctr.get(kind) or {}).get("httpGet") or {}
                p = get.get("port")
                c.check(get.get("path") == path and
                        (p == port or ports.get(p) == port),
                        f"{where}: {kind} is not GET {path} on {port}")

    check_mail(c, env_of)

    services = {n: d for (k, n), d in objs.items() if k == "Service"}
    service_ports = {}
    for name, s in services.items():
        where = f"{files_of[('Service', name)]}: Service {name}"
        spec = s.get("spec") or {}
        sel = spec.get("selector") or {}
        targets = [dn for dn, d in deployments.items()
                   if matches(sel, ((d.get("spec") or {}).get("template") or
                                    {}).get("metadata", {}).get("labels")
                              or {})]
        if not c.check(len(targets) == 1,
                       f"{where}: selector matches {targets}, not one "
                       "Deployment"):
            continue
        ports = spec.get("ports") or []
        c.check(bool(ports), f"{where}: no ports")
        cports = ports_of.get(targets[0], {})
        for p in ports:
            t = p.get("targetPort", p.get("port"))
            c.check(isinstance(p.get("port"), int) and
                    (t in cports.values() or t in cports),
                    f"{where}: port {p.get('port')} -> {t} is not a port "
                    f"of {targets[0]}")
        service_ports[name] = {p.get("port") for p in ports}

    for (k, name), p in objs.items():
        if k != "PodDisruptionBudget":
            continue
        where = f"{files_of[(k, name)]}: PodDisruptionBudget {name}"
        spec = p.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        targets = [dn for dn, d in deployments.items()
                   if matches(sel, d["spec"]["template"]["metadata"]
                              ["labels"])]
        c.check(len(targets) == 1, f"{where}: selector matches {targets}")
        c.check(("minAvailable" in spec) != ("maxUnavailable" in spec),
                f"{where}: one of minAvailable, maxUnavailable required")

    # Dial lists name Services of the right component at their ports.
    for name, env in env_of.items():
        for var, target in DIALS.items():
            if var not in env:
                continue
            for url in re.split(r"[ ,]+", str(env[var]).strip()):
                m = re.match(r"^tls\+tcp://([a-z0-9.-]+):(\d+)$", url)
                host = m.group(1).split(".")[0] if m else None
                ok = (m is not None and host in services and
                      int(m.group(2)) in service_ports.get(host, set()) and
                      binary_of.get(host) == target)
                c.check(ok, f"Deployment {name}: {var} URL {url} is not the "
                            f"Service of {target} at its port")

    check_certificates(c, objs, files_of, deployments, env_of)
    check_policies(c, objs, files_of, deployments, env_of, ports_of,
                   binary_of)

    for comp in sorted(BINARIES):
        for kind in ("Deployment", "Service", "PodDisruptionBudget",
                     "NetworkPolicy"):
            c.check((kind, comp) in objs, f"{comp}: no {kind}")
    secrets = [n for (k, n) in objs if k == "Secret"]
    c.check(bool(secrets), "no Secret template")
    for (k, n), d in objs.items():
        if k == "Secret":
            values = {**(d.get("stringData") or {}), **(d.get("data") or {})}
            c.check(all("REPLACE" in str(v) for v in values.values()),
                    f"Secret {n}: a value that is not a placeholder")

    if c.check(kustomization is not None, "no kustomization.yaml"):
        base, kz = kustomization
        listed = set(kz.get("resources") or [])
        for (k, n), f in files_of.items():
            if k == "Secret":
                c.check(f not in listed,
                        f"{base}: applies the Secret template {f}")
            else:
                c.check(f in listed, f"{base}: does not list {f}")
        c.check(all(os.path.isfile(os.path.join(mdir, r)) for r in listed),
                f"{base}: lists a missing file")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
