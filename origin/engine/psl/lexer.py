"""Prisma schema text → tokens with positions. Newlines are tokens: a field ends at the end of its line."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SchemaError


@dataclass(frozen=True)
class Token:
    kind: str  # name | string | number | punct | newline | eof
    text: str
    line: int
    column: int


_PATTERN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v\ufeff]+)
  | (?P<comment>//[^\n]*)
  | (?P<newline>\n)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>@@|[@{}()\[\],:=?!])
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f"}


def unquote(token: Token) -> str:
    body = token.text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            digits = body[i + 2 : i + 6]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise SchemaError("invalid \\u escape in a string", token.line, token.column + i + 1)
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        if nxt not in _ESCAPES:
            raise SchemaError(f"unknown escape \\{nxt} in a string", token.line, token.column + i + 1)
        out.append(_ESCAPES[nxt])
        i += 2
    text = "".join(out)
    try:
        # Surrogate pairs spelled as two \u escapes become one character; an unpaired one is not text.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise SchemaError(
            "a string holds an unpaired \\u surrogate escape", token.line, token.column
        ) from None
    if "\x00" in text:  # names and defaults end up in Postgres, whose text cannot hold NUL
        raise SchemaError("a string holds a NUL character", token.line, token.column)
    return text


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    line, line_start, pos = 1, 0, 0
    while pos < len(text):
        match = _PATTERN.match(text, pos)
        if match is None:
            char = text[pos]
            if char == '"':
                raise SchemaError("unterminated string", line, pos - line_start + 1)
            raise SchemaError(f"unexpected character {char!r}", line, pos - line_start + 1)
        kind = match.lastgroup or ""
        column = pos - line_start + 1
        if kind == "newline":
            tokens.append(Token("newline", "\n", line, column))
            line += 1
            line_start = match.end()
        elif kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(), line, column))
        pos = match.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens
