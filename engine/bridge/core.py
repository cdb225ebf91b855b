"""`--role core`: the engine without strategies, joined to NATS. Market data and order events go
out, order commands come in (applied once each), and strategy hosts are told their state."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import structlog

from engine.bridge.config import NatsConfig
from engine.bridge.connection import connect, ensure_streams
from engine.bridge.outbound import EventsOut, MarketOut
from engine.bridge.subjects import Subjects
from engine.bridge.wire import Cancel, HostState, Modify, Submit, decode_command, decode_state_request, encode
from engine.strategy.base import Strategy
from engine.venue.contract import Channel

if TYPE_CHECKING:
    from engine.app.config import Plan
    from engine.app.runner import Engine

log = structlog.get_logger("tickbus.bridge")
CORE_DURABLE = "core"


class CoreBridge:
    """Started by the runner after the engine (recovered, venues connected), stopped after it."""

    def __init__(self, plan: Plan, cfg: NatsConfig, *, fresh: bool) -> None:
        self.plan = plan  # the whole plan: its strategies run elsewhere, their names are known here
        self.cfg = cfg
        self.subjects = Subjects(cfg.stream)
        self.strategies = {sp.config.name for sp in plan.strategies}
        # a fresh account (paper, emulators) is a new session each run; a journalled one goes on
        self.session = f"{plan.name}-{time.time_ns() // 1_000_000}" if fresh else plan.name
        self.engine: Engine | None = None
        self.nc: Any = None
        self.market: MarketOut | None = None
        self.events: EventsOut | None = None
        self.commands = {"applied": 0, "duplicates": 0, "unknown_strategy": 0, "malformed": 0}
        self.states_served = 0
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self, engine: Engine) -> None:
        self.engine = engine
        self.nc = await connect(self.cfg, "core")
        js = self.nc.jetstream(timeout=self.cfg.publish_timeout_s)
        await ensure_streams(js, self.cfg, self.subjects)
        self.events = EventsOut(js, self.subjects, engine.bus, self.session, self.cfg.publish_timeout_s)
        self.market = MarketOut(self.nc, self.subjects, engine.bus)
        await self.nc.subscribe(self.subjects.state, cb=self._on_state_request)
        psub = await js.pull_subscribe(self.subjects.cmd_all, durable=CORE_DURABLE, stream=self.subjects.cmd_stream)
        self._tasks.append(asyncio.get_running_loop().create_task(self._consume(psub)))
        await self._subscribe_market_data(engine)
        log.info("core joined the bus", stream=self.cfg.stream, session=self.session, strategies=sorted(self.strategies))

    async def _subscribe_market_data(self, engine: Engine) -> None:
        """What the strategies elsewhere need, asked of the venues here."""
        wanted: dict[str, set[str]] = {}
        channels: dict[str, set[Channel]] = {}
        for sp in self.plan.strategies:
            for inst in sp.config.instruments:
                venue = inst.partition(":")[0]
                wanted.setdefault(venue, set()).add(inst)
                ch = channels.setdefault(venue, {Channel.QUOTES, Channel.TRADES})
                if sp.cls.on_book is not Strategy.on_book:
                    ch.add(Channel.BOOK)
        for venue, instruments in wanted.items():
            await engine.venues[venue].subscribe(sorted(instruments), sorted(channels[venue]))

    async def _consume(self, psub: Any) -> None:
        """Order commands, one at a time, acknowledged after the order manager has taken them."""
        from nats.errors import TimeoutError as NatsTimeout

        assert self.engine is not None
        stop = self.engine.stop_event
        while not stop.is_set():
            try:
                msgs = await psub.fetch(batch=64, timeout=0.5)
            except (NatsTimeout, TimeoutError):
                continue
            except Exception as exc:  # noqa: BLE001 - a reconnect: the durable consumer keeps our place
                log.warning("order commands not fetched, retrying", error=repr(exc))
                await asyncio.sleep(0.2)
                continue
            for msg in msgs:
                if stop.is_set():
                    return  # not acknowledged: the next core run takes it
                self.apply(msg.data)
                await msg.ack()

    def apply(self, data: bytes) -> None:
        assert self.engine is not None
        manager = self.engine.manager
        try:
            command = decode_command(data)
        except Exception:  # noqa: BLE001 - counted, logged, dropped
            self.commands["malformed"] += 1
            log.warning("malformed order command dropped", size=len(data))
            return
        sid = command.order.strategy_id if isinstance(command, Submit) else command.strategy_id
        if sid not in self.strategies:
            self.commands["unknown_strategy"] += 1
            log.warning("order command from a strategy this config does not name", strategy=sid)
            return
        if isinstance(command, Submit):
            o = command.order
            if o.client_order_id in manager.orders:
                self.commands["duplicates"] += 1
                return
            manager.submit(
                strategy_id=o.strategy_id, instrument=o.instrument, venue=self.engine.venue_for(o.instrument),
                side=o.side, qty=o.qty, type=o.type, price=o.price, trigger_price=o.trigger_price, tif=o.tif,
                after_market=o.after_market, options=o.options, client_order_id=o.client_order_id,
            )
        elif isinstance(command, Cancel):
            manager.cancel(command.client_order_id)
        elif isinstance(command, Modify):
            manager.modify(command.client_order_id, qty=command.qty, price=command.price,
                           trigger_price=command.trigger_price)
        self.commands["applied"] += 1

    async def _on_state_request(self, msg: Any) -> None:
        try:
            wanted = decode_state_request(msg.data).strategies
        except Exception:  # noqa: BLE001
            await msg.respond(encode(HostState(ready=False, reason="malformed state request")))
            return
        unknown = sorted(set(wanted) - self.strategies)
        if unknown:
            await msg.respond(encode(HostState(ready=False, reason=f"core's config has no strategy {unknown}")))
            return
        assert self.events is not None
        await self.events.idle()  # then the state below and events_seq describe the same moment
        await msg.respond(encode(self.state(wanted)))
        self.states_served += 1

    def state(self, strategies: list[str]) -> HostState:
        """Synchronous, so no event slips between the state and its sequence."""
        assert self.engine is not None and self.events is not None
        engine = self.engine
        portfolio = engine.portfolio
        clock = engine.clock
        instruments = {i for sp in self.plan.strategies if sp.config.name in strategies for i in sp.config.instruments}
        return HostState(
            ready=True, now_ns=clock.now_ns(), speed=getattr(clock, "speed", 1.0),
            events_seq=self.events.last_seq, session=self.session,
            instruments=list(portfolio.instruments.values()),
            routes={i: engine.venue_for(i) for i in sorted(instruments)},
            positions=[p for s in strategies for p in portfolio.positions(s)],
            balances=list(portfolio.balances.values()),
            open_orders=[o for s in strategies for o in engine.manager.open_orders(strategy_id=s)],
        )

    async def stop(self) -> None:
        """After the engine's stop: its cancels' events go out first."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.market is not None:
            await self.market.close()
        if self.events is not None:
            await self.events.close()
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.flush(), 5)
                await self.nc.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("nats flush at stop failed", error=repr(exc))

    def status(self) -> dict[str, Any]:
        """The bridge now: connected or not, and how far order events lag behind the engine."""
        events = self.events
        return {
            "connected": bool(self.nc is not None and self.nc.is_connected),
            "session": self.session,
            "events_backlog": 0 if events is None else events.backlog,  # announced, not yet in the stream
            "events_published": 0 if events is None else events.published,
            "events_retries": 0 if events is None else events.retries,
            "market_published": 0 if self.market is None else self.market.published,
            "commands": dict(self.commands),
        }

    def summary(self) -> dict[str, Any]:
        engine = self.engine
        per: dict[str, dict[str, int]] = {}
        if engine is not None:
            for sid in sorted(self.strategies):
                orders = [o for o in engine.manager.orders.values() if o.strategy_id == sid]
                per[sid] = {"orders": len(orders), "fills": engine.portfolio.fill_count(sid)}
        return {
            "role": "core", "session": self.session, "commands": dict(self.commands), "strategies": per,
            "states_served": self.states_served,
            "market": {} if self.market is None else {
                "published": self.market.published, "conflated": self.market.conflated, "failed": self.market.failed},
            "events": {} if self.events is None else {
                "published": self.events.published, "retries": self.events.retries, "last_seq": self.events.last_seq},
        }

