"""Turns compose.yaml's resolved configuration (docker-compose config) and
the Kubernetes manifests into what runtime.sh needs to run the same
containers as local processes: per service its command, its environment and
its health check, with container addresses mapped to local ports and
/run/secrets to a local directory; and the Kubernetes probes of each
Deployment, mapped the same way.

Usage: compose_local.py CONFIG_YAML K8S_DIR OUT_DIR BUILD_DIR SECRETS_DIR
           NAME=HOST:PORT...

NAME is a compose service (or "redis"); its container address and listen
port become HOST:PORT; NAME.metrics=HOST:PORT its METRICS_LISTEN (without
one, "off": two replicas on one host cannot share a port). Writes, for each of our services, OUT_DIR/NAME.cmd
(the binary's path), NAME.env (KEY=VALUE lines) and NAME.health (the health
check's argv, NUL-separated, to be run in NAME.env as a container's health
check runs in its environment); and for each Deployment,
OUT_DIR/k8s-NAME-{readiness,liveness} with .probe (an exec probe's argv, to
be run in the environment of the compose service of the same binary) or
.url (an HTTP probe's URL); and OUT_DIR/prometheus.yml with rules.yml
beside it: deploy/observability's, each target NAME:PORT moved to NAME's
metrics address, every interval 1 s (Prometheus's own job left out).
"""

import os
import re
import shutil
import sys

import yaml

BINARIES = {"svc-auth": "svc-auth/svc-auth", "svc-user": "svc-user/svc-user",
            "svc-admin": "svc-admin/svc-admin", "edge": "edge/edge",
            "rpcctl": "cli/rpcctl"}
LISTEN = {"svc-auth": "AUTH_RPC_LISTEN", "svc-user": "USER_RPC_LISTEN",
          "svc-admin": "ADMIN_RPC_LISTEN", "edge": "EDGE_LISTEN"}


def write_prometheus(out, where):
    obs = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "../../deploy/observability")
    with open(os.path.join(obs, "prometheus.yml"), encoding="utf-8") as f:
        prom = yaml.safe_load(f)
    prom["global"].update(scrape_interval="1s", scrape_timeout="1s",
                          evaluation_interval="1s")
    jobs = []
    for job in prom["scrape_configs"]:
        if job["job_name"] == "prometheus":
            continue
        for sc in job.get("static_configs") or []:
            sc["targets"] = [where[t.split(":")[0] + ".metrics"]
                             for t in sc["targets"]]
        jobs.append(job)
    prom["scrape_configs"] = jobs
    with open(os.path.join(out, "prometheus.yml"), "w") as f:
        yaml.safe_dump(prom, f)
    shutil.copy(os.path.join(obs, "rules.yml"), out)


def main():
    config, k8s_dir, out, build, secrets = sys.argv[1:6]
    where = dict(a.split("=", 1) for a in sys.argv[6:])
    with open(config, encoding="utf-8") as f:
        services = yaml.safe_load(f)["services"]
    os.makedirs(out, exist_ok=True)

    def local_url(value):
        # tcp://NAME:PORT and redis://NAME:PORT of a service -> its address.
        def sub(m):
            name = m.group(2)
            return f"{m.group(1)}{where[name]}" if name in where else m.group(0)
        return re.sub(r"(\b(?:tcp|redis)://)([a-z0-9-]+):\d+", sub, value)

    for name, svc in services.items():
        cmd = svc.get("command") or []
        if not cmd or cmd[0] not in BINARIES:
            continue
        binary = cmd[0]
        addr = where[name]
        env = {}
        for k, v in (svc.get("environment") or {}).items():
            v = "" if v is None else str(v)
            if k == LISTEN[binary]:
                # tls+tcp://0.0.0.0:7101 -> tls+tcp://HOST:PORT
                v = f"{v.split('://', 1)[0]}://{addr}" if "://" in v else addr
            elif k == "METRICS_LISTEN":
                v = where.get(name + ".metrics", "off")
            elif v.startswith("/run/secrets/"):
                v = os.path.join(secrets, v[len("/run/secrets/"):])
            else:
                v = local_url(v)
            env[k] = v
        with open(os.path.join(out, name + ".cmd"), "w") as f:
            f.write(os.path.join(build, BINARIES[binary]) + "\n")
        with open(os.path.join(out, name + ".env"), "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in env.items())
        test = svc["healthcheck"]["test"]
        argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        port = addr.rsplit(":", 1)[1]
        argv = [a.replace("127.0.0.1:7101", addr).replace("127.0.0.1:7102", addr)
                .replace("127.0.0.1:7103", addr)
                .replace("/dev/tcp/127.0.0.1/8080", f"/dev/tcp/127.0.0.1/{port}")
                for a in argv]
        if argv[0] in BINARIES:
            argv[0] = os.path.join(build, BINARIES[argv[0]])
        with open(os.path.join(out, name + ".health"), "w") as f:
            f.write("\0".join(argv) + "\0")

    write_prometheus(out, where)

    for path in sorted(os.listdir(k8s_dir)):
        if not path.endswith(".yaml"):
            continue
        with open(os.path.join(k8s_dir, path), encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for d in docs:
            if d.get("kind") != "Deployment":
                continue
            name = d["metadata"]["name"]
            # The compose service of the same binary (its first replica).
            local = name if name in where else f"{name}-1"
            addr = where[local]
            ctr = d["spec"]["template"]["spec"]["containers"][0]
            ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
            for kind in ("readiness", "liveness"):
                probe = ctr[kind + "Probe"]
                base = os.path.join(out, f"k8s-{name}-{kind}")
                if "httpGet" in probe:
                    with open(base + ".url", "w") as f:
                        f.write(f"http://{addr}{probe['httpGet']['path']}\n")
                else:
                    argv = list(probe["exec"]["command"])
                    for p in ports.values():
                        argv = [a.replace(f"tcp://127.0.0.1:{p}",
                                          f"tcp://{addr}") for a in argv]
                    rpcctl = os.path.join(build, BINARIES["rpcctl"])
                    if argv[0] == "rpcctl":
                        argv[0] = rpcctl
                    elif argv[:2] == ["sh", "-c"]:
                        argv[2] = re.sub(r"^rpcctl\b", rpcctl, argv[2])
                    with open(base + ".probe", "w") as f:
                        f.write("\0".join(argv) + "\0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
