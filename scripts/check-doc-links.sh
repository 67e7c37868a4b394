#!/usr/bin/env bash
# Every relative link in the repository's Markdown files ([text](path), [text](path#anchor),
# [text](#anchor)) points to a file that exists and, for an anchor, to a heading of that file
# (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens, -1, -2 … for repeats).
# Links inside code blocks and inline code are not links. usage: scripts/check-doc-links.sh
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z --cached --others --exclude-standard '*.md' | python3 -c '
import os, re, sys

def strip_code(line):
    return re.sub(r"`[^`]*`", "", line)

def lines_outside_fences(path):
    fenced = False
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line.rstrip("\n")

def anchors(path, cache={}):
    if path not in cache:
        seen, out = {}, set()
        for _, line in lines_outside_fences(path):
            m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).replace("`", "")
            slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
        cache[path] = out
    return cache[path]

files = [f for f in sys.stdin.read().split("\0") if f]
errors = links = 0
for md in files:
    for number, line in lines_outside_fences(md):
        for target in re.findall(r"\]\(([^)\s]+)\)", strip_code(line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            links += 1
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
            if not os.path.exists(resolved):
                print(f"{md}:{number}: {target}: no file {resolved}")
                errors += 1
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                print(f"{md}:{number}: {target}: no heading #{anchor} in {resolved}")
                errors += 1
print(f"doc links: {links} relative links in {len(files)} Markdown files, {errors} broken")
sys.exit(1 if errors else 0)
'
