"""The engine's write stages stay apart: the write planner builds `writenodes` plans and imports
nothing that writes SQL text; `writesql` alone renders them (as `sql` renders read plans)."""

from __future__ import annotations

from tests.test_layers import MODULES, _imports

PLANNER = [
    "origin.engine.writesteps",
    "origin.engine.writelinks",
    "origin.engine.writecreates",
    "origin.engine.writeupdates",
    "origin.engine.writes",
    "origin.engine.writeactions",
]
# The Query stage: every module that writes SQL text, and the quoting of names in it.
SQL_MODULES = {
    "origin.engine.sql",
    "origin.engine.sqlbuilder",
    "origin.engine.sqlfilters",
    "origin.engine.sqlorder",
    "origin.engine.jsonsql",
    "origin.engine.aggregatesql",
    "origin.engine.writesql",
    "origin.engine.quoting",
}


def test_the_write_planner_imports_nothing_that_writes_sql() -> None:
    wrong = [
        f"{name}:{line}: {imported}"
        for name in PLANNER
        for imported, line in _imports(name, MODULES[name])
        if imported in SQL_MODULES or imported.rpartition(".")[0] in SQL_MODULES
    ]
    assert wrong == []


def test_the_write_plan_is_rendered_by_writesql_alone() -> None:
    # The plan's vocabulary names no SQL either: it is data the renderer reads.
    renderers = {
        name
        for name, path in MODULES.items()
        if any(imported == "origin.engine.writenodes" for imported, _ in _imports(name, path))
        and name not in PLANNER
    }
    assert renderers == {"origin.engine.writesql"}
    assert not any(
        imported in SQL_MODULES
        for imported, _ in _imports("origin.engine.writenodes", MODULES["origin.engine.writenodes"])
    )
