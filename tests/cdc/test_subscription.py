"""Stream parameters: parsed and checked at the edge, then matched against events."""

from __future__ import annotations

import json

import pytest

from bwedge.subscription import InvalidSubscription, Subscription, parse


def test_defaults_are_every_model_every_action_from_the_current_end() -> None:
    assert parse({}) == Subscription(
        models=(), actions=("create", "update", "delete", "truncate"), offset="latest", window=500
    )


def test_every_parameter_is_read() -> None:
    query = {
        "models": "User,Post",
        "actions": "create,delete",
        "where": json.dumps({"email": {"endsWith": "@x.io"}}),
        "filterOn": "before",
        "name": "search-sync",
        "offset": "0000000000001A2B-00000003",
        "window": "20",
    }
    assert parse(query) == Subscription(
        ("User", "Post"),
        ("create", "delete"),
        {"email": {"endsWith": "@x.io"}},
        "before",
        "search-sync",
        "0000000000001A2B-00000003",
        20,
    )
    assert Subscription.from_json(parse(query).to_json()) == parse(query)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"actions": "create,upsert"}, "actions"),
        ({"models": "User;drop"}, "models"),
        ({"models": "User", "where": "{nope"}, "where"),
        ({"models": "User", "where": '{"a": {"like": 1}}'}, "where"),
        ({"where": '{"a": 1}'}, "models"),
        ({"filterOn": "during"}, "filterOn"),
        ({"name": "has space"}, "name"),
        ({"offset": "yesterday"}, "offset"),
        ({"window": "0"}, "window"),
        ({"window": "lots"}, "window"),
    ],
)
def test_bad_parameters_are_refused_by_name(query: dict[str, str], parameter: str) -> None:
    with pytest.raises(InvalidSubscription) as info:
        parse(query)
    assert info.value.parameter == parameter


def event(action: str, **images: object) -> dict[str, object]:
    return {"modelName": "User", "action": action, **images}


def test_an_update_is_filtered_on_its_after_image_unless_before_is_asked_for() -> None:
    update = event("update", before={"role": "guest"}, after={"role": "admin"})
    on_after = Subscription(models=("User",), where={"role": "admin"})
    on_before = Subscription(models=("User",), where={"role": "admin"}, filter_on="before")
    assert (on_after.wants(update), on_before.wants(update)) == (True, False)


def test_creates_and_deletes_are_filtered_on_their_record() -> None:
    wanted = Subscription(models=("User",), where={"id": {"gt": 1}})
    assert wanted.wants(event("create", created={"id": 2}))
    assert not wanted.wants(event("delete", deleted={"id": 1}))


def test_other_models_and_actions_are_not_wanted() -> None:
    creates = Subscription(models=("User",), actions=("create",))
    assert not creates.wants({**event("create", created={}), "modelName": "Post"})
    assert not creates.wants(event("delete", deleted={}))


def test_a_truncate_passes_any_filter_of_its_model_but_only_if_its_action_is_asked_for() -> None:
    filtered = Subscription(models=("User",), where={"id": {"gt": 1}})
    assert filtered.wants(event("truncate"))
    assert not Subscription(models=("User",), actions=("create", "delete")).wants(event("truncate"))
    assert not Subscription(models=("Post",)).wants(event("truncate"))
