"""Events and stand-ins for the event queue's unit tests."""

from __future__ import annotations

import json
from typing import Any

from bwcontract.offsets import Position


def event(
    lsn: int, seq: int = 0, model: str = "User", action: str = "create", **record: Any
) -> dict[str, Any]:
    position = Position(lsn, seq)
    body: dict[str, Any] = {
        "id": position.event_id,
        "offset": position.offset,
        "modelName": model,
        "action": action,
    }
    image = {"create": "created", "delete": "deleted"}.get(action)
    if image:
        body[image] = record or {"id": lsn}
    else:
        body["before"], body["after"] = {"id": lsn}, record or {"id": lsn}
    body["commitTime"] = "2026-01-01T00:00:00.000Z"
    return body


def batch(*events: dict[str, Any]) -> str:
    return json.dumps({"events": list(events)})


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeSocket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed_with: tuple[int, str] | None = None

    def send(self, text: str) -> None:
        self.frames.append(json.loads(text))

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    def offsets(self) -> list[str]:
        found: list[str] = []
        parts: list[str] = []
        for frame in self.frames:
            if frame["type"] == "events":
                found += [e["offset"] for e in frame["events"]]
            elif frame["type"] == "part":
                parts.append(frame["data"])
                if frame["last"]:
                    found.append(json.loads("".join(parts))["offset"])
                    parts = []
        return found


class FakeSockets:
    def __init__(self) -> None:
        self.open: dict[str, FakeSocket] = {}

    def get(self, socket_id: str) -> FakeSocket | None:
        return self.open.get(socket_id)

    def connect(self, socket_id: str) -> FakeSocket:
        self.open[socket_id] = FakeSocket()
        return self.open[socket_id]
