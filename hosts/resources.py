"""Resource figures of an instance's processes and files, read from /proc and the file system."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    processes: int
    rss_kb: int
    pss_kb: int  # proportional: shared pages divided among their users, so sums over instances add up
    cpu_seconds: float


def usage(pids: list[int]) -> Usage:
    """Memory and CPU of `pids`; the first is the postmaster, whose exited children count as its own."""
    rss = pss = 0
    ticks = 0
    alive = 0
    for index, pid in enumerate(pids):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime (+ cutime, cstime of reaped children for the postmaster)
            ticks += int(fields[11]) + int(fields[12])
            if index == 0:
                ticks += int(fields[13]) + int(fields[14])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
            alive += 1
    return Usage(alive, rss, pss, round(ticks / _TICKS, 2))


def disk_bytes(path: Path) -> int:
    """Bytes allocated under `path` (what `du` counts)."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        with contextlib.suppress(OSError), os.scandir(current) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    stat = entry.stat(follow_symlinks=False)
                    total += stat.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
    return total


def memory_available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")
