"""The ops surface as one part the runner starts and stops: the state it keeps, the HTTP server,
the alerts, and one task that samples the PnL and watches the kill switch."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from engine.ops.config import HttpConfig
from engine.ops.http import OpsServer
from engine.ops.metrics import EngineCollector
from engine.ops.state import OpsState

if TYPE_CHECKING:
    from engine.app.runner import Engine
    from engine.ops.alerts import Alerter

log = structlog.get_logger("tickbus.ops")


class Ops:
    def __init__(self, engine: Engine, http: HttpConfig | None) -> None:
        cfg = engine.plan.config
        self.engine = engine
        self.http_config = http
        self.state = OpsState(
            engine,
            recent_fills=http.recent_fills if http else 50,
            history_points=http.history_points if http else 600,
        )
        self.state.registry.register(EngineCollector(engine, self.state))
        self.server = OpsServer(engine, self.state, http) if http is not None else None
        self.alerter: Alerter | None = None
        if cfg.alerts is not None:
            from engine.ops.alerts import Alerter

            self.alerter = Alerter(cfg.alerts, engine.plan.name)
            self.state.listeners.append(self.alerter.notify)
        self._task: asyncio.Task[None] | None = None
        self._halted: str | None = None
        self._expiries: dict[str, int] = {}

    async def start(self) -> None:
        self.state.attach()
        if self.alerter is not None:
            self.alerter.start()
        if self.server is not None:
            await self.server.start()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        period = self.http_config.push_s if self.http_config else 1.0
        while True:
            self.state.sample()
            halted = self.engine.risk.halted
            if halted != self._halted:
                self._halted = halted
                if halted is not None and self.alerter is not None:
                    self.alerter.notify("kill_switch", {"reason": halted})
            self._watch_sessions()
            await asyncio.sleep(period)

    def _watch_sessions(self) -> None:
        """A venue's login session that expired since the last look is alerted (the venue logs in
        again by itself)."""
        for name, venue in self.engine.venues.items():
            expiries = venue.session_expiries()
            if expiries > self._expiries.get(name, 0) and self.alerter is not None:
                self.alerter.notify("session_expired", {"venue": name, "expiries": expiries, "state": venue.session_state()})
            self._expiries[name] = expiries

    async def stop(self) -> None:
        """The page and the sampling end (the engine is stopping); alerts go on until `finish`."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.server is not None:
            await self.server.stop()
        self.state.detach()

    async def finish(self, summary: dict[str, Any] | None) -> None:
        """The run ended: the last alert (with the summary), then the alert queue drains, bounded."""
        if self.alerter is None:
            return
        if summary is not None:
            self.alerter.notify("run_ended", summary)
        await self.alerter.close()


def http_config(engine: Engine, listen: str | None) -> HttpConfig | None:
    """The config's `http:` block, its listen address replaced by `--http` when given."""
    configured = engine.plan.config.http
    if listen is None:
        return configured
    return msgspec.structs.replace(configured or HttpConfig(), listen=listen)


async def start_ops(engine: Engine, listen: str | None) -> Ops | None:
    http = http_config(engine, listen)
    if http is None and engine.plan.config.alerts is None:
        return None
    ops = Ops(engine, http)
    await ops.start()
    return ops
