"""The conformance rig: one venue's emulator (from `Venue.make_emulator`), the venue pointed at it
(`with_emulator`) behind a real order manager and journal, as the runner builds them. Scenarios
are parametrised over every driver; a scenario a venue does not have is skipped with its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.simulation.emulation import EmulatorServer, Faults
from adapters.simulation.exchange import FillRecord
from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine, RiskLimits
from engine.app.plugins import load_venue
from engine.clock import Clock, RealtimeClock
from engine.data.bus import Bus
from engine.events import Fill, Order, OrderStatus, OrderType, OrderUpdate, Side, TimeInForce
from engine.orders.journal import Journal
from engine.orders.manager import OrderManager
from engine.venue.contract import Emulator, EmulatorInfo, Venue, VenueContext
from tests.helpers import EmulatorTime, bounded, until
from tests.venues.drivers import DRIVERS
from tests.venues.drivers.base import Driver, OrderTerms

STRATEGY = "conformance"


def cases(scenario: str) -> list[Any]:
    """One param per venue for `scenario`: id `venue-scenario`, skipped (N/A) or xfail with the why."""
    params = []
    for driver in DRIVERS:
        marks: list[Any] = []
        if scenario in driver.not_applicable:
            marks.append(pytest.mark.skip(reason=f"N/A {driver.venue}: {driver.not_applicable[scenario]}"))
        elif scenario in driver.xfail:
            marks.append(pytest.mark.xfail(reason=driver.xfail[scenario], strict=False))
        params.append(pytest.param(driver, id=f"{driver.venue}-{scenario}", marks=marks))
    return params


@dataclass
class Rig:
    """One venue on its emulator, behind an order manager; what the scenarios drive and look at."""

    driver: Driver
    cls: type[Venue[Any]]
    emulator: Emulator
    info: EmulatorInfo
    venue: Venue[Any]
    manager: OrderManager
    journal: Journal
    updates: list[OrderUpdate] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    @property
    def control(self) -> EmulatorServer:
        """The emulator's test-control surface (every emulator inherits it from the kit)."""
        assert isinstance(self.emulator, EmulatorServer)
        return self.emulator

    @property
    def faults(self) -> Faults:
        faults = getattr(self.emulator, "faults", None)
        assert isinstance(faults, Faults), f"{self.driver.venue}: the emulator has no fault knobs"
        return faults

    def fills_at_venue(self) -> list[FillRecord]:
        """Every fill the venue's exchange made (all accounts)."""
        exchange = self.control.sim_exchange()
        assert exchange is not None
        return [f for fills in exchange.fills.values() for f in fills]

    def submit(self, terms: OrderTerms) -> Order:
        return self.manager.submit(
            strategy_id=STRATEGY, instrument=self.driver.instrument, venue=self.driver.venue,
            side=Side(terms.side), qty=terms.qty, price=terms.price,
            type=OrderType.LIMIT if terms.price is not None else OrderType.MARKET,
            **({"tif": TimeInForce(terms.tif)} if terms.tif else {}),
        )

    def order(self, client_order_id: str) -> Order:
        return self.manager.orders[client_order_id]

    async def reaches(self, client_order_id: str, *statuses: OrderStatus) -> Order:
        await until(lambda: self.order(client_order_id).status in statuses)
        return self.order(client_order_id)

    def filled(self, client_order_id: str) -> Decimal:
        return self.order(client_order_id).filled_qty

    async def close(self) -> None:
        await bounded(self.manager.settle())
        await bounded(self.venue.close())
        self.journal.close()

    async def shutdown(self) -> None:
        """The venue closed, then its emulator stopped."""
        try:
            await self.close()
        finally:
            await bounded(self.emulator.stop())


def venue_config(driver: Driver, **overrides: Any) -> Any:
    """The driver's venue block as the venue's config Struct, on its emulator."""
    cls: type[Venue[Any]] = load_venue(driver.venue)
    return msgspec.convert({**driver.config, **overrides, "emulator": True}, cls.Config)


@dataclass
class Engine:
    """The engine's side of a rig: the venue behind an order manager on a journal, as the runner
    builds them (also what `engine_process` runs in a process of its own)."""

    venue: Venue[Any]
    manager: OrderManager
    journal: Journal
    bus: Bus


async def start_engine(driver: Driver, config: Any, info: EmulatorInfo, clock: Clock, state_dir: Path) -> Engine:
    """Connect the venue to the emulator `info` tells of and recover from the journal in `state_dir`."""
    cls: type[Venue[Any]] = load_venue(driver.venue)
    bus, portfolio, journal = Bus(), Portfolio(), Journal(state_dir / "journal.sqlite")
    manager = OrderManager(
        bus=bus, clock=clock, journal=journal, portfolio=portfolio, risk=RiskEngine(RiskLimits(), portfolio), venues={},
    )
    ctx = VenueContext(name=driver.venue, bus=bus, clock=clock, sink=manager, state_dir=state_dir, mode="live")
    venue = cls(ctx, cls.with_emulator(config, info))
    manager.venues = {driver.venue: venue}
    await bounded(venue.connect())
    for inst in [*await venue.instruments(), *driver.declared()]:
        portfolio.instruments[inst.id] = inst
    venue.register_instruments(list(portfolio.instruments.values()))
    return Engine(venue, manager, journal, bus)


async def start_rig(driver: Driver, state_dir: Path, *, seed: int = 11, emulator: Emulator | None = None,
                    **overrides: Any) -> Rig:
    """A rig on a new emulator, or on `emulator` (already started: a restart on the same venue)."""
    cls: type[Venue[Any]] = load_venue(driver.venue)
    config = venue_config(driver, **overrides)
    if emulator is None:
        emulator = cls.make_emulator(config, seed)
        assert emulator is not None, f"{driver.venue} has no emulator"
        info = await bounded(emulator.start())
    else:
        assert isinstance(emulator, EmulatorServer)
        info = emulator.info()
    emulated_clock = getattr(emulator, "clock", None)
    clock = EmulatorTime(emulated_clock) if emulated_clock is not None else RealtimeClock()
    engine = await start_engine(driver, config, info, clock, state_dir)
    rig = Rig(driver, cls, emulator, info, engine.venue, engine.manager, engine.journal)
    engine.bus.subscribe(OrderUpdate, rig.updates.append, keys=[STRATEGY], name="conformance.updates")
    engine.bus.subscribe(Fill, rig.fills.append, keys=[STRATEGY], name="conformance.fills")
    await bounded(engine.manager.recover())
    return rig


@pytest.fixture
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    driver: Driver = request.param
    started = await start_rig(driver, tmp_path)
    try:
        yield started
    finally:
        await started.shutdown()
