"""ReplayGuard: a signed request's nonce is accepted once while its signature can still verify."""

from __future__ import annotations

import pytest

from bwcontract import service
from origin.replay import Replayed, ReplayGuard, ReplayMemoryFull, SignedBeforeStart

START = 1_800_000_000.5


def test_a_nonce_is_accepted_once() -> None:
    guard = ReplayGuard(START)
    guard.admit(int(START), "n1", START)
    guard.admit(int(START), "n2", START)
    with pytest.raises(Replayed) as refused:
        guard.admit(int(START), "n1", START + 5)
    assert (refused.value.status, refused.value.code) == (409, "BW2010")


def test_nonces_are_forgotten_once_their_signatures_have_expired() -> None:
    guard = ReplayGuard(START)
    for i in range(100):
        guard.admit(int(START), f"n{i}", START)
    guard.admit(int(START) + 10, "late", START + 10)
    assert len(guard) == 101
    later = START + service.MAX_SKEW_SECONDS + 2
    guard.admit(int(later), "new", later)
    assert len(guard) == 2  # the first second left the window: only "late" and "new" are kept


def test_a_signature_older_than_the_process_is_refused() -> None:
    """After a restart the process cannot know what its predecessor ran."""
    guard = ReplayGuard(START)
    with pytest.raises(SignedBeforeStart) as refused:
        guard.admit(int(START) - 1, "n", START + 1)
    assert (refused.value.status, refused.value.code) == (401, "BW2011")
    guard.admit(int(START), "n", START + 1)  # the start second itself is still accepted


def test_past_its_capacity_the_guard_refuses_rather_than_forgets() -> None:
    guard = ReplayGuard(START, capacity=3)
    for nonce in "abc":
        guard.admit(int(START), nonce, START)
    with pytest.raises(ReplayMemoryFull) as refused:
        guard.admit(int(START), "d", START)
    assert refused.value.code == "BW2012"
    with pytest.raises(Replayed):
        guard.admit(int(START), "a", START)
