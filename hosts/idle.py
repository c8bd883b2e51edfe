"""The idle policy: pause after a while without traffic, hibernate (stop) after a longer while."""

from __future__ import annotations


def decide(state: str, idle_for: float, pause_after: float, hibernate_after: float) -> str | None:
    """What to do with an instance in `state` that has seen no traffic for `idle_for` seconds.

    Returns "pause", "hibernate" or None. A limit of 0 turns that step off; a running instance idle
    past both limits goes straight to hibernation.
    """
    if state not in ("running", "paused"):
        return None
    if hibernate_after > 0 and idle_for >= hibernate_after:
        return "hibernate"
    if state == "running" and pause_after > 0 and idle_for >= pause_after:
        return "pause"
    return None
