#!/usr/bin/env python3
"""The README is short, leads with code, and its code compiles.

Checks that README.md has at most 150 lines, that its "## Quick start" section starts within the first 60 lines,
and that the section's ```cpp block is, word for word, the region of examples/quickstart/quickstart.cpp between
its two "// [quick start]" markers (dedented). That file is built and run as the ctest `quickstart`, so the
quick start a reader copies is code that compiles and trains.
"""
import argparse
import pathlib
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = "// [quick start]"


def readme_block(lines):
    """(line number of the Quick start heading, the lines of its first ```cpp block)."""
    start = next((i for i, l in enumerate(lines) if l.strip() == "## Quick start"), None)
    if start is None:
        return None, None
    opening = next((i for i in range(start, len(lines)) if lines[i].strip() == "```cpp"), None)
    if opening is None:
        return start + 1, None
    closing = next((i for i in range(opening + 1, len(lines)) if lines[i].strip() == "```"), len(lines))
    return start + 1, lines[opening + 1:closing]


def example_region(text):
    parts = text.split(MARKER)
    if len(parts) != 3:
        return None
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    body = body.rsplit("\n", 1)[0]  # the indentation before the closing marker
    return textwrap.dedent(body).splitlines()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-lines", type=int, default=150)
    parser.add_argument("--quick-start-within", type=int, default=60)
    args = parser.parse_args()
    problems = []
    lines = (ROOT / "README.md").read_text().splitlines()
    if len(lines) > args.max_lines:
        problems.append(f"README.md has {len(lines)} lines (at most {args.max_lines})")
    heading, block = readme_block(lines)
    if heading is None:
        problems.append("README.md has no '## Quick start' section")
    elif heading > args.quick_start_within:
        problems.append(f"README.md's quick start begins at line {heading} (within {args.quick_start_within})")
    example = ROOT / "examples/quickstart/quickstart.cpp"
    region = example_region(example.read_text())
    if region is None:
        problems.append(f"{example.relative_to(ROOT)} lacks two '{MARKER}' markers")
    elif block is not None and [l.rstrip() for l in block] != [l.rstrip() for l in region]:
        for k, (a, b) in enumerate(zip(block + [""] * len(region), region + [""] * len(block))):
            if a.rstrip() != b.rstrip():
                problems.append(f"README.md's quick start differs from {example.relative_to(ROOT)} at its line "
                                f"{k + 1}:\n    README:  {a}\n    example: {b}")
                break
    if problems:
        print("check_readme: " + "\n  ".join(problems))
        return 1
    print("check_readme: README.md is short and its quick start is the built example's code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
