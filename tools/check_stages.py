#!/usr/bin/env python3
"""Checks ember's stage walls: which folder of include/ember/ may include which.

The library is layered in stages, in this order:

    core, kernels, autograd, nn, optim, io, data, vision, train, distributed

A header of stage S may include (`#include "ember/<T>/..."` or `<ember/<T>/...>`, or a quoted path relative to the
header that lands in include/ember/<T>/) only headers of S itself or of a stage T earlier than S, so that each stage
builds, tests and ships without the ones after it. The top-level files (include/ember/ember.hpp, version.hpp) are
exempt; a stage may include version.hpp but not the umbrella ember.hpp, which pulls in every stage.

Every stage folder must also hold its umbrella header include/ember/<S>/<S>.hpp, whose opening comment block (the
`//` lines at the top of the file) declares the stage's walls on one line:

    // May include: core, kernels.

(`// May include: nothing.` for core). The declared list may name only stages earlier than S (S itself is always
allowed and may be listed), and every include made by any header of S must be of S or of a declared stage. A folder
under include/ember/ that is not a stage is reported too: its walls could not be checked.

Usage: python3 tools/check_stages.py [--graph]
Exit status 0 when every wall holds, 1 with one line per offence otherwise. --graph also prints the stage-to-stage
arrows found, with how many include lines make each.
"""
from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

STAGES = ["core", "kernels", "autograd", "nn", "optim", "io", "data", "vision", "train", "distributed"]
RANK = {s: i for i, s in enumerate(STAGES)}
ROOT = Path(__file__).resolve().parent.parent
EMBER = ROOT / "include" / "ember"
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
MAY_RE = re.compile(r"^\s*//+\s*May include:\s*(.*)$")
EMPTY_WORDS = {"", "nothing", "none", "-"}
HEADER_SUFFIXES = {".hpp", ".h", ".hh", ".hxx", ".ipp", ".inl", ".tpp"}


def target_of(header: Path, kind: str, name: str) -> str | None:
    """The path under include/ember/ that an include names ('nn/dense.hpp', 'version.hpp'), or None if outside."""
    if name.startswith("ember/"):
        return name[len("ember/"):]
    if kind == '"':
        resolved = (header.parent / name).resolve()
        try:
            return resolved.relative_to(EMBER.resolve()).as_posix()
        except ValueError:
            return None
    return None


def declared_list(umbrella: Path) -> tuple[list[str] | None, int]:
    """(stages named on the umbrella's `// May include:` line, its line number), or (None, 0) when there is none."""
    for number, line in enumerate(umbrella.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith("//"):
            if stripped:  # the opening comment block has ended
                break
            continue
        match = MAY_RE.match(line)
        if match:
            text = match.group(1).strip().rstrip(".").strip()
            if text.lower() in EMPTY_WORDS:
                return [], number
            return [w.strip().rstrip(".").strip().lower() for w in text.split(",")], number
    return None, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print the stage-to-stage arrows found (with counts)")
    args = parser.parse_args()
    if not EMBER.is_dir():
        print(f"check_stages: {EMBER} not found")
        return 1

    problems: list[str] = []
    arrows: collections.Counter[tuple[str, str]] = collections.Counter()
    declared: dict[str, set[str] | None] = {}
    folders = sorted(p for p in EMBER.iterdir() if p.is_dir())
    for folder in folders:
        stage = folder.name
        rel = folder.relative_to(ROOT).as_posix()
        if stage not in RANK:
            problems.append(f"{rel}/: not a stage (stages: {', '.join(STAGES)})")
            continue
        umbrella = folder / f"{stage}.hpp"
        if not umbrella.is_file():
            problems.append(f"{rel}/{stage}.hpp: missing (each stage has an umbrella header with '// May include:')")
            declared[stage] = None
            continue
        names, line = declared_list(umbrella)
        if names is None:
            problems.append(f"{rel}/{stage}.hpp: no '// May include: <stages>' line in its opening comment block")
            declared[stage] = None
            continue
        for name in names:
            if name not in RANK:
                problems.append(f"{rel}/{stage}.hpp:{line}: May include names '{name}', which is not a stage")
            elif RANK[name] > RANK[stage]:
                problems.append(f"{rel}/{stage}.hpp:{line}: May include names '{name}', a later stage than {stage}")
        declared[stage] = {n for n in names if n in RANK} | {stage}

    for folder in folders:
        stage = folder.name
        if stage not in RANK:
            continue
        for header in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in HEADER_SUFFIXES):
            rel = header.relative_to(ROOT).as_posix()
            lines = header.read_text(encoding="utf-8", errors="replace").splitlines()
            for number, line in enumerate(lines, 1):
                match = INCLUDE_RE.match(line)
                if not match:
                    continue
                target = target_of(header, match.group(1), match.group(2))
                if target is None:
                    continue
                if "/" not in target:  # a top-level file
                    if target == "ember.hpp":
                        problems.append(f"{rel} -> {target} (a stage may not include the umbrella ember.hpp)")
                    continue
                to = target.split("/", 1)[0]
                arrows[(stage, to)] += 1
                if to not in RANK:
                    problems.append(f"{rel} -> {target} ({to} is not a stage)")
                elif RANK[to] > RANK[stage]:
                    problems.append(f"{rel} -> {target} ({stage} may not include {to})")
                elif declared.get(stage) is not None and to not in declared[stage]:
                    problems.append(f"{rel} -> {target} ({to} is not in {stage}/{stage}.hpp's May include)")

    if args.graph:
        print("stage arrows (from -> to: include lines):")
        key = lambda a: (RANK.get(a[0], 99), RANK.get(a[1], 99), a)
        for (frm, to), count in sorted(arrows.items(), key=lambda kv: key(kv[0])):
            bad = to not in RANK or RANK[to] > RANK[frm]
            print(f"  {frm} -> {to}: {count}{'   <- breaks the order' if bad else ''}")
    if problems:
        print(f"check_stages: {len(problems)} offence(s) against the stage walls "
              f"({' < '.join(STAGES)}):")
        for p in problems:
            print(f"  {p}")
        return 1
    print("check_stages: every stage wall holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
