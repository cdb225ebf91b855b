"""Fixtures for the GoPocket tests: emulators at chosen IST instants, a client, and the venue behind a
real order manager. Everything talks over real sockets on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
from tests.adapters._india_fixtures import Harness, behind_manager
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


def venue_config(emulator: GopocketEmulator, **config: Any) -> GopocketConfig:
    import msgspec

    from engine.venue.contract import EmulatorInfo

    info = EmulatorInfo(venue="gopocket", url=emulator.url, ws_url=emulator.ws_url, credentials=emulator.credentials())
    pointed = GopocketVenue.with_emulator(msgspec.convert(FAST, GopocketConfig), info)
    return msgspec.convert({**msgspec.to_builtins(pointed), **config}, GopocketConfig)  # the test's word last


async def start_venue(emulator: GopocketEmulator, state_dir: Path, *, mode: str = "live",
                      config: GopocketConfig | None = None, **overrides: Any) -> Harness[GopocketVenue]:
    """A connected GoPocket venue on the emulator, behind a recovered order manager."""
    pointed = config or venue_config(emulator, **overrides)
    return await behind_manager(lambda ctx: GopocketVenue(ctx, pointed), "gopocket", EmulatorTime(emulator.clock),
                                state_dir, journal=state_dir / "journal.sqlite", mode=mode)


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
