"""The README's table of error codes, generated from the registry (`bwcontract.codes`).

python -m bwdev.errorcodes          rewrite the table in README.md
python -m bwdev.errorcodes --check  exit 1 when README.md's table is not the registry's
"""

from __future__ import annotations

import sys
from pathlib import Path

from bwcontract.codes import Code

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = (
    "<!-- error codes: generated from edge/bwcontract/codes.py by scripts/error-codes; edit the registry -->"
)
END = "<!-- end of error codes -->"


def table() -> str:
    rows = ["| code | status | meaning |", "|---|---|---|"]
    for code in Code:
        meaning = code.meaning.replace("|", "\\|")
        if code.retired:
            meaning = f"*Retired, never reused.* {meaning}"
        rows.append(f"| `{code.value}` | {code.status} | {meaning} |")
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """`readme` with the text between the markers replaced by the registry's table."""
    head, begin, rest = readme.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"README.md has no {BEGIN!r} ... {END!r} block")
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = README.read_text()
    wanted = with_table(text)
    if "--check" in args:
        if wanted != text:
            print("README.md's table of error codes is not the registry's: run scripts/error-codes")
            return 1
        return 0
    if wanted != text:
        README.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
