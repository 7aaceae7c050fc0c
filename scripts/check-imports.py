#!/usr/bin/env python3
"""Fails when the files of a crate import each other in a circle.

kith's modules depend one way (docs/architecture.md: the wiring, then
the edges, then services, then the database layer, then kith-core), and
a circle is how that order is lost without a compiler error: a cache
type that the shared state holds, defined in a module that takes the
shared state, ties both into one knot, and every module on the way with
them. This reads every `crate::`, `super::` and `self::` path in each
crate's non-test code, maps it to the file that defines the module it
names, and reports each group of files that reach each other (a
strongly connected component), with the names each file takes from the
next. Module declarations (`mod x;`) are structure, not imports, and the
crate root (lib.rs, main.rs) is left out: it only declares and
re-exports.

    scripts/check-imports.py [CRATE_SRC_DIR ...]   (default: src bench/src core/src)
"""

import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
# A `use` whose path ends in a brace group: `use crate::a::{b, c::D};`.
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\}\s*;", re.S)
CFG_TEST = re.compile(r"#\[cfg\(test\)\]")
# Strings, comments and character literals, whichever starts first: their
# text is not code (a URL's `//`, a brace in a format string).
LITERAL = re.compile(r'r#*"[\s\S]*?"#*|"(?:\\[\s\S]|[^"\\])*"|//[^\n]*|/\*[\s\S]*?\*/|\'(?:\\[\s\S]|[^\'\\])\'')


def without_tests(text):
    """`text` without the items marked `#[cfg(test)]`: a test module, a
    test-only function, import or enum variant. An item runs to its
    matching closing brace, or to the first `;` or `,` outside brackets
    when it has no body."""
    out, at = [], 0
    for m in CFG_TEST.finditer(text):
        if m.start() < at:
            continue
        out.append(text[at : m.start()])
        i, depth = m.end(), 0
        while i < len(text):
            c = text[i]
            if c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    i += 1
                    break
                if depth < 0:
                    break
            elif c in ";," and depth == 0:
                i += 1
                break
            i += 1
        at = i
    out.append(text[at:])
    return "".join(out)


def modules(root):
    """Module path (tuple of names) -> file, for the crate under `root`."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, root)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            out[tuple(rel)] = full
    return out


def resolve(base, segments, mods):
    """(file, name): the deepest module file named by `segments` from
    module `base`, and the name the path takes from it."""
    best = None
    for i in range(len(segments) + 1):
        key = tuple(base) + tuple(segments[:i])
        if key and key in mods:
            name = segments[i] if i < len(segments) else (segments[-1] if segments else key[-1])
            best = (mods[key], name)
    return best


def split_top(text):
    """`text` split at the commas outside braces."""
    parts, depth, cur = [], 0, ""
    for c in text:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (c == "{") - (c == "}")
        cur += c
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def use_tree(prefix, tree):
    """The paths of a `use` tree below `prefix`: `a::{b, c::{D, E}}`."""
    tree = tree.split(" as ")[0].strip()
    if "{" in tree:
        head, rest = tree.split("{", 1)
        head = [s for s in head.strip().rstrip(":").split("::") if s]
        for item in split_top(rest[: rest.rindex("}")]):
            yield from use_tree(prefix + head, item)
    else:
        names = [s for s in tree.split("::") if s and s != "self"]
        yield prefix + names


def paths_in(text):
    """(kind, segments) for every crate-relative path in `text`, with the
    names of a `use …::{a, b::C}` group each a path of its own."""
    found = []
    for m in USE_GROUP.finditer(text):
        head = [s for s in m.group(2).split("::") if s]
        for item in split_top(m.group(3)):
            for segs in use_tree(head, item):
                found.append((m.group(1), segs))
        text = text.replace(m.group(0), " ")
    for m in PATH.finditer(text):
        found.append((m.group(1), [s for s in m.group(2).split("::") if s]))
    return found


def edges(mods):
    """File -> {imported file: names it takes}, for the modules `mods`."""
    out = {}
    for key, path in mods.items():
        if not key:
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = without_tests(LITERAL.sub(" ", text))
        for kind, segs in paths_in(text):
            if kind == "crate":
                base, rest = [], segs
            else:
                # `self` is this module; `super` its parent. A file `a/b.rs`
                # is module a::b, whose parent is a.
                base = list(key)
                rest = list(segs)
                if kind == "super":
                    base = base[:-1]
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            target = resolve(base, rest, mods)
            if not target or target[0] == path:
                continue
            file, name = target
            out.setdefault(path, {}).setdefault(file, set()).add(name)
    return out


def circles(graph):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, on, stack, comps, n = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return comps


def main(roots):
    bad, files, imports = 0, 0, 0
    for root in roots:
        mods = modules(root)
        graph = edges(mods)
        files += len(mods)
        imports += sum(len(v) for v in graph.values())
        for comp in circles(graph):
            bad += 1
            print(f"files of {root} that import each other in a circle:", file=sys.stderr)
            members = set(comp)
            for a in comp:
                for b, names in sorted(graph.get(a, {}).items()):
                    if b in members:
                        print(f"  {a} -> {b}: {', '.join(sorted(names))}", file=sys.stderr)
    if bad:
        sys.exit(1)
    print(f"no import circles: {files} files, {imports} imports between them")


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    main(sys.argv[1:] or ["src", "bench/src", "core/src"])
