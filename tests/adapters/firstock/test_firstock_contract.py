"""Contract test: Firstock's public client `firstock` 1.2.11, unmodified, against the Firstock emulator.

The client lives in a throwaway venv (tests/public_clients.py, cached between runs) and runs in a
subprocess (firstock_driver.py) in a temporary folder, pointed at the emulator on loopback, with the
emulator's clock inside NSE hours (Friday 20 November 2026, 11:00 IST). Each call is its own test,
passing when the client got Firstock's success envelope and the facts it read are the emulator's
(the refused logins: a failed envelope naming the field); "N of M calls succeed" is printed in
pytest's terminal summary. No install possible: skipped, with the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.firstock.auth import totp_code
from adapters.firstock.emulator import FirstockEmulator
from adapters.india import IST
from tests.public_clients import VenvError, client_venv, run_script

from .conftest import CONTRACT_SUMMARY, bounded

CLIENT = "firstock-1.2.11"
STEPS = [["firstock==1.2.11"]]
DRIVER = Path(__file__).with_name("firstock_driver.py")
RUN_TIMEOUT_S = 90.0
OPEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST)
CALLS = [
    "login_wrong_password", "login_stale_totp", "login", "getQuote", "placeOrder", "orderBook", "singleOrderHistory",
    "modifyOrder", "singleOrderHistory_modified", "cancelOrder", "singleOrderHistory_cancelled", "placeOrder_marketable",
    "tradeBook", "positionBook", "holdings", "limit", "websocket", "logout",
]



@pytest.fixture(scope="module")
def firstock_python() -> Path:
    try:
        return client_venv(CLIENT, STEPS)
    except VenvError as exc:
        pytest.skip(f"firstock 1.2.11 not installable: {exc}")




async def drive(python: Path, folder: Path) -> tuple[dict[str, dict[str, Any]], list[bytes]]:
    emu = FirstockEmulator(seed=7, start=OPEN, tick_interval_s=0.02)
    bodies: list[bytes] = []
    original = emu.build_app

    def recording_app() -> Any:
        from aiohttp import web

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            if isinstance(response, web.Response) and response.body is not None:
                bodies.append(bytes(response.body))  # type: ignore[arg-type]
            return response

        app = original()
        app.middlewares.append(record)
        return app

    emu.build_app = recording_app  # type: ignore[method-assign]
    await bounded(emu.start())
    try:
        now = emu.clock.now_ns()
        totp, stale = totp_code(emu.totp_secret, now), totp_code(emu.totp_secret, now - 300 * 1_000_000_000)
        args = [emu.url, emu.user_id, emu.password, totp, stale, emu.vendor_code, emu.api_key]
        done = await asyncio.to_thread(run_script, python, DRIVER, args, timeout_s=RUN_TIMEOUT_S, cwd=folder)
    finally:
        await bounded(emu.stop())
    assert done.returncode == 0, f"driver exited {done.returncode}: {done.stderr[-2000:]}"
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"call"')]
    return {row["call"]: row for row in map(json.loads, lines)}, bodies


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def contract(firstock_python: Path, tmp_path_factory: pytest.TempPathFactory,
                   request: pytest.FixtureRequest) -> AsyncIterator[tuple[dict[str, dict[str, Any]], list[bytes]]]:
    rows, bodies = await drive(firstock_python, tmp_path_factory.mktemp("firstock-client"))
    ok = sum(1 for c in CALLS if rows.get(c, {}).get("ok"))
    summary = f"firstock 1.2.11 against the Firstock emulator: {ok} of {len(CALLS)} calls succeed"
    print(summary)
    request.config.stash[CONTRACT_SUMMARY] = summary
    yield rows, bodies


def test_the_driver_makes_every_call_and_no_other(contract: tuple[dict[str, dict[str, Any]], list[bytes]]) -> None:
    assert sorted(contract[0]) == sorted(CALLS)


@pytest.mark.parametrize("call", CALLS)
def test_a_firstock_call_succeeds_against_the_emulator(contract: tuple[dict[str, dict[str, Any]], list[bytes]], call: str) -> None:
    row = contract[0].get(call, {"error": "never made"})
    facts = json.dumps({k: v for k, v in row.items() if k not in ("trace", "call", "ok", "error")}, default=str)[:2000]
    assert row.get("ok"), f"{call}: {row.get('error')}\n{facts}\n{row.get('trace', '')}"


def test_no_answer_holds_a_json_literal_the_client_cannot_parse(contract: tuple[dict[str, dict[str, Any]], list[bytes]]) -> None:
    bodies = contract[1]
    assert bodies
    for body in bodies:
        decoded = json.loads(body)
        assert not _literals(decoded), body[:300]


def _literals(value: Any) -> bool:
    if value is True or value is False or value is None:
        return True
    if isinstance(value, dict):
        return any(_literals(v) for v in value.values())
    if isinstance(value, list):
        return any(_literals(v) for v in value)
    return False
