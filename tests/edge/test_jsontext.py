"""bwcontract.jsontext: the depth of a JSON text is measured before parsing, exactly, strings aside; only
standard JSON in UTF-8 with finite numbers and real text is accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwcontract import jsontext


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


bracketed_text = st.text(alphabet='[]{}"\\ab', max_size=12)  # strings full of brackets and escapes
values = st.recursive(
    st.none() | st.booleans() | st.integers() | bracketed_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(bracketed_text, inner, max_size=3),
    max_leaves=40,
)


@given(value=values, limit=st.integers(min_value=0, max_value=6))
def test_the_measured_depth_is_the_values_depth_whatever_its_strings_hold(value: Any, limit: int) -> None:
    text = json.dumps(value).encode()
    expected = depth(value)
    assert jsontext.too_deep(text, limit) == (expected if expected > limit else None)
    if expected <= limit:
        assert jsontext.loads(text, limit) == value


def test_a_hundred_thousand_levels_are_refused_before_parsing() -> None:
    with pytest.raises(jsontext.JsonTextError) as refused:
        jsontext.loads(b"[" * 100_000 + b"]" * 100_000, 256)
    assert refused.value.depth == 100_000


@pytest.mark.parametrize(
    "text",
    [
        b"[NaN]",
        b"[Infinity]",
        b"[-Infinity]",
        b"[1e999]",
        b'["\\ud800"]',
        b'["\\udc00\\ud800"]',
        b'["\xed\xa0\x80"]',
        b"[\xff]",
        b"[1",
    ],
)
def test_what_is_not_standard_json_text_is_refused(text: bytes) -> None:
    with pytest.raises(jsontext.JsonTextError) as refused:
        jsontext.loads(text, 10)
    assert refused.value.depth is None


def test_surrogate_pairs_a_leading_bom_and_large_finite_numbers_are_fine() -> None:
    assert jsontext.loads(b'["\\ud83d\\ude00", 1e308, -1e-400]', 2) == ["😀", 1e308, -0.0]
    assert jsontext.loads(b"\xef\xbb\xbf[1]", 2) == [1]
