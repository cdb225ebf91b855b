"""Fixtures for the smallcase tests: a running emulator, a client on it, and the venue behind a real
order manager. Everything talks over real sockets on 127.0.0.1; every wait is bounded.

The engine's clock here reads the emulator's (`EmulatorTime`): moving the emulator's clock moves
the adapter's too, as when a run's `start:` and the emulator's `emulator_start` agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest

from adapters.india import IST, nse_equity, to_ns
from adapters.smallcase.adapter import SmallcaseVenue
from adapters.smallcase.auth import GatewayAuth
from adapters.smallcase.client import SmallcaseClient
from adapters.smallcase.config import SmallcaseConfig
from adapters.smallcase.emulator import SmallcaseEmulator
from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine, RiskLimits
from engine.data.bus import Bus
from engine.events import Fill, Order, OrderType, OrderUpdate, Side
from engine.orders.journal import Journal
from engine.orders.manager import OrderManager
from engine.venue.contract import EmulatorInfo, VenueContext
from tests.helpers import TIMEOUT, EmulatorTime, bounded, until  # noqa: F401 - shared, re-exported to the tests here

SEED_SECRET = "have-a-good-day"
OPEN_NS = to_ns(datetime(2026, 11, 20, 9, 20, tzinfo=IST))  # a Friday, five minutes after the open
SATURDAY_NS = to_ns(datetime(2026, 11, 21, 10, 0, tzinfo=IST))
TICKERS = ("RELIANCE", "TCS", "INFY", "HDFCBANK", "ICICIBANK")
T = TypeVar("T")


async def started(emulator: SmallcaseEmulator) -> SmallcaseEmulator:
    await bounded(emulator.start())
    return emulator


@pytest.fixture
async def emulator() -> AsyncIterator[SmallcaseEmulator]:
    """A leprechaun gateway whose secret is the seed's, its market open."""
    emu = await started(SmallcaseEmulator(seed=5, secret=SEED_SECRET, leprechaun=True, start_ns=OPEN_NS, complete_delay_s=0.02, tick_interval_s=0.05))
    yield emu
    await bounded(emu.stop())


@pytest.fixture
async def real_emulator() -> AsyncIterator[SmallcaseEmulator]:
    """The same gateway without leprechaun guests: a transaction waits for the user's step."""
    emu = await started(SmallcaseEmulator(seed=6, secret=SEED_SECRET, leprechaun=False, start_ns=OPEN_NS, tick_interval_s=0.05))
    yield emu
    await bounded(emu.stop())


def make_client(emulator: SmallcaseEmulator, *, auth_id: str | None = None, secret: str | None = None, api_secret: str | None = None) -> SmallcaseClient:
    auth = GatewayAuth(
        secret or emulator.secret, api_secret or emulator.api_secret, auth_id=auth_id,
        now_s=lambda: emulator.clock.now_ns() / 1e9,
    )
    return SmallcaseClient("smallcase", emulator.url, emulator.gateway_name, auth, retries=0)


@contextlib.asynccontextmanager
async def opened(client: SmallcaseClient) -> AsyncIterator[SmallcaseClient]:
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def client(emulator: SmallcaseEmulator) -> AsyncIterator[SmallcaseClient]:
    async with opened(make_client(emulator)) as c:
        yield c


def leprechaun_holdings(emulator: SmallcaseEmulator, auth_id: str) -> dict[str, Decimal]:
    """What a virtual account holds at the emulator, by NSE ticker."""
    return {s.nseTicker or "": s.holdings.quantity for s in emulator.gateway.holdings(auth_id).securities}


@dataclass
class Harness:
    """The venue on an emulator behind a recovered order manager; updates and fills of strategy s1."""

    venue: SmallcaseVenue
    manager: OrderManager
    journal: Journal
    updates: list[OrderUpdate] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    def buy(self, ticker: str, qty: int | str) -> Order:
        return self.submit(ticker, qty, Side.BUY)

    def sell(self, ticker: str, qty: int | str) -> Order:
        return self.submit(ticker, qty, Side.SELL)

    def submit(self, ticker: str, qty: int | str, side: Side, **kw: Any) -> Order:
        return self.manager.submit(
            strategy_id="s1", instrument=f"sim:NSE:{ticker}", venue="smallcase", side=side, qty=Decimal(qty),
            type=kw.pop("type", OrderType.MARKET), **kw,
        )

    def order(self, order: Order) -> Order:
        found = self.manager.get(order.client_order_id)
        assert found is not None
        return found

    async def settled(self, *orders: Order) -> list[Order]:
        """The orders once every one of them is final."""
        await until(lambda: all(not self.order(o).is_open for o in orders))
        return [self.order(o) for o in orders]

    async def close(self) -> None:
        await bounded(self.manager.settle())
        await bounded(self.venue.close())
        self.journal.close()


async def start_venue(
    emulator: SmallcaseEmulator, /, *, journal_path: Path | None = None, clock: Any = None, **config: Any,
) -> Harness:
    """A connected smallcase venue on the emulator (instruments of a `sim` data venue routed to it);
    in leprechaun mode when the emulator is (the adapter then opens each transaction's SDK link)."""
    bus, portfolio = Bus(), Portfolio()
    clock = clock or EmulatorTime(emulator.clock)
    for ticker in TICKERS + ("SBIN", "ITC"):
        inst = nse_equity("sim", ticker)
        portfolio.instruments[inst.id] = inst
    journal = Journal(journal_path)
    manager = OrderManager(
        bus=bus, clock=clock, journal=journal, portfolio=portfolio, risk=RiskEngine(RiskLimits(), portfolio), venues={},
    )
    config.setdefault("poll_interval_s", 0.05)
    config.setdefault("linger_ms", 20.0)
    config.setdefault("leprechaun", emulator.leprechaun)
    venue_config = SmallcaseVenue.with_emulator(
        msgspec.convert({"emulator": True, **config}, SmallcaseConfig), EmulatorInfo("smallcase", emulator.url, None, emulator.credentials()),
    )
    venue = SmallcaseVenue(VenueContext(name="smallcase", bus=bus, clock=clock, sink=manager), venue_config)
    manager.venues = {"smallcase": venue}
    await bounded(venue.connect())
    harness = Harness(venue, manager, journal)
    bus.subscribe(OrderUpdate, harness.updates.append, keys=["s1"], name="test.updates")
    bus.subscribe(Fill, harness.fills.append, keys=["s1"], name="test.fills")
    await bounded(manager.recover())
    return harness


@contextlib.asynccontextmanager
async def venue_on(emulator: SmallcaseEmulator, /, **config: Any) -> AsyncIterator[Harness]:
    h = await start_venue(emulator, **config)
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def harness(emulator: SmallcaseEmulator) -> AsyncIterator[Harness]:
    async with venue_on(emulator) as h:
        yield h
