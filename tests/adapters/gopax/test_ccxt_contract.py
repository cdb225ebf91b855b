"""Contract test: ccxt 1.50.1's unmodified `gopax` client against the GOPAX emulator.

The client lives in a throwaway venv (tests/public_clients.py, cached between runs) and runs in a
subprocess (ccxt_driver.py) pointed at the emulator on loopback; every call it makes must succeed,
the way ccxt judges success. No install possible: the test is skipped, with the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.gopax.emulator import GopaxEmulator
from tests.public_clients import VenvError, client_venv, run_script

from .conftest import bounded

CCXT = "ccxt-1.50.1"
STEPS = [["requests", "certifi", "cryptography"], ["--no-deps", "ccxt==1.50.1"]]
DRIVER = Path(__file__).with_name("ccxt_driver.py")
RUN_TIMEOUT_S = 60.0
CALLS = [
    "load_markets", "fetch_ticker", "fetch_order_book", "fetch_trades", "fetch_balance", "create_order", "fetch_order",
    "fetch_open_orders", "cancel_order", "fetch_order_cancelled", "fetch_order_unknown", "create_market_order",
    "fetch_filled_order", "fetch_my_trades",
]


@pytest.fixture(scope="session")
def ccxt_python() -> Path:
    try:
        return client_venv(CCXT, STEPS)
    except VenvError as exc:
        pytest.skip(f"ccxt 1.50.1 not installable: {exc}")


@pytest.fixture
async def live_emulator() -> AsyncIterator[GopaxEmulator]:
    emu = GopaxEmulator(seed=7, tick_interval_s=0.02)
    await bounded(emu.start())
    yield emu
    await bounded(emu.stop())


async def drive(python: Path, emulator: GopaxEmulator) -> list[dict[str, Any]]:
    args = [emulator.url.rstrip("/"), emulator.api_key, emulator.secret]
    done = await asyncio.to_thread(run_script, python, DRIVER, args, timeout_s=RUN_TIMEOUT_S)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"driver exited {done.returncode}: {done.stderr[-2000:]}"
    return rows


async def test_ccxt_gopax_client_runs_every_call_against_the_emulator(ccxt_python: Path, live_emulator: GopaxEmulator) -> None:
    rows = await drive(ccxt_python, live_emulator)
    by_call = {row["call"]: row for row in rows}
    succeeded = [name for name in CALLS if by_call.get(name, {}).get("ok")]
    summary = f"ccxt 1.50.1 gopax: {len(succeeded)} of {len(CALLS)} calls succeeded"
    print(summary)
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k != "trace"}, default=str))
    failed = {name: by_call.get(name, {"error": "never made"}) for name in CALLS if name not in succeeded}
    assert not failed, summary + "\n" + "\n".join(f"{n}: {r.get('error')}\n{r.get('trace', '')}" for n, r in failed.items())
