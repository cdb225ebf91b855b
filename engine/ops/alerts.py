"""Alerts by Telegram and webhook: queued without waiting (a full queue drops and counts), sent by
one task, retried with backoff, rate-limited per destination. Nothing here can stall or crash the
engine, and no secret (bot token, webhook URL, header) is ever put in a log line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from engine.ops.config import AlertsConfig

log = structlog.get_logger("tickbus.alerts")
CLOSE_TIMEOUT_S = 10.0  # the run-ended alert gets this long to go out at the end of a run


@dataclass
class Destination:
    name: str  # for log lines: "telegram" or "webhook[i]", never the URL
    url: str
    kinds: frozenset[str]
    headers: dict[str, str]
    telegram_chat: str | None = None
    sent_at: deque[float] = field(default_factory=deque)
    sent: int = 0
    failed: int = 0


class Alerter:
    def __init__(self, config: AlertsConfig, run: str) -> None:
        self.config = config
        self.run = run
        self.destinations: list[Destination] = []
        tg = config.telegram
        if tg is not None:
            url = f"{tg.api_url.rstrip('/')}/bot{tg.bot_token}/sendMessage"
            self.destinations.append(Destination("telegram", url, frozenset(tg.events), {}, telegram_chat=tg.chat_id))
        for i, hook in enumerate(config.webhooks):
            self.destinations.append(Destination(f"webhook[{i}]", hook.url, frozenset(hook.events), dict(hook.headers)))
        self.queue: asyncio.Queue[tuple[str, dict[str, Any], float]] = asyncio.Queue(maxsize=config.queue_size)
        self.dropped = 0
        self.rate_limited = 0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def notify(self, kind: str, data: dict[str, Any]) -> None:
        """Queue an alert; never waits, never raises."""
        if not any(kind in d.kinds for d in self.destinations):
            return
        try:
            self.queue.put_nowait((kind, data, time.time()))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("alert queue full: alerts dropped", dropped=self.dropped)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Send what is queued (bounded by CLOSE_TIMEOUT_S), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.queue.join(), timeout=CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("alerts not sent at the end of the run", pending=self.queue.qsize())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        while True:
            kind, data, ts = await self.queue.get()
            try:
                for dest in self.destinations:
                    if kind in dest.kinds:
                        await self._deliver(dest, kind, data, ts)
            except Exception as exc:  # noqa: BLE001 - an alert's failure must never end the task
                log.error("alert failed", kind=kind, error=type(exc).__name__)
            finally:
                self.queue.task_done()

    def _allowed(self, dest: Destination) -> bool:
        now = time.monotonic()
        window = dest.sent_at
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.config.per_minute:
            return False
        window.append(now)
        return True

    async def _deliver(self, dest: Destination, kind: str, data: dict[str, Any], ts: float) -> None:
        if not self._allowed(dest):
            self.rate_limited += 1
            if self.rate_limited == 1 or self.rate_limited % 100 == 0:
                log.warning("alerts rate-limited", destination=dest.name, dropped=self.rate_limited)
            return
        if dest.telegram_chat is not None:
            payload: dict[str, Any] = {"chat_id": dest.telegram_chat, "text": render_text(self.run, kind, data)}
        else:
            payload = {"run": self.run, "kind": kind, "ts": ts, "data": data}
        body = json.dumps(payload, default=str).encode()
        headers = {"Content-Type": "application/json", **dest.headers}
        assert self._session is not None
        delay = self.config.backoff_s
        for attempt in range(self.config.retries + 1):
            try:
                async with self._session.post(dest.url, data=body, headers=headers) as resp:
                    if resp.status < 300:
                        dest.sent += 1
                        return
                    problem = f"HTTP {resp.status}"
                    if 400 <= resp.status < 500 and resp.status != 429:
                        break  # our request is wrong: sending it again will not help
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = type(exc).__name__
            if attempt < self.config.retries:
                await asyncio.sleep(delay)
                delay *= 2
        dest.failed += 1
        log.warning("alert not delivered", destination=dest.name, kind=kind, problem=problem,
                    attempts=attempt + 1)


def render_text(run: str, kind: str, data: dict[str, Any]) -> str:
    """A short message for a person."""
    if kind == "fill":
        return f"[{run}] fill: {data.get('strategy')} {data.get('side')} {data.get('qty')} {data.get('instrument')} @ {data.get('price')}"
    if kind == "order_rejected":
        return f"[{run}] order rejected: {data.get('strategy')} {data.get('instrument')}: {data.get('reason')}"
    if kind == "strategy_stopped":
        return f"[{run}] strategy stopped: {data.get('strategy')}: {data.get('reason')}"
    if kind == "feed_stale":
        return f"[{run}] feed stale: {data.get('venue')} {data.get('subscription') or ''}".rstrip()
    if kind == "session_expired":
        return f"[{run}] session expired at {data.get('venue')}: logging in again"
    if kind == "kill_switch":
        return f"[{run}] KILL SWITCH: {data.get('reason')}"
    if kind == "orders_left_open":
        named = ", ".join(f"{o.get('venue')} {o.get('venue_order_id') or o.get('client_order_id')} {o.get('instrument')}"
                          for o in data.get("orders", [])[:10])
        more = len(data.get("orders", [])) - 10
        return f"[{run}] ORDERS LEFT OPEN at the venue after the stop: {named}" + (f" and {more} more" if more > 0 else "")
    if kind == "run_ended":
        pnl = data.get("pnl", {})
        return (f"[{run}] run ended ({data.get('stop_reason')}): {data.get('orders_total')} orders, "
                f"{data.get('fills')} fills, net PnL {pnl.get('net')}")
    return f"[{run}] {kind}: {json.dumps(data, default=str)[:500]}"
