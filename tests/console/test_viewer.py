"""What each viewer may see and do in the console: viewer.py's table, row by row."""

from __future__ import annotations

import pytest

from bwcontract.codes import Code
from origin.console.viewer import Action, Viewer
from origin.errors import BreakwaterError

OPERATOR = Viewer(True, None, None, "t")
ADMIN = Viewer(False, "db1", "admin", "t", "k1")
READ_WRITE = Viewer(False, "db1", "read-write", "t", "k2")
READ = Viewer(False, "db1", "read", "t", "k3")

# viewer: the actions it may take (everything else is refused)
TABLE = [
    (OPERATOR, set(Action)),
    (ADMIN, {Action.WAKE, Action.KEYS, Action.DSN}),
    (READ_WRITE, {Action.WAKE}),
    (READ, set()),
]


@pytest.mark.parametrize(("viewer", "allowed"), TABLE)
def test_each_scope_may_do_exactly_its_row(viewer: Viewer, allowed: set[Action]) -> None:
    assert {a for a in Action if viewer.may(a)} == allowed
    for action in set(Action) - allowed:
        with pytest.raises(BreakwaterError) as refused:
            viewer.require(action)
        expected = Code.READ_ONLY if viewer is READ else Code.CONSOLE_NOT_ALLOWED
        assert (refused.value.status, refused.value.code) == (403, expected)


@pytest.mark.parametrize("viewer", [ADMIN, READ_WRITE, READ])
def test_a_team_sees_its_database_only_and_another_is_not_found(viewer: Viewer) -> None:
    assert viewer.sees("db1") and not viewer.sees("db2")
    viewer.require_sight("db1", "mine")
    with pytest.raises(BreakwaterError) as refused:
        viewer.require_sight("db2", "theirs")
    assert (refused.value.status, refused.value.code) == (404, Code.NOT_FOUND)


def test_the_operator_sees_every_database() -> None:
    assert OPERATOR.sees("db1") and OPERATOR.sees("anything") and not OPERATOR.read_only
    assert READ.read_only and not READ_WRITE.read_only
