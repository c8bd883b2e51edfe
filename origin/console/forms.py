"""The console's forms, read at one boundary: urlencoded bodies checked against pydantic models.

A form is `application/x-www-form-urlencoded` UTF-8, each field once; anything else is a 400 BW1001
naming the field at fault, as a JSON body would be (`jsoninput`).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.requests import Request

from .. import jsoninput, limits
from ..errors import BadRequest

Model = TypeVar("Model", bound=BaseModel)
MAX_FORM_BYTES = 64 * 1024  # the edge's ceiling for console bodies too


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid")
    csrf: str = Field("", max_length=128, description="the page's CSRF token")


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login_csrf: str = Field("", max_length=128, description="the sign-in form's CSRF token")
    secret: str = Field(max_length=2048, description="the admin token or an API key")


class NewKey(Form):
    scope: Literal["read", "read-write", "admin"] = Field(description="one of read, read-write, admin")
    label: str = Field("", max_length=200, description="text of at most 200 characters")


# A field per limit: a whole number, or empty for the default (limits_changes turns it into overrides).
_LIMIT_FIELDS: dict[str, Any] = {
    name: (str, Field("", max_length=20, description="a whole number, or empty")) for name in limits.NAMES
}
LimitsForm: type[Form] = create_model(
    "LimitsForm",
    __base__=Form,
    **_LIMIT_FIELDS,
)


def limits_changes(form: Form) -> dict[str, int | None]:
    """The overrides a limits form asks for, checked as the admin API checks them."""
    changes: dict[str, int | None] = {}
    for name in limits.NAMES:
        text = str(getattr(form, name)).strip().replace("_", "").replace(",", "")
        if not text:
            changes[name] = None
        elif text.isdigit():
            changes[name] = int(text)
        else:
            raise BadRequest(f"`{name}` must be a whole number, or empty for the default.")
    checked = jsoninput.validated(limits.Overrides, changes, "The form")
    return {name: getattr(checked, name) for name in limits.NAMES}


async def read(request: Request, model: type[Model]) -> Model:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("A console form is sent as application/x-www-form-urlencoded.")
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise limits.payload_too_large("form", MAX_FORM_BYTES, len(raw))
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form is not urlencoded UTF-8.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadRequest(f"The form sends `{name}` twice.")
        fields[name] = value
    return jsoninput.validated(model, fields, "The form")
