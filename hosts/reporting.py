"""Registering with the control plane: the agent tells an origin who it is (its id, the URL of its
API, its bearer token and its proxy's address) and what it holds (capacity.py), at start and every
`report_interval` seconds after. The control plane places new databases by these reports and
counts a host it has not heard from for a while as unreachable.

The report carries the registration token, which the operator gives every agent and origin. The
first report of a host id binds the agent token to it; a later report with another token is
refused (409) until the operator resets it (`breakwater host reset-token`), so a holder of the
registration token alone cannot take over an existing host's databases.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from bwservice.tasks import cancel_and_wait

from .settings import AgentSettings

log = logging.getLogger("breakwater.hosts")

REPORT_PATH = "/_bw/hosts/report"


class Reporter:
    def __init__(self, settings: AgentSettings, report: Callable[[], dict[str, Any]]) -> None:
        self.settings = settings
        self._report = report  # what the host holds now (capacity and proxy address)
        self._task: asyncio.Task[None] | None = None
        self._next = 0  # the origin to try first: the last one that answered
        self.reported = asyncio.Event()  # set once a report was accepted
        self.last_error = ""

    @property
    def enabled(self) -> bool:
        s = self.settings
        return bool(s.origins and s.registration_token and s.public_url)

    def start(self) -> None:
        if not self.enabled:
            log.info("not registering with a control plane (BREAKWATER_HOSTS_ORIGINS and the rest unset)")
            return
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _loop(self) -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                accepted = await self.report_once(http)
                # Until the first report is accepted (the origins may be starting), try again soon.
                await asyncio.sleep(
                    self.settings.report_interval if accepted else min(0.2, self.settings.report_interval)
                )

    async def report_once(self, http: httpx.AsyncClient) -> bool:
        s = self.settings
        body = {"id": s.host_id, "url": s.public_url, "token": s.token, **self._report()}
        headers = {"authorization": f"Bearer {s.registration_token}"}
        for attempt in range(len(s.origins)):
            index = (self._next + attempt) % len(s.origins)
            try:
                response = await http.post(s.origins[index] + REPORT_PATH, json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.last_error = f"{s.origins[index]}: {exc!r}"
                continue
            if response.status_code == 200:
                self._next = index
                self.last_error = ""
                self.reported.set()
                return True
            self.last_error = f"{s.origins[index]} answered {response.status_code}: {response.text[:300]}"
            if response.status_code in (401, 409):
                log.error(
                    "the control plane refused this host's report",
                    extra={"fields": {"error": self.last_error}},
                )
                return False
        log.info("could not report to any origin", extra={"fields": {"error": self.last_error}})
        return False
