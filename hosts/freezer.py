"""Pausing an instance: freeze its whole process tree, keep its memory, thaw it in well under 1 ms.

Every Postgres child calls setsid(), so signalling the postmaster's process group stops only the
postmaster. Three ways work, best first:

- `cgroup2`: a cgroup of its own in a v2 hierarchy; `cgroup.freeze` freezes every task in it, and
  children forked later are born inside it.
- `cgroup1`: the same with the v1 `freezer` controller (`freezer.state`).
- `signals`: SIGSTOP the postmaster first (so it cannot fork while we look), then every child;
  SIGCONT in the reverse order.

A group is named by its directory (the empty string for `signals`); the kind of a group is told by
the files in it, so an agent restarted with other settings still thaws what an earlier one froze.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import time
from pathlib import Path

CGROUP2_CANDIDATES = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
CGROUP1_FREEZER = Path("/sys/fs/cgroup/freezer")
KINDS = ("cgroup2", "cgroup1", "signals")


class FreezerError(Exception):
    pass


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Postgres backends do not fork further)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    except OSError:
        return _children_by_scan(pid)
    return [int(p) for p in text.split()]


def _children_by_scan(pid: int) -> list[int]:
    # Kernels without CONFIG_PROC_CHILDREN: read every process's parent instead.
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, parent first."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        tree.append(current)
        queue.extend(children(current))
    return tree


def is_stopped(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class Freezer:
    """One way of freezing; `group_for` names where an instance's processes live."""

    kind = "signals"

    def __init__(self, base: Path | None = None) -> None:
        self.base = base

    def group_for(self, scope: str, name: str) -> str:
        return ""

    def place(self, group: str, pid: int) -> None:
        """Put the process tree of `pid` into `group` (before it is ever frozen)."""

    def freeze(self, group: str, pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        _signal_all(process_tree(pid)[1:], signal.SIGSTOP)

    def thaw(self, group: str, pid: int) -> None:
        _signal_all(list(reversed(process_tree(pid))), signal.SIGCONT)

    def is_frozen(self, group: str, pid: int) -> bool:
        return is_stopped(pid)

    def pids(self, group: str, pid: int) -> list[int]:
        return process_tree(pid)


class Cgroup2Freezer(Freezer):
    kind = "cgroup2"

    def group_for(self, scope: str, name: str) -> str:
        assert self.base is not None
        return str(self.base / scope / name)

    def place(self, group: str, pid: int) -> None:
        path = Path(group)
        path.mkdir(parents=True, exist_ok=True)
        # Move the postmaster, then whatever it forked before the move; forks after it land inside.
        for member in process_tree(pid):
            with contextlib.suppress(ProcessLookupError):
                _write(path / "cgroup.procs", str(member))

    def freeze(self, group: str, pid: int) -> None:
        _write(Path(group) / "cgroup.freeze", "1")

    def thaw(self, group: str, pid: int) -> None:
        _write(Path(group) / "cgroup.freeze", "0")

    def is_frozen(self, group: str, pid: int) -> bool:
        # Reports the wanted state at once; `settled()` tells when every task has stopped.
        return (Path(group) / "cgroup.freeze").read_text().strip() == "1"

    def pids(self, group: str, pid: int) -> list[int]:
        return [int(p) for p in (Path(group) / "cgroup.procs").read_text().split()]


class Cgroup1Freezer(Cgroup2Freezer):
    kind = "cgroup1"

    def freeze(self, group: str, pid: int) -> None:
        _write(Path(group) / "freezer.state", "FROZEN")

    def thaw(self, group: str, pid: int) -> None:
        _write(Path(group) / "freezer.state", "THAWED")

    def is_frozen(self, group: str, pid: int) -> bool:
        return (Path(group) / "freezer.state").read_text().strip() in ("FROZEN", "FREEZING")


def settled(group: str, pid: int) -> bool:
    """Whether a freeze has taken hold of every task (freezing is asynchronous in both cgroup kinds)."""
    path = Path(group) if group else None
    if path is not None and (path / "cgroup.events").exists():
        return "frozen 1" in (path / "cgroup.events").read_text().split("\n")
    if path is not None and (path / "freezer.state").exists():
        return (path / "freezer.state").read_text().strip() == "FROZEN"
    return all(is_stopped(p) for p in process_tree(pid))


def wait_settled(group: str, pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not settled(group, pid):
        if time.monotonic() > deadline:
            raise FreezerError(f"processes of {group or pid} did not freeze within {timeout}s")
        time.sleep(0.0005)


def thawed(group: str, pid: int) -> bool:
    """Whether the instance runs (not frozen by any kind of freezer)."""
    path = Path(group) if group else None
    if path is not None and (path / "cgroup.freeze").exists():
        return (path / "cgroup.freeze").read_text().strip() == "0"
    if path is not None and (path / "freezer.state").exists():
        return (path / "freezer.state").read_text().strip() == "THAWED"
    return not is_stopped(pid)


def thaw_any(group: str, pid: int | None) -> None:
    """Thaw whatever froze this instance, whichever kind did it (used before stopping it)."""
    path = Path(group) if group else None
    if path is not None and (path / "cgroup.freeze").exists():
        _write(path / "cgroup.freeze", "0")
    elif path is not None and (path / "freezer.state").exists():
        _write(path / "freezer.state", "THAWED")
    if pid is not None:
        _signal_all(list(reversed(process_tree(pid))), signal.SIGCONT)


def remove_group(group: str) -> None:
    """Remove an empty group and its scope directory once that is empty too."""
    if not group:
        return
    path = Path(group)
    for _ in range(100):
        try:
            path.rmdir()
            break
        except FileNotFoundError:
            break
        except OSError as exc:
            # A group stays busy for a moment after its last task exits.
            if exc.errno != errno.EBUSY:
                return
            time.sleep(0.002)
    else:
        return
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def scope_for(root: Path) -> str:
    """A cgroup directory name per agent root, so agents on one machine never share groups."""
    return "breakwater-" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]


def _cgroup2_base() -> Path | None:
    for base in CGROUP2_CANDIDATES:
        if (base / "cgroup.procs").exists() and (base / "cgroup.subtree_control").exists():
            if _can_create(base, "cgroup.freeze"):
                return base
    return None


def _cgroup1_base() -> Path | None:
    if (CGROUP1_FREEZER / "cgroup.procs").exists() and _can_create(CGROUP1_FREEZER, "freezer.state"):
        return CGROUP1_FREEZER
    return None


def _can_create(base: Path, control: str) -> bool:
    probe = base / f"breakwater-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        return (probe / control).exists()
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def detect(wanted: str = "auto") -> Freezer:
    """The best freezer this machine offers (or the one asked for; an unavailable one is an error)."""
    if wanted not in ("auto", *KINDS):
        raise FreezerError(f"unknown freezer {wanted!r}: use auto, {', '.join(KINDS)}")
    if wanted in ("auto", "cgroup2"):
        base = _cgroup2_base()
        if base is not None:
            return Cgroup2Freezer(base)
        if wanted == "cgroup2":
            raise FreezerError("no writable cgroup v2 hierarchy with cgroup.freeze here")
    if wanted in ("auto", "cgroup1"):
        base = _cgroup1_base()
        if base is not None:
            return Cgroup1Freezer(base)
        if wanted == "cgroup1":
            raise FreezerError("no writable cgroup v1 freezer at /sys/fs/cgroup/freezer")
    return Freezer()


def available() -> list[str]:
    """Every kind that works here, best first."""
    found = []
    if _cgroup2_base() is not None:
        found.append("cgroup2")
    if _cgroup1_base() is not None:
        found.append("cgroup1")
    return [*found, "signals"]
