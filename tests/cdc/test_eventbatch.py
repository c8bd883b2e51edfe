"""An origin's batch split into events and their texts, and the capture reader's retries of a
refused push (at a steady short pace for a while, never doubled)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bwcontract.wire import event_batch
from bwedge.eventbatch import split_batch
from origin.capture import reader as reader_module
from origin.capture.reader import CaptureTarget, PushError, Reader, ReaderSettings


def test_a_compact_batch_keeps_each_event_text_as_sent() -> None:
    texts = ['{"offset":"A","s":"]},{\\"x"}', '{"offset":"B","n":[1,{"a":null}]}']
    events, cut = split_batch('{"events":[' + ",".join(texts) + "]}")
    assert cut == texts
    assert events == [json.loads(t) for t in texts]
    assert split_batch('{"events":[]}') == ([], [])


def test_any_other_layout_is_parsed_whole_and_encoded_compactly() -> None:
    events, texts = split_batch('{ "events" : [ {"offset": "A"} , {"offset": "B"} ] }')
    assert texts == ['{"offset":"A"}', '{"offset":"B"}']
    assert events == [{"offset": "A"}, {"offset": "B"}]
    assert split_batch('{"events":[{"a":1}],"extra":[]}')[1] == ['{"a":1}']


def event(offset: str, model: str = "Item", action: str = "create", **rest: Any) -> str:
    found = {"id": "ev_1_0", "offset": offset, "modelName": model, "action": action, **rest}
    return json.dumps(found, separators=(",", ":"))


def test_a_batch_with_lengths_is_cut_at_them_and_only_event_heads_are_read() -> None:
    texts = [
        event("0000000000000001-00000000", created={"s": ']},{"x', "n": [1, {"a": None}]}),
        event("0000000000000001-00000001", model='Qu"ote\\d', action="delete", deleted={}),
        event("0000000000000002-00000000", model="Ünï", action="truncate"),
    ]
    events, cut = split_batch(event_batch(texts))
    assert cut == texts
    assert events == [
        {"offset": "0000000000000001-00000000", "modelName": "Item", "action": "create"},
        json.loads(texts[1]),  # a model name with escapes: parsed whole
        json.loads(texts[2]),
    ]
    assert split_batch(event_batch([])) == ([], [])


def test_an_event_with_another_head_or_parts_is_parsed_whole() -> None:
    texts = ['{"offset":"0000000000000001-00000000","modelName":"A","action":"create"}']
    texts.append(event("0000000000000002-00000000")[:-1] + ',"$parts":3}')
    events, cut = split_batch(event_batch(texts))
    assert (events, cut) == ([json.loads(t) for t in texts], texts)


@pytest.mark.parametrize("lengths", ["[10,5]", "[0]", "[99]", "[]"])
def test_lengths_that_do_not_fall_on_the_events_are_not_trusted(lengths: str) -> None:
    texts = [event("0000000000000001-00000000"), event("0000000000000001-00000001")]
    body = '{"lengths":' + lengths + ',"events":[' + ",".join(texts) + "]}"
    assert split_batch(body) == ([json.loads(t) for t in texts], texts)


@pytest.mark.parametrize(
    "body",
    [
        '{"events":[{"a":1},]}',
        '{"events":[{"a":1}{"b":2}]}',
        '{"events":{"a":1}}',
        '{"events":[1]}]}',
        '{"lengths":[x],"events":[{"a":1}]}',
    ],
)
def test_a_broken_batch_is_refused(body: str) -> None:
    with pytest.raises((ValueError, TypeError)):
        split_batch(body)


async def test_a_refused_push_is_retried_at_a_steady_pace_then_backed_off(monkeypatch: Any) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(0)

    clock = [0.0]
    monkeypatch.setattr(reader_module.asyncio, "sleep", sleep)
    monkeypatch.setattr(reader_module.time, "monotonic", lambda: clock[0])
    failures = [PushError("refused", refused=True)] * 4 + [PushError("answered 503")] * 2
    pushed: list[list[str]] = []

    async def push(database_id: str, events: list[str]) -> dict[str, Any]:
        clock[0] += 10.0  # each refused attempt "takes" 10 s: the steady pace lasts known_peer_for
        if failures:
            raise failures.pop(0)
        pushed.append(events)
        return {"stored": len(events)}

    async def schema(refresh: bool) -> Any:
        raise AssertionError("not read")

    settings = ReaderSettings(retry_initial=0.05, retry_known_peer=0.1, known_peer_for=30.0)
    reader = Reader(CaptureTarget("db1", "postgresql://u@127.0.0.1/d", "s", "p"), push, schema, settings)
    await reader._push_until_stored(['{"offset":"x"}'])
    assert pushed == [['{"offset":"x"}']]
    # Refused: 0.1 s apart while within 30 s of the first refusal, then the doubling backoff resumes.
    assert waits == [0.1, 0.1, 0.1, 0.05, 0.1, 0.2]
