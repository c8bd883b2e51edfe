"""A moved database's package on the hosts' disks: spooled under the inventory's `moving/` folder,
checked against its manifest's size and digest as it arrives, streamed out in chunks; a dedicated
instance travels as a tar of its directory (archived without what stays behind, unpacked safely)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

from . import registry
from .inventory import Inventory, MoveError

FORMAT = 1  # of the package's manifest
MANIFEST_LIMIT = 64 * 1024
# Files of an instance that stay behind: its log, its lock file, and instance.json (the manifest
# carries what the new host keeps of it; the port and freezer group are the new host's own).
_LEFT_BEHIND = {"postgres.log", "instance.json", ".pwfile"}
_LEFT_BEHIND_IN_DATA = {"postmaster.pid", "postmaster.opts"}


def _spool_dir(inventory: Inventory) -> Path:
    folder = inventory.root / "moving"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def spool_path(inventory: Inventory, database_id: str, direction: str) -> Path:
    return _spool_dir(inventory) / f"{registry.checked_id(database_id)}.{direction}"


def package_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


async def package_chunks(path: Path) -> AsyncIterator[bytes]:
    """A spooled package, in 1 MiB reads."""
    source = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(source.read, 1 << 20):
            yield chunk
    finally:
        source.close()


async def receive_package(chunks: AsyncIterator[bytes], path: Path, size: int, sha256: str) -> None:
    """Spool what arrives; it must be exactly the package the manifest describes."""
    digest = hashlib.sha256()
    received = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as target:
        async for chunk in chunks:
            received += len(chunk)
            if received > size:
                raise MoveError("the package is longer than its manifest says")
            digest.update(chunk)
            await asyncio.to_thread(target.write, chunk)
    if received != size or digest.hexdigest() != sha256:
        raise MoveError(f"the package arrived incomplete or changed ({received} of {size} bytes)")


def archive_instance(root: Path, out: Path) -> None:
    """A tar of a stopped instance's directory, without what stays behind."""

    def keep(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(member.name).parts
        if len(parts) == 1 and parts[0] in _LEFT_BEHIND:
            return None
        if len(parts) == 2 and parts[0] == "data" and parts[1] in _LEFT_BEHIND_IN_DATA:
            return None
        if member.isfifo() or member.ischr() or member.isblk():
            return None
        return member

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as target, tarfile.open(fileobj=target, mode="w") as archive:
        for entry in sorted(root.iterdir()):
            archive.add(entry, arcname=entry.name, filter=keep)


def unpack_instance(package: Path, into: Path, inventory: Inventory) -> None:
    """Unpack an instance's archive (the "data" filter refuses absolute paths, links out of the
    folder and device files) and give every file to the service user."""
    into.mkdir(mode=0o700)
    with tarfile.open(package, mode="r") as archive:
        archive.extractall(into, filter="data")
    for folder, dirs, files in os.walk(into):
        inventory.user.own(Path(folder))
        for name in [*dirs, *files]:
            inventory.user.own(Path(folder) / name)
    os.chmod(into / "data", 0o700)
    if not (into / "data" / "PG_VERSION").exists():
        raise MoveError("the package holds no data directory")
