"""`--role strategies`: strategy hosts in a process of their own, running the same strategy code
(`StrategyHost`), their orders going to core over NATS."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any, Literal

import structlog

from engine.account.portfolio import Portfolio
from engine.app.config import Plan, StrategyPlan
from engine.bridge.config import NatsConfig
from engine.bridge.connection import connect
from engine.bridge.inbound import EventsIn
from engine.bridge.remote import RemoteOrders
from engine.bridge.subjects import Subjects
from engine.bridge.wire import MARKET_DECODERS, HostState, StateRequest, decode_state, encode
from engine.clock import RealtimeClock
from engine.data.bars import BarAggregator
from engine.data.bus import Bus
from engine.errors import ConfigError
from engine.events import Quote, Trade
from engine.strategy.base import Strategy, StrategyContext, StrategyHost

log = structlog.get_logger("tickbus.bridge")
CATCH_UP_S = 30.0


async def wait_for_core(nc: Any, subjects: Subjects, names: list[str], stop: asyncio.Event) -> HostState | None:
    """Core's state for these strategies; until it answers ready, wait and say so."""
    request = encode(StateRequest(names))
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            reply = await nc.request(subjects.state, request, timeout=2.0)
            state = decode_state(reply.data)
            if state.ready:
                return state
            reason = state.reason
        except Exception as exc:  # noqa: BLE001 - no responder (core down) or a timeout
            reason = repr(exc)
        if attempt == 1 or attempt % 10 == 0:
            log.warning("waiting for core", strategies=names, attempt=attempt, reason=reason)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass
    return None


