"""Fixtures for the Samco tests: emulators at chosen IST instants, a client, and the venue behind a
real order manager (the Indian brokers' shared fixtures, tests/adapters/_india_fixtures.py, bound to
Samco). Everything talks over real sockets on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapters.india import IST
from adapters.samco.adapter import SamcoConfig, SamcoVenue
from adapters.samco.client import SamcoClient
from adapters.samco.emulator import SamcoEmulator
from engine.clock import Clock
from tests.adapters import _india_fixtures as india
from tests.adapters._india_fixtures import OPEN_FRIDAY, THURSDAY_EVENING, ticks_away  # noqa: F401 - re-exported
from tests.helpers import TIMEOUT, EmulatorTime, bounded, until  # noqa: F401 - shared, re-exported to the tests here

T = TypeVar("T")
STOCKNOTE_SUMMARY = pytest.StashKey[str]()  # "N of M calls succeed", set by test_stocknote_contract.py
SATURDAY = datetime(2026, 11, 21, 11, 0, tzinfo=IST)
# the venue's polling and session timers, shrunk so the tests run in a moment
FAST = {
    "poll_fast_s": 0.05, "poll_slow_s": 0.1, "poll_idle_s": 0.2, "fast_window_s": 0.5,
    "session_check_s": 0.02, "stale_after_s": 5.0, "requests_per_s": 100,
}


@pytest.fixture
async def make_emulator() -> AsyncIterator[Callable[..., Awaitable[SamcoEmulator]]]:
    """Start emulators (stopped at the end): `await make_emulator(start=..., **knobs)`."""
    emulators = india.Emulators(SamcoEmulator)
    yield emulators.make
    await emulators.stop()


@pytest.fixture
async def emulator(make_emulator: Callable[..., Awaitable[SamcoEmulator]]) -> SamcoEmulator:
    return await make_emulator()


@pytest.fixture
async def client(emulator: SamcoEmulator) -> AsyncIterator[SamcoClient]:
    c = SamcoClient("samco", emulator.url, api_key=emulator.api_key, api_secret=emulator.api_secret, now_ns=emulator.clock.now_ns)
    await c.start()
    yield c
    await c.auth.stop()
    await c.close()


Harness = india.Harness[SamcoVenue]


async def start_venue(
    emulator: SamcoEmulator,
    state_dir: Path,
    *,
    journal: Path | None = None,
    clock: Clock | None = None,
    mode: str = "live",
    **config: Any,
) -> Harness:
    """A connected Samco venue on the emulator, behind a recovered order manager."""
    return await india.start_venue(SamcoVenue, SamcoConfig(**{**FAST, **config}), emulator, state_dir,
                                   journal=journal, clock=clock, mode=mode)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    india.write_summary(terminalreporter, config, STOCKNOTE_SUMMARY)
