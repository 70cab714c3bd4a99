"""The configuration reference agrees with the code: every variable each
binary's configuration table declares is a row of docs/operations.md's
"Configuration reference", with the code's default and the binary among
those that use it, and no row names a variable nothing reads. The README's
configuration table, where it has a row, states the same default. The
compose section's tables name every variable compose.yaml takes from the
operator's environment (.env), with compose's default, and no other.

Usage: check_config_docs.py CHECKOUT
"""

import os
import re
import sys

import deploylib

SERVICES = ("svc-auth", "svc-user", "svc-admin")


def c_defaults(root):
    """{binary: {name: default}}; default None when it comes from the
    build (a macro the file does not define as a string)."""
    out = {}
    for binary, files in deploylib.BINARY_SOURCES.items():
        found = {}
        for rel in files:
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                text = f.read()
            macros = dict(re.findall(
                r'^#define\s+([A-Z_][A-Z0-9_]*)\s+(?:\\\n\s*)?"([^"]*)"',
                text, re.M))
            for name, lit, macro in re.findall(
                    r'\{\s*"([A-Z][A-Z0-9_]*)"\s*,\s*(?:"((?:[^"\\]|\\.)*)"'
                    r'|([A-Z_][A-Z0-9_]*))', text):
                if not macro:
                    found[name] = lit
                elif macro == "NULL":
                    found[name] = ""  # read as it is, no default
                elif re.search(rf"#ifndef\s+{macro}\b", text):
                    found[name] = None  # the build defines it
                else:
                    found[name] = macros.get(macro)
            found.update(deploylib.REGISTRY_ROW.findall(text))
            for env, default in re.findall(
                    r'\.listen_env\s*=\s*"([A-Z0-9_]+)",\s*'
                    r'\.listen_default\s*=\s*"([^"]*)"', text):
                found[env] = default
            # METRICS_LISTEN: service.c's item takes each service's own
            # default from its definition.
            for default in re.findall(
                    r'\.metrics_listen_default\s*=\s*"([^"]*)"', text):
                found["METRICS_LISTEN"] = default
        out[binary] = found
    return out


def table_rows(text):
    """[(name, default cell, used-by cell or None)] of Markdown table rows
    whose first cell is a `VARIABLE`."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0]) if cells else None
        if m and len(cells) >= 3:
            rows.append((m.group(1), cells[1], cells[2]))
    return rows


def doc_default_of(cell, binary):
    """The default a cell states for binary: "svc-auth `x`, edge `y`"
    when the binaries' defaults differ, else the cell's one default."""
    m = re.search(rf"(?:^|, ){re.escape(binary)} `([^`]*)`", cell)
    return m.group(1) if m else doc_default(cell)


def doc_default(cell):
    if re.match(r"^(empty|—)", cell):
        return ""
    m = re.fullmatch(r"`([^`]*)`", cell)
    return m.group(1) if m else None


def section(text, title):
    start = text.index(title)
    nxt = re.search(r"^## ", text[start + len(title):], re.M)
    return text[start:start + len(title) + nxt.start()] if nxt else \
        text[start:]


# ${NAME}, ${NAME:-default}, ${NAME-default} in compose.yaml.
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?-([^}]*))?\}")


def compose_vars(root):
    """{name: default} of what compose.yaml interpolates (comments
    aside)."""
    with open(os.path.join(root, "compose.yaml"), encoding="utf-8") as f:
        code = "\n".join(line.split("#", 1)[0] for line in f)
    return {n: d or "" for n, d in INTERPOLATION.findall(code)}


def check_compose_table(c, ops, root, code):
    title = "## Running on a container host (compose)"
    if not c.check(title in ops, f"docs/operations.md has no {title}"):
        return
    rows = {n: cell for n, cell, _ in table_rows(section(ops, title))}
    for name, default in sorted(compose_vars(root).items()):
        if not c.check(name in rows, f"compose section: {name}, taken from "
                                     ".env by compose.yaml, is missing"):
            continue
        c.check(doc_default(rows[name]) == default,
                f"compose section: {name} default {rows[name]!r}, "
                f"compose.yaml says {default!r}")
        # "empty (svc-auth's `30`)": what the empty value leaves.
        m = re.search(r"svc-auth's `([^`]*)`", rows[name])
        if m:
            c.check(m.group(1) == code["svc-auth"].get(name),
                    f"compose section: {name}: svc-auth's default is "
                    f"{code['svc-auth'].get(name)!r}, not {m.group(1)!r}")
    for name in rows:
        c.check(name in compose_vars(root),
                f"compose section: compose.yaml does not read {name}")


def main():
    root = os.path.abspath(sys.argv[1])
    c = deploylib.Checks("config-docs")
    code = c_defaults(root)
    with open(os.path.join(root, "docs/operations.md"), encoding="utf-8") as f:
        ops = f.read()
    if not c.check("## Configuration reference" in ops,
                   "docs/operations.md has no Configuration reference"):
        return c.finish()
    rows = table_rows(section(ops, "## Configuration reference"))
    documented = {}
    for name, default, used in rows:
        c.check(name not in documented, f"reference: {name} listed twice")
        documented[name] = (default, used)
    everything = set()
    for binary, items in sorted(code.items()):
        for name, default in sorted(items.items()):
            everything.add(name)
            if not c.check(name in documented, f"reference: {name} "
                           f"({binary}) is missing"):
                continue
            cell, used = documented[name]
            users = {u.strip() for u in used.split(",")}
            if "services" in users:
                users |= set(SERVICES)
            c.check(binary in users,
                    f"reference: {name} does not say {binary} uses it")
            if default is None:
                c.check("checkout" in cell,
                        f"reference: {name}'s default should name the "
                        "checkout's directory")
            else:
                c.check(doc_default_of(cell, binary) == default,
                        f"reference: {name} default {cell!r}, the code "
                        f"says {default!r}")
    for name in documented:
        c.check(name in everything,
                f"reference: {name} is read by no binary's table")

    check_compose_table(c, ops, root, code)

    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    merged = {}
    for items in code.values():
        merged.update(items)
    for name, cell, _ in table_rows(section(readme, "## Configuration")):
        if name in merged and merged[name] is not None and \
                doc_default(cell) is not None:
            c.check(doc_default(cell) == merged[name],
                    f"README: {name} default {cell!r}, the code says "
                    f"{merged[name]!r}")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
