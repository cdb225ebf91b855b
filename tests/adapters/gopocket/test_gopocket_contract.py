"""Contract test: GoPocket's public client `gopocket-tradehub-sdk-test` 1.0.0, unmodified, against the
GoPocket emulator.

The client lives in a throwaway venv (tests/public_clients.py, cached between runs) and runs in a
subprocess (gopocket_driver.py) in a temporary folder (it writes NSE.csv there), pointed at the
emulator on loopback with the emulator's clock inside NSE hours (Monday 7 December 2026, 10:00
IST). The client downloads the contract master only after 08:00 of the machine's local time, so the
subprocess gets a `TZ` in which it is daytime now (an environment setting, not a change to the
client). Each call is its own test, passing when the client got the venue's Ok envelope (or, for a
wrong checksum and a made-up session, when it was refused) and the facts it read are the
emulator's; "N of M calls succeed" is printed in pytest's terminal summary. No install possible:
skipped, with the reason."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.gopocket.emulator import GopocketEmulator
from tests.public_clients import VenvError, client_venv

from .conftest import CONTRACT_SUMMARY, OPEN_MONDAY, bounded, ticks_away

CLIENT = "gopocket-tradehub-sdk-test-1.0.0"
STEPS = [["gopocket-tradehub-sdk-test==1.0.0"]]
DRIVER = Path(__file__).with_name("gopocket_driver.py")
RUN_TIMEOUT_S = 120.0
CALLS = [
    "get_session_id_wrong_checksum", "get_profile_made_up_session", "get_session_id", "get_profile", "get_funds",
    "get_contract_master", "get_instrument", "placeOrder", "get_orderbook", "get_orderHistory", "modifyOrder",
    "cancelOrder", "get_orderbook_cancelled", "placeOrder_marketable", "get_tradebook", "get_positions", "get_holdings",
    "singleOrderMargin", "placeOrder_bracket", "exitBracketOrder", "positionSqrOff",
]


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    try:
        return client_venv(CLIENT, STEPS)
    except VenvError as exc:
        pytest.skip(f"gopocket-tradehub-sdk-test 1.0.0 not installable: {exc}")


def daytime_tz() -> str:
    """A POSIX TZ in which the local time now is between 09:00 and 21:00."""
    now = datetime.now(UTC)
    for hours in range(-12, 15):
        if 9 <= (now + timedelta(hours=hours)).hour < 21:
            return f"UTC{-hours:+d}"  # POSIX: the sign is west of Greenwich
    return "UTC"


def run(python: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONUNBUFFERED="1", TZ=daytime_tz())
    return subprocess.run([str(python), "-I", str(DRIVER), *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False, env=env, cwd=cwd)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rows(sdk_python: Path, tmp_path_factory: pytest.TempPathFactory,
               request: pytest.FixtureRequest) -> AsyncIterator[dict[str, dict[str, Any]]]:
    emu = GopocketEmulator(seed=7, start=OPEN_MONDAY, tick_interval_s=0.02)
    await bounded(emu.start())
    try:
        args = [emu.url, emu.user_id, emu.auth_code, emu.api_secret,
                str(ticks_away(emu, "NSE:SBIN", -40)), str(ticks_away(emu, "NSE:SBIN", 200))]
        done = await asyncio.to_thread(run, sdk_python, args, tmp_path_factory.mktemp("sdk"))
    finally:
        await bounded(emu.stop())
    assert done.returncode == 0, f"driver exited {done.returncode}: {done.stderr[-2000:]}"
    got = {row["call"]: row for row in map(json.loads, (x for x in done.stdout.splitlines() if x.startswith('{"call"')))}
    succeeded = sum(1 for c in CALLS if got.get(c, {}).get("ok"))
    summary = f"gopocket-tradehub-sdk-test 1.0.0 against the GoPocket emulator: {succeeded} of {len(CALLS)} calls succeed"
    print(summary)
    request.config.stash[CONTRACT_SUMMARY] = summary
    yield got


def test_the_driver_makes_every_call_and_no_other(rows: dict[str, dict[str, Any]]) -> None:
    assert sorted(rows) == sorted(CALLS)


@pytest.mark.parametrize("call", CALLS)
def test_a_tradehub_call_succeeds_against_the_emulator(rows: dict[str, dict[str, Any]], call: str) -> None:
    row = rows.get(call, {"error": "never made"})
    facts = json.dumps(row.get("answer"), default=str)[:2000]
    assert row.get("ok"), f"{call}: {row.get('error')}\n{facts}\n{row.get('trace', '')}"
