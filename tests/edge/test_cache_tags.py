from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwedge.cache import tags
from bwedge.errors import EdgeError


def test_tags_follow_accelerates_rules_sorted_and_deduplicated() -> None:
    assert tags.from_header("posts, user_1,posts", 5) == ("posts", "user_1")
    assert tags.from_header(None, 5) == () and tags.from_header("  ", 5) == ()
    assert tags.validate(["a" * 64], 1, "x") == ("a" * 64,)


@pytest.mark.parametrize("bad", ["a-b", "a b", "é", "a" * 65, "a,,b"])
def test_other_tags_are_refused(bad: str) -> None:
    with pytest.raises(EdgeError) as caught:
        tags.from_header(bad, 5)
    assert caught.value.code == "BW1201"


def test_internal_names_keep_client_tags_models_and_everything_apart() -> None:
    assert (
        len({tags.client("all"), tags.model("all"), tags.ALL, tags.client("User"), tags.model("User")}) == 5
    )


def test_the_origins_model_headers_are_read_leniently() -> None:
    assert tags.models_from_header("Post, User,Post,,") == ("Post", "User")
    assert tags.models_from_header("") == ()
    assert tags.models_from_header(None) is None


@given(st.text(max_size=80))
def test_any_tag_header_is_accepted_or_refused_with_a_stable_code(header: str) -> None:
    try:
        found = tags.from_header(header, 5)
    except EdgeError as exc:
        assert exc.code in ("BW1201", "BW1202")
    else:
        assert all(t.isascii() and 1 <= len(t) <= 64 for t in found) and len(found) <= 5
