"""Shared helpers for the order manager, order table, journal and recovery tests.

`ScriptedVenue` is a test double of a *venue* (not of the engine): it records every call the
manager makes and answers with whatever the test scripted. The real paper broker is used where
the tests need a real venue (see `paper_parts`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.paper.broker import PaperBroker, PaperConfig
from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine, RiskLimits
from engine.clock import SimulatedClock
from engine.data.bus import Bus
from engine.events import (
    Balance,
    Fill,
    Instrument,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from engine.orders.ids import ClientOrderIds
from engine.orders.journal import Journal
from engine.orders.manager import OrderManager
from engine.venue.contract import Venue, VenueConfig, VenueContext

TIMEOUT = 10.0  # upper bound for any single wait: a bug fails the test instead of hanging it
START_NS = 1_700_000_000_000_000_000
VENUE = "sim"
S = OrderStatus

SIM_INST = Instrument(
    id="sim:BTC-KRW",
    venue=VENUE,
    symbol="BTC-KRW",
    base="BTC",
    quote="KRW",
    exchange="GOPAX",
    tick_size=Decimal("1"),
    lot_size=Decimal("0.0001"),
)
PAPER_INST = Instrument(
    id="paper:BTC-KRW",
    venue="paper",
    symbol="BTC-KRW",
    base="BTC",
    quote="KRW",
    exchange="GOPAX",  # not a session exchange: open around the clock
    tick_size=Decimal("1"),
    lot_size=Decimal("0.0001"),
)


class ScriptedVenue(Venue):
    """A venue that records calls and answers as scripted.

    `place_result` / `cancel_result` / `modify_result` / `status_result` may be an OrderReport,
    None, an exception instance (raised), or a callable taking the order and returning one of those.
    `place_gate`, when set, is awaited by `place` before it answers (to hold an order in flight).
    """

    def __init__(self, name: str = VENUE) -> None:
        ctx = VenueContext(name=name, bus=Bus(), clock=SimulatedClock(START_NS), sink=_NullSink())
        super().__init__(ctx, VenueConfig())
        self.calls: list[tuple[str, str]] = []
        self.place_result: Any = None
        self.cancel_result: Any = None
        self.modify_result: Any = None
        self.status_result: Any = None
        self.open_result: list[OrderReport] = []
        self.fills_result: list[Fill] = []
        self.balances_result: list[Balance] = []
        self.place_gate: asyncio.Event | None = None
        self.fills_since_calls: list[int] = []

    def placed(self, order: Order, *, venue_order_id: str | None = None) -> OrderReport:
        return OrderReport(
            venue=self.name,
            client_order_id=order.client_order_id,
            venue_order_id=venue_order_id or f"v-{order.client_order_id}",
            status=S.PLACED,
        )

    def _answer(self, scripted: Any, order: Order) -> Any:
        if callable(scripted) and not isinstance(scripted, (OrderReport, BaseException)):
            scripted = scripted(order)
        if isinstance(scripted, BaseException):
            raise scripted
        return scripted

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def instruments(self) -> Sequence[Instrument]:
        return [SIM_INST]

    async def place(self, order: Order) -> OrderReport:
        self.calls.append(("place", order.client_order_id))
        if self.place_gate is not None:
            await asyncio.wait_for(self.place_gate.wait(), TIMEOUT)
        result = self._answer(self.place_result, order)
        return self.placed(order) if result is None else result

    async def cancel(self, order: Order) -> OrderReport | None:
        self.calls.append(("cancel", order.client_order_id))
        return self._answer(self.cancel_result, order)

    async def modify(self, order: Order, *, qty: Decimal | None = None, price: Decimal | None = None,
                     trigger_price: Decimal | None = None) -> OrderReport | None:
        self.calls.append(("modify", order.client_order_id))
        return self._answer(self.modify_result, order)

    async def order_status(self, order: Order) -> OrderReport | None:
        self.calls.append(("order_status", order.client_order_id))
        return self._answer(self.status_result, order)

    async def open_orders(self) -> Sequence[OrderReport]:
        self.calls.append(("open_orders", ""))
        return list(self.open_result)

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        self.calls.append(("fills_since", ""))
        self.fills_since_calls.append(since_ns)
        return [f for f in self.fills_result if f.ts_event >= since_ns]

    async def balances(self) -> Sequence[Balance]:
        return list(self.balances_result)

    def count(self, call: str) -> int:
        return sum(1 for name, _ in self.calls if name == call)


class _NullSink:
    def on_order_report(self, report: OrderReport) -> None:
        pass

    def on_fill(self, fill: Fill) -> None:
        pass

    def on_balance(self, balance: Balance) -> None:
        pass


class ForwardingSink:
    """The paper broker's sink: forwards to `target`; target None drops everything (downtime)."""

    def __init__(self) -> None:
        self.target: Any = None
        self.dropped = 0

    def on_order_report(self, report: OrderReport) -> None:
        if self.target is None:
            self.dropped += 1
        else:
            self.target.on_order_report(report)

    def on_fill(self, fill: Fill) -> None:
        if self.target is None:
            self.dropped += 1
        else:
            self.target.on_fill(fill)

    def on_balance(self, balance: Balance) -> None:
        if self.target is not None:
            self.target.on_balance(balance)


