"""Moving a database to another host, with its URL and keys unchanged (the hosts' half is
hosts/moving.py). One origin runs a move, holding a session advisory lock on the database for its
length; every step is recorded in `moves`, so that any origin can finish or undo a move whose mover
died (`recover`).

1. Mark it moving (`databases.moving_since`, NOTIFY): every origin answers its requests BW3011 with a
   Retry-After, and closes its idle connections to it.
2. Fence it on the source host: the host's proxy refuses its roles; what runs gets `grace` seconds to
   finish, the rest is ended. The host answers with a WAL position written after the last change.
3. Shared placement with change capture: wait until the capture slot's confirmed position passes
   that point, i.e. the edge has stored every change made before the fence (a dedicated instance's
   slot moves with its files, undelivered changes and all).
4. Export (dump, or the stopped instance's files) and stream it through this origin into the target
   host, which makes the database there, fenced.
5. Change capture on the target: its role, guard and publication, and (shared) a new slot, created
   before anybody may write there. Events from the new slot get positions above every position of
   the old one: `lsn_base` is chosen so (commit LSN + base > the fence's position + the old base).
6. Unfence on the target, then switch the control plane in one transaction: the database's host,
   instance and DSNs (the new proxy's address, the same passwords), capture's address, base and
   generation (the leading origin restarts its reader), the move's record. Tenants are served again.
7. Release it on the source: dropped there, with a forwarding note its proxy answers old DSNs with.

Anything failing before 6 undoes the move (the target's copy is dropped, the source unfenced): the
database serves from where it was, and the error says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bwcontract.codes import Code
from bwservice import pinned

from ..errors import BreakwaterError, NotFound, UpstreamError, database_moving
from ..slots import CHANNEL as CAPTURE_CHANNEL
from ..slots import ENABLE_LOCK, ensure_slot, lock_key
from .clients import HostsClient
from .hostbook import HostBook
from .ids import new_id
from .store import Database

log = logging.getLogger("breakwater.moves")

MOVE_LOCK = 0x42574D56  # "BWMV": one mover per database
CHANNEL = "breakwater_moves"  # payload: the database id; origins refresh what they know of it

# The moves whose mover may be gone: running, switched but not released, or failed with an undo due.
_UNFINISHED = (
    "SELECT m.id, m.database_id, m.source, m.target, m.state, m.step, m.error, d.dsn, d.host_id "
    "FROM moves m JOIN databases d ON d.id = m.database_id "
    "WHERE (m.state = 'running' OR (m.state = 'done' AND m.step = 'switched') "
    "OR (m.state = 'failed' AND m.step = 'undo pending'))"
)


@dataclass(frozen=True)
class MoveSettings:
    grace_seconds: float = 2.0  # what runs in the database gets this long to finish at the fence
    capture_wait_seconds: float = 30.0  # for change capture to deliver what came before the fence
    max_seconds: float = 300.0  # fence to serving on the target; longer, the move is undone


def parse_lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def at_proxy(dsn: str, proxy: str) -> str:
    """The same DSN (user, password, database) at another host's proxy."""
    parts = urlsplit(dsn)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{proxy}" if userinfo else proxy))


@dataclass
class _Run:
    id: str
    db: Database
    source: HostsClient
    target: HostsClient
    target_id: str
    lock: asyncpg.Connection
    step: str = "starting"
    fenced_at: float | None = None
    package_bytes: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


