"""A strategy host's order events: one durable JetStream consumer per strategy, caught up before
market data, each event handed to the strategy once (its stream sequence kept on disk)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog

from engine.account.portfolio import Portfolio
from engine.bridge.remote import RemoteOrders
from engine.bridge.subjects import Subjects
from engine.bridge.wire import HostState, decode_event
from engine.data.bus import Bus

log = structlog.get_logger("tickbus.bridge")
ACK_WAIT_S = 5.0  # an event handed out but never acknowledged (its host died) comes again after this


class EventsIn:
    """Events up to the state's `events_seq` are already in the state: the strategy hears of them,
    the portfolio does not apply them again."""

    def __init__(self, js: Any, subjects: Subjects, strategy_id: str, state: HostState, *, bus: Bus,
                 portfolio: Portfolio, orders: RemoteOrders, state_dir: Path) -> None:
        self.js = js
        self.subjects = subjects
        self.strategy_id = strategy_id
        self.state = state
        self.bus = bus
        self.portfolio = portfolio
        self.orders = orders
        self.durable = subjects.durable(strategy_id)
        self.mark_file = state_dir / "bridge" / f"{self.durable}.seq"
        self.delivered_seq = self._read_mark()
        self.delivered = 0
        self.skipped = 0
        self.malformed = 0
        self._psub: Any = None

    def _read_mark(self) -> int:
        try:
            session, seq = self.mark_file.read_text().split()
        except (OSError, ValueError):
            return 0
        return int(seq) if session == self.state.session else 0

    def _write_mark(self, seq: int) -> None:
        tmp = self.mark_file.with_suffix(".tmp")
        tmp.write_text(f"{self.state.session} {seq}")
        tmp.replace(self.mark_file)

    async def bind(self) -> None:
        """This strategy's durable consumer: kept if it belongs to core's session, else made anew
        starting after the state."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        stream = self.subjects.evt_stream
        try:
            info = await self.js.consumer_info(stream, self.durable)
            if (info.config.metadata or {}).get("session") != self.state.session:
                await self.js.delete_consumer(stream, self.durable)
                info = None
        except NotFoundError:
            info = None
        if info is None:
            await self.js.add_consumer(stream, ConsumerConfig(
                durable_name=self.durable, filter_subject=self.subjects.events(self.strategy_id),
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.state.events_seq + 1,
                ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S, metadata={"session": self.state.session},
            ))
        self.mark_file.parent.mkdir(parents=True, exist_ok=True)
        self._psub = await self.js.pull_subscribe_bind(durable=self.durable, stream=stream)

    async def catch_up(self, timeout_s: float) -> None:
        """Every event the consumer holds (those handed to a dead host included), bounded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            await self.fetch_once(0.3)
            info = await self.js.consumer_info(self.subjects.evt_stream, self.durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
        log.warning("order events not all caught up in time", strategy=self.strategy_id, timeout_s=timeout_s)

    async def fetch_once(self, timeout_s: float) -> int:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            msgs = await self._psub.fetch(batch=256, timeout=timeout_s)
        except (NatsTimeout, TimeoutError):
            return 0
        for msg in msgs:
            self.take(msg.metadata.sequence.stream, msg.data)
            await msg.ack()
        return len(msgs)

    def take(self, seq: int, data: bytes) -> None:
        if seq <= self.delivered_seq:
            self.skipped += 1  # handed to this strategy before a crash, not acknowledged then
            return
        try:
            event = decode_event(data)
        except Exception:  # noqa: BLE001 - counted, logged, dropped
            self.malformed += 1
            log.warning("malformed order event dropped", strategy=self.strategy_id, seq=seq)
            return
        fresh = seq > self.state.events_seq
        if event.update is not None:
            if fresh:
                self.orders.on_update(event.update)
            self.bus.publish(event.update, self.strategy_id)
        elif event.fill is not None:
            if fresh:
                self.portfolio.apply_fill(event.fill)
            self.bus.publish(event.fill, self.strategy_id)
        # written in the same turn as the hand-over, before the strategy's callback can run
        self.delivered_seq = seq
        self._write_mark(seq)
        self.delivered += 1

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.fetch_once(0.5)
            except Exception as exc:  # noqa: BLE001 - a reconnect: the durable consumer keeps our place
                log.warning("order events not fetched, retrying", strategy=self.strategy_id, error=repr(exc))
                await asyncio.sleep(0.2)
