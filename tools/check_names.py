#!/usr/bin/env python3
"""Checks that nothing under include/ names a dataset, a disease, a command-line flag or a script.

ember is a general library; the melanoma example, its data sets, its command line and the repository's scripts are
its users, not part of it. A header that mentions them ties the library's documentation to one application, and goes
stale when the application changes. So, in every file under include/, case-insensitively:

  * words, anywhere on the line, code or comment (`_`, a digit or a capital ends a word, as in skin_tone or
    SkinTone; a plural `s` is allowed): melanoma, isic, ham10000, dermoscop*, lesion, nevus/nevi, keratos*,
    seborrh*, carcinoma, skin;
  * command-line flags, in comments and string literals only (so C++ decrements such as `--i` are never read): `--`
    after the start of the text, whitespace, a backtick, a quote or a bracket, then a lowercase letter, then
    letters, digits or hyphens (`--cast-copy`);
  * script references, in comments and string literals only: a path starting with `tools/`, or a file name ending in
    `.sh` or `.py`. A path whose first folder is not a top-level folder of this repository cites someone else's
    source (`keras/src/optimizers/adam.py`) and is not reported.

A line that must say one of these anyway carries `// names-ok: <reason>` (the reason is required); it should rarely
be needed.

Usage: python3 tools/check_names.py
Exit status 0 when clean, 1 with `file:line: match (rule)` lines otherwise.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCAN = ROOT / "include"
NOT_A_LETTER_BEFORE, NOT_A_LETTER_AFTER = r"(?<![A-Za-z])", r"(?-i:(?![a-z]))"  # SkinTone: a word
WORDS = re.compile(NOT_A_LETTER_BEFORE + r"(melanomas?|isic|ham10000|dermoscop[a-z]*|lesions?|nev(?:us|i)|keratos[a-z]*"
                   r"|seborrh[a-z]*|carcinomas?|skins?)" + NOT_A_LETTER_AFTER, re.IGNORECASE)
FLAG = re.compile(r"(?:^|(?<=[\s`'\"(\[]))--[a-z][a-z0-9-]*")
TOOLS_PATH = re.compile(r"(?<![\w./-])tools/[\w./-]*")
SCRIPT = re.compile(r"(?<![\w./-])([\w./-]*\.(?:sh|py))\b")
ALLOW = re.compile(r"//\s*names-ok:\s*\S")


def segments(text: str) -> list[tuple[str, str]]:
    """Per line: (the whole line, its comment and string-literal text). Handles //, /* */, "..", '..', R"d(..)d"."""
    lines = text.split("\n")
    prose: list[list[str]] = [[] for _ in lines]
    line, i, n = 0, 0, len(text)
    state, raw_end = "code", ""
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if state == "line":
                state = "code"
            i += 1
            continue
        if state == "code":
            if text.startswith("//", i):
                state, i = "line", i + 2
            elif text.startswith("/*", i):
                state, i = "block", i + 2
            elif c == '"' and re.search(r"(?<![\w])(?:u8|[uUL])?R$", text[max(0, i - 3):i]):
                paren = text.find("(", i)
                if paren < 0 or paren - i > 17:  # not a raw string after all
                    state, i = "string", i + 1
                    continue
                raw_end = ")" + text[i + 1:paren] + '"'
                state, i = "raw", paren + 1
            elif c == '"':
                state, i = "string", i + 1
            elif c == "'" and not re.search(r"(?<![\w'])\d[\w']*$", text[max(0, i - 40):i]):  # not 1'000
                state, i = "char", i + 1
            else:
                i += 1
            continue
        if state == "block" and text.startswith("*/", i):
            state, i = "code", i + 2
            continue
        if state == "raw" and text.startswith(raw_end, i):
            state, i = "code", i + len(raw_end)
            continue
        if state in ("string", "char"):
            if c == "\\":
                prose[line].append(text[i:i + 2].replace("\n", ""))
                i += 2
                continue
            if (state == "string" and c == '"') or (state == "char" and c == "'"):
                state, i = "code", i + 1
                prose[line].append(" ")
                continue
        prose[line].append(c)
        i += 1
    return [(lines[k], "".join(prose[k])) for k in range(len(lines))]


def findings(path: Path, top_folders: set[str]) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    out = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, (whole, prose) in enumerate(segments(text), 1):
        if ALLOW.search(whole):
            continue
        hits = [(m.group(0), "a data set or disease") for m in WORDS.finditer(whole)]
        hits += [(m.group(0), "a command-line flag") for m in FLAG.finditer(prose)]
        hits += [(m.group(0), "a script") for m in TOOLS_PATH.finditer(prose)]
        for m in SCRIPT.finditer(prose):
            name = m.group(1)
            if name.startswith("tools/"):
                continue  # already reported as a tools/ path
            first = name.split("/", 1)[0] if "/" in name.strip("./") else None
            if first is not None and first not in top_folders:
                continue  # someone else's source, cited
            hits.append((name, "a script"))
        out += [f"{rel}:{number}: {match} ({why})" for match, why in hits]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    if not SCAN.is_dir():
        print(f"check_names: {SCAN} not found")
        return 1
    top_folders = {p.name for p in ROOT.iterdir() if p.is_dir()}
    problems: list[str] = []
    for path in sorted(p for p in SCAN.rglob("*") if p.is_file()):
        problems += findings(path, top_folders)
    if problems:
        print(f"check_names: {len(problems)} mention(s) under include/ of a data set, disease, flag or script "
              f"(a line that must keep one says why in '// names-ok: <reason>'):")
        for p in problems:
            print(f"  {p}")
        return 1
    print("check_names: include/ names no data set, disease, command-line flag or script")
    return 0


if __name__ == "__main__":
    sys.exit(main())