class Mover:
    def __init__(
        self, control_dsn: str, control: asyncpg.Pool, book: HostBook, settings: MoveSettings
    ) -> None:
        self._control_dsn = control_dsn
        self._control = control
        self.book = book
        self.settings = settings

    async def move(self, db: Database, target_id: str) -> dict[str, Any]:
        """Move `db` to host `target_id`; returns what happened (the move's record)."""
        if db.host_id == target_id:
            raise BreakwaterError(f"{db.name} lives on {target_id} already.", code=Code.HOST_STATE)
        source = await self.book.agent(db.host_id)
        target = await self.book.agent(target_id)
        lock = await asyncpg.connect(self._control_dsn)
        try:
            if not await lock.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", MOVE_LOCK, db.id):
                raise database_moving(db.name)
            # Turning change capture on waits until the move is over (it would make a slot here).
            await lock.execute("SELECT pg_advisory_lock($1, $2)", ENABLE_LOCK, lock_key(db.id))
            run = _Run(new_id("mv"), db, source, target, target_id, lock)
            async with lock.transaction():
                current = await lock.fetchrow(
                    "SELECT host_id, deleted_at FROM databases WHERE id = $1 FOR UPDATE", db.id
                )
                if current is None or current["deleted_at"] is not None or current["host_id"] != db.host_id:
                    raise BreakwaterError(f"{db.name} changed meanwhile; look again.", code=Code.HOST_STATE)
                await lock.execute(
                    "INSERT INTO moves (id, database_id, source, target) VALUES ($1, $2, $3, $4)",
                    run.id,
                    db.id,
                    db.host_id,
                    target_id,
                )
                await lock.execute("UPDATE databases SET moving_since = now() WHERE id = $1", db.id)
                await lock.execute("SELECT pg_notify($1, $2)", CHANNEL, db.id)
            log.info("moving", extra={"fields": {"database": db.id, "from": db.host_id, "to": target_id}})
            try:
                await self._run(run)
            except BaseException as exc:
                await asyncio.shield(self._undo(run, exc))
                raise
            return run.summary
        finally:
            with contextlib.suppress(Exception):
                await lock.close()  # releases both locks

    async def _step(self, run: _Run, step: str) -> None:
        run.step = step
        # On the lock's session: if it is gone, another origin may be undoing this move; stop.
        await run.lock.execute("UPDATE moves SET step = $2 WHERE id = $1", run.id, step)

    async def _run(self, run: _Run) -> None:
        # Bounded: past `max_seconds` the move is undone and the database serves where it was (the
        # switch itself is one short transaction, outside the bound, so it happens or it does not).
        try:
            async with asyncio.timeout(self.settings.max_seconds):
                arrived, new_capture = await self._copy(run)
        except TimeoutError:
            raise UpstreamError(
                f"Moving {run.db.name} took longer than {self.settings.max_seconds:g}s (at step "
                f"{run.step!r}); it was undone and the database serves where it was.",
                hint="Raise BREAKWATER_MOVE_MAX_SECONDS for a large database, or move it when it is quieter.",
            ) from None
        await self._switch(run, arrived, new_capture)
        await self._release(run, str(arrived["proxy"]))

    async def _copy(self, run: _Run) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Fence it on the source, copy it to the target, unfenced there; returns what the target
        answered and the new capture settings (None without capture)."""
        db = run.db
        await self._step(run, "fencing")
        run.fenced_at = time.monotonic()
        fenced = await run.source.fence(db.id, self.settings.grace_seconds)
        fence_lsn = parse_lsn(str(fenced["lsn"]))
        await run.lock.execute("UPDATE moves SET fence_lsn = $2 WHERE id = $1", run.id, str(fenced["lsn"]))
        capture = await run.lock.fetchrow(
            "SELECT slot, lsn_base FROM capture_databases WHERE database_id = $1", db.id
        )
        if capture is not None and db.placement == "shared":
            await self._step(run, "draining capture")
            await self._wait_delivered(run, str(capture["slot"]), fence_lsn)
        await self._step(run, "exporting")
        manifest = await run.source.export(db.id)
        run.package_bytes = int(manifest.get("bytes", 0))
        await self._step(run, "copying")
        async with run.source.package(db.id) as chunks:
            arrived = await run.target.import_package(manifest, chunks)
        new_capture = None
        if capture is not None:
            await self._step(run, "capture")
            new_capture = await self._capture_on_target(
                run, str(capture["slot"]), int(capture["lsn_base"]), fence_lsn
            )
        await self._step(run, "serving")
        await run.target.unfence(db.id)
        return arrived, new_capture

    async def _wait_delivered(self, run: _Run, slot: str, fence_lsn: int) -> None:
        """Until the edge has stored every change of the database made before the fence."""
        dsn = await run.source.capture_address(run.db.id)
        conn = await pinned.connect(dsn, timeout=10)
        try:
            deadline = time.monotonic() + self.settings.capture_wait_seconds
            while True:
                confirmed = await conn.fetchval(
                    "SELECT confirmed_flush_lsn::pg_catalog.text FROM pg_catalog.pg_replication_slots "
                    "WHERE slot_name OPERATOR(pg_catalog.=) $1",
                    slot,
                )
                if confirmed is None or parse_lsn(str(confirmed)) >= fence_lsn:
                    return
                if time.monotonic() > deadline:
                    raise UpstreamError(
                        f"Change capture of {run.db.name} did not deliver the changes made before the move "
                        f"within {self.settings.capture_wait_seconds:g}s; the move was undone.",
                        hint="Check that an origin leads its capture (GET /admin/capture on each origin), "
                        "then move it again.",
                    )
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    async def _capture_on_target(self, run: _Run, slot: str, old_base: int, fence_lsn: int) -> dict[str, Any]:
        setup = await run.target.enable_capture(run.db.id)
        dsn = str(setup["dsn"])
        await ensure_slot(dsn, slot)  # a dedicated instance brought its own
        base = old_base
        if run.db.placement == "shared":
            conn = await pinned.connect(dsn, timeout=10)
            try:
                start = await conn.fetchval(
                    "SELECT confirmed_flush_lsn::pg_catalog.text FROM pg_catalog.pg_replication_slots "
                    "WHERE slot_name OPERATOR(pg_catalog.=) $1",
                    slot,
                )
            finally:
                await conn.close()
            # Every commit decoded from the new slot lies at or after `start`.
            base = fence_lsn + old_base + 1 - parse_lsn(str(start))
        return {"dsn": dsn, "publication": str(setup["publication"]), "lsn_base": base}

    async def _switch(self, run: _Run, arrived: dict[str, Any], capture: dict[str, Any] | None) -> None:
        db, proxy = run.db, str(arrived["proxy"])
        unavailable_ms = round((time.monotonic() - (run.fenced_at or time.monotonic())) * 1000)
        async with run.lock.transaction():
            await run.lock.execute(
                "UPDATE databases SET host_id = $2, instance = $3, dsn = $4, readonly_dsn = $5, "
                "moving_since = NULL WHERE id = $1",
                db.id,
                run.target_id,
                str(arrived["instance"]),
                at_proxy(db.dsn, proxy),
                at_proxy(db.readonly_dsn, proxy) if db.readonly_dsn else None,
            )
            if capture is not None:
                await run.lock.execute(
                    "UPDATE capture_databases SET dsn = $2, publication = $3, lsn_base = $4, "
                    "generation = generation + 1 WHERE database_id = $1",
                    db.id,
                    capture["dsn"],
                    capture["publication"],
                    capture["lsn_base"],
                )
                await run.lock.execute("SELECT pg_notify($1, $2)", CAPTURE_CHANNEL, db.id)
            await run.lock.execute(
                "UPDATE moves SET state = 'done', step = 'switched', finished_at = now(), "
                "unavailable_ms = $2 WHERE id = $1",
                run.id,
                unavailable_ms,
            )
            await run.lock.execute("SELECT pg_notify($1, $2)", CHANNEL, db.id)
        run.step = "switched"
        run.summary = {
            "id": run.id,
            "database": db.name,
            "database_id": db.id,
            "placement": db.placement,
            "from": db.host_id,
            "to": run.target_id,
            "unavailable_ms": unavailable_ms,
            "bytes": run.package_bytes,
        }
        log.info("moved", extra={"fields": run.summary})

    async def _release(self, run: _Run, proxy: str) -> None:
        try:
            await run.source.release(run.db.id, run.target_id, proxy)
        except BreakwaterError as exc:
            # The move stands; the old copy is dropped when the source answers again (recover).
            log.warning(
                "the old copy stays for now", extra={"fields": {"database": run.db.id, "error": exc.message}}
            )
            await self._control.execute(
                "UPDATE moves SET error = $2 WHERE id = $1",
                run.id,
                f"old copy not dropped yet: {exc.message}",
            )
            run.summary["released"] = False
            return
        await self._control.execute("UPDATE moves SET step = 'released' WHERE id = $1", run.id)
        run.summary["released"] = True

    async def _undo(self, run: _Run, cause: BaseException) -> None:
        """Put the database back where it was (nothing is undone once the control plane switched)."""
        if run.step in ("switched", "released"):
            return
        errors = await _undo_on_hosts(
            run.db.id, run.source, run.target, copied=run.step not in ("starting", "fencing")
        )
        reason = cause.message if isinstance(cause, BreakwaterError) else (str(cause) or type(cause).__name__)
        await _record_undo(self._control, run.id, run.db.id, reason, errors)
        log.warning(
            "move undone", extra={"fields": {"database": run.db.id, "error": reason, "pending": errors}}
        )

    # --- finishing what dead movers left --------------------------------------------------------

    async def recover(self) -> int:
        """Finish or undo the moves whose mover is gone; returns how many it dealt with."""
        rows = await self._control.fetch(_UNFINISHED)
        dealt = 0
        for listed in rows:
            lock = await asyncpg.connect(self._control_dsn)
            try:
                if not await lock.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))", MOVE_LOCK, listed["database_id"]
                ):
                    continue  # its mover is at work
                # Read again under the lock: a mover that finished between the list and the lock
                # has moved the row on (acting on the listed state would undo a finished move).
                row = await self._control.fetchrow(_UNFINISHED + " AND m.id = $1", listed["id"])
                if row is None:
                    continue
                if await self._recover_one(row):
                    dealt += 1
            except (BreakwaterError, ValueError, OSError, asyncpg.PostgresError) as exc:
                log.info(
                    "a move could not be finished yet",
                    extra={"fields": {"move": listed["id"], "error": repr(exc)}},
                )
            finally:
                with contextlib.suppress(Exception):
                    await lock.close()
        return dealt

    async def _recover_one(self, row: asyncpg.Record) -> bool:
        # Where the database lives now decides what may be dropped: a later move may have taken it
        # back to this move's source, or on to its target; its live copy is never touched.
        lives = row["host_id"]
        source, target = await self.book.agent(row["source"]), await self.book.agent(row["target"])
        if row["state"] == "done":
            proxy = urlsplit(str(row["dsn"])).netloc.rpartition("@")[2]
            if lives != row["source"]:
                with contextlib.suppress(NotFound):  # released already
                    await source.release(row["database_id"], lives, proxy)
            await self._control.execute(
                "UPDATE moves SET step = 'released', error = NULL WHERE id = $1", row["id"]
            )
            return True
        if row["state"] == "running" and row["host_id"] == row["target"]:
            # Switched, but its record was not (cannot happen: one transaction); count it done.
            await self._control.execute(
                "UPDATE moves SET state = 'done', step = 'switched' WHERE id = $1", row["id"]
            )
            return True
        errors = await _undo_on_hosts(
            row["database_id"], source, target, copied=lives != row["target"], unfence=lives == row["source"]
        )
        # An undo left pending keeps the reason the move failed for; a running one lost its mover.
        reason = str(row["error"]).split("; ")[0] if row["state"] == "failed" else "its mover stopped"
        await _record_undo(self._control, row["id"], row["database_id"], reason, errors)
        return not errors


async def _undo_on_hosts(
    database_id: str, source: HostsClient, target: HostsClient, copied: bool, unfence: bool = True
) -> list[str]:
    errors: list[str] = []
    if copied:
        try:
            await target.drop_database(database_id)
        except NotFound:
            pass  # it never arrived
        except BreakwaterError as exc:
            errors.append(f"the copy on {target.host_id} stays: {exc.message}")
    if not unfence:
        return errors
    try:
        await source.unfence(database_id)
    except BreakwaterError as exc:
        errors.append(f"{source.host_id} still refuses it: {exc.message}")
    return errors


async def _record_undo(
    control: asyncpg.Pool, move_id: str, database_id: str, reason: str, errors: list[str]
) -> None:
    async with control.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE moves SET state = 'failed', step = $2, error = $3, finished_at = now() WHERE id = $1",
            move_id,
            "undo pending" if errors else "undone",
            "; ".join([reason, *errors]),
        )
        await conn.execute("UPDATE databases SET moving_since = NULL WHERE id = $1", database_id)
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, database_id)
