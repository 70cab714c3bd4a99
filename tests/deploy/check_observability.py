"""deploy/observability against itself, the deployment files and the
metric reference of docs/operations.md.

Usage: check_observability.py CHECKOUT
       check_observability.py --served CHECKOUT SCRAPE...
       check_observability.py --queries CHECKOUT PROMETHEUS_URL

promtool (Debian's prometheus package) checks prometheus.yml (`check
config`, which also checks the rule file it names), rules.yml (`check
rules`) and runs rules_test.yml (`test rules`). Every alert has a `for`, a
severity, a summary, a description and a runbook_url to a heading of
docs/operations.md, and rules_test.yml has a case where it fires and one
where it does not. The Grafana dashboard parses (jq), has a row per
component and for the process and its stores, template variables for the
data source, job, component and instance, unique panel ids, a current
schemaVersion, and a panel for every metric of the reference. Every metric
the rules and the dashboard read is a metric of docs/operations.md's
"Metric reference" (a renamed metric breaks this test), and each row of
that table names exactly the alerts that read it. Compose: every process
listens for metrics on 0.0.0.0 at its port (METRICS_LISTEN), published
nowhere, and is a target of prometheus.yml's job of its kind, on a network
Prometheus is on; Prometheus runs behind the profile "observability" from
a pinned image with this directory's files. Kubernetes: every Deployment
sets METRICS_LISTEN, has the container port "metrics" and the
prometheus.io annotations, and the PodMonitor selects its pods on that
port.

With --served (runtime.sh, on what the compose processes served): every
metric of the reference is in one of the scrapes (Prometheus text files),
with the reference's type, and every family they serve is in the
reference. With --queries (runtime.sh, against a Prometheus scraping
them): every query of the dashboard, its variables set to everything,
evaluates, and every panel's queries together find a series.
"""

import glob
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request

import yaml

import deploylib

# The metrics port of each kind of process (METRICS_LISTEN in compose and
# Kubernetes; the binaries' loopback defaults use the same numbers).
PORTS = {"svc-auth": 9101, "svc-user": 9102, "svc-admin": 9103, "edge": 9104}
# The job of the single-process mode, which the rules select too.
JOBS = set(PORTS) | {"microcore"}
# Series Prometheus makes itself for every target.
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
SEVERITIES = {"critical", "warning", "info"}
# The rows of the dashboard, by title (what the title starts with).
ROWS = ["edge", "svc-auth", "svc-user", "svc-admin", "process", "storage"]
# Grafana 10.4 and later.
MIN_SCHEMA = 39
FILES = ["prometheus.yml", "rules.yml", "rules_test.yml",
         "grafana-dashboard.json", "k8s/podmonitor.yaml"]

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring",
                "group_left", "group_right", "bool", "offset", "inf", "nan",
                "atan2", "topk", "bottomk", "quantile", "count_values"}


def slug(heading):
    """GitHub's anchor of a Markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(markdown):
    return {slug(m) for m in re.findall(r"^#{1,6}\s+(.*)$", markdown, re.M)}


def metric_names(expr):
    """The metric names a PromQL expression reads (Grafana's $variables
    and [$__rate_interval] allowed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)       # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                     # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                    # ranges
    e = re.sub(r"\$\{?\w+\}?", " ", e)                   # Grafana variables
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function or an operator
        # Durations like 5m, numbers like 1e3 are not words here.
        if re.fullmatch(r"\d.*", word):
            continue
        names.add(word)
    return names


def reference(ops):
    """{metric: (type, set of alerts)} of the Metric reference's tables:
    rows | `name` | type | labels | meaning | alerts |."""
    start = ops.find("## Metric reference")
    if start < 0:
        return {}
    nxt = re.search(r"^## ", ops[start + 3:], re.M)
    text = ops[start:start + 3 + nxt.start()] if nxt else ops[start:]
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`([a-z_:][a-z0-9_:]*)`", cells[0]) if cells \
            else None
        if m and len(cells) >= 5:
            alerts = set(re.findall(r"Microcore[A-Za-z0-9]+", cells[4]))
            out[m.group(1)] = (cells[1], alerts)
    return out


