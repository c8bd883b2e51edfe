import pytest
from tests.engine.conftest import Run

async def test_scratch(run: Run) -> None:
    u = await run("User", "createOne", {"data": {"email": "a@x.io", "name": "A", "posts": {"create": [{"title": "Hello", "published": True, "tags": ["x"], "meta": {"a": [1]}}, {"title": "Draft"}]}, "profile": {"create": {"bio": "hi"}}}})
    print(u)
    print(await run("User", "findMany", {"where": {"posts": {"some": {"published": True}}}}, {"$scalars": True, "posts": {"arguments": {"orderBy": {"id": "desc"}}, "selection": {"$scalars": True}}, "profile": True, "_count": True}))
    print(await run("Post", "aggregate", {}, {"_count": {"arguments": {}, "selection": {"_all": True}}, "_max": {"arguments": {}, "selection": {"id": True, "views": True}}}))
    print(await run("Post", "groupBy", {"by": ["authorId"]}, {"authorId": True, "_count": {"arguments": {}, "selection": {"_all": True}}}))
    print(await run("Post", "updateOne", {"where": {"id": 2}, "data": {"views": {"increment": 3}, "categories": {"create": {"name": "c1"}}}}, {"$scalars": True, "categories": True}))
    print(await run("User", "findMany", {"take": -1}, {"email": True}))
    print(await run("Post", "deleteMany", {"where": {"title": {"contains": "raf"}}}))
    print(await run(None, "queryRaw", {"query": 'SELECT id, email, now() as ts, 1::bigint as big FROM users WHERE id > $1', "parameters": "[0]"}))
    assert 0
