"""Tokens → declarations: blocks (`model`, `enum`, `datasource`, `generator`, `view`, `type`) holding
fields, enum values, key-value settings and attributes. No meaning is checked here (see `build`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import SchemaError
from .lexer import Token, tokenize, unquote


@dataclass(frozen=True)
class Call:
    """A function value such as `now()`, `dbgenerated("...")`, `env("URL")`."""

    name: str
    args: list[Arg]


@dataclass(frozen=True)
class Ident:
    """A bare identifier used as a value (a field name in `[a, b]`, an enum value, `Cascade`)."""

    name: str


@dataclass(frozen=True)
class Arg:
    name: str | None
    value: Any  # str | int | float | bool | Ident | Call | list
    line: int
    column: int


@dataclass(frozen=True)
class Attribute:
    name: str  # without @ or @@, e.g. "id", "db.VarChar", "map"
    args: list[Arg]
    line: int
    column: int

    def arg(self, name: str, position: int | None = 0) -> Arg | None:
        for i, a in enumerate(self.args):
            if a.name == name:
                return a
            if a.name is None and i == position:
                return a
        return None


@dataclass
class FieldDecl:
    name: str
    type: str
    optional: bool
    is_list: bool
    unsupported: bool
    attributes: list[Attribute]
    line: int
    column: int


@dataclass
class Block:
    kind: str  # model | enum | datasource | generator | view | type
    name: str
    line: int
    column: int
    fields: list[FieldDecl] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)  # block attributes (@@...)
    settings: dict[str, Arg] = field(default_factory=dict)  # datasource / generator key = value
    values: list[tuple[str, list[Attribute], int, int]] = field(default_factory=list)  # enum values


BLOCK_KINDS = ("model", "enum", "datasource", "generator", "view", "type")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, message: str, token: Token | None = None) -> SchemaError:
        at = token or self.tok
        return SchemaError(message, at.line, at.column)

    def next(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "eof":
            self.i += 1
        return token

    def skip_newlines(self) -> None:
        while self.tok.kind == "newline":
            self.i += 1

    def expect(self, kind: str, text: str | None = None, what: str = "") -> Token:
        token = self.tok
        if token.kind != kind or (text is not None and token.text != text):
            found = "end of file" if token.kind == "eof" else repr(token.text)
            raise self.fail(f"expected {what or text or kind}, found {found}")
        return self.next()

    def accept(self, text: str) -> bool:
        if self.tok.kind == "punct" and self.tok.text == text:
            self.next()
            return True
        return False

    def parse(self) -> list[Block]:
        blocks: list[Block] = []
        self.skip_newlines()
        while self.tok.kind != "eof":
            keyword = self.tok
            if keyword.kind != "name" or keyword.text not in BLOCK_KINDS:
                raise self.fail(
                    "expected a block (model, enum, datasource, generator, view or type), "
                    f"found {keyword.text!r}"
                )
            self.next()
            name = self.expect("name", what="a block name")
            block = Block(keyword.text, name.text, keyword.line, keyword.column)
            self.expect("punct", "{")
            self.body(block)
            blocks.append(block)
            self.skip_newlines()
        return blocks

    def body(self, block: Block) -> None:
        while True:
            self.skip_newlines()
            token = self.tok
            if token.kind == "eof":
                raise self.fail(f"unclosed block `{block.name}`: expected `}}`", token)
            if self.accept("}"):
                return
            if token.kind == "punct" and token.text == "@@":
                block.attributes.append(self.attribute())
            elif block.kind in ("datasource", "generator"):
                key = self.expect("name", what="a setting name")
                self.expect("punct", "=")
                value = self.value()
                block.settings[key.text] = Arg(key.text, value, key.line, key.column)
            elif block.kind == "enum":
                value_token = self.expect("name", what="an enum value")
                attrs = []
                while self.tok.kind == "punct" and self.tok.text == "@":
                    attrs.append(self.attribute())
                block.values.append((value_token.text, attrs, value_token.line, value_token.column))
            else:
                block.fields.append(self.field())
            if self.tok.kind not in ("newline", "eof") and not (
                self.tok.kind == "punct" and self.tok.text == "}"
            ):
                raise self.fail(f"unexpected {self.tok.text!r} at the end of a line")

    def field(self) -> FieldDecl:
        name = self.expect("name", what="a field name")
        if self.tok.kind in ("newline", "eof"):
            raise self.fail(f"field `{name.text}` has no type", name)
        type_token = self.expect("name", what="a field type")
        unsupported = False
        type_name = type_token.text
        if type_name == "Unsupported":
            self.expect("punct", "(")
            inner = self.expect("string", what="the native type in quotes")
            self.expect("punct", ")")
            unsupported = True
            type_name = unquote(inner)
        optional = is_list = False
        if self.accept("?"):
            optional = True
        elif self.accept("["):
            self.expect("punct", "]")
            is_list = True
            if self.tok.kind == "punct" and self.tok.text == "?":
                raise self.fail("a list field cannot be optional")
        attrs = []
        while self.tok.kind == "punct" and self.tok.text == "@":
            attrs.append(self.attribute())
        return FieldDecl(name.text, type_name, optional, is_list, unsupported, attrs, name.line, name.column)

    def attribute(self) -> Attribute:
        at = self.next()
        name = self.expect("name", what="an attribute name")
        args: list[Arg] = []
        if self.tok.kind == "punct" and self.tok.text == "(":
            args = self.arguments()
        return Attribute(name.text, args, at.line, at.column)

    def arguments(self) -> list[Arg]:
        self.expect("punct", "(")
        args: list[Arg] = []
        while not self.accept(")"):
            self.skip_newlines()
            start = self.tok
            arg_name = None
            if (
                start.kind == "name"
                and self.tokens[self.i + 1].kind == "punct"
                and self.tokens[self.i + 1].text == ":"
            ):
                arg_name = start.text
                self.i += 2
            args.append(Arg(arg_name, self.value(), start.line, start.column))
            self.skip_newlines()
            if not self.accept(","):
                self.skip_newlines()
                self.expect("punct", ")", what="`,` or `)`")
                break
        return args

    def value(self) -> Any:
        token = self.tok
        if token.kind == "string":
            self.next()
            return unquote(token)
        if token.kind == "number":
            self.next()
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "punct" and token.text == "[":
            self.next()
            items = []
            self.skip_newlines()
            while not self.accept("]"):
                items.append(self.value())
                self.skip_newlines()
                if not self.accept(","):
                    self.expect("punct", "]", what="`,` or `]`")
                    break
                self.skip_newlines()
            return items
        if token.kind == "name":
            self.next()
            if token.text in ("true", "false"):
                return token.text == "true"
            if self.tok.kind == "punct" and self.tok.text == "(":
                return Call(token.text, self.arguments())
            return Ident(token.text)
        found = "end of file" if token.kind == "eof" else repr(token.text)
        raise self.fail(f"expected a value, found {found}")


def parse(text: str) -> list[Block]:
    """The declarations of a schema, in order."""
    return _Parser(tokenize(text)).parse()
