"""Fixtures for the Firstock tests: emulators at chosen IST instants, a client, and the venue behind a
real order manager. Everything talks over real sockets on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.firstock.adapter import FirstockConfig, FirstockVenue
from adapters.firstock.auth import Credentials
from adapters.firstock.client import FirstockClient
from adapters.firstock.emulator import FirstockEmulator
from adapters.india import IST
from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine, RiskLimits
from engine.clock import Clock
from engine.data.bus import Bus
from engine.events import Fill, OrderUpdate
from engine.orders.journal import Journal
from engine.orders.manager import OrderManager
from engine.venue.contract import EmulatorInfo, VenueContext
from tests.helpers import TIMEOUT, EmulatorTime, bounded, until  # noqa: F401 - shared, re-exported to the tests here

CONTRACT_SUMMARY = pytest.StashKey[str]()  # "N of M calls succeed", set by test_firstock_contract.py
OPEN_FRIDAY = datetime(2026, 11, 20, 9, 20, tzinfo=IST)  # a trading day, the market open
THURSDAY_EVENING = datetime(2026, 11, 19, 16, 0, tzinfo=IST)  # after the close
SYMBOLS = ["NSE:RELIANCE", "NSE:SBIN", "NSE:INFY", "NSE:ITC", "NSE:TCS", "NSE:WIPRO", "NSE:LT", "NSE:AXISBANK",
           "NFO:NIFTY26NOVFUT", "NFO:NIFTY26NOV26000CE"]
FAST = {"poll_s": 0.2, "stale_after_s": 5.0, "requests_per_s": 100, "login_retry_s": 0.2}


@pytest.fixture
async def make_emulator() -> AsyncIterator[Callable[..., Awaitable[FirstockEmulator]]]:
    """Start emulators (stopped at the end): `await make_emulator(start=..., **knobs)`."""
    started: list[FirstockEmulator] = []

    async def make(start: datetime = OPEN_FRIDAY, **kw: Any) -> FirstockEmulator:
        emu = FirstockEmulator(seed=kw.pop("seed", 7), start=start, tick_interval_s=kw.pop("tick_interval_s", 0.02), **kw)
        await bounded(emu.start())
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await bounded(emu.stop())


@pytest.fixture
async def emulator(make_emulator: Callable[..., Awaitable[FirstockEmulator]]) -> FirstockEmulator:
    return await make_emulator()


def credentials(emulator: FirstockEmulator, **changes: str) -> Credentials:
    """The demo account's credentials (TOTP from its secret), `changes` applied."""
    c = emulator.credentials()
    fields = {"user_id": c["user_id"], "password": c["password"], "vendor_code": c["vendor_code"],
              "api_key": c["api_key"], "totp_secret": c["totp_secret"], **changes}
    return Credentials(**fields)


@pytest.fixture
async def client(emulator: FirstockEmulator) -> AsyncIterator[FirstockClient]:
    c = FirstockClient("firstock", emulator.url, credentials=credentials(emulator), now_ns=emulator.clock.now_ns,
                       requests_per_s=100, login_retry_s=0.2)
    await c.start()
    yield c
    await c.auth.stop()
    await c.close()


@dataclass
class Harness:
    venue: FirstockVenue
    manager: OrderManager
    bus: Bus
    portfolio: Portfolio
    journal: Journal
    updates: list[OrderUpdate] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    def order(self, coid: str) -> Any:
        return self.manager.orders[coid]

    async def close(self) -> None:
        await bounded(self.manager.settle())
        await bounded(self.venue.close())
        self.journal.close()


async def start_venue(
    emulator: FirstockEmulator, state_dir: Path, *, journal: Path | None = None, clock: Clock | None = None,
    mode: str = "live", **config: Any,
) -> Harness:
    """A connected Firstock venue on the emulator, behind a recovered order manager."""
    bus, portfolio = Bus(), Portfolio()
    clock = clock or EmulatorTime(emulator.clock)
    book = Journal(journal)
    risk = RiskEngine(RiskLimits(check_balance=False), portfolio)  # the venue's RMS decides margin
    manager = OrderManager(bus=bus, clock=clock, journal=book, portfolio=portfolio, risk=risk, venues={})
    info = EmulatorInfo(venue="firstock", url=emulator.url, ws_url=emulator.ws_url, credentials=emulator.credentials())
    venue_config = FirstockVenue.with_emulator(FirstockConfig(**{"symbols": SYMBOLS, **FAST, **config}), info)
    ctx = VenueContext(name="firstock", bus=bus, clock=clock, sink=manager, state_dir=state_dir, mode=mode)
    venue = FirstockVenue(ctx, venue_config)
    manager.venues = {"firstock": venue}
    try:
        await bounded(venue.connect())
    except BaseException:
        await bounded(venue.close())
        raise
    for inst in await venue.instruments():
        portfolio.instruments[inst.id] = inst
    harness = Harness(venue, manager, bus, portfolio, book)
    bus.subscribe(OrderUpdate, harness.updates.append, keys=["s1"], name="test.updates")
    bus.subscribe(Fill, harness.fills.append, keys=["s1"], name="test.fills")
    await bounded(manager.recover())
    return harness


def ticks_away(emulator: FirstockEmulator, key: str, ticks: int) -> Decimal:
    """A price `ticks` ticks from the emulator's current bid (negative: below)."""
    quote = emulator.exchange.market(key).quote
    assert quote is not None
    tick = Decimal(emulator.scrips[key].tick)
    return Decimal(repr(quote.bid)).quantize(tick) + tick * ticks


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summary = config.stash.get(CONTRACT_SUMMARY, None)
    if summary is not None:
        terminalreporter.write_line(summary)
