"""Fixtures for the GOPAX tests: a running emulator, a client on it, and the venue behind a real
order manager. Everything talks over real sockets on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapters.gopax.adapter import GopaxVenue
from adapters.gopax.auth import GopaxAuth, NonceSource
from adapters.gopax.client import GopaxClient
from adapters.gopax.config import GopaxConfig
from adapters.gopax.emulator import GopaxEmulator
from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine, RiskLimits
from engine.data.bus import Bus
from engine.events import Balance, Fill, OrderReport, OrderUpdate
from engine.orders.journal import Journal
from engine.orders.manager import OrderManager
from engine.venue.contract import EmulatorInfo, VenueContext
from tests.helpers import TIMEOUT, EmulatorTime, bounded, until  # noqa: F401 - shared, re-exported to the tests here

T = TypeVar("T")
CCXT_SUMMARY = pytest.StashKey[str]()  # "N of M calls succeed", set by test_ccxt_contract.py


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summary = config.stash.get(CCXT_SUMMARY, None)
    if summary is not None:
        terminalreporter.write_line(summary)


class ScriptedNonces(NonceSource):
    """Hands out the given nonces, as a broken client (or a test vector) would."""

    def __init__(self, *values: int) -> None:
        super().__init__()
        self.values = list(values)

    def next(self) -> int:
        return self.values.pop(0)


@pytest.fixture
async def emulator() -> AsyncIterator[GopaxEmulator]:
    emu = GopaxEmulator(seed=7, tick_interval_s=0.02)
    await bounded(emu.start())
    yield emu
    await bounded(emu.stop())


@pytest.fixture
async def client(emulator: GopaxEmulator) -> AsyncIterator[GopaxClient]:
    c = GopaxClient("gopax", emulator.url, auth=GopaxAuth(emulator.api_key, emulator.secret))
    await c.start()
    yield c
    await c.close()


class Recorder:
    """The venue's sink: records what the venue pushes on its own (streams, polls), then forwards."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.reports: list[OrderReport] = []
        self.fills: list[Fill] = []
        self.balances: list[Balance] = []

    def on_order_report(self, report: OrderReport) -> None:
        self.reports.append(report)
        self.target.on_order_report(report)

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.target.on_fill(fill)

    def on_balance(self, balance: Balance) -> None:
        self.balances.append(balance)
        self.target.on_balance(balance)


@dataclass
class Harness:
    venue: GopaxVenue
    manager: OrderManager
    bus: Bus
    portfolio: Portfolio
    journal: Journal
    sink: Recorder
    updates: list[OrderUpdate] = field(default_factory=list)

    async def close(self) -> None:
        await bounded(self.manager.settle())
        await bounded(self.venue.close())
        self.journal.close()


async def start_venue(
    emulator: GopaxEmulator, state_dir: Path, *, journal: Path | None = None, mode: str = "live", **config: Any
) -> Harness:
    """A connected GOPAX venue on the emulator, behind a recovered order manager; the engine's clock
    reads the emulator's, so moving it moves the venue's time (signatures follow)."""
    bus, clock, portfolio = Bus(), EmulatorTime(emulator.clock), Portfolio()
    book = Journal(journal)
    manager = OrderManager(
        bus=bus, clock=clock, journal=book, portfolio=portfolio, risk=RiskEngine(RiskLimits(), portfolio), venues={}
    )
    sink = Recorder(manager)
    info = EmulatorInfo(venue="gopax", url=emulator.url, ws_url=emulator.ws_url, credentials=emulator.credentials())
    venue_config = GopaxVenue.with_emulator(GopaxConfig(**config), info)
    ctx = VenueContext(name="gopax", bus=bus, clock=clock, sink=sink, state_dir=state_dir, mode=mode)
    venue = GopaxVenue(ctx, venue_config)
    manager.venues = {"gopax": venue}
    await bounded(venue.connect())
    for inst in await venue.instruments():
        portfolio.instruments[inst.id] = inst
    harness = Harness(venue, manager, bus, portfolio, book, sink)
    bus.subscribe(OrderUpdate, harness.updates.append, keys=["s1"], name="test.updates")
    await bounded(manager.recover())
    return harness

