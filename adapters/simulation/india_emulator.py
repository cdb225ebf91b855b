"""The base of an Indian broker's emulator: its market, its life, and its orders' life at the exchange.

`IndiaEmulator` is an `EmulatorServer` over the simulated exchange of its scrips
(`india_market.scrip_exchange`), with one funded account (cash and the demo holdings), the day's
statistics of each scrip and the orders its order desk took. It starts and stops the price
process and a housekeeping task, and hears the exchange's news: a public trade goes into the day's
statistics, a fill to its order (`add_fill`), a quote and an order's change to the venue
(`publish_quote`, `on_sim_change`).

`OrderLife`, mixed into each venue's order desk, carries an order to the exchange (`_submit`: a
margin or holdings shortfall is an RMS rejection), cancels it (at once, or `cancel_delay_s` later
on the emulator's clock), and at each housekeeping step releases the after-market orders at the
open, sends on the orders acknowledged before the RMS ran, carries out the cancels due and lets
the DAY orders lapse at the close. The venue's app, gate and order desk are mixed in before these;
the wire, and what is told when (`on_order_change`), stay theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

import structlog

from adapters.india import IST, TradingCalendar, default_calendar, to_ns
from adapters.simulation.emulation import EmulatorServer, Faults
from adapters.simulation.exchange import (
    EmulatorClock,
    ExchangeError,
    ExchangeEvent,
    FillRecord,
    OrderChanged,
    OrderFilled,
    PublicTraded,
    QuoteTicked,
    SimExchange,
)
from adapters.simulation.india_market import DayStats, Scrip, Traded, rms_text, scrip_exchange
from adapters.simulation.matching import SimOrder
from engine.events import OrderType, TimeInForce

NS = 1_000_000_000


class Held(Traded, Protocol):
    """What the shared code reads and moves of a venue's emulated order."""

    state: str  # "" (the simulated order speaks) | "amo" | "ack" (the RMS not yet run) | "rejected" | "cancelled"
    reason: str
    sim: SimOrder | None
    release_ns: int
    cancel_at_ns: int | None

    @property
    def type(self) -> OrderType: ...
    @property
    def validity(self) -> str: ...  # DAY | IOC
    @property
    def is_open(self) -> bool: ...


class Streams(Protocol):
    """What the emulator asks of its socket server."""

    async def close_all(self) -> None: ...


SpecT = TypeVar("SpecT", bound=Scrip)
OrderT = TypeVar("OrderT", bound=Held)


def start_ns(start: datetime | None) -> int | None:
    """Where the emulator's clock begins: `start` (IST if naive), or now."""
    if start is None:
        return None
    return to_ns(start if start.tzinfo is not None else start.replace(tzinfo=IST))


class OrderLife(Generic[OrderT]):
    """The orders' life at the exchange, mixed into a venue's order desk."""

    owner: str  # the demo account
    clock: EmulatorClock
    calendar: TradingCalendar
    exchange: SimExchange
    orders: dict[str, OrderT]
    cancel_delay_s: float
    _by_sim: dict[str, OrderT]

    def on_order_change(self, order: OrderT, report_type: str, fill: FillRecord | None = None) -> None:
        """A state the order is shown in (New, Rejected, Canceled, ...): the venue tells it, or not."""

    def add_fill(self, order: OrderT, fill: FillRecord) -> None:
        """A fill of our order (the venue's books take it)."""
        raise NotImplementedError

    def _rms_text(self, order: OrderT) -> str:
        return rms_text(self.exchange, self.owner, order)

    def _submit(self, order: OrderT) -> None:
        """Into the matching engine; a margin or holdings shortfall is an RMS rejection."""
        now = self.clock.now_ns()
        expires = self.calendar.session_close(order.spec.exchange, now) if order.validity == "DAY" else None
        try:
            sim = self.exchange.place(
                self.owner, symbol=order.spec.key, side=order.side, type=order.type, qty=order.qty, price=order.price,
                trigger=order.trigger, tif=TimeInForce.IOC if order.validity == "IOC" else TimeInForce.DAY, expires_ns=expires,
            )
        except ExchangeError as exc:
            order.state = "rejected"
            order.reason = self._rms_text(order) if exc.kind == "insufficient_funds" else f"RMS:{exc.message}"
            self.on_order_change(order, "Rejected")
            return
        order.sim = sim
        self._by_sim[sim.id] = order
        made = [f for f in self.exchange.fills.get(self.owner, []) if f.order_id == sim.id]
        self.on_order_change(order, "New")
        for fill in made:  # fills made inside place(), before the order was known
            if fill not in order.fills:
                self.add_fill(order, fill)

    def _cancel(self, order: OrderT) -> None:
        """Cancel an open order now, or (`cancel_delay_s`) accept it now and carry it out that much later."""
        if self.cancel_delay_s > 0 and order.sim is not None:
            if order.cancel_at_ns is None:
                order.cancel_at_ns = self.clock.now_ns() + int(self.cancel_delay_s * NS)
        else:
            self._cancel_now(order)

    def _cancel_now(self, order: OrderT) -> None:
        if not order.is_open:
            return  # it filled (or lapsed) before the exchange got the cancel
        if order.sim is None:
            order.state = "cancelled"
            self.on_order_change(order, "Canceled")
        else:
            self.exchange.cancel(self.owner, order.sim.id)  # the exchange's news tells the rest

    def _release_and_expire(self, now: int) -> None:
        for order in [o for o in self.orders.values() if o.state == "amo" and o.release_ns <= now]:
            if self.calendar.is_open(order.spec.exchange, now):
                order.state = ""
                self._submit(order)
        for order in [o for o in self.orders.values() if o.state == "ack"]:
            order.state = ""
            self._submit(order)  # the RMS after the acknowledgement
        for order in [o for o in self.orders.values() if o.cancel_at_ns is not None and o.cancel_at_ns <= now]:
            order.cancel_at_ns = None
            self._cancel_now(order)
        self.exchange.expire()


