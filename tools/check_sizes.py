#!/usr/bin/env python3
"""Checks that no function is over 80 lines and no file over 600 lines, outside tests/.

A long function mixes jobs that cannot then be read, tested or reused apart; a long file is several files. Scanned:
include/, examples/, bench/ and tools/ - the length of every .hpp/.h/.cpp/.py/.sh file, and of every C++ function,
from the line of its body's `{` to the line of the matching `}`, inclusive.

Functions are found by a heuristic brace matcher, not a parser. Comments, string and character literals (raw strings
too) and preprocessor lines are blanked. A `{` opened directly in a namespace or class opens a function when the text
before it ends with a parameter list `)` - maybe followed by const, noexcept, override, final, mutable, &, &&, try,
`-> type` or a `requires` clause - or with a constructor's member-initialiser list. namespace, class, struct, enum,
union, extern "C", brace initialisers (`= {`, `({`, `{{`) and control statements are not functions. Braces inside a
function (blocks, lambdas, local classes) count toward it; a lambda assigned at namespace scope is a function.

Usage: python3 tools/check_sizes.py [--max-function 80] [--max-file 600] [--report]
Exit status 0 when nothing is over, 1 with `path:line name (N lines)` lines otherwise (always 0 with --report).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRS, CPP, SCRIPTS = ["include", "examples", "bench", "tools"], {".hpp", ".h", ".cpp", ".cc", ".hh"}, {".py", ".sh"}
QUALIFIERS = re.compile(r"(?:\b(?:const|volatile|noexcept|override|final|mutable|try)|&&?)\s*$")
NOT_CALLABLE = {"if", "for", "while", "switch", "catch", "decltype", "sizeof", "alignof", "alignas", "requires",
                "noexcept", "static_assert", "return", "__attribute__"}
NAME = re.compile(r"((?:[A-Za-z_]\w*\s*::\s*)*(?:operator\s*(?:\(\s*\)|[^\s(]+)|~?[A-Za-z_]\w*))\s*$")
SCOPE = re.compile(r"\b(namespace|class|struct|union|enum|extern)\b[^=]*$")


def blank(text: str) -> str:
    """The text with comments, literals and preprocessor lines turned to spaces; newlines are kept."""
    out, i, n, line_start = [], 0, len(text), True
    while i < n:
        c, j = text[i], None
        if line_start and c == "#":  # a preprocessor line, with its continuations
            j = text.find("\n", i)
            while j > 0 and text[j - 1] == "\\":
                j = text.find("\n", j + 1)
        elif text.startswith("//", i):
            j = text.find("\n", i)
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = j + 2 if j >= 0 else j
        elif c == '"' and text[i - 1:i] == "R" and (raw := re.match(r'"([^\s()\\]{0,16})\(', text[i:])):
            j = text.find(")" + raw.group(1) + '"', i)
            j = j + len(raw.group(1)) + 2 if j >= 0 else j
        elif c == '"' or (c == "'" and not re.search(r"(?<![\w'])\d[\w']*$", text[max(0, i - 40):i])):  # 1'000
            j = i + 1
            while j < n and text[j] not in (c, "\n"):
                j += 2 if text[j] == "\\" else 1
            j += 1
        if j is None:
            out.append(c)
            line_start = c == "\n" or (line_start and c.isspace())
            i += 1
            continue
        j = n if j < 0 else min(j, n)
        out.append(re.sub(r"[^\n]", " ", text[i:j]))
        i = j
    return "".join(out)


def matching_open(head: str, close: int, pair: str = "()") -> int:
    """Index of the bracket that the one at head[close] closes, or -1."""
    depth = 0
    for k in range(close, -1, -1):
        depth += (head[k] == pair[1]) - (head[k] == pair[0])
        if depth == 0:
            return k
    return -1


def strip_tail(head: str) -> str:
    """The head without the qualifiers, `-> type`, `requires` clause or noexcept(...) after its parameter list."""
    head = head.rstrip()
    for marker in (r"\brequires\b", r"->"):
        for m in reversed(list(re.finditer(marker, head))):
            before = head[:m.start()].rstrip()
            while (shorter := QUALIFIERS.sub("", before).rstrip()) != before and not before.endswith(")"):
                before = shorter
            if before.endswith(")") and head.count("(", 0, m.start()) == head.count(")", 0, m.start()):
                head = before
                break
    while (shorter := QUALIFIERS.sub("", head).rstrip()) != head:
        head = shorter
    if head.endswith(")") and (o := matching_open(head, len(head) - 1)) > 0 and head[:o].rstrip().endswith("noexcept"):
        return strip_tail(head[:o].rstrip()[:-len("noexcept")])  # noexcept(...)
    return head


def without_templates(head: str) -> str:
    """The head without access labels (`public:`) and `template <...>` parameter lists."""
    head = re.sub(r"\b(public|private|protected)\s*:(?!:)", " ", head)
    while m := re.search(r"\btemplate\s*<", head):
        depth, end = 0, m.end() - 1
        for end in range(m.end() - 1, len(head)):
            depth += (head[end] == "<") - (head[end] == ">")
            if depth == 0:
                break
        head = head[:m.start()] + " " * (end + 1 - m.start()) + head[end + 1:]
    return head


def function_name(head: str) -> tuple[str, int] | None:
    """(name, offset of its parameter list) when the head ends with a parameter or member-initialiser list."""
    head = strip_tail(without_templates(head))
    depth = 0
    for m in re.finditer(r"[()\[\]]|(?<!:):(?!:)", head):  # a constructor: `X(int a) : a_(a), b_{b} {`
        depth += (m.group(0) in "([") - (m.group(0) in ")]")
        if m.group(0) == ":" and depth == 0 and head.endswith((")", "}")):
            if (params := strip_tail(head[:m.start()])).endswith(")"):
                head = params
                break
    if not head.endswith(")") or (o := matching_open(head, len(head) - 1)) <= 0:
        return None
    before = head[:o].rstrip()
    if before.endswith("]") and not re.search(r"operator\s*\[\s*\]$", before):  # a lambda: named after its variable
        m = re.search(r"([A-Za-z_]\w*)\s*=[^=]*$", before)
        return (f"{m.group(1)} (lambda)" if m else "(lambda)"), o
    if before.endswith(">") and not re.search(r"operator\s*\S*$", before):  # f<T>(...)
        before = before[:max(matching_open(before, len(before) - 1, "<>"), 0)].rstrip() or before
    m = NAME.search(before)
    if not m or m.group(1).split("::")[-1].strip() in NOT_CALLABLE:
        return None
    return re.sub(r"\s+", "", m.group(1)), o


def functions(text: str) -> list[tuple[int, str, int]]:
    """(line of the name, qualified name, body lines) for every function found."""
    code = blank(text)
    line_of = lambda pos: code.count("\n", 0, pos) + 1
    stack: list[tuple[str, str]] = []  # what each open brace opened ('function', 'scope', 'init'), and its name
    found, head_start, current, closed_at = [], 0, None, -1
    for pos, c in enumerate(code):
        in_scope = not stack or stack[-1][0] == "scope"
        if c == ";" and in_scope:
            head_start = pos + 1
        elif c == "{" and not in_scope:  # inside a function or an initialiser: part of it
            stack.append(stack[-1])
        elif c == "{":
            head = code[head_start:pos]
            named = None if re.search(r"[=({,]\s*$", head) or not head.strip() else function_name(head)
            if re.match(r"\s*catch\b", head) and closed_at == head_start - 1 and found:
                found.pop()  # the handler of a function-try-block: still the same function
                stack.append(("function", ""))
            elif named:
                stack.append(("function", ""))
                qualified = "::".join([s for _, s in stack if s] + [named[0]])
                current = (line_of(head_start + named[1]), qualified, line_of(pos))
            elif not head.strip() or SCOPE.search(without_templates(head)):
                m = re.search(r"\b(?:namespace|class|struct|union)\s+(?:(?:alignas\s*\([^)]*\)|\[\[[^\]]*\]\])\s*)*"
                              r"([A-Za-z_][\w:]*)", without_templates(head))
                stack.append(("scope", m.group(1) if m and "enum" not in head else ""))
                head_start = pos + 1
            else:
                stack.append(("init", ""))
        elif c == "}" and stack:
            kind = stack.pop()[0]
            if kind == "function" and (not stack or stack[-1][0] == "scope"):
                found.append((current[0], current[1], line_of(pos) - current[2] + 1))
                closed_at = pos
            if kind != "init" and (not stack or stack[-1][0] == "scope"):
                head_start = pos + 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-function", type=int, default=80, help="most lines a function may have (80)")
    parser.add_argument("--max-file", type=int, default=600, help="most lines a file may have (600)")
    parser.add_argument("--report", action="store_true", help="print every offender but exit 0")
    args = parser.parse_args()
    files, funcs = [], []
    for path in sorted(p for d in DIRS for p in (ROOT / d).rglob("*") if p.is_file() and p.suffix in CPP | SCRIPTS):
        rel, text = path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8", errors="replace")
        if (count := len(text.splitlines())) > args.max_file:
            files.append(f"{rel} ({count} lines)")
        if path.suffix in CPP:
            funcs += [f"{rel}:{line} {name} ({n} lines)" for line, name, n in functions(text)
                      if n > args.max_function]
    for what, items, limit in (("file", files, args.max_file), ("function", funcs, args.max_function)):
        if items:
            print(f"check_sizes: {len(items)} {what}(s) over {limit} lines:" + "".join(f"\n  {i}" for i in items))
    if not files and not funcs:
        print(f"check_sizes: no function over {args.max_function} lines, no file over {args.max_file} lines")
        return 0
    return 0 if args.report else 1


if __name__ == "__main__":
    sys.exit(main())