@dataclass
class Parts:
    bus: Bus
    clock: Any  # SimulatedClock or RealtimeClock
    journal: Journal
    portfolio: Portfolio
    risk: RiskEngine
    manager: OrderManager
    updates: list[OrderUpdate] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)


def build_parts(
    venues: dict[str, Venue],
    *,
    instrument: Instrument = SIM_INST,
    journal: Journal | None = None,
    bus: Bus | None = None,
    clock: Any = None,
    limits: RiskLimits | None = None,
    strategy_id: str = "s1",
    ids: ClientOrderIds | None = None,
    keep_finished: int = 10_000,
) -> Parts:
    """A manager with a real bus, clock, journal, portfolio and risk engine; records what the
    strategy `strategy_id` receives (OrderUpdate and Fill routed by strategy id)."""
    bus = bus or Bus()
    clock = clock or SimulatedClock(START_NS)
    journal = journal or Journal(None)
    portfolio = Portfolio({instrument.id: instrument})
    risk = RiskEngine(limits or RiskLimits(), portfolio)
    manager = OrderManager(
        bus=bus, clock=clock, journal=journal, portfolio=portfolio, risk=risk, venues=venues, ids=ids,
        keep_finished=keep_finished,
    )
    parts = Parts(bus, clock, journal, portfolio, risk, manager)
    bus.subscribe(OrderUpdate, parts.updates.append, keys=[strategy_id], name="test.updates")
    bus.subscribe(Fill, parts.fills.append, keys=[strategy_id], name="test.fills")
    return parts


async def ready_parts(venue: ScriptedVenue | None = None, **kw: Any) -> tuple[Parts, ScriptedVenue]:
    """Parts over a scripted venue, recovered (empty journal) so the manager takes orders."""
    venue = venue or ScriptedVenue()
    parts = build_parts({venue.name: venue}, **kw)
    await asyncio.wait_for(parts.manager.recover(), TIMEOUT)
    venue.calls.clear()
    return parts, venue


def submit_limit(
    parts: Parts,
    *,
    qty: str = "1",
    price: str = "100",
    side: Side = Side.BUY,
    instrument: Instrument = SIM_INST,
    strategy_id: str = "s1",
) -> Order:
    return parts.manager.submit(
        strategy_id=strategy_id,
        instrument=instrument.id,
        venue=instrument.venue,
        side=side,
        qty=Decimal(qty),
        type=OrderType.LIMIT,
        price=Decimal(price),
    )


async def settle(parts: Parts) -> None:
    await asyncio.wait_for(parts.manager.settle(), TIMEOUT)


def fill_for(
    order: Order,
    fill_id: str,
    qty: str,
    price: str = "100",
    *,
    by_client_id: bool = True,
    venue_order_id: str | None = None,
    ts_event: int = START_NS,
    fee: str = "0",
) -> Fill:
    return Fill(
        venue=order.venue,
        instrument=order.instrument,
        side=order.side,
        qty=Decimal(qty),
        price=Decimal(price),
        fill_id=fill_id,
        fee=Decimal(fee),
        client_order_id=order.client_order_id if by_client_id else None,
        venue_order_id=venue_order_id,
        ts_event=ts_event,
    )


def report_for(order: Order, status: OrderStatus, **kw: Any) -> OrderReport:
    kw.setdefault("client_order_id", order.client_order_id)
    return OrderReport(venue=order.venue, status=status, **kw)


def quote(instrument: str, bid: str, ask: str, bid_size: str, ask_size: str, ts: int) -> Quote:
    return Quote(instrument, float(bid), float(ask), float(bid_size), float(ask_size), ts, ts)


def make_paper_broker(bus: Bus, clock: SimulatedClock, sink: Any, balances: dict[str, str]) -> PaperBroker:
    ctx = VenueContext(name="paper", bus=bus, clock=clock, sink=sink)
    broker = PaperBroker(ctx, PaperConfig(balances={k: Decimal(v) for k, v in balances.items()}))
    broker.register_instruments([PAPER_INST])
    return broker


async def bounded(awaitable: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(awaitable, TIMEOUT)


def journal_path(tmp: Path) -> Path:
    return tmp / "state" / "journal.sqlite"
