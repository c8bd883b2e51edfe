"""The client's cache strategy (Accelerate's headers) and fresh / swr / miss by age."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwedge.cache.policy import Outcome, Strategy, outcome, parse
from bwedge.cache.settings import CacheSettings
from bwedge.errors import EdgeError

SETTINGS = CacheSettings()


@pytest.mark.parametrize(
    ("cache_control", "tags", "expected"),
    [
        ("max-age=30,stale-while-revalidate=60", "posts", Strategy(30, 60, ("posts",))),
        ("max-age=30", None, Strategy(30, 0, ())),
        (" Max-Age = 5 , public", "b,a,b", Strategy(5, 0, ("a", "b"))),
        ("stale-while-revalidate=10", "", Strategy(0, 10, ())),
        ('max-age="7"', None, Strategy(7, 0, ())),
        ("max-age=99999999999", None, Strategy(SETTINGS.max_ttl, 0, ())),
        ("no-cache", "posts", None),
        ("max-age=30, no-store", None, None),
        ("max-age=0", None, None),
        ("public", None, None),
        (None, "posts", None),
        ("", None, None),
    ],
)
def test_strategies_are_read_from_accelerates_headers(
    cache_control: str | None, tags: str | None, expected: Strategy | None
) -> None:
    assert parse(cache_control, tags, SETTINGS) == expected


@pytest.mark.parametrize("value", ["max-age=-1", "max-age=1.5", "max-age=", "max-age=soon", "max-age=\u0661"])
def test_a_malformed_number_is_a_400(value: str) -> None:
    with pytest.raises(EdgeError) as caught:
        parse(value, None, SETTINGS)
    assert (caught.value.status, caught.value.code) == (400, "BW1203")


@given(st.text(max_size=60), st.text(max_size=60))
def test_any_header_text_parses_or_is_refused_cleanly(cache_control: str, tags: str) -> None:
    try:
        strategy = parse(cache_control, tags, SETTINGS)
    except EdgeError as exc:
        assert exc.status == 400 and exc.code in ("BW1201", "BW1202", "BW1203")
    else:
        assert strategy is None or (strategy.lifetime > 0 and len(strategy.tags) <= SETTINGS.max_tags)


def test_an_entry_is_fresh_for_ttl_then_stale_for_swr_then_too_old() -> None:
    strategy = Strategy(10, 20, ())
    ages = [-5.0, 0.0, 9.99, 10.0, 29.99, 30.0, 1e9]
    assert [outcome(age, strategy).value for age in ages] == [
        "ttl",
        "ttl",
        "ttl",
        "swr",
        "swr",
        "miss",
        "miss",
    ]


def test_without_swr_an_entry_goes_from_fresh_to_miss() -> None:
    assert [outcome(a, Strategy(10, 0, ())) for a in (9.0, 10.0)] == [Outcome.TTL, Outcome.MISS]


def test_ttl_zero_is_stale_from_the_start() -> None:
    assert outcome(0.0, Strategy(0, 5, ())) is Outcome.SWR
