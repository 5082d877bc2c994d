#!/usr/bin/env python3
"""tools/doc_includes.py - keep the C code in the documentation real.

Every ```c block of the checked pages must be preceded by a marker naming
the file it is, or a region of it:

    <!-- include: examples/tutorial/first_server.c -->
    <!-- include: examples/chat/app.c region:chat-http -->

A region is the lines between a line containing "tutorial:begin NAME" and
one containing "tutorial:end NAME" (the marker lines excluded). The block
must equal the file or region byte for byte. Those files are built by
`make examples`, so the code shown cannot rot.

    tools/doc_includes.py --check    report every block that differs, has no
                                     marker, or names what does not exist
    tools/doc_includes.py --write    copy the files into the blocks

Python 3 standard library only.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["docs/tutorial.md", "README.md"]
MARKER = re.compile(r"<!-- include: (\S+)(?: region:(\S+))? -->")


def source(path, region):
    """The text a marker names, or raise ValueError saying why not."""
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        raise ValueError("%s does not exist" % path)
    with open(full) as f:
        text = f.read()
    if not region:
        return text
    lines = text.splitlines(keepends=True)
    def find(word):
        pat = re.compile(r"tutorial:%s %s(?![\w-])" % (word, re.escape(region)))
        return [i for i, ln in enumerate(lines) if pat.search(ln)]

    begin, end = find("begin"), find("end")
    if len(begin) != 1 or len(end) != 1 or end[0] <= begin[0]:
        raise ValueError("%s has no single region %s (tutorial:begin/end)" % (path, region))
    return "".join(lines[begin[0] + 1 : end[0]])


def blocks(page_text):
    """(marker match or None, index of the block's first line, index after
    its closing fence) for each ```c block."""
    lines = page_text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        if lines[i].rstrip("\n") == "```c":
            j = i + 1
            while j < len(lines) and lines[j].rstrip("\n") != "```":
                j += 1
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            m = MARKER.fullmatch(lines[k].strip()) if k >= 0 else None
            yield m, i, j
            i = j
        i += 1


def process(page, write):
    path = os.path.join(ROOT, page)
    with open(path) as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    problems, out, last = [], [], 0
    count = 0
    for m, start, end in blocks(text):
        count += 1
        where = "%s:%d" % (page, start + 1)
        if not m:
            problems.append("%s: a C block without <!-- include: FILE --> above it" % where)
            continue
        try:
            want = source(m.group(1), m.group(2))
        except ValueError as e:
            problems.append("%s: %s" % (where, e))
            continue
        have = "".join(lines[start + 1 : end])
        if have != want:
            problems.append("%s: differs from %s%s (tools/doc_includes.py --write)"
                            % (where, m.group(1), " region " + m.group(2) if m.group(2) else ""))
        out += lines[last : start + 1] + [want]
        last = end
    out += lines[last:]
    if write and "".join(out) != text:
        with open(path, "w") as f:
            f.write("".join(out))
    return problems, count


def main(argv):
    write = "--write" in argv
    problems, total = [], 0
    for page in PAGES:
        p, n = process(page, write)
        total += n
        problems += [] if write else p
    for p in problems:
        print("check-tutorial: " + p)
    if problems:
        return 1
    if not write:
        print("check-tutorial: %d C blocks in %s are files in examples/, byte for byte"
              % (total, " and ".join(PAGES)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
