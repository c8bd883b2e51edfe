"""sqlcommenter tags as Prisma's executor formats them, and nothing a client sends leaves the comment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.errors import BadRequest
from origin.plans.comments import sql_comment


def test_tags_are_sorted_like_locale_compare_and_percent_encoded() -> None:
    tags = {"route": "/a b", "Action": "findMany", "application": "it's"}
    assert sql_comment(tags) == "/*Action='findMany',application='it\\'s',route='%2Fa%20b'*/"
    assert sql_comment({}) == "" and sql_comment(None) == ""


@pytest.mark.parametrize("tags", [["a"], {"a": 1}, {"a": None}, "x", {"a": "x" * 5000}])
def test_anything_but_string_tags_of_a_sane_size_is_refused(tags: object) -> None:
    with pytest.raises(BadRequest):
        sql_comment(tags)


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=5))
def test_no_tag_can_close_or_nest_the_comment(tags: dict[str, str]) -> None:
    comment = sql_comment(tags)
    if comment:
        body = comment[2:-2]
        assert comment.startswith("/*") and comment.endswith("*/")
        assert "/" not in body and "*/" not in body
