"""The README's shell and Python blocks, as one script a test can run against a started stack.

Conventions (README authors follow them, this module checks them):
- Every ```sh and ```python block runs, in order, in one bash session (variables carry over; a Python
  block runs with `.venv/bin/python` in the shell's environment at that point).
- `<!-- skip: why -->` on the line before a block leaves it out (the reason is required).
- `# => text` lines give the expected standard output of what ran since the previous `# =>` group.
  An expected line matches an output line where `…` stands for any text; a line that is only `…`
  matches any number of lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!--\s*skip:\s*(?P<why>.+?)\s*-->\s*$")
_EXPECT = re.compile(r"^# =>(?: (?P<text>.*))?$")
MARKER = "@@readme-check-{}@@"


def expected_line(line: str) -> str | None:
    """The expected output a `# => text` line gives (an empty line for a bare `# =>`), else None."""
    found = _EXPECT.match(line)
    return None if found is None else found.group("text") or ""


@dataclass
class Check:
    """Expected output lines, and where in the README they stand."""

    line: int
    expected: list[str]


@dataclass
class Block:
    language: str
    line: int  # of the opening fence
    code: list[str] = field(default_factory=list)
    skip: str | None = None


def blocks(readme: str) -> list[Block]:
    found: list[Block] = []
    lines = readme.splitlines()
    current: Block | None = None
    for number, text in enumerate(lines, 1):
        fence = _FENCE.match(text)
        if current is None and fence:
            previous = lines[number - 2] if number >= 2 else ""
            skip = _SKIP.match(previous)
            current = Block(fence.group(1), number, skip=skip.group("why") if skip else None)
        elif current is not None and text.startswith("```"):
            found.append(current)
            current = None
        elif current is not None:
            current.code.append(text)
    if current is not None:
        raise ValueError(f"README: the block opened on line {current.line} is never closed")
    return found


def script(readme: str, python: str, workdir: Path) -> tuple[str, list[Check]]:
    """A bash script running every runnable block, with a marker after each group of commands whose
    output is checked; and the checks, in the order of the markers."""
    out = ["set -euo pipefail"]
    checks: list[Check] = []

    def close_check(expected: list[str], line: int) -> None:
        out.append(f"echo {MARKER.format(len(checks))}")
        checks.append(Check(line, expected))

    for block in blocks(readme):
        if block.skip is not None or block.language not in ("sh", "python"):
            continue
        if block.language == "python":
            path = workdir / f"readme_{block.line}.py"
            code = [line for line in block.code if expected_line(line) is None]
            path.write_text("\n".join(code) + "\n")
            out.append(f"{python} {path}")
            expected = [e for e in map(expected_line, block.code) if e is not None]
            if expected:
                close_check(expected, block.line)
            continue
        pending: list[str] = []
        for offset, line in enumerate(block.code, 1):
            expected = expected_line(line)
            if expected is not None:
                pending.append(expected)
                continue
            if pending:
                close_check(pending, block.line + offset - 1)
                pending = []
            out.append(line)
        if pending:
            close_check(pending, block.line + len(block.code))
    return "\n".join(out) + "\n", checks


def outputs(stdout: str, count: int) -> list[str]:
    """The output before each marker."""
    parts: list[str] = []
    rest = stdout
    for index in range(count):
        marker = MARKER.format(index)
        if marker not in rest:
            break
        before, rest = rest.split(marker + "\n", 1)
        parts.append(before)
    return parts


def matches(expected: list[str], actual: str) -> bool:
    lines = [line.rstrip() for line in actual.splitlines()]
    return _match(expected, lines)


def _match(expected: list[str], lines: list[str]) -> bool:
    if not expected:
        return not lines
    head, rest = expected[0].rstrip(), expected[1:]
    if head == "…":
        return any(_match(rest, lines[start:]) for start in range(len(lines) + 1))
    if not lines:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("…"))
    return re.fullmatch(pattern, lines[0]) is not None and _match(rest, lines[1:])
