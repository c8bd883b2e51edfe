from tests.engine.conftest import Run


async def test_scratch(run: Run) -> None:
    await run(
        "User",
        "createOne",
        {
            "data": {
                "email": "a@x.io",
                "name": "A",
                "posts": {
                    "create": [
                        {"title": "Hello", "published": True, "tags": ["x"], "meta": {"a": [1]}},
                        {"title": "Draft"},
                    ]
                },
                "profile": {"create": {"bio": "hi"}},
            }
        },
    )
    print(
        await run(
            "Post",
            "findMany",
            {
                "where": {
                    "OR": [
                        {"title": {"contains": "ENG", "mode": "insensitive"}},
                        {"NOT": {"rating": None}, "rating": {"lt": 3}},
                    ],
                    "author": {"is": {"role": {"in": ["ADMIN", "USER"]}}},
                    "views": {"gte": {"$type": "BigInt", "value": "1"}},
                    "tags": {"isEmpty": False},
                },
                "orderBy": {"title": "asc"},
            },
            {"title": True},
        )
    )
    assert 0