class StrategiesProcess:
    def __init__(self, plan: Plan, cfg: NatsConfig, only: list[str] | None, duration_s: float | None) -> None:
        self.plan = plan
        self.cfg = cfg
        self.subjects = Subjects(cfg.stream)
        self.selected: list[StrategyPlan] = [sp for sp in plan.strategies if only is None or sp.config.name in only]
        self.duration_s = duration_s if duration_s is not None else plan.config.duration_s
        self.stop = asyncio.Event()
        self.stop_reason = "finished"
        self.bus = Bus()
        self.portfolio = Portfolio()
        self.hosts: list[StrategyHost] = []
        self.inbound: list[EventsIn] = []
        self.aggregators: list[BarAggregator] = []
        self.routes: dict[str, str] = {}
        self.market_received = 0
        self.market_malformed = 0
        self.core_outages = 0  # times core stopped answering while the strategies ran
        self.nc: Any = None
        self.orders: RemoteOrders | None = None

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop.set()

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, f"signal {sig.name}")
        self.nc = await connect(self.cfg, "strategies")
        try:
            names = [sp.config.name for sp in self.selected]
            state = await wait_for_core(self.nc, self.subjects, names, self.stop)
            if state is not None:
                await self._start(state)
                try:
                    await asyncio.wait_for(self.stop.wait(), self.duration_s)
                except TimeoutError:
                    self.stop_reason = f"duration of {self.duration_s:g}s reached"
            else:
                self.stop_reason = "stopped while waiting for core"
        finally:
            await self._stop()
        return self.summary()

    async def _start(self, state: HostState) -> None:
        js = self.nc.jetstream(timeout=self.cfg.publish_timeout_s)
        clock = RealtimeClock(speed=state.speed, start_ns=state.now_ns)
        self.clock = clock
        self.portfolio.instruments.update({i.id: i for i in state.instruments})
        for position in state.positions:
            self.portfolio.restore(position)
        for balance in state.balances:
            self.portfolio.on_balance(balance)
        self.routes = dict(state.routes)
        self.orders = RemoteOrders(js, self.subjects, self.bus, clock, timeout_s=self.cfg.publish_timeout_s,
                                   deadline_s=self.cfg.command_deadline_s)
        for order in state.open_orders:
            self.orders.orders[order.client_order_id] = order
        self.orders.ready = True
        log.info("state from core", strategies=[sp.config.name for sp in self.selected], events_seq=state.events_seq,
                 open_orders=len(state.open_orders), positions=len(state.positions))
        state_dir = Path(self.plan.config.state_dir)
        for sp in self.selected:
            await self._start_strategy(sp)
            events = EventsIn(js, self.subjects, sp.config.name, state, bus=self.bus, portfolio=self.portfolio,
                              orders=self.orders, state_dir=state_dir)
            await events.bind()
            self.inbound.append(events)
        for events in self.inbound:  # every order event missed, in order, before new market data
            await events.catch_up(CATCH_UP_S)
        self._tasks = [asyncio.get_running_loop().create_task(e.run(self.stop)) for e in self.inbound]
        self._tasks.append(asyncio.get_running_loop().create_task(self._watch_core()))
        self.bus.subscribe(Quote, self.portfolio.on_quote, name="portfolio.marks")
        self.bus.subscribe(Trade, self.portfolio.on_trade, name="portfolio.marks")
        for inst in sorted({i for sp in self.selected for i in sp.config.instruments}):
            await self.nc.subscribe(self.subjects.market_any(inst), cb=self._on_market)
        log.info("strategies trading", caught_up={e.strategy_id: e.delivered for e in self.inbound})

    async def _on_market(self, msg: Any) -> None:
        decoder = MARKET_DECODERS.get(self.subjects.kind(msg.subject))
        if decoder is None:
            return
        try:
            event = decoder.decode(msg.data)
        except Exception:  # noqa: BLE001 - counted and dropped
            self.market_malformed += 1
            return
        self.market_received += 1
        self.bus.publish(event, event.instrument)

    async def _watch_core(self) -> None:
        """Say when core stops answering (killed, say) and when it answers again; the strategies
        wait meanwhile: no market data comes, and their order commands wait in the stream."""
        request = encode(StateRequest([]))
        silent_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            try:
                await self.nc.request(self.subjects.state, request, timeout=self.cfg.core_check_s)
            except Exception as exc:  # noqa: BLE001 - no responder or a timeout: core is not there
                if silent_since is None:
                    silent_since = loop.time()
                    self.core_outages += 1
                    log.warning("core not answering: the strategies wait", reason=repr(exc))
            else:
                if silent_since is not None:
                    log.info("core answering again", silent_s=round(loop.time() - silent_since, 1))
                    silent_since = None
            try:
                await asyncio.wait_for(self.stop.wait(), self.cfg.core_check_s)
            except TimeoutError:
                pass

    def venue_for(self, instrument: str) -> str:
        return self.routes.get(instrument, instrument.partition(":")[0])

    async def _start_strategy(self, sp: StrategyPlan) -> None:
        sc, cls = sp.config, sp.cls
        bar_seconds = None
        if cls.on_bar is not Strategy.on_bar:
            bar_seconds = sc.bars.seconds if sc.bars else 60
            source: Literal["trades", "quotes"] = sc.bars.source if sc.bars else "trades"
            for inst in sc.instruments:
                agg = BarAggregator(self.bus, self.clock, inst, bar_seconds, source)
                agg.start()
                self.aggregators.append(agg)
        assert self.orders is not None
        ctx = StrategyContext(
            id=sc.name, instruments=list(sc.instruments), bus=self.bus, clock=self.clock,
            orders=self.orders,  # type: ignore[arg-type]  # the OrderManager calls, over the bridge
            portfolio=self.portfolio, venue_for=self.venue_for, bar_interval_s=bar_seconds,
            bar_source=sc.bars.source if sc.bars else "trades",
            log=structlog.get_logger("tickbus.strategy").bind(strategy=sc.name),
        )
        try:
            strategy = cls(ctx, sp.params)
        except Exception as exc:  # the user's code: one line naming it
            raise ConfigError(self.plan.file, f"strategies[{sc.name}]", f"{cls.__name__} failed to start: {exc!r}") from None
        host = StrategyHost(strategy, max_errors=sc.max_errors, error_window_s=sc.error_window_s,
                            queue_size=sc.queue_size)
        self.hosts.append(host)
        await host.start()

    async def _stop(self) -> None:
        self.stop.set()
        for host in self.hosts:
            await host.stop()
        for task in getattr(self, "_tasks", []):
            task.cancel()
        await asyncio.gather(*getattr(self, "_tasks", []), return_exceptions=True)
        if self.orders is not None:
            await self.orders.close()
        for agg in self.aggregators:
            agg.stop()
        try:
            await asyncio.wait_for(self.nc.flush(), 5)
            await self.nc.close()
        except Exception as exc:  # noqa: BLE001
            log.warning("nats flush at stop failed", error=repr(exc))

    def summary(self) -> dict[str, Any]:
        orders = self.orders.orders if self.orders is not None else {}
        per = {}
        for host in self.hosts:
            sid = host.strategy.id
            events = next(e for e in self.inbound if e.strategy_id == sid)
            per[sid] = {
                "orders": sum(1 for o in orders.values() if o.strategy_id == sid),
                "fills": self.portfolio.fill_count(sid), "events_delivered": events.delivered,
                "events_skipped": events.skipped, "errors": host.errors, "stopped": host.stopped_reason,
                "failed": host.failed,
            }
        return {
            "role": "strategies", "stop_reason": self.stop_reason, "strategies": per,
            "market_received": self.market_received, "core_outages": self.core_outages,
            "commands": {} if self.orders is None else dict(self.orders.stats),
        }
