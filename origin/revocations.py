"""Revoking a key ends what it holds open in this origin process: its interactive transactions.

Every origin hears of a revocation at once from the control plane's NOTIFY (KeyGate.on_revoked). A
notification can be lost (the listening connection dropped), so every `interval` seconds the keys
of the open transactions are checked too (KeyGate caches answers for `key_cache_seconds`): a revoked
key's transactions are rolled back within interval + key_cache_seconds at worst, inside the edge's
REVOCATION_TTL_SECONDS by default (2 + 2 < 5). Its streams are the edge's (eventroutes.revoked).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from bwservice.tasks import cancel_and_wait

from .control.keygate import KeyGate
from .transactions import TransactionManager

log = logging.getLogger("breakwater.origin")


class RevocationWatch:
    def __init__(self, keygate: KeyGate, transactions: TransactionManager, interval: float) -> None:
        self._keygate = keygate
        self._transactions = transactions
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._keygate.on_revoked(self._revoked)
        self._task = asyncio.ensure_future(self._sweep_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _revoked(self, key_or_database_id: str) -> None:
        ended = await self._transactions.revoke({key_or_database_id}, {key_or_database_id})
        if ended:
            log.info(
                "rolled back revoked transactions", extra={"fields": {"id": key_or_database_id, "n": ended}}
            )

    async def sweep(self) -> int:
        """Roll back the open transactions whose key is no longer live; returns how many."""
        dead = set()
        for key_id, database_id in self._transactions.open_keys():
            if not await self._keygate.is_active(key_id, database_id):
                dead.add(key_id)
        return await self._transactions.revoke(dead) if dead else 0

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("could not check open transactions' keys", extra={"fields": {"error": str(exc)}})
