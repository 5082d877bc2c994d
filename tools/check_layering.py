#!/usr/bin/env python3
"""tools/check_layering.py - layers include only down (make check-layering).

Reads the layer table tools/layers.txt and checks every #include of every
file in src/ and include/ against it: a file may include files of its own
layer and of the layers below it; a sans-io layer includes no socket, poll
or thread header; a file no table line names, or an include that names no
file of the tree, fails. The table's allow lines let known exceptions
through, and an allow line that nothing needs any more fails too.

With --objects (the core library's objects, each NAME.o built from
src/NAME.c), calls are held to the same rule: no object may use a wsio
symbol defined in an object of a layer not below its own (the table's
allow-call lines let known ones through).

    tools/check_layering.py            check; exit 1 on any problem
    tools/check_layering.py --list     print each file with its layer
    tools/check_layering.py --root DIR check the tree at DIR (its own table)
    tools/check_layering.py --objects OBJ...  calls too, from these objects

Python 3 standard library only.
"""
import fnmatch
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = "tools/layers.txt"
SCANNED = ("src", "include")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


class Table:
    def __init__(self):
        self.below = {}  # layer -> the layers directly below it
        self.sans_io = set()
        self.files = []  # (pattern, layer), first match wins
        self.io_headers = []
        self.allow = {}  # (file, included) -> line number in the table
        self.allow_call = {}  # (file, symbol) -> line number in the table


def parse_table(path):
    t, problems = Table(), []
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            kind, args = words[0], words[1:]
            where = "%s:%d" % (TABLE, n)
            if kind == "layer" and args:
                rest = args[1:]
                if "sans-io" in rest:
                    t.sans_io.add(args[0])
                    rest.remove("sans-io")
                if rest and rest[0] != "below":
                    problems.append("%s: layer NAME [below LAYER...] [sans-io]" % where)
                t.below[args[0]] = rest[1:]
            elif kind == "file" and len(args) == 2:
                t.files.append((args[0], args[1]))
            elif kind == "io-header" and len(args) == 1:
                t.io_headers.append(args[0])
            elif kind == "allow" and len(args) == 2:
                t.allow[(args[0], args[1])] = n
            elif kind == "allow-call" and len(args) == 2:
                t.allow_call[(args[0], args[1])] = n
            else:
                problems.append("%s: cannot read %r" % (where, raw.strip()))
    for layer, below in t.below.items():
        for b in below:
            if b not in t.below:
                problems.append("%s: layer %s is below an unknown layer %s" % (TABLE, layer, b))
    for pattern, layer in t.files:
        if layer not in t.below:
            problems.append("%s: %s is in an unknown layer %s" % (TABLE, pattern, layer))
    return t, problems


def reachable(t, layer):
    """The layer and every layer below it, directly or not."""
    seen, todo = set(), [layer]
    while todo:
        cur = todo.pop()
        if cur not in seen:
            seen.add(cur)
            todo.extend(t.below.get(cur, []))
    return seen


def layer_of(t, path):
    for pattern, layer in t.files:
        if fnmatch.fnmatchcase(path, pattern):
            return layer
    return None


def sources():
    out = []
    for top in SCANNED:
        for d, _, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                if name.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(d, name), ROOT))
    return sorted(out)


def resolve(path, name):
    """The tree file #include "name" in path means: the including file's
    folder first, then include/ (the library is built with -Iinclude)."""
    for base in (os.path.dirname(path), "include"):
        cand = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(ROOT, cand)):
            return cand
    return None


