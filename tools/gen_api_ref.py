#!/usr/bin/env python3
"""tools/gen_api_ref.py - the API reference (docs/api.md) from the headers.

Reads include/wsio.h and include/wsio/*.h and writes, grouped by header,
every public function, struct (with its fields' comments), enum (with its
values), typedef, callback type and macro, each with its doc comment: the
comment that ends on the line right above the declaration (a declaration
that directly follows another one shares that one's comment).

    tools/gen_api_ref.py                 print docs/api.md to stdout
    tools/gen_api_ref.py --write         write docs/api.md
    tools/gen_api_ref.py --check         fail when a public function, struct,
                                         enum or typedef has no doc comment,
                                         a header has no "Threads:" note, or
                                         docs/api.md is not what this prints
    tools/gen_api_ref.py --functions     the public function names, one a line
                                         (tests/check_docs.sh uses them)

Python 3 standard library only. The parser knows the subset of C the wsio
headers are written in (one declaration per statement, no K&R, no nested
type definitions), not C in general: a header that leaves that subset shows
up as a missing or misnamed item in the check.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join("docs", "api.md")


def headers():
    inc = os.path.join(ROOT, "include")
    sub = sorted(f for f in os.listdir(os.path.join(inc, "wsio")) if f.endswith(".h"))
    return ["wsio.h"] + ["wsio/" + f for f in sub]


# ---- tokens: comments, preprocessor lines, code ---------------------------


class Tok:
    def __init__(self, kind, text, line, end):
        self.kind, self.text, self.line, self.end = kind, text, line, end


def tokenize(src):
    """Comments, preprocessor directives and code runs, with line numbers."""
    toks, i, n, line = [], 0, len(src), 1
    code, code_line = [], 1

    def flush():
        if "".join(code).strip():
            text = "".join(code)
            toks.append(Tok("code", text, code_line, code_line + text.count("\n")))
        code.clear()

    while i < n:
        at_line_start = src.rfind("\n", 0, i) + 1
        if src.startswith("/*", i):
            flush()
            j = src.index("*/", i) + 2
            toks.append(Tok("comment", src[i:j], line, line + src.count("\n", i, j)))
            line += src.count("\n", i, j)
            i = j
        elif src.startswith("//", i):
            flush()
            j = src.find("\n", i)
            j = n if j < 0 else j
            toks.append(Tok("comment", src[i:j], line, line))
            i = j
        elif src[i] == "#" and not src[at_line_start:i].strip():
            flush()
            j = i
            while True:  # a directive goes on while lines end in '\'
                k = src.find("\n", j)
                k = n if k < 0 else k
                if src[k - 1] != "\\":
                    break
                j = k + 1
            toks.append(Tok("pp", src[i:k], line, line + src.count("\n", i, k)))
            line += src.count("\n", i, k)
            i = k
        elif src[i] == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            if not code:
                code_line = line
            code.append(src[i : j + 1])
            i = j + 1
        else:
            if not code:
                code_line = line
            code.append(src[i])
            line += src[i] == "\n"
            i += 1
    flush()
    return toks


def comment_text(c):
    """The words of a comment without its /* * */ frame, dedented."""
    if c.startswith("//"):
        return c[2:].strip()
    body = c[2:-2]
    lines = body.split("\n")
    out = []
    for ln in lines:
        s = ln.strip()
        if s.startswith("*"):
            s = ln[ln.index("*") + 1 :]
            s = s[1:] if s.startswith(" ") else s
        else:
            s = ln.strip()
        out.append(s.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


# ---- statements ---------------------------------------------------------


class Item:
    def __init__(self, kind, name, decl, doc, line):
        self.kind, self.name, self.decl, self.doc, self.line = kind, name, decl, doc, line
        self.members = []  # (declaration, comment) for struct fields, enum values


class Parser:
    def __init__(self, path, src):
        self.path, self.src = path, src
        self.items, self.problems = [], []
        self.file_doc = ""
        self.err_map = {}

    def parse(self):
        toks = tokenize(self.src)
        # Drop the C++ guard blocks: extern "C" { ... }.
        kept, skip = [], 0
        for t in toks:
            if t.kind == "pp" and re.match(r"#\s*ifdef\s+__cplusplus", t.text):
                skip = 1
                continue
            if skip:
                if t.kind == "pp" and re.match(r"#\s*endif", t.text):
                    skip = 0
                continue
            kept.append(t)
        toks = kept
        if toks and toks[0].kind == "comment":
            self.file_doc = comment_text(toks[0].text)
        self.collect_err_map(toks)
        self.statements(toks[1:] if self.file_doc else toks)

    def collect_err_map(self, toks):
        for t in toks:
            if t.kind == "pp" and "WSIO_ERR_MAP(X)" in t.text:
                for m in re.finditer(r'X\((\w+),\s*(-?\d+),\s*(\d+),\s*(\d+),\s*"([^"]*)"\)', t.text):
                    self.err_map["WSIO_" + m.group(1)] = m.groups()[1:]

    def statements(self, toks):
        """Group tokens into top-level statements with their doc comments."""
        doc, doc_end = None, -10  # the last comment seen at depth 0
        prev_end, prev_doc = -10, None  # the last declaration, for groups
        cur, depth, start_line = [], 0, None
        macro_group = (None, -10)  # (doc, last line) of a run of #defines
        for t in toks:
            if t.kind == "pp":
                if depth:
                    cur.append(t)
                    continue
                self.macro(t, doc if doc_end == t.line - 1 else None, macro_group)
                if doc_end == t.line - 1 or macro_group[1] == t.line - 1:
                    macro_group = (doc if doc_end == t.line - 1 else macro_group[0], t.end)
                doc, doc_end = None, -10
                continue
            if t.kind == "comment":
                if depth or cur:
                    cur.append(t)
                else:
                    doc, doc_end = t, t.end
                continue
            # code: cut it at each ';' outside braces
            text, line = t.text, t.line
            pos = 0
            for k, ch in enumerate(text):
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and depth == 0:
                    piece = text[pos : k + 1]
                    if not cur and not piece.strip():
                        pos = k + 1
                        continue
                    cur.append(Tok("code", piece, line + text.count("\n", 0, pos), line + text.count("\n", 0, k)))
                    start_line = self.first_code_line(cur)
                    end_line = cur[-1].end
                    own = doc if doc and doc_end == start_line - 1 else None
                    if own is None and prev_end == start_line - 1:
                        own = prev_doc  # a group sharing one comment
                    self.statement(cur, own, start_line)
                    prev_end, prev_doc = end_line, own
                    doc, doc_end = None, -10
                    cur, pos = [], k + 1
            rest = text[pos:]
            if rest.strip() or cur:
                cur.append(Tok("code", rest, line + text.count("\n", 0, pos), t.end))

    @staticmethod
    def first_code_line(parts):
        for x in parts:
            if x.kind == "code" and x.text.strip():
                return x.line + x.text[: len(x.text) - len(x.text.lstrip())].count("\n")
            if x.kind != "code":
                return x.line
        return parts[0].line

    def macro(self, t, doc, group):
        m = re.match(r"#\s*define\s+(WSIO_\w+)(\([^)]*\))?(.*)", t.text, re.S)
        if not m:
            return
        name, args, value = m.group(1), m.group(2) or "", m.group(3).strip()
        if name in ("WSIO_EXTERN", "WSIO_ERR_ENUM") or re.fullmatch(r"WSIO_\w*_H", name) or name == "WSIO_H":
            return
        if name == "WSIO_ERR_MAP":
            return  # shown as the values of enum wsio_err
        if doc is None and group[1] == t.line - 1:
            doc = group[0]
            shared = True
        else:
            shared = False
        value = re.sub(r"\s*\\\n\s*", " ", value)
        it = Item("macro", name, "#define %s%s %s" % (name, args, value), comment_text(doc.text) if doc else "", t.line)
        it.shared = shared
        self.items.append(it)

    def statement(self, parts, doc, line):
        code = "".join(p.text if p.kind == "code" else " " for p in parts)
        flat = " ".join(code.split())
        doc_txt = comment_text(doc.text) if doc else ""
        body_m = re.search(r"\{(.*)\}", code, re.S)
        if flat.startswith("WSIO_EXTERN"):
            m = re.search(r"(\w+)\s*\(", flat)
            decl = self.decl_text(parts)
            self.add("function", m.group(1), decl, doc_txt, line)
        elif re.match(r"typedef\s+struct\s+\w+\s+\w+\s*;", flat):
            name = flat.split()[-1].rstrip(";")
            self.add("opaque", name, flat, doc_txt, line)
        elif re.match(r"typedef\s+(struct|union)\b.*\{", flat):
            name = flat[flat.rindex("}") + 1 :].strip(" ;")
            it = self.add("struct", name, "typedef struct %s { ... } %s;" % (name, name), doc_txt, line)
            it.members = self.members(parts, ";")
        elif re.match(r"struct\s+\w+\s*\{", flat):
            name = flat.split()[1]
            it = self.add("struct", "struct " + name, "struct %s { ... };" % name, doc_txt, line)
            it.members = self.members(parts, ";")
        elif re.match(r"struct\s+\w+\s*;", flat):
            return  # a forward declaration of someone else's type (OpenSSL's)
        elif re.match(r"(typedef\s+)?enum\b", flat):
            name = re.match(r"(?:typedef\s+)?enum\s+(\w+)", flat).group(1)
            it = self.add("enum", "enum " + name, "enum %s { ... };" % name, doc_txt, line)
            it.members = self.members(parts, ",")
            if any("WSIO_ERR_MAP" in d for d, _ in it.members):
                it.members = self.err_members(it.members)
        elif re.match(r"typedef\b.*\(\s*\*\s*\w+\s*\)\s*\(", flat):
            name = re.search(r"\(\s*\*\s*(\w+)\s*\)", flat).group(1)
            self.add("callback", name, flat, doc_txt, line)
        elif flat.startswith("typedef"):
            name = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*;$", flat).group(1)
            self.add("typedef", name, flat, doc_txt, line)
        else:
            self.problems.append("%s:%d: not understood: %s" % (self.path, line, flat[:60]))

    def decl_text(self, parts):
        code = "".join(p.text for p in parts if p.kind == "code").strip()
        lines = code.split("\n")
        return "\n".join(ln.rstrip() for ln in lines)

    def add(self, kind, name, decl, doc, line):
        it = Item(kind, name, decl, doc, line)
        self.items.append(it)
        return it

    def members(self, parts, sep):
        """(declaration, comment) for each field or enumerator. A comment on
        the line where a member ends belongs to it; one on its own lines
        belongs to the member after it."""
        inner, depth = [], 0
        for p in parts:
            if p.kind != "code":
                if depth:
                    inner.append(p)
                continue
            buf, line = [], p.line
            for ch in p.text:
                if ch == "}":
                    depth -= 1
                    if depth == 0 and buf:
                        inner.append(Tok("code", "".join(buf), line, line))
                        buf = []
                if depth:
                    buf.append(ch)
                if ch == "{":
                    depth += 1
                    if depth == 1:
                        buf = []
                if ch == "\n":
                    line += 1
            if buf and depth:
                inner.append(Tok("code", "".join(buf), line - "".join(buf).count("\n"), line))
        out, cur, pending, last_end, paren = [], [], [], -10, 0
        for t in inner:
            if t.kind == "pp":
                cur.append(t.text + "\n")  # WSIO_ERR_MAP's expansion lines
                continue
            if t.kind == "comment":
                if out and t.line == last_end and not "".join(cur).strip():
                    d, c = out[-1]
                    out[-1] = (d, (c + " " if c else "") + comment_text(t.text))
                else:
                    pending.append(comment_text(t.text))
                continue
            line = t.line
            for ch in t.text:
                if ch in "([":
                    paren += 1
                elif ch in ")]":
                    paren -= 1
                if ch == sep and paren == 0:
                    decl = " ".join("".join(cur).split())
                    if decl:
                        out.append((decl + (";" if sep == ";" else ""), " ".join(pending)))
                    cur, pending, last_end = [], [], line
                    continue
                if ch == "\n":
                    line += 1
                cur.append(ch)
            if "".join(cur).strip():
                last_end = line
        decl = " ".join("".join(cur).split())
        if decl:
            out.append((decl, " ".join(pending)))
        return out

    def err_members(self, members):
        out = []
        for d, c in members:
            if "WSIO_ERR_MAP" in d or d.startswith("#"):
                for name, (value, close, http, text) in self.err_map.items():
                    notes = [text]
                    if close != "0":
                        notes.append("close %s" % close)
                    if http != "0":
                        notes.append("HTTP %s" % http)
                    out.append(("%s = %s" % (name, value), "; ".join(notes)))
            else:
                out.append((d, c))
        return out


def parse_all():
    parsed = []
    for h in headers():
        with open(os.path.join(ROOT, "include", h)) as f:
            p = Parser(h, f.read())
        p.parse()
        parsed.append(p)
    return parsed


# ---- output -------------------------------------------------------------

KIND_WORD = {
    "function": "function",
    "struct": "struct",
    "opaque": "opaque type",
    "enum": "enum",
    "callback": "callback type",
    "typedef": "typedef",
    "macro": "macro",
}


def anchor(h):
    return re.sub(r"[^a-z0-9_ -]", "", h.lower()).replace(" ", "-")


def render(parsed):
    out = [
        "# API reference",
        "",
        "<!-- Generated by tools/gen_api_ref.py from include/; do not edit.",
        "     `make api` rewrites it; `make check-api` fails when it is stale. -->",
        "",
        "Every public function, type and constant of wsio, header by header, with",
        "the comment from its header. Each header's first paragraph says what",
        'the layer is for and its "Threads:" note says which calls may be made',
        "from which thread; each function says who owns what it is given and",
        "what it returns. The pages in [docs/](.) explain each layer with",
        "examples; [DESIGN.md](DESIGN.md) is the big picture.",
        "",
        "Conventions (wsio/common.h): functions return >= 0 on success and a",
        "negative `WSIO_E*` code on failure; objects pair `_new`/`_free` and",
        "`_free(NULL)` does nothing; every allocation goes through the",
        "`wsio_mem` the object was made with.",
        "",
        "## Headers",
        "",
    ]
    for p in parsed:
        first = p.file_doc.split("\n")[0] if p.file_doc else p.path
        summary = first.split(" - ", 1)[1] if " - " in first else first
        out.append("- [%s](#%s): %s" % (p.path, anchor(p.path), summary.rstrip(":")))
    for p in parsed:
        out += ["", "## " + p.path, ""]
        if p.file_doc:
            out += [p.file_doc, ""]
        names = [it for it in p.items]
        if names:
            out.append("Contents: " + ", ".join("[`%s`](#%s)" % (it.name, anchor(it.name)) for it in names) + ".")
            out.append("")
        for it in p.items:
            out += ["### " + it.name, "", "*%s*" % KIND_WORD[it.kind], "", "```c", it.decl, "```", ""]
            doc = it.doc
            if doc.startswith(it.name + " - "):  # the heading says the name
                doc = doc[len(it.name) + 3 :]
                doc = doc[:1].upper() + doc[1:]
            if doc:
                out += [doc, ""]
            if it.members:
                out.append("| %s | |" % ("value" if it.kind == "enum" else "field"))
                out.append("| --- | --- |")
                for d, c in it.members:
                    out.append("| `%s` | %s |" % (d.replace("|", "\\|"), " ".join(c.split()).replace("|", "\\|")))
                out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def check(parsed):
    problems = []
    for p in parsed:
        problems += p.problems
        if p.path != "wsio.h" and "Threads:" not in p.file_doc:
            problems.append('%s: the header comment has no "Threads:" note' % p.path)
        for it in p.items:
            if it.kind != "macro" and not it.doc:
                problems.append("%s:%d: %s has no doc comment" % (p.path, it.line, it.name))
    path = os.path.join(ROOT, OUT)
    current = open(path).read() if os.path.exists(path) else ""
    if current != render(parsed):
        problems.append("%s is stale: run `make api` (tools/gen_api_ref.py --write) and commit it" % OUT)
    return problems


def main(argv):
    parsed = parse_all()
    if "--functions" in argv:
        for p in parsed:
            for it in p.items:
                if it.kind == "function":
                    print(it.name)
        return 0
    if "--check" in argv:
        problems = check(parsed)
        for pr in problems:
            print("check-api: " + pr)
        if problems:
            return 1
        counts = {}
        for p in parsed:
            for it in p.items:
                counts[it.kind] = counts.get(it.kind, 0) + 1
        print(
            "check-api: %s documented in %d headers; %s is current"
            % (", ".join("%s: %d" % (KIND_WORD[k], v) for k, v in sorted(counts.items())), len(parsed), OUT)
        )
        return 0
    text = render(parsed)
    if "--write" in argv:
        with open(os.path.join(ROOT, OUT), "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
