#!/usr/bin/env python3
"""The configuration reference (docs/configuration.md) against the configuration's definition.

usage: config_docs_test.py PATH/TO/sbc SOURCE_DIR

1. Every key the reference documents is known to the SBC: for each one, a small YAML file sets
   that key and, after it in the same mapping, a key that exists nowhere (SENTINEL); the SBC
   rejects unknown keys of a mapping in order before reading any value, so `sbc check-config`
   must name the sentinel as the unknown key (naming the documented key means the SBC does not
   know it; naming neither means the test did not reach the mapping).
2. Every key the SBC reads is documented: the `reject_unknown_keys(node, "path", {...})` lists in
   sbc/app/config*.cpp (static string literals), the `known{...}` lists and the section tables
   (`{"name", read_...}`) that extend them.
3. Every key of the embedded default configuration (sbc/app/default_config.yaml) is documented.

The table format is described at the top of docs/configuration.md.
"""
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

SENTINEL = "zz_not_a_configuration_key"
# Keys a list item needs before the SBC reads deeper into it (only for ancestors of the key).
REQUIRED = {
    "listeners[]": {"transport": "tls"},
    "core.targets[]": {"uri": "sip:192.0.2.1"},
    "policy.acl.listeners[]": {"port": 5060},
}

failures = []


def fail(message):
    failures.append(message)


def documented_keys(text):
    """Key paths of the reference's tables, and the names written in braces ({rate, burst})."""
    keys = []
    for line in text.splitlines():
        if not line.startswith("|") or line.startswith("| ---") or line.startswith("| key |"):
            continue
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        names = re.findall(r"`([^`]+)`", first_cell)
        if not names:
            continue
        full = names[0]
        parent = full.rsplit(".", 1)[0] + "." if "." in full else ""
        keys.append(full)
        keys.extend(parent + name for name in names[1:])
    braced = set()
    for span in re.findall(r"`([^`]*)`", text):
        for inner in re.findall(r"\{([^{}]*)\}", span):
            for part in inner.split(","):
                name = part.split(":")[0].strip()
                if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                    braced.add(name)
    return keys, braced


def components(path):
    return [(c[:-2], True) if c.endswith("[]") else (c, False) for c in path.split(".")]


def probe_document(path):
    """A YAML document setting `path` followed by the sentinel in the same mapping."""
    comps = components(path)
    name, is_list = comps[-1]
    node = {name: [0] if is_list else 0, SENTINEL: 0}
    for i in range(len(comps) - 2, -1, -1):
        name, is_list = comps[i]
        prefix = ".".join(c + ("[]" if l else "") for c, l in comps[: i + 1])
        if is_list:
            item = dict(REQUIRED.get(prefix, {}))
            item.update(node)
            node = {name: [item]}
        else:
            node = {name: node}
    parent = ".".join(c + ("[0]" if l else "") for c, l in comps[:-1])
    expected = (parent + "." if parent else "") + SENTINEL + ": unknown key"
    return yaml.safe_dump(node, sort_keys=False), expected


def check_documented_keys_are_known(sbc, keys):
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            document, expected = probe_document(key)
            file = pathlib.Path(tmp, "probe.yaml")
            file.write_text(document)
            result = subprocess.run([sbc, "check-config", str(file)], capture_output=True,
                                    text=True, timeout=30)
            output = result.stdout + result.stderr
            if expected in output:
                continue
            if "unknown key" in output:
                fail(f"documented key {key} is unknown to the SBC: {output.strip()}")
            else:
                fail(f"could not check {key} (expected '{expected}'): {output.strip()}\n"
                     f"--- probe:\n{document}")


def code_keys(source):
    """(full key paths, names under a path computed at run time) the SBC reads."""
    full, leaves = set(), set()
    call = re.compile(r'reject_unknown_keys\(\s*\w+\s*,\s*(?:"([^"]*)"|(\w+))\s*,\s*'
                      r'(?:\{([^{}]*)\}|(known))\s*\)', re.S)
    for file in sorted(pathlib.Path(source, "sbc/app").glob("config*.cpp")):
        text = file.read_text()
        for literal, variable, names, known in call.findall(text):
            if known:
                listed = re.search(r"known\{([^{}]*)\}", text)
                found = re.findall(r'"(\w+)"', listed.group(1)) if listed else []
                found += re.findall(r'\{"(\w+)",\s*(?:read_\w+|\[\])', text)
                if not found:
                    fail(f"{file.name}: a `known` list whose names this test cannot find")
            else:
                found = re.findall(r'"(\w+)"', names)
            for name in found:
                if variable:
                    leaves.add(name)
                else:
                    full.add(f"{literal}.{name}" if literal else name)
    return full, leaves


def is_documented(path, docs):
    plain = path.replace("[]", "")
    return any(d == path or d.replace("[]", "").startswith(plain + ".") or
               d.replace("[]", "") == plain for d in docs)


def default_keys(node, prefix=""):
    out = []
    if isinstance(node, dict):
        for name, value in node.items():
            path = f"{prefix}.{name}" if prefix else name
            out.append(path)
            if isinstance(value, dict):
                out.extend(default_keys(value, path))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for item in value:
                    out.extend(default_keys(item, path + "[]"))
    return out


def main():
    sbc, source = sys.argv[1], pathlib.Path(sys.argv[2])
    docs, braced = documented_keys((source / "docs/configuration.md").read_text())
    if len(docs) < 100:
        fail(f"only {len(docs)} keys found in docs/configuration.md: is the table format intact?")
    duplicates = {k for k in docs if docs.count(k) > 1}
    if duplicates:
        fail(f"documented twice: {sorted(duplicates)}")

    check_documented_keys_are_known(sbc, docs)

    full, leaves = code_keys(source)
    if len(full) < 80 or "relay.timers.t1_ms" not in full or "workers" not in full:
        fail(f"only {len(full)} keys found in sbc/app/config*.cpp: did the readers change shape?")
    for key in sorted(full):
        if not is_documented(key, docs):
            fail(f"the SBC reads {key}, docs/configuration.md does not document it")
    named = {c.replace("[]", "") for d in docs for c in d.split(".")}
    for name in sorted(leaves):
        if name not in named and name not in braced:
            fail(f"the SBC reads '{name}' (in a list item or a compound value), "
                 "docs/configuration.md names it nowhere")

    default = yaml.safe_load((source / "sbc/app/default_config.yaml").read_text())
    for key in default_keys(default):
        # A key inside a documented compound value ({rate, burst}) is documented with it.
        ancestors = [key.rsplit(".", n)[0] for n in range(key.count(".") + 1)]
        if not is_documented(key, docs) and not any(a in docs and "[]" not in key[len(a):]
                                                    for a in ancestors):
            fail(f"the default configuration has {key}, docs/configuration.md does not document it")

    for message in failures:
        print("FAIL:", message, file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"config docs: {len(docs)} documented keys known to the SBC; {len(full)} keys and "
          f"{len(leaves)} item names read by the SBC and every default key documented")


if __name__ == "__main__":
    main()