def base_name(name, ref):
    """A histogram's series (_bucket, _count, _sum) as its family."""
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name[:-len(suffix)] in ref:
            return name[:-len(suffix)]
    return name


def run(c, what, argv, cwd):
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                           timeout=120)
    except FileNotFoundError:
        return c.check(False, f"{what}: {argv[0]} is not installed")
    return c.check(r.returncode == 0, f"{what} exited {r.returncode}: "
                                      f"{(r.stdout + r.stderr).strip()}")


def check_rules(c, obs, ops, ref):
    with open(os.path.join(obs, "rules.yml"), encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    with open(os.path.join(obs, "rules_test.yml"), encoding="utf-8") as f:
        tests = yaml.safe_load(f)
    heads = anchors(ops)
    alerts, used_by = {}, {}
    for group in rules.get("groups") or []:
        for r in group.get("rules") or []:
            name = r.get("alert")
            if not name:
                continue
            c.check(name not in alerts, f"rules.yml: {name} defined twice")
            alerts[name] = r
            c.check("for" in r, f"rules.yml: {name} has no for")
            c.check((r.get("labels") or {}).get("severity") in SEVERITIES,
                    f"rules.yml: {name}'s severity is not one of "
                    f"{sorted(SEVERITIES)}")
            ann = r.get("annotations") or {}
            for a in ("summary", "description", "runbook_url"):
                c.check(bool(ann.get(a)), f"rules.yml: {name} has no {a}")
            m = re.fullmatch(r"docs/operations\.md#([a-z0-9_-]+)",
                             ann.get("runbook_url", ""))
            c.check(m is not None and m.group(1) in heads,
                    f"rules.yml: {name}'s runbook_url "
                    f"{ann.get('runbook_url')!r} is not a heading of "
                    "docs/operations.md")
            for metric in metric_names(str(r.get("expr", ""))):
                metric = base_name(metric, ref)
                used_by.setdefault(metric, set()).add(name)
            for jobs in re.findall(r'job=~"([^"]*)"', str(r.get("expr"))):
                c.check(set(jobs.split("|")) == JOBS,
                        f"rules.yml: {name} selects the jobs {jobs}, not "
                        f"{'|'.join(sorted(JOBS))}")
    c.check(len(alerts) >= 10, f"rules.yml: only {len(alerts)} alerts")

    fires, quiet = set(), set()
    for t in tests.get("tests") or []:
        for a in t.get("alert_rule_test") or []:
            name = a.get("alertname")
            c.check(name in alerts, f"rules_test.yml: tests {name}, which "
                                    "rules.yml does not define")
            (fires if a.get("exp_alerts") else quiet).add(name)
    for name in sorted(alerts):
        c.check(name in fires, f"rules_test.yml: no case where {name} "
                               "fires")
        c.check(name in quiet, f"rules_test.yml: no case where {name} "
                               "stays quiet")
    return alerts, used_by


def check_dashboard(c, obs, ref):
    path = os.path.join(obs, "grafana-dashboard.json")
    if not run(c, "jq on grafana-dashboard.json",
               ["jq", "-e", ".title and .panels", path], obs):
        return set()
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    c.check(isinstance(dash.get("schemaVersion"), int) and
            dash["schemaVersion"] >= MIN_SCHEMA,
            f"dashboard: schemaVersion {dash.get('schemaVersion')} is older "
            f"than {MIN_SCHEMA}")
    c.check(dash.get("id") is None, "dashboard: an id (it belongs to the "
                                    "Grafana it was exported from)")
    c.check(bool(dash.get("uid")), "dashboard: no uid")
    variables = {v.get("name"): v for v in
                 (dash.get("templating") or {}).get("list") or []}
    c.check((variables.get("datasource") or {}).get("type") == "datasource"
            and variables["datasource"].get("query") == "prometheus",
            "dashboard: no Prometheus data source variable \"datasource\"")
    for v in ("job", "component", "instance"):
        c.check((variables.get(v) or {}).get("type") == "query",
                f"dashboard: no query variable {v!r}")
    panels = dash.get("panels") or []
    rows = [p.get("title", "") for p in panels if p.get("type") == "row"]
    for want in ROWS:
        c.check(any(r.lower().startswith(want) for r in rows),
                f"dashboard: no row for {want} (rows: {rows})")
    ids = [p.get("id") for p in panels]
    c.check(len(ids) == len(set(ids)) and None not in ids,
            "dashboard: panel ids missing or not unique")
    used = set()
    graphs = [p for p in panels if p.get("type") != "row"]
    c.check(len(graphs) >= len(ROWS) * 2, "dashboard: too few panels")
    for p in graphs:
        where = f"dashboard: panel {p.get('title')!r}"
        c.check((p.get("datasource") or {}).get("uid") == "${datasource}",
                f"{where}: not on the data source variable")
        c.check(bool(p.get("gridPos")), f"{where}: no gridPos")
        targets = p.get("targets") or []
        c.check(bool(targets), f"{where}: no query")
        for t in targets:
            expr = t.get("expr", "")
            c.check(bool(expr), f"{where}: a target without expr")
            names = metric_names(expr)
            c.check(bool(names), f"{where}: reads no metric: {expr}")
            used |= {base_name(n, ref) for n in names}
    return used


def compose_config(root):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp")}
    r = subprocess.run(["docker-compose", "-f", "compose.yaml", "config"],
                       cwd=root, env=env, capture_output=True, text=True,
                       timeout=120)
    return yaml.safe_load(r.stdout) if r.returncode == 0 else None


def check_compose(c, root, obs):
    conf = compose_config(root)
    if not c.check(conf is not None, "docker-compose config failed"):
        return
    services = conf.get("services") or {}
    with open(os.path.join(obs, "prometheus.yml"), encoding="utf-8") as f:
        prom = yaml.safe_load(f)
    jobs = {}
    for sc in prom.get("scrape_configs") or []:
        targets = [t for s in sc.get("static_configs") or []
                   for t in s.get("targets") or []]
        jobs[sc.get("job_name")] = sorted(targets)
    p = services.get("prometheus")
    if not c.check(p is not None, "compose: no prometheus service"):
        return
    c.check(p.get("profiles") == ["observability"],
            "compose: prometheus is not behind the profile observability")
    c.check(re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+",
                         str(p.get("image"))) is not None,
            f"compose: prometheus's image {p.get('image')!r} is not "
            "prom/prometheus at a fixed version")
    mounts = {}  # target -> source, of the long or the short syntax
    for v in p.get("volumes") or []:
        if isinstance(v, dict):
            mounts[str(v.get("target"))] = str(v.get("source"))
        elif str(v).count(":") >= 1:
            parts = str(v).split(":")
            mounts[parts[1]] = parts[0]
    for name in ("prometheus.yml", "rules.yml"):
        src = mounts.get(f"/etc/prometheus/{name}", "")
        c.check(os.path.isfile(src) and
                os.path.samefile(src, os.path.join(obs, name)),
                f"compose: prometheus does not mount "
                f"deploy/observability/{name} at /etc/prometheus/{name}")
    c.check("--config.file=/etc/prometheus/prometheus.yml" in
            (p.get("command") or []),
            "compose: prometheus does not read /etc/prometheus/prometheus.yml")
    pnets = set(p.get("networks") or {})
    want = {}
    for name, svc in sorted(services.items()):
        cmd = svc.get("command") or []
        binary = cmd[0] if cmd else ""
        if binary not in PORTS:
            continue
        env = svc.get("environment") or {}
        port = PORTS[binary]
        c.check(env.get("METRICS_LISTEN") == f"0.0.0.0:{port}",
                f"compose: {name}: METRICS_LISTEN is "
                f"{env.get('METRICS_LISTEN')!r}, not 0.0.0.0:{port}")
        published = [str(x.get("target")) for x in svc.get("ports") or []]
        c.check(str(port) not in published,
                f"compose: {name} publishes its metrics port {port}")
        c.check(bool(pnets & set(svc.get("networks") or {})),
                f"compose: {name} shares no network with prometheus")
        want.setdefault(binary, []).append(f"{name}:{port}")
    c.check(set(want) == set(PORTS), f"compose: processes {sorted(want)}")
    for binary, targets in want.items():
        c.check(jobs.get(binary) == sorted(targets),
                f"prometheus.yml: job {binary} scrapes "
                f"{jobs.get(binary)}, not {sorted(targets)}")
    extra = set(jobs) - set(PORTS) - {"prometheus"}
    c.check(not extra, f"prometheus.yml: jobs of nothing in compose: "
                       f"{sorted(extra)}")


