"""Contract test: ccxt 1.50.1's unmodified `gopax` client against the GOPAX emulator.

The client lives in a throwaway venv (tests/public_clients.py, cached between runs) and runs once
per module in a subprocess (ccxt_driver.py) pointed at the emulator on loopback. Each call is its
own test, passing when ccxt judges the call a success and the facts it read are the emulator's;
"N of M calls succeed" is printed in pytest's terminal summary. No install possible: skipped, with
the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.gopax.emulator import GopaxEmulator
from tests.public_clients import VenvError, client_venv, run_script

from .conftest import CCXT_SUMMARY, bounded

CCXT = "ccxt-1.50.1"
STEPS = [["requests", "certifi", "cryptography"], ["--no-deps", "ccxt==1.50.1"]]
DRIVER = Path(__file__).with_name("ccxt_driver.py")
RUN_TIMEOUT_S = 60.0
CALLS = [
    "load_markets", "fetch_ticker", "fetch_order_book", "fetch_trades", "fetch_time", "fetch_tickers", "fetch_ohlcv",
    "fetch_balance", "create_order", "fetch_order", "fetch_open_orders", "cancel_order", "fetch_order_cancelled",
    "fetch_orders_past", "create_order_client_id", "fetch_order_client_id", "cancel_order_client_id",
    "fetch_order_client_id_cancelled", "fetch_order_unknown", "create_market_order", "fetch_filled_order",
    "create_market_buy_order", "fetch_my_trades",
]


@pytest.fixture(scope="module")
def ccxt_python() -> Path:
    try:
        return client_venv(CCXT, STEPS)
    except VenvError as exc:
        pytest.skip(f"ccxt 1.50.1 not installable: {exc}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ccxt_rows(ccxt_python: Path, request: pytest.FixtureRequest) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """One run of the driver against a fresh emulator: its rows by call name."""
    emu = GopaxEmulator(seed=7, tick_interval_s=0.02)
    await bounded(emu.start())
    try:
        args = [emu.url.rstrip("/"), emu.api_key, emu.secret]
        done = await asyncio.to_thread(run_script, ccxt_python, DRIVER, args, timeout_s=RUN_TIMEOUT_S)
    finally:
        await bounded(emu.stop())
    assert done.returncode == 0, f"driver exited {done.returncode}: {done.stderr[-2000:]}"
    rows = {row["call"]: row for row in map(json.loads, done.stdout.splitlines()) if isinstance(row, dict)}
    succeeded = sum(1 for name in CALLS if rows.get(name, {}).get("ok"))
    request.config.stash[CCXT_SUMMARY] = f"ccxt 1.50.1 gopax against the emulator: {succeeded} of {len(CALLS)} calls succeed"
    yield rows


def test_ccxt_driver_makes_every_call_and_no_other(ccxt_rows: dict[str, dict[str, Any]]) -> None:
    assert sorted(ccxt_rows) == sorted(CALLS)


@pytest.mark.parametrize("call", CALLS)
def test_ccxt_gopax_call_succeeds_against_the_emulator(ccxt_rows: dict[str, dict[str, Any]], call: str) -> None:
    row = ccxt_rows.get(call, {"error": "never made"})
    facts = json.dumps({k: v for k, v in row.items() if k not in ("trace", "call", "ok", "error")}, default=str)
    assert row.get("ok"), f"{call}: {row.get('error')}\n{facts}\n{row.get('trace', '')}"
