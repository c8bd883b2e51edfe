"""Alerts delivered as signed webhooks: at least once, retried with exponential backoff.

A delivery POSTs the alert's JSON to the workspace's `webhook_url` with
`x-breakwater-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed by the
workspace's webhook secret>` (the receiver recomputes it and refuses an old `t`), the alert's id in
`x-breakwater-delivery` (a retried delivery carries the same id) and its event in
`x-breakwater-event`. A 2xx answer delivers it; anything else is tried again after
`retry_seconds * 2^(attempts - 1)` (at most an hour), up to `MAX_ATTEMPTS`. Every attempt's outcome is
kept on the alert (`GET /admin/workspaces/{name}/alerts`). Origins share the work: an alert being
sent is locked (SKIP LOCKED), so two origins never send it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time

import asyncpg
import httpx

from bwservice.tasks import cancel_and_wait

log = logging.getLogger("breakwater.metering")

SIGNATURE_HEADER = "x-breakwater-signature"
DELIVERY_HEADER = "x-breakwater-delivery"
EVENT_HEADER = "x-breakwater-event"
MAX_ATTEMPTS = 12
MAX_BACKOFF_SECONDS = 3600.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff(attempts: int, retry_seconds: float) -> float:
    """The wait after the `attempts`-th failed attempt."""
    return min(retry_seconds * float(2 ** max(attempts - 1, 0)), MAX_BACKOFF_SECONDS)


class Webhooks:
    def __init__(
        self, pool: asyncpg.Pool, http: httpx.AsyncClient, retry_seconds: float, poll: float = 1.0
    ) -> None:
        self._pool = pool
        self._http = http
        self._retry = retry_seconds
        self._poll = poll
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self._wake.set()

    async def deliver_due(self) -> int:
        """Send every alert that is due; how many were delivered."""
        delivered = 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT a.id, a.payload::text AS payload, a.webhook_url, a.attempts, w.webhook_secret "
                "FROM limit_alerts a JOIN workspaces w ON w.id = a.workspace_id "
                "WHERE a.delivered_at IS NULL AND a.webhook_url IS NOT NULL AND a.attempts < $1 "
                "AND a.next_attempt_at <= now() ORDER BY a.next_attempt_at LIMIT 20 "
                "FOR UPDATE OF a SKIP LOCKED",
                MAX_ATTEMPTS,
            )
            for row in rows:
                body = row["payload"].encode()
                status, error = await self._send(
                    row["webhook_url"], row["webhook_secret"] or "", row["id"], body
                )
                attempts = row["attempts"] + 1
                ok = status is not None and 200 <= status < 300
                delivered += ok
                await conn.execute(
                    "UPDATE limit_alerts SET attempts = $2, last_status = $3, last_error = $4, "
                    "delivered_at = CASE WHEN $5 THEN now() END, "
                    "next_attempt_at = now() + make_interval(secs => $6) WHERE id = $1",
                    row["id"],
                    attempts,
                    status,
                    error,
                    ok,
                    backoff(attempts, self._retry),
                )
        return delivered

    async def _send(self, url: str, secret: str, alert_id: str, body: bytes) -> tuple[int | None, str | None]:
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
            DELIVERY_HEADER: alert_id,
            EVENT_HEADER: "limit.threshold",
        }
        try:
            response = await self._http.post(url, content=body, headers=headers, timeout=10.0)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"answered {response.status_code}: {response.text[:200]}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception as exc:
                log.warning("alerts could not be delivered", extra={"fields": {"error": str(exc)}})

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