def check_k8s(c, root, obs):
    deployments = []
    for path in sorted(glob.glob(os.path.join(root, "deploy/k8s/*.yaml"))):
        with open(path, encoding="utf-8") as f:
            deployments += [d for d in yaml.safe_load_all(f)
                            if d and d.get("kind") == "Deployment"]
    with open(os.path.join(obs, "k8s/podmonitor.yaml"),
              encoding="utf-8") as f:
        pm = yaml.safe_load(f)
    c.check(pm.get("apiVersion") == "monitoring.coreos.com/v1" and
            pm.get("kind") == "PodMonitor", "podmonitor.yaml: not a "
                                            "PodMonitor")
    spec = pm.get("spec") or {}
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    c.check(spec.get("jobLabel") == "app.kubernetes.io/name",
            "podmonitor.yaml: job is not the pod's app.kubernetes.io/name")
    eps = spec.get("podMetricsEndpoints") or []
    c.check([e.get("port") for e in eps] == ["metrics"] and
            all(e.get("path") == "/metrics" for e in eps),
            "podmonitor.yaml: not the port metrics at /metrics")
    seen = set()
    for d in deployments:
        name = d["metadata"]["name"]
        tmpl = d["spec"]["template"]
        ctr = tmpl["spec"]["containers"][0]
        binary = (ctr.get("command") or [""])[0]
        if not c.check(binary in PORTS, f"k8s: {name} runs {binary!r}"):
            continue
        seen.add(binary)
        port = PORTS[binary]
        env = {e.get("name"): e.get("value") for e in ctr.get("env") or []}
        c.check(env.get("METRICS_LISTEN") == f"0.0.0.0:{port}",
                f"k8s: {name}: METRICS_LISTEN is "
                f"{env.get('METRICS_LISTEN')!r}, not 0.0.0.0:{port}")
        ports = {p.get("name"): p.get("containerPort")
                 for p in ctr.get("ports") or []}
        c.check(ports.get("metrics") == port,
                f"k8s: {name}: no container port metrics {port}")
        ann = tmpl["metadata"].get("annotations") or {}
        c.check(ann.get("prometheus.io/scrape") == "true" and
                ann.get("prometheus.io/port") == str(port) and
                ann.get("prometheus.io/path") == "/metrics",
                f"k8s: {name}: prometheus.io annotations {ann}")
        labels = tmpl["metadata"].get("labels") or {}
        c.check(bool(sel) and all(labels.get(k) == v
                                  for k, v in sel.items()),
                f"podmonitor.yaml: does not select {name}'s pods")
        c.check(labels.get("app.kubernetes.io/name") == binary,
                f"k8s: {name}: its job (app.kubernetes.io/name) would be "
                f"{labels.get('app.kubernetes.io/name')!r}, not {binary}")
    c.check(seen == set(PORTS), f"k8s: Deployments of {sorted(seen)}")


