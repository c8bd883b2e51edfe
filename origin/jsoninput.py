"""JSON from callers, read and checked at one boundary: what the rest of the origin may assume about it.

Every route reads its body here: `body` (JSON text → a value), `read` (→ a pydantic model of what the
route takes, checked field by field). So every malformed body gets the same answer, a 400 with a code:

- nesting deeper than `MAX_DEPTH` levels: BW1301, measured on the text before parsing, so a body of
  100,000 `[` never reaches the parser or a recursive walk (`bwcontract.jsontext`);
- not JSON: UTF-8 only, no `NaN` / `Infinity` / `1e999` (not JSON numbers; Python's parser takes
  them) and no unpaired UTF-16 surrogates (`"\\ud800"`: text Postgres cannot store and no response
  can encode): BW1001;
- JSON, but not what the route takes (a missing or unknown field, a value of the wrong type or out
  of range): BW1001, naming the first field at fault and what it must be (its description).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from bwcontract import jsontext
from bwcontract.codes import Code

from .errors import BadRequest

# Deep enough for any real client: a Prisma 7 plan grows ~11 levels per level of `include`, a
# JSON-protocol query ~2; the recorded clients send at most 17 (tests/protocol/captures).
MAX_DEPTH = 256

Model = TypeVar("Model", bound=BaseModel)
_REQUIRED: Any = object()


class InvalidJson(BadRequest):
    code = Code.BAD_REQUEST


class TooDeep(BadRequest):
    code = Code.JSON_TOO_DEEP


def loads(raw: bytes | str, what: str = "The request body") -> Any:
    """Parse caller-sent JSON text; InvalidJson or TooDeep (both 400) when it is not acceptable."""
    try:
        return jsontext.loads(raw, MAX_DEPTH)
    except jsontext.JsonTextError as exc:
        if exc.depth is not None:
            raise TooDeep(
                f"{what} nests {exc.depth} levels deep; at most {MAX_DEPTH} are accepted.",
                meta={"depth": exc.depth, "limit": MAX_DEPTH},
            ) from None
        raise InvalidJson(f"{what} is not JSON: {exc}.") from None


async def body(request: Request, *, empty: Any = _REQUIRED) -> Any:
    """The request's body as a JSON value; `empty` when there is no body and the route allows none."""
    raw = await request.body()
    if not raw and empty is not _REQUIRED:
        return empty
    return loads(raw)


async def read(request: Request, model: type[Model], *, optional: bool = False) -> Model:
    """The request's body as `model`; with `optional`, no body at all means every field's default."""
    return validated(model, await body(request, empty={} if optional else _REQUIRED))


def validated(model: type[Model], data: Any, what: str = "The request body") -> Model:
    """`data` as `model`, or InvalidJson naming the first field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidJson(_describe(model, exc.errors()[0], what)) from None


def _describe(model: type[BaseModel], error: Any, what: str) -> str:
    location = [str(part) for part in error["loc"]]
    if not location:
        return f"{what} must be a JSON object."
    path = ".".join(location)
    if error["type"] == "extra_forbidden":
        known = ", ".join(field.alias or name for name, field in model.model_fields.items())
        return f"{what} has an unknown field `{path}`; it takes {known}."
    if error["type"] == "missing":
        return f"{what} needs `{path}`."
    field = next((f for name, f in model.model_fields.items() if location[0] in (name, f.alias)), None)
    if field is not None and field.description:
        return f"`{path}` must be {field.description}."
    return f"`{path}`: {error['msg']}."
