"""What the Indian brokers' test suites (Firstock's, Samco's) share: instants on the IST calendar,
emulators started and stopped, a venue connected to its emulator behind a recovered order manager
(GoPocket's suite uses that part too),
orders submitted through it, prices some ticks from the market, and two order scenarios: a limit
order partly then wholly filled, and an engine restarted mid-order. Each venue's conftest.py binds
these to its own emulator, venue and config."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from adapters.india import IST, to_ns
from adapters.simulation.india_emulator import IndiaEmulator
from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine, RiskLimits
from engine.clock import Clock
from engine.data.bus import Bus
from engine.errors import VenueUnavailable
from engine.events import Fill, Order, OrderStatus, OrderType, OrderUpdate, Side, TimeInForce
from engine.orders.journal import Journal
from engine.orders.manager import OrderManager
from engine.venue.contract import Venue, VenueContext
from tests.helpers import EmulatorTime, bounded, until

OPEN_FRIDAY = datetime(2026, 11, 20, 9, 20, tzinfo=IST)  # a trading day, the market open
THURSDAY_EVENING = datetime(2026, 11, 19, 16, 0, tzinfo=IST)  # after the close
E = TypeVar("E", bound=IndiaEmulator[Any, Any])
V = TypeVar("V", bound=Venue[Any])


def ist(*parts: int) -> int:
    """An IST instant in ns: `ist(2026, 11, 20, 9, 15)`."""
    return to_ns(datetime(*parts, tzinfo=IST))  # type: ignore[misc]


class Emulators(Generic[E]):
    """Emulators of one kind started at chosen instants (`make`), all stopped at the end (`stop`)."""

    def __init__(self, kind: Callable[..., E]) -> None:
        self.kind = kind
        self.started: list[E] = []

    async def make(self, start: datetime = OPEN_FRIDAY, **kw: Any) -> E:
        emu = self.kind(seed=kw.pop("seed", 7), start=start, tick_interval_s=kw.pop("tick_interval_s", 0.02), **kw)
        await bounded(emu.start())
        self.started.append(emu)
        return emu

    async def stop(self) -> None:
        for emu in self.started:
            await bounded(emu.stop())


@dataclass
class Harness(Generic[V]):
    venue: V
    manager: OrderManager
    bus: Bus
    portfolio: Portfolio
    journal: Journal
    updates: list[OrderUpdate] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.venue.ctx.name

    def order(self, coid: str) -> Any:
        return self.manager.orders[coid]

    async def reaches(self, coid: str, *statuses: Any) -> Any:
        await until(lambda: self.order(coid).status in statuses)
        return self.order(coid)

    async def close(self) -> None:
        await bounded(self.manager.settle())
        await bounded(self.venue.close())
        self.journal.close()


async def start_venue(
    kind: Callable[[VenueContext, Any], V], config: Any, emulator: IndiaEmulator[Any, Any], state_dir: Path, *,
    journal: Path | None = None, clock: Clock | None = None, mode: str = "live",
) -> Harness[V]:
    """A venue of `kind` with `config`, connected to the emulator, behind a recovered order manager."""
    pointed = kind.with_emulator(config, emulator.info())  # type: ignore[attr-defined]
    return await behind_manager(lambda ctx: kind(ctx, pointed), emulator.venue, clock or EmulatorTime(emulator.clock),
                                state_dir, journal=journal, mode=mode)


async def behind_manager(
    make_venue: Callable[[VenueContext], V], name: str, clock: Clock, state_dir: Path, *,
    journal: Path | None, mode: str,
) -> Harness[V]:
    """The venue `make_venue` builds, connected, behind a recovered order manager whose risk leaves
    margin to the venue's RMS; its instruments in the portfolio, strategy s1's updates and fills kept."""
    bus, portfolio = Bus(), Portfolio()
    book = Journal(journal)
    risk = RiskEngine(RiskLimits(check_balance=False), portfolio)  # the venue's RMS decides margin
    manager = OrderManager(bus=bus, clock=clock, journal=book, portfolio=portfolio, risk=risk, venues={})
    ctx = VenueContext(name=name, bus=bus, clock=clock, sink=manager, state_dir=state_dir, mode=mode)
    venue = make_venue(ctx)
    manager.venues = {name: venue}
    try:
        await bounded(venue.connect())
    except BaseException:
        await bounded(venue.close())
        book.close()
        raise
    for inst in await venue.instruments():
        portfolio.instruments[inst.id] = inst
    harness = Harness(venue, manager, bus, portfolio, book)
    bus.subscribe(OrderUpdate, harness.updates.append, keys=["s1"], name="test.updates")
    bus.subscribe(Fill, harness.fills.append, keys=["s1"], name="test.fills")
    await bounded(manager.recover())
    return harness


def submit(h: Harness[Any], instrument: str, side: Side, qty: int, price: Decimal | None = None, **kw: Any) -> Order:
    """Strategy s1's order through the manager: a limit at `price` (a market order without), DAY."""
    kind = kw.pop("type", OrderType.LIMIT if price is not None else OrderType.MARKET)
    return h.manager.submit(strategy_id="s1", instrument=instrument, venue=h.name, side=side, qty=Decimal(qty),
                            type=kind, price=price, tif=kw.pop("tif", TimeInForce.DAY), **kw)