def served(root, scrapes):
    """The reference against the # TYPE lines of what processes served."""
    c = deploylib.Checks("metrics served")
    with open(os.path.join(root, "docs/operations.md"), encoding="utf-8") as f:
        ref = reference(f.read())
    types = {}
    for path in scrapes:
        with open(path, encoding="utf-8") as f:
            for m in re.finditer(r"^# TYPE (\S+) (\S+)$", f.read(), re.M):
                types[m.group(1)] = m.group(2)
    c.check(bool(types), "nothing was served")
    for name, (kind, _) in sorted(ref.items()):
        if name in BUILTIN:
            continue
        c.check(types.get(name) == kind,
                f"{name}: the reference says {kind}, the processes serve "
                f"{types.get(name, 'nothing')}")
    for name in sorted(set(types) - set(ref)):
        c.check(False, f"{name} ({types[name]}) is served but not in "
                       "docs/operations.md's Metric reference")
    return c.finish()


def queries(root, url):
    """The dashboard's queries against a live Prometheus."""
    c = deploylib.Checks("dashboard queries")
    path = os.path.join(root, "deploy/observability/grafana-dashboard.json")
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    for p in dash.get("panels") or []:
        found = False
        for t in p.get("targets") or []:
            expr = re.sub(r"\$__rate_interval", "1m", t.get("expr", ""))
            expr = re.sub(r"\$\{?(job|component|instance)\}?", ".*", expr)
            q = urllib.parse.urlencode({"query": expr})
            try:
                with urllib.request.urlopen(f"{url}/api/v1/query?{q}",
                                            timeout=10) as r:
                    body = json.load(r)
            except (OSError, ValueError) as e:
                c.check(False, f"{p.get('title')!r}: {expr}: {e}")
                continue
            c.check(body.get("status") == "success",
                    f"{p.get('title')!r}: {expr}: {body}")
            found |= bool((body.get("data") or {}).get("result"))
        if p.get("targets"):
            c.check(found, f"panel {p.get('title')!r} finds no series: "
                           f"{[t.get('expr') for t in p['targets']]}")
    return c.finish()


