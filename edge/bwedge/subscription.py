"""What a consumer asked for on `GET /v1/stream`, parsed and checked, and whether an event matches it.

Parameters (query string):
  models    comma-separated model names (default: every model)
  actions   comma-separated subset of create,update,delete,truncate (default: all of them)
  where     a JSON filter on the record, with the operators of a query's `where` (eventfilter.py)
  filterOn  for updates, which image `where` tests: after (default) or before
  name      a named stream keeps its cursor across connections (at least once); omit for a live tail
  offset    where a new stream starts: latest (default), earliest, or an event's offset (deliver after it)
  window    how many events may be sent and not yet acknowledged (default 500)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bwcontract import eventfilter, jsontext, offsets

ACTIONS = ("create", "update", "delete", "truncate")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MODEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
DEFAULT_WINDOW = 500
MAX_WINDOW = 10_000
MAX_WHERE_BYTES = 16_384
# JSON levels of a `where`: the filter itself allows eventfilter.MAX_DEPTH logic levels, two each.
MAX_WHERE_DEPTH = 2 * eventfilter.MAX_DEPTH + 8


class InvalidSubscription(ValueError):
    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Subscription:
    models: tuple[str, ...] = ()  # empty: every model
    actions: tuple[str, ...] = ACTIONS
    where: dict[str, Any] | None = None
    filter_on: str = "after"
    name: str | None = None
    offset: str = offsets.LATEST
    window: int = DEFAULT_WINDOW

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether `event` goes to this consumer (see eventfilter for why unknown counts as yes)."""
        if self.models and event.get("modelName") not in self.models:
            return False
        action = event.get("action")
        if action not in self.actions:
            return False
        if not self.where or action == "truncate":
            # A truncate carries no record: it removed every row, the matching ones among them.
            return True
        if action == "create":
            record = event.get("created")
        elif action == "delete":
            record = event.get("deleted")
        else:
            record = event.get("before" if self.filter_on == "before" else "after")
        return eventfilter.matches(self.where, record) is not False

    def to_json(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "actions": list(self.actions),
            "where": self.where,
            "filterOn": self.filter_on,
            "name": self.name,
            "offset": self.offset,
            "window": self.window,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Subscription:
        return cls(
            models=tuple(data.get("models") or ()),
            actions=tuple(data.get("actions") or ACTIONS),
            where=data.get("where"),
            filter_on=data.get("filterOn", "after"),
            name=data.get("name"),
            offset=data.get("offset", offsets.LATEST),
            window=int(data.get("window", DEFAULT_WINDOW)),
        )


def _list(query: dict[str, str], name: str) -> list[str]:
    return [item.strip() for item in query.get(name, "").split(",") if item.strip()]


def parse(query: dict[str, str]) -> Subscription:
    """The subscription a stream request's query string describes; InvalidSubscription if it is bad."""
    models = _list(query, "models") or _list(query, "model")
    for model in models:
        if not _MODEL.match(model):
            raise InvalidSubscription(f"{model!r} is not a model name", "models")
    actions = _list(query, "actions") or list(ACTIONS)
    for action in actions:
        if action not in ACTIONS:
            raise InvalidSubscription(
                f"unknown action {action!r}; use create, update, delete, truncate", "actions"
            )
    where = None
    if query.get("where"):
        if len(query["where"]) > MAX_WHERE_BYTES:
            raise InvalidSubscription(f"where is longer than {MAX_WHERE_BYTES} bytes", "where")
        try:
            where = jsontext.loads(query["where"], MAX_WHERE_DEPTH)
        except jsontext.JsonTextError as exc:
            raise InvalidSubscription(f"where is not JSON: {exc}", "where") from None
        try:
            eventfilter.validate(where)
        except eventfilter.FilterError as exc:
            raise InvalidSubscription(str(exc), "where") from None
        if not models:
            raise InvalidSubscription("a where filter needs the models it applies to", "models")
    filter_on = query.get("filterOn", "after")
    if filter_on not in ("after", "before"):
        raise InvalidSubscription("filterOn is after or before", "filterOn")
    name = query.get("name") or None
    if name is not None and not _NAME.match(name):
        raise InvalidSubscription("a stream name is 1-64 letters, digits, '_', '.' or '-'", "name")
    offset = query.get("offset") or offsets.LATEST
    if offset not in (offsets.LATEST, offsets.EARLIEST):
        try:
            offsets.Position.parse(offset)
        except offsets.InvalidOffset as exc:
            raise InvalidSubscription(str(exc), "offset") from None
    try:
        window = int(query.get("window", DEFAULT_WINDOW))
    except ValueError:
        raise InvalidSubscription("window is a number", "window") from None
    if not 1 <= window <= MAX_WINDOW:
        raise InvalidSubscription(f"window is between 1 and {MAX_WINDOW}", "window")
    return Subscription(tuple(models), tuple(actions), where, filter_on, name, offset, window)
