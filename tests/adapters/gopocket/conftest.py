"""Fixtures for the GoPocket tests: emulators at chosen IST instants, a client, and the venue behind a
real order manager. Everything talks over real sockets on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.gopocket.adapter import GopocketConfig, GopocketVenue
from adapters.gopocket.auth import GopocketSession
from adapters.gopocket.client import GopocketClient
from adapters.gopocket.emulator import GopocketEmulator
from adapters.india import IST
from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine, RiskLimits
from engine.data.bus import Bus
from engine.events import Fill, OrderUpdate
from engine.orders.journal import Journal
from engine.orders.manager import OrderManager
from engine.venue.contract import VenueContext
from tests.helpers import TIMEOUT, EmulatorTime, bounded, until  # noqa: F401 - shared, re-exported to the tests here

CONTRACT_SUMMARY = pytest.StashKey[str]()  # "N of M calls succeed", set by test_gopocket_contract.py
OPEN_MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=IST)  # a trading day, the market open
MONDAY_EVENING = datetime(2026, 12, 7, 17, 0, tzinfo=IST)  # after the close
FAST = {"poll_fast_s": 0.05, "poll_slow_s": 0.1, "poll_idle_s": 0.2, "fast_window_s": 0.5, "stale_after_s": 5.0,
        "rate_limits": [{"calls": 200, "per_s": 1.0}], "symbols": ["NSE:SBIN", "NSE:RELIANCE"]}


@pytest.fixture
async def make_emulator() -> AsyncIterator[Callable[..., Awaitable[GopocketEmulator]]]:
    started: list[GopocketEmulator] = []

    async def make(start: datetime = OPEN_MONDAY, **kw: Any) -> GopocketEmulator:
        emu = GopocketEmulator(seed=kw.pop("seed", 7), start=start, tick_interval_s=kw.pop("tick_interval_s", 0.02), **kw)
        await bounded(emu.start())
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await bounded(emu.stop())


@pytest.fixture
async def emulator(make_emulator: Callable[..., Awaitable[GopocketEmulator]]) -> GopocketEmulator:
    return await make_emulator()


def make_client(emulator: GopocketEmulator, **auth: Any) -> GopocketClient:
    client = GopocketClient("gopocket", emulator.url + "/", user_id=emulator.user_id)
    kw: dict[str, Any] = {"auth_code": emulator.auth_code, **auth}
    client.auth = GopocketSession("gopocket", client.exchange, user_id=emulator.user_id, api_secret=emulator.api_secret, **kw)
    return client


@pytest.fixture
async def client(emulator: GopocketEmulator) -> AsyncIterator[GopocketClient]:
    c = make_client(emulator)
    await c.start()
    yield c
    await c.close()


@dataclass
class Harness:
    venue: GopocketVenue
    manager: OrderManager
    bus: Bus
    portfolio: Portfolio
    journal: Journal
    updates: list[OrderUpdate] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    def order(self, coid: str) -> Any:
        return self.manager.orders[coid]

    async def reaches(self, coid: str, *statuses: Any) -> Any:
        await until(lambda: self.order(coid).status in statuses)
        return self.order(coid)

    async def close(self) -> None:
        await bounded(self.manager.settle())
        await bounded(self.venue.close())
        self.journal.close()


def venue_config(emulator: GopocketEmulator, **config: Any) -> GopocketConfig:
    import msgspec

    from engine.venue.contract import EmulatorInfo

    info = EmulatorInfo(venue="gopocket", url=emulator.url, ws_url=emulator.ws_url, credentials=emulator.credentials())
    pointed = GopocketVenue.with_emulator(msgspec.convert(FAST, GopocketConfig), info)
    return msgspec.convert({**msgspec.to_builtins(pointed), **config}, GopocketConfig)  # the test's word last


async def start_venue(emulator: GopocketEmulator, state_dir: Path, *, mode: str = "live",
                      config: GopocketConfig | None = None, **overrides: Any) -> Harness:
    """A connected GoPocket venue on the emulator, behind a recovered order manager."""
    bus, portfolio = Bus(), Portfolio()
    clock = EmulatorTime(emulator.clock)
    book = Journal(state_dir / "journal.sqlite")
    risk = RiskEngine(RiskLimits(check_balance=False), portfolio)
    manager = OrderManager(bus=bus, clock=clock, journal=book, portfolio=portfolio, risk=risk, venues={})
    ctx = VenueContext(name="gopocket", bus=bus, clock=clock, sink=manager, state_dir=state_dir, mode=mode)
    venue = GopocketVenue(ctx, config or venue_config(emulator, **overrides))
    manager.venues = {"gopocket": venue}
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


def ticks_away(emulator: GopocketEmulator, key: str, ticks: int) -> Decimal:
    """A price `ticks` ticks from the emulator's current bid (negative: below)."""
    quote = emulator.exchange.market(key).quote
    assert quote is not None
    tick = Decimal(emulator.by_key[key].tick)
    return Decimal(repr(quote.bid)).quantize(tick) + tick * ticks


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summary = config.stash.get(CONTRACT_SUMMARY, None)
    if summary is not None:
        terminalreporter.write_line(summary)