def main():
    if sys.argv[1] == "--queries":
        return queries(os.path.abspath(sys.argv[2]), sys.argv[3])
    if sys.argv[1] == "--served":
        return served(os.path.abspath(sys.argv[2]), sys.argv[3:])
    root = os.path.abspath(sys.argv[1])
    obs = os.path.join(root, "deploy/observability")
    c = deploylib.Checks("observability")
    with open(os.path.join(root, "docs/operations.md"), encoding="utf-8") as f:
        ops = f.read()
    ref = reference(ops)
    c.check(len(ref) >= 30, f"docs/operations.md: the Metric reference "
                            f"lists {len(ref)} metrics")
    missing = [f for f in FILES if not os.path.isfile(os.path.join(obs, f))]
    if not c.check(not missing, f"deploy/observability lacks {missing}"):
        return c.finish()

    run(c, "promtool check config prometheus.yml",
        ["promtool", "check", "config", "prometheus.yml"], obs)
    run(c, "promtool check rules rules.yml",
        ["promtool", "check", "rules", "rules.yml"], obs)
    run(c, "promtool test rules rules_test.yml",
        ["promtool", "test", "rules", "rules_test.yml"], obs)

    alerts, used_by = check_rules(c, obs, ops, ref)
    used = check_dashboard(c, obs, ref)
    for metric in sorted(set(used_by) | used):
        c.check(metric in ref or metric in BUILTIN,
                f"{metric}, read by {sorted(used_by.get(metric, []))} "
                f"{'and the dashboard' if metric in used else ''}, is not "
                "in docs/operations.md's Metric reference")
    for metric in sorted(set(ref) - used):
        c.check(False, f"dashboard: does not show {metric}")
    for metric, (_, named) in sorted(ref.items()):
        c.check(named == used_by.get(metric, set()),
                f"Metric reference: {metric} names the alerts "
                f"{sorted(named)}, rules.yml has "
                f"{sorted(used_by.get(metric, set()))} read it")
        c.check(set(named) <= set(alerts), f"Metric reference: {metric} "
                                           "names an alert that is not in "
                                           "rules.yml")

    check_compose(c, root, obs)
    check_k8s(c, root, obs)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