def statuses(h: Harness[Any], coid: str) -> list[OrderStatus]:
    return [u.order.status for u in h.updates if u.order.client_order_id == coid]


def ticks_away(emulator: IndiaEmulator[Any, Any], key: str, ticks: int) -> Decimal:
    """A price `ticks` ticks from the emulator's current bid (negative: below)."""
    quote = emulator.exchange.market(key).quote
    assert quote is not None
    tick = Decimal(emulator.scrips[key].tick)
    return Decimal(repr(quote.bid)).quantize(tick) + tick * ticks


def write_summary(terminalreporter: Any, config: pytest.Config, key: pytest.StashKey[str]) -> None:
    """The line a public client's contract test left under `key`, at the end of the run."""
    summary = config.stash.get(key, None)
    if summary is not None:
        terminalreporter.write_line(summary)


async def partly_then_wholly_filled(
    h: Harness[Any], emulator: IndiaEmulator[Any, Any], key: str, *, restart_market: bool
) -> tuple[str, Decimal]:
    """A limit buy of 6000 on scrip `key`, placed below the market, moved to the ask of a held-still
    market (a part fills), then far above it (the rest fills; `restart_market`: the market moves
    again meanwhile, should the held quote's depth be short of it). Its client id and the part."""
    order = submit(h, f"{emulator.venue}:{key}", Side.BUY, 6000, ticks_away(emulator, key, -30))
    coid = order.client_order_id
    await until(lambda: h.order(coid).status is OrderStatus.PLACED)
    await bounded(emulator.exchange.stop())  # hold the market still: the touch is what it is
    quote = emulator.exchange.market(key).quote
    assert quote is not None and quote.ask_size < 6000
    h.manager.modify(coid, price=Decimal(repr(quote.ask)))  # takes what the touch offers
    await until(lambda: h.order(coid).status is OrderStatus.UPDATED and h.order(coid).filled_qty > 0)
    partial = h.order(coid).filled_qty
    h.manager.modify(coid, price=ticks_away(emulator, key, 200))  # now takes the rest ...
    if restart_market:
        emulator.exchange.start()  # ... from this quote's depth and, should it not be enough, the next quotes'
    await until(lambda: h.order(coid).status is OrderStatus.COMPLETED and h.order(coid).filled_qty == 6000)
    return coid, partial


@dataclass
class Restart:
    """What `restart_mid_order` leaves: the four orders after the restart, by role, and the unknown
    one's status when the engine died."""

    got: dict[str, Any]
    stuck: OrderStatus


async def restart_mid_order(
    start: Callable[..., Awaitable[Harness[Any]]], emulator: IndiaEmulator[Any, Any], state_dir: Path,
    keys: tuple[str, str, str, str], complete_word: str,
) -> Restart:
    """Orders resting, to fill, to cancel, and one whose answer and lookup are lost (on the scrips
    `keys`, in that order); the engine dies, the venue fills and cancels meanwhile (until the one to
    fill reads `complete_word`), then a new engine starts on the same journal with `start`."""
    journal = state_dir / "journal.sqlite"
    first = await start(emulator, state_dir, journal=journal)
    resting_key, fill_key, cancel_key, unknown_key = keys
    ids = {key: f"{emulator.venue}:{key}" for key in keys}
    resting = submit(first, ids[resting_key], Side.BUY, 1, ticks_away(emulator, resting_key, -80))
    to_fill = submit(first, ids[fill_key], Side.BUY, 10, ticks_away(emulator, fill_key, -80))
    to_cancel = submit(first, ids[cancel_key], Side.BUY, 10, ticks_away(emulator, cancel_key, -80))
    await until(lambda: all(first.order(o.client_order_id).status is OrderStatus.PLACED for o in (resting, to_fill, to_cancel)))
    emulator.faults.lose_write_responses = 1  # this one is placed, but its answer never arrives ...

    lookups: list[str] = []

    async def lookup_fails(order: Order) -> None:
        lookups.append(order.client_order_id)
        raise VenueUnavailable(emulator.venue, "connection reset")  # ... nor does the lookup that follows

    first.venue.order_status = lookup_fails  # type: ignore[method-assign]
    unknown = submit(first, ids[unknown_key], Side.BUY, 4, ticks_away(emulator, unknown_key, -80))
    await until(lambda: len(emulator.orders) == 4 and bool(lookups))
    stuck = first.order(unknown.client_order_id).status
    for task in list(first.manager._tasks):  # the engine dies while it is still asking
        task.cancel()
    await asyncio.sleep(0)
    await bounded(first.venue.close())
    first.journal.close()

    number = {o.client_order_id: first.order(o.client_order_id).venue_order_id for o in (to_fill, to_cancel)}
    emulator.exchange.modify(emulator.owner, emulator.orders[number[to_fill.client_order_id]].sim.id,
                             price=ticks_away(emulator, fill_key, 40))
    emulator.exchange.cancel(emulator.owner, emulator.orders[number[to_cancel.client_order_id]].sim.id)
    await until(lambda: emulator.orders[number[to_fill.client_order_id]].word() == complete_word)

    second = await start(emulator, state_dir, journal=journal)
    try:
        roles = {"resting": resting, "to_fill": to_fill, "to_cancel": to_cancel, "unknown": unknown}
        got = {role: second.order(o.client_order_id) for role, o in roles.items()}
    finally:
        await second.close()
    return Restart(got, stuck)
