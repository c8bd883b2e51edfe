"""Keeps every workspace's limit state current: evaluates standings (spend.py) on a schedule and when
usage was counted, records changes (`limit_states`), records each threshold crossed once as an alert
(webhooks.py delivers them), and pushes the states of the workspace's databases to the edge, the way
revocations are pushed, until the edge has taken them (`pushed_at`).

Every origin process runs one; they agree through the control plane: a state is recorded where it
changed, an alert's row is unique, and a push repeated by two origins changes nothing. Every
origin's gate hears of a change at once (NOTIFY breakwater_limits); the edge's isolates within
`PLAN_LIMITS_TTL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable

import asyncpg

from bwcontract.usage import OK, PlanLimit
from bwservice.tasks import cancel_and_wait

from ..control.clients import EdgeClient
from ..control.ids import new_id
from ..errors import UpstreamError
from .daily import month_bounds
from .spend import thresholds
from .standing import Account, accounts

log = logging.getLogger("breakwater.metering")
CHANNEL = "breakwater_limits"


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Evaluator:
    def __init__(
        self,
        pool: asyncpg.Pool,
        edge: EdgeClient,
        interval: float,
        on_alert: Callable[[], None] = lambda: None,
        today: Callable[[], dt.date] = utc_today,
    ) -> None:
        self._pool = pool
        self._edge = edge
        self._interval = interval
        self._on_alert = on_alert
        self._today = today
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._alerted: set[tuple[str, dt.date, int, int]] = set()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Usage was counted: evaluate soon."""
        self._wake.set()

    async def run_once(self, workspace_id: str | None = None) -> list[Account]:
        """Evaluate (every workspace, or one), record what changed, and push it to the edge."""
        async with self._lock:
            today = self._today()
            found = await accounts(self._pool, today, workspace_id)
            known = {
                r["workspace_id"]: (r["state"], r["limit_name"])
                for r in await self._pool.fetch("SELECT workspace_id, state, limit_name FROM limit_states")
            }
            changed = False
            for account in found:
                changed |= await self._record(account, known.get(account.workspace_id))
                await self._alert(account, month_bounds(today)[0])
            if changed:
                await self._pool.execute("SELECT pg_notify($1, '')", CHANNEL)
        await self.push_pending()
        return found

    async def _record(self, account: Account, before: tuple[str, str | None] | None) -> bool:
        standing = account.standing
        now = (standing.state, standing.limit if standing.state != OK else None)
        if before == now:
            return False
        # Nothing to tell the edge about a workspace that was never limited.
        quiet = standing.state == OK and (before is None or before[0] == OK)
        await self._pool.execute(
            "INSERT INTO limit_states "
            "(workspace_id, state, limit_name, message, hint, changed_at, pushed_at) "
            "VALUES ($1, $2, $3, $4, $5, now(), CASE WHEN $6 THEN now() END) "
            "ON CONFLICT (workspace_id) DO UPDATE SET state = EXCLUDED.state, "
            "limit_name = EXCLUDED.limit_name, message = EXCLUDED.message, hint = EXCLUDED.hint, "
            "changed_at = EXCLUDED.changed_at, pushed_at = EXCLUDED.pushed_at",
            account.workspace_id,
            standing.state,
            now[1],
            standing.message,
            standing.hint,
            quiet,
        )
        log.info(
            "workspace limit state changed",
            extra={"fields": {"workspace": account.terms.workspace, "state": standing.state}},
        )
        return True

    async def _alert(self, account: Account, period: dt.date) -> None:
        standing, terms = account.standing, account.terms
        for threshold in thresholds(terms):
            key = (account.workspace_id, period, account.limits_version, threshold)
            if standing.percent < threshold or key in self._alerted:
                continue
            payload = {
                "event": "limit.threshold",
                "workspace": terms.workspace,
                "plan": terms.plan.name,
                "period": period.strftime("%Y-%m"),
                "threshold": threshold,
                "percent": round(standing.percent, 2),
                "limit": standing.limit,
                "state": standing.state,
                "message": standing.message
                or f"Workspace {terms.workspace!r} reached {threshold} % of its {standing.limit} limit.",
                "at": dt.datetime.now(dt.UTC).isoformat(),
            }
            inserted = await self._pool.fetchval(
                "INSERT INTO limit_alerts (id, workspace_id, period, limits_version, threshold, percent, "
                "limit_name, state, payload, webhook_url) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10) ON CONFLICT DO NOTHING RETURNING 1",
                new_id("al"),
                account.workspace_id,
                period,
                account.limits_version,
                threshold,
                standing.percent,
                standing.limit,
                standing.state,
                json.dumps(payload),
                account.webhook_url,
            )
            self._alerted.add(key)
            if inserted:
                self._on_alert()

    async def push_pending(self) -> None:
        """Tell the edge every state it has not taken yet (retried on the next pass if it is down)."""
        rows = await self._pool.fetch(
            "SELECT s.workspace_id, s.state, s.message, s.hint, s.changed_at, "
            "array(SELECT d.id FROM databases d WHERE d.workspace_id = s.workspace_id "
            "      AND d.deleted_at IS NULL) AS databases "
            "FROM limit_states s WHERE s.pushed_at IS NULL OR s.pushed_at < s.changed_at"
        )
        for row in rows:
            notices = [PlanLimit(d, row["state"], row["message"], row["hint"]) for d in row["databases"]]
            try:
                if notices:
                    await self._edge.push_limits(notices)
            except UpstreamError as exc:
                log.warning(
                    "the edge could not be told of a limit yet", extra={"fields": {"error": exc.message}}
                )
                return
            await self._pool.execute(
                "UPDATE limit_states SET pushed_at = now() WHERE workspace_id = $1 AND changed_at = $2",
                row["workspace_id"],
                row["changed_at"],
            )

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            try:
                await self.run_once()
            except Exception as exc:
                log.warning("limits could not be evaluated", extra={"fields": {"error": str(exc)}})

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
