"""An append-only journal of small records on local disk, for counts that must outlive the process
(kill -9 included) without a round trip per record.

Records go into the open segment with one write(2) each: once `append` returns, the record is in the
kernel and survives the process (a crash of the machine loses what the kernel had not written out;
segments are fsynced when they are sealed). `seal()` closes the open segment; a sealed segment never
changes again and its id is its file name, so delivering it again after a crash sends the same
records under the same id, and a receiver that remembers ids counts it once. `drop()` deletes a
delivered segment. On start, a segment left open by a crashed process is sealed as it stands.

One process per directory (an exclusive lock): a second one would seal the first one's open segment
under it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger("breakwater.journal")

_OPEN = ".open"
_SEALED = ".sealed"


class JournalBusy(Exception):
    """Another process holds the journal's directory."""


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock)
            raise JournalBusy(f"another process uses the journal in {directory}") from None
        names = [p.name for p in directory.iterdir() if p.suffix in (_OPEN, _SEALED)]
        self._seq = 1 + max((int(n.split("-", 1)[0]) for n in names), default=0)
        for name in names:
            if name.endswith(_OPEN):  # left open by a process that died: its records are final now
                os.replace(directory / name, directory / (name[: -len(_OPEN)] + _SEALED))
        self._fd: int | None = None
        self._id = ""
        self.records = 0  # in the open segment
        self._unwritten: list[bytes] = []  # records the disk refused; written again, or kept here
        self._memory: dict[str, list[bytes]] = {}  # sealed segments the disk never took

    def append(self, record: bytes) -> None:
        """Add one record (no newline in it). Never raises for the disk: a record the disk refuses is
        kept in memory, written with the next one, or delivered from memory."""
        self.append_many([record])

    def append_many(self, records: list[bytes]) -> None:
        """Add several records with one write."""
        if not records:
            return
        line = b"\n".join(records) + b"\n"
        self.records += len(records)
        if self._unwritten:
            self._unwritten.append(line)
            self._retry()
            return
        try:
            self._write(line)
        except OSError as exc:
            log.error(
                "the journal could not write; keeping records in memory",
                extra={"fields": {"error": str(exc)}},
            )
            self._unwritten.append(line)

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self._id = f"{self._seq:012d}-{secrets.token_hex(10)}"
            self._seq += 1
            self._fd = os.open(
                self.directory / (self._id + _OPEN), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
            )
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _retry(self) -> None:
        try:
            self._write(b"".join(self._unwritten))
        except OSError:
            return
        self._unwritten.clear()

    def seal(self) -> str | None:
        """Close the open segment; its id, or None if nothing was appended since the last seal."""
        if self.records == 0:
            return None
        if self._unwritten:
            self._retry()
        sealed = self._id
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            os.replace(self.directory / (sealed + _OPEN), self.directory / (sealed + _SEALED))
            self._sync_directory()
        if self._unwritten:
            # The disk took none of them (or not the last ones): deliver them from memory.
            memory_id = sealed + "-m" if sealed else f"{self._seq:012d}-{secrets.token_hex(10)}"
            self._seq += 1
            self._memory[memory_id] = [r for chunk in self._unwritten for r in chunk[:-1].split(b"\n")]
            self._unwritten = []
        self.records = 0
        return sealed or None

    def _sync_directory(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def sealed(self) -> list[str]:
        """Ids of the sealed segments not yet dropped, oldest first."""
        on_disk = [p.name[: -len(_SEALED)] for p in self.directory.iterdir() if p.name.endswith(_SEALED)]
        return sorted([*on_disk, *self._memory])

    def read(self, segment: str) -> list[bytes]:
        """A sealed segment's records; a last line without its newline (torn by a crash of the
        machine mid-write) is not a record."""
        if segment in self._memory:
            return list(self._memory[segment])
        data = (self.directory / (segment + _SEALED)).read_bytes()
        lines = data.split(b"\n")
        return [line for line in lines[:-1] if line]

    def drop(self, segment: str) -> None:
        if self._memory.pop(segment, None) is None:
            (self.directory / (segment + _SEALED)).unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.close(self._lock)
