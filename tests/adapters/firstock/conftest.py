"""Fixtures for the Firstock tests: emulators at chosen IST instants, a client, and the venue behind a
real order manager (the Indian brokers' shared fixtures, tests/adapters/_india_fixtures.py, bound to
Firstock). Everything talks over real sockets on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.firstock.adapter import FirstockConfig, FirstockVenue
from adapters.firstock.auth import Credentials
from adapters.firstock.client import FirstockClient
from adapters.firstock.emulator import FirstockEmulator
from engine.clock import Clock
from tests.adapters import _india_fixtures as india
from tests.adapters._india_fixtures import OPEN_FRIDAY, THURSDAY_EVENING, ticks_away  # noqa: F401 - re-exported
from tests.helpers import TIMEOUT, EmulatorTime, bounded, until  # noqa: F401 - shared, re-exported to the tests here

CONTRACT_SUMMARY = pytest.StashKey[str]()  # "N of M calls succeed", set by test_firstock_contract.py
SYMBOLS = ["NSE:RELIANCE", "NSE:SBIN", "NSE:INFY", "NSE:ITC", "NSE:TCS", "NSE:WIPRO", "NSE:LT", "NSE:AXISBANK",
           "NFO:NIFTY26NOVFUT", "NFO:NIFTY26NOV26000CE"]
FAST = {"poll_s": 0.2, "stale_after_s": 5.0, "requests_per_s": 100, "login_retry_s": 0.2}


@pytest.fixture
async def make_emulator() -> AsyncIterator[Callable[..., Awaitable[FirstockEmulator]]]:
    """Start emulators (stopped at the end): `await make_emulator(start=..., **knobs)`."""
    emulators = india.Emulators(FirstockEmulator)
    yield emulators.make
    await emulators.stop()


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


Harness = india.Harness[FirstockVenue]


async def start_venue(
    emulator: FirstockEmulator, state_dir: Path, *, journal: Path | None = None, clock: Clock | None = None,
    mode: str = "live", **config: Any,
) -> Harness:
    """A connected Firstock venue on the emulator, behind a recovered order manager."""
    return await india.start_venue(FirstockVenue, FirstockConfig(**{"symbols": SYMBOLS, **FAST, **config}), emulator,
                                   state_dir, journal=journal, clock=clock, mode=mode)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    india.write_summary(terminalreporter, config, CONTRACT_SUMMARY)