def check(t):
    problems, used, counts = [], set(), {"files": 0, "includes": 0}
    for path in sources():
        layer = layer_of(t, path)
        if layer is None:
            problems.append("%s: in no layer: add a 'file' line to %s" % (path, TABLE))
            continue
        counts["files"] += 1
        allowed = reachable(t, layer)
        with open(os.path.join(ROOT, path), errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            where = "%s:%d" % (path, line)
            quoted, name = m.group(1) == '"', m.group(2)
            target = resolve(path, name) if quoted or name.startswith("wsio") else None
            if target is None and quoted:
                problems.append("%s: #include \"%s\" is no file of the tree" % (where, name))
                continue
            counts["includes"] += 1
            if target is None:  # a system header
                key = (path, "<%s>" % name)
                if layer in t.sans_io and any(fnmatch.fnmatchcase(name, p) for p in t.io_headers):
                    if key in t.allow:
                        used.add(key)
                    else:
                        problems.append("%s: <%s> in the sans-io layer %s" % (where, name, layer))
                continue
            to = layer_of(t, target)
            key = (path, target)
            if to is None:
                problems.append("%s: %s is in no layer: add a 'file' line to %s" % (where, target, TABLE))
            elif to not in allowed:
                if key in t.allow:
                    used.add(key)
                else:
                    problems.append("%s: %s (%s) includes %s (%s), a layer not below it"
                                    % (where, path, layer, target, to))
    for key, n in sorted(t.allow.items(), key=lambda kv: kv[1]):
        if key not in used:
            problems.append("%s:%d: allow %s %s: no longer needed, delete the line"
                            % (TABLE, n, key[0], key[1]))
    return problems, counts, used


def symbols(obj):
    """The wsio symbols obj defines, and those it uses but does not."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDRB" and f[2].startswith("wsio"):
            defined.add(f[2])
        elif len(f) == 2 and f[0] == "U" and f[1].startswith("wsio"):
            used.add(f[1])
    return defined, used


def check_calls(t, objects):
    """Objects use only symbols of their own layer or one below."""
    problems, owner, uses, allowed_used = [], {}, {}, set()
    for obj in objects:
        src = "src/%s.c" % os.path.basename(obj)[:-2]
        if not os.path.isfile(os.path.join(ROOT, src)):
            problems.append("%s: built from no %s" % (obj, src))
            continue
        defined, used = symbols(obj)
        for sym in defined:
            owner[sym] = src
        uses[src] = used
    for src, used in sorted(uses.items()):
        layer = layer_of(t, src)
        allowed = reachable(t, layer) if layer else set()
        for sym in sorted(used):
            to = layer_of(t, owner[sym]) if sym in owner else None
            if to is None or to in allowed:
                continue
            if (src, sym) in t.allow_call:
                allowed_used.add((src, sym))
            else:
                problems.append("%s (%s) calls %s of %s (%s), a layer not below it"
                                % (src, layer, sym, owner[sym], to))
    for key, n in sorted(t.allow_call.items(), key=lambda kv: kv[1]):
        if key not in allowed_used:
            problems.append("%s:%d: allow-call %s %s: no longer needed, delete the line"
                            % (TABLE, n, key[0], key[1]))
    return problems, len(owner)


def main(argv):
    global ROOT
    if "--root" in argv:
        ROOT = argv[argv.index("--root") + 1]
    t, problems = parse_table(os.path.join(ROOT, TABLE))
    if "--list" in argv:
        for path in sources():
            print("%-12s %s" % (layer_of(t, path) or "?", path))
        return 0
    nsymbols = None
    if not problems:
        more, counts, used = check(t)
        problems += more
        if "--objects" in argv:
            more, nsymbols = check_calls(t, argv[argv.index("--objects") + 1:])
            problems += more
    if problems:
        print("check-layering: %d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
        for p in problems:
            print("  " + p)
        return 1
    print("check-layering: %d files in %d layers, %d includes, each of its own layer or one below;"
          " %d known exceptions allowed in %s:"
          % (counts["files"], len(t.below), counts["includes"], len(used), TABLE))
    for key, _ in sorted(t.allow.items(), key=lambda kv: kv[1]):
        print("  %s -> %s" % key)
    if nsymbols is not None:
        print("check-layering: calls between %d symbols of the core's objects only go down;"
              " %d known exceptions allowed:" % (nsymbols, len(t.allow_call)))
        for key, _ in sorted(t.allow_call.items(), key=lambda kv: kv[1]):
            print("  %s calls %s" % key)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
