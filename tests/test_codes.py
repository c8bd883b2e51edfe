"""The registry of error codes (`bwcontract.codes`) is the only place a code is spelled: every code the
source or the documents name is registered, the source takes codes from the registry rather than
writing them out, every live code is used, and the README's table is the registry's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bwcontract.codes import Code, lookup
from bwdev import errorcodes
from tests.conftest import PROJECT_ROOT

REGISTRY = PROJECT_ROOT / "edge/bwcontract/codes.py"
SOURCE_ROOTS = ["edge", "edge_local", "origin", "hosts", "breakwater", "bwservice", "bwdev"]
DOCUMENTS = ["README.md", "SECURITY.md", "ARCHITECTURE.md", "BENCHMARKS.md"]
MENTION = re.compile(r"\b(?:P[0-9]{4}|BW[0-9]{4})\b")


def _sources() -> list[Path]:
    return sorted(p for root in SOURCE_ROOTS for p in (PROJECT_ROOT / root).rglob("*.py") if p != REGISTRY)


def _where(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def test_codes_are_well_formed_and_answer_with_their_range() -> None:
    for code in Code:
        assert re.fullmatch(r"P[0-9]{4}|BW[1-4][0-9]{3}", code.value), code
        assert 400 <= code.status < 600 and code.meaning.endswith((".", ")")), code
        if code.value.startswith("BW1"):
            assert 400 <= code.status < 500, code  # the request: the caller's to fix
        assert lookup(code.value) is code


def test_every_code_the_source_or_the_documents_name_is_registered() -> None:
    unknown = []
    for path in [*_sources(), *(PROJECT_ROOT / name for name in DOCUMENTS)]:
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            unknown += [f"{_where(path)}:{number}: {m}" for m in MENTION.findall(line) if m not in set(Code)]
    assert unknown == []


def test_the_source_takes_codes_from_the_registry() -> None:
    spelled: dict[str, list[str]] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and MENTION.fullmatch(node.value)
            ):
                spelled.setdefault(_where(path), []).append(f"{node.lineno}: {node.value}")
    assert spelled == {}


def test_every_live_code_is_used_somewhere() -> None:
    used = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in Code.__members__:
                used.add(node.attr)
    assert [c.name for c in Code if not c.retired and c.name not in used] == []


def test_the_readme_table_is_the_registrys() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert errorcodes.with_table(readme) == readme, "run scripts/error-codes"
    for code in Code:
        assert f"| `{code.value}` | {code.status} |" in readme
