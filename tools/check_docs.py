#!/usr/bin/env python3
"""Checks that no file of the repository narrates its own making, and that no link or path mention is dead.

Documentation and comments say what the code is and why, not the history of how it was written: that history is in
git, and a text that narrates it (numbered work periods, "then we...") reads as a diary and goes stale. A link or a path that names
a file which no longer exists sends the reader nowhere; moving a file must update its mentions.

Files: those git lists (tracked ones, and untracked ones that .gitignore does not exclude, so that a new file is
checked before it is committed); without git, every file under the root except build*/, runs/, data/ and .git/.
Binary files are skipped. In each text file:

  * narration: `[Ss]essions? [0-9]` and `\\b[Ww]ork period` anywhere; ISO dates `YYYY-MM-DD` in .md files only;
  * dead links, in .md files outside fenced code blocks: every relative target of `[text](target)` or of a
    reference definition `[label]: target` (not http:, https:, mailto: or another scheme, not a bare `#anchor`;
    an `#anchor` after the path is dropped) must exist relative to the .md file's folder;
  * dead path mentions, in every text file: each repo-relative `docs/<name>.md`, `examples/<...>/<name>.md` and
    `tools/<file>` must exist relative to the repository root.

This file states the narration patterns themselves, so it is exempt from those (NARRATION_EXEMPT).

Usage: python3 tools/check_docs.py
Exit status 0 when clean, 1 with `path:line: reason` lines otherwise.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
NARRATION_EXEMPT = {"tools/check_docs.py"}
NARRATION = [(re.compile(r"[Ss]essions? [0-9]"), "narrates a session"),
             (re.compile(r"\b[Ww]ork period"), "narrates a work period")]
DATE = re.compile(r"\b(?:19|20)\d\d-\d\d-\d\d\b")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^()\s<>]+(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MENTIONS = re.compile(r"(?<![\w./-])(docs/[\w./-]*?\.md|examples/[\w./-]+?\.md|tools/[\w.-]+(?:/[\w.-]+)*)"
                      r"(?![\w/$@%{<*])")  # not the start of a variable or glob: tools/check_${x}.py
WALK_SKIP = re.compile(r"^(build[^/]*|runs|data|\.git)(/|$)")


def listed_files() -> list[str]:
    """Repository-relative paths of the files to check."""
    try:
        if (ROOT / ".git").exists():
            out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], capture_output=True, check=True).stdout
            return sorted({p for p in out.decode("utf-8", "replace").split("\0") if p})
    except (OSError, subprocess.CalledProcessError):
        pass
    return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                  if p.is_file() and not WALK_SKIP.match(p.relative_to(ROOT).as_posix()))


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary (or vanished) file."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def dead_link(md: Path, target: str) -> bool:
    """Whether a link target of the .md file names a missing file (external links and anchors never do)."""
    if SCHEME.match(target) or target.startswith("#") or target.startswith("//"):
        return False
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return False
    base = ROOT if path.startswith("/") else md.parent
    return not (base / path.lstrip("/")).exists()


def check_file(rel: str, text: str) -> list[str]:
    out, is_md = [], rel.endswith(".md")
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{rel}:{number}"
        if rel not in NARRATION_EXEMPT:
            for pattern, reason in NARRATION:
                out += [f"{where}: {reason} ('{m.group(0)}')" for m in pattern.finditer(line)]
            if is_md:
                out += [f"{where}: dates the work ('{m.group(0)}')" for m in DATE.finditer(line)]
        if is_md and re.match(r"^\s{0,3}(```|~~~)", line):
            in_fence = not in_fence
            continue
        if is_md and not in_fence:
            prose = re.sub(r"`[^`]*`", "", line)  # a link inside a code span is not a link
            targets = [m.group(1) for m in INLINE_LINK.finditer(prose)]
            targets += [m.group(1) for m in REFERENCE_LINK.finditer(prose)]
            out += [f"{where}: dead link '{t}'" for t in targets if dead_link(ROOT / rel, t)]
        for m in MENTIONS.finditer(line):
            mention = m.group(1).rstrip(".-")
            if not (ROOT / mention).exists():
                out.append(f"{where}: names '{mention}', which does not exist")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    problems: list[str] = []
    for rel in listed_files():
        text = read_text(ROOT / rel)
        if text is not None:
            problems += check_file(rel, text)
    if problems:
        print(f"check_docs: {len(problems)} finding(s): narration of the work, or a dead link or path:")
        print("\n".join(f"  {p}" for p in problems))
        return 1
    print("check_docs: no narration of the work, no dead link or path")
    return 0


if __name__ == "__main__":
    sys.exit(main())