class IndiaEmulator(OrderLife[OrderT], EmulatorServer, Generic[SpecT, OrderT]):
    """An Indian broker's emulator over the simulated exchange of its scrips; subclasses add the
    venue's gate, order desk, socket server (`stream`) and routes."""

    stream: Streams

    def __init__(
        self,
        scrips: tuple[SpecT, ...],
        *,
        seed: int,
        start: datetime | None,
        funds: Decimal,
        holdings: Mapping[str, tuple[Decimal, Decimal]],
        tick_interval_s: float,
        log_requests: bool,
    ) -> None:
        super().__init__(log_requests=log_requests)
        self.clock = EmulatorClock(start_ns(start))
        self.calendar = default_calendar()
        self.faults = Faults(seed=seed)
        self.scrips: dict[str, SpecT] = {s.key: s for s in scrips}
        self.exchange = scrip_exchange(self.venue, scrips, seed=seed, clock=self.clock, calendar=self.calendar,
                                       tick_interval_s=tick_interval_s)
        self.funds = funds
        self.exchange.open_account(self.owner, {"INR": funds, **{name: qty for name, (qty, _) in holdings.items()}})
        self.cancel_delay_s = 0.0
        self.orders = {}
        self._by_sim = {}
        self._days = {s.key: DayStats(prev_close=s.price) for s in scrips}
        self._keeper: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None

    # --- EmulatorServer -----------------------------------------------------------------------

    def sim_order_id(self, venue_order_id: str) -> str:
        order = self.orders.get(venue_order_id)
        return order.sim.id if order is not None and order.sim is not None else venue_order_id

    async def on_start(self) -> None:
        self._unlisten = self.exchange.listen(self._on_exchange)
        self.exchange.start()
        self._keeper = asyncio.get_running_loop().create_task(self._housekeeping(), name=f"{self.venue}-emulator")

    async def on_stop(self) -> None:
        await self.exchange.stop()
        await self.stream.close_all()
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        if self._unlisten is not None:
            self._unlisten()
        self._keeper = self._unlisten = None

    # --- the market's news --------------------------------------------------------------------

    def publish_quote(self, spec: SpecT) -> None:
        """The scrip's quote moved: to its subscribers."""
        raise NotImplementedError

    def on_sim_change(self, order: OrderT) -> None:
        """The exchange changed one of our orders (taken, cancelled, lapsed, rejected, triggered)."""

    def _on_exchange(self, event: ExchangeEvent) -> None:
        match event:
            case QuoteTicked(quote):
                spec = self.scrips.get(quote.instrument)
                if spec is not None:
                    self.publish_quote(spec)
            case PublicTraded(trade):
                self._days[trade.instrument].trade(trade.price, trade.size, trade.ts_ns)
            case OrderFilled(_, fill):
                order = self._by_sim.get(fill.order_id)
                if order is not None:
                    self.add_fill(order, fill)
            case OrderChanged(sim):
                order = self._by_sim.get(sim.id)
                if order is not None:
                    self.on_sim_change(order)

    async def housekeep(self) -> None:
        """One housekeeping step: after-market orders reach the exchange at the open, cancels due
        are carried out, DAY orders lapse at the close."""
        self._release_and_expire(self.clock.now_ns())

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.exchange.tick_interval_s)
            try:
                await self.housekeep()
            except Exception as exc:  # one bad step must not end the emulator's sessions
                log = structlog.get_logger(f"tickbus.emulator.{self.venue}")
                log.error("housekeeping failed", error=repr(exc), exc_info=exc)

    def _last(self, key: str) -> float:
        """The scrip's mark: its last trade, else the middle of its quote, else where its price started."""
        day = self._days[key]
        quote = self.exchange.market(key).quote
        return day.last or ((quote.bid + quote.ask) / 2 if quote is not None else self.scrips[key].price)
