"""The GOPAX emulator is strict where GOPAX is: auth, nonces, timestamps, rate limits; and the
`emulate` command and an emulated config run end to end in subprocesses."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from adapters.gopax.auth import GopaxAuth
from adapters.gopax.emulator import GopaxEmulator
from engine.app.config import load_config
from engine.app.session import run_plan
from tests.helpers import REPO, emulate

from .conftest import ScriptedNonces, bounded

Tamper = Callable[[dict[str, str], GopaxEmulator], dict[str, str]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, emulator: GopaxEmulator, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with http.get(emulator.url + path, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_a_correct_signature_in_either_scheme_is_accepted(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    current = GopaxAuth(emulator.api_key, emulator.secret).headers("GET", "/balances", "", b"")
    legacy = GopaxAuth(emulator.legacy_api_key, emulator.legacy_secret, scheme="legacy").headers("GET", "/balances", "", b"")

    assert (await call(http, emulator, "/balances", current))[0] == 200
    assert (await call(http, emulator, "/balances", legacy))[0] == 200


async def test_get_orders_must_sign_its_query_string_in_the_current_scheme(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    auth = GopaxAuth(emulator.api_key, emulator.secret)
    signed_without_query = auth.headers("GET", "/orders", "", b"")
    signed_with_query = auth.headers("GET", "/orders", "includePast=true", b"")

    assert await call(http, emulator, "/orders?includePast=true", signed_without_query) == (
        401, {"errorMessage": "Invalid Signature", "errorCode": 10229},
    )
    assert (await call(http, emulator, "/orders?includePast=true", signed_with_query))[0] == 200


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        (lambda h, emu: {**h, "signature": h["signature"][:-4] + "AAA="}, 401, 10229),
        (lambda h, emu: {**h, "api-key": "f" * 64}, 401, 10155),
        (lambda h, emu: {k: v for k, v in h.items() if k != "api-key"}, 401, 10230),
        (lambda h, emu: {k: v for k, v in h.items() if k != "timestamp"}, 400, 10231),
        (lambda h, emu: {**h, "nonce": "123"}, 400, 10265),
    ],
)
async def test_bad_auth_gets_gopaxs_code_and_status(
    emulator: GopaxEmulator, http: aiohttp.ClientSession, tamper: Tamper, status: int, code: int
) -> None:
    headers = GopaxAuth(emulator.api_key, emulator.secret).headers("GET", "/balances", "", b"")

    got = await call(http, emulator, "/balances", tamper(headers, emulator))

    assert got[0] == status and got[1]["errorCode"] == code


@pytest.mark.parametrize(("skew_ms", "code"), [(-120_000, 10263), (120_000, 10264)])
async def test_a_stale_or_future_timestamp_is_refused(emulator: GopaxEmulator, http: aiohttp.ClientSession, skew_ms: int, code: int) -> None:
    auth = GopaxAuth(emulator.api_key, emulator.secret, now_ms=lambda: now_ms() + skew_ms)

    got = await call(http, emulator, "/balances", auth.headers("GET", "/balances", "", b""))

    assert got == (401, {"errorMessage": "Timestamp Too Low" if code == 10263 else "Timestamp Too High", "errorCode": code})


async def test_a_timestamp_goes_stale_when_the_emulators_clock_moves_on(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    headers = GopaxAuth(emulator.api_key, emulator.secret).headers("GET", "/balances", "", b"")
    emulator.clock.advance(61)

    assert (await call(http, emulator, "/balances", headers))[1]["errorCode"] == 10263


async def test_a_reused_or_lower_nonce_is_refused(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    auth = GopaxAuth(emulator.legacy_api_key, emulator.legacy_secret, scheme="legacy", nonces=ScriptedNonces(500, 500, 499, 501))

    statuses = [await call(http, emulator, "/balances", auth.headers("GET", "/balances", "", b"")) for _ in range(4)]

    assert [s[0] for s in statuses] == [200, 401, 401, 200]
    assert statuses[1][1] == statuses[2][1] == {"errorMessage": "Nonce Too Low", "errorCode": 10108}


async def test_a_body_changed_after_signing_is_refused(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    body = b'{"tradingPairName":"BTC-KRW","side":"buy","type":"market","amount":10000}'
    headers = GopaxAuth(emulator.api_key, emulator.secret).headers("POST", "/orders", "", body)

    async with http.post(emulator.url + "/orders", data=body.replace(b"10000", b"90000"), headers=headers) as resp:
        assert (resp.status, (await resp.json())["errorCode"]) == (401, 10229)
    assert emulator.exchange.orders("demo") == []


async def test_the_21st_public_call_within_a_second_gets_429(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    async def one() -> int:
        async with http.get(emulator.url + "/time") as resp:
            return resp.status

    statuses = await bounded(asyncio.gather(*(one() for _ in range(21))))

    assert sorted(statuses) == [200] * 20 + [429]


async def test_the_book_allows_one_call_a_second(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    first = await call(http, emulator, "/trading-pairs/BTC-KRW/book?level=1", {})
    second = await call(http, emulator, "/trading-pairs/BTC-KRW/book?level=1", {})

    assert first[0] == 200 and second == (429, {"errorMessage": "Rate Limit Exceeded", "errorCode": 10105})


async def test_private_limits_count_per_key_not_per_ip(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    current = GopaxAuth(emulator.api_key, emulator.secret)
    legacy = GopaxAuth(emulator.legacy_api_key, emulator.legacy_secret, scheme="legacy")

    spent = [await call(http, emulator, "/balances", current.headers("GET", "/balances", "", b"")) for _ in range(21)]
    other_key = await call(http, emulator, "/balances", legacy.headers("GET", "/balances", "", b""))

    assert [s[0] for s in spent].count(429) == 1 and other_key[0] == 200


# --- subprocesses ------------------------------------------------------------------------------


async def test_the_emulate_command_prints_its_address_first_then_serves_until_sigterm() -> None:
    async with emulate("gopax", "--seed", "5") as child:
        info = child.info
        auth = GopaxAuth(info["credentials"]["api_key"], info["credentials"]["secret"])
        async with aiohttp.ClientSession() as http:
            async with http.get(info["url"] + "/trading-pairs") as resp:
                pairs = await resp.json()
            async with http.get(info["url"] + "/balances", headers=auth.headers("GET", "/balances", "", b"")) as resp:
                balances = await resp.json()
        code = await child.terminate()
    stderr = child.stderr

    assert info["venue"] == "gopax" and info["url"].startswith("http://127.0.0.1:")
    assert info["ws_url"] == info["url"].replace("http", "ws") + "/ws"
    assert {p["name"] for p in pairs} == {"BTC-KRW", "ETH-KRW", "XRP-KRW"}
    assert {b["asset"]: b["avail"] for b in balances}["KRW"] == 100_000_000
    assert code == 0
    assert "/trading-pairs" in stderr and info["credentials"]["secret"] not in stderr


async def test_the_emulated_config_trades_live_through_the_whole_adapter_path(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "run.py"), str(REPO / "configs" / "gopax_emulated.yaml"),
        "--duration", "8", "--log-format", "json",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await bounded(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    summary = json.loads(stdout.decode().strip().splitlines()[-1])

    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert summary["mode"] == "live" and summary["fills"] > 0
    assert summary["orders"].get("completed", 0) > 0 and "rejected" not in summary["orders"]
    assert summary["orders_engine"]["refused_transitions"] == 0
    requests = summary["requests"]["gopax"]  # the venue's REST traffic, in the summary
    assert requests["requests"] == sum(requests["statuses"].values()) and requests["statuses"]["200"] > 0
    assert "429" not in requests["statuses"]
    private = requests["limiters"]["private"]  # the 20 calls per second per key
    assert 0 < private["peak"] <= private["limit"] and private["calls"] > 0


async def test_the_paper_config_runs_on_gopax_market_data_without_credentials(emulator: GopaxEmulator, tmp_path: Path) -> None:
    plan = load_config(REPO / "configs" / "gopax_paper.yaml")
    venue = plan.venues["gopax"]
    venue.config = msgspec.structs.replace(venue.config, url=emulator.url, ws_url=emulator.ws_url)  # not the internet
    plan.config = msgspec.structs.replace(plan.config, journal=None, state_dir=str(tmp_path), progress_s=0)

    summary = await bounded(run_plan(plan, duration_s=2, handle_signals=False), 30)

    assert summary["mode"] == "paper" and summary["stop_reason"] == "duration of 2s reached"
    assert summary["bus"]["published"] > 20 and summary["bus"]["handler_errors"] == 0
    assert emulator.sockets.logins == 0 and emulator.requests["GET /balances"] == 0  # public only
    assert {b["venue"] for b in summary["balances"]} == {"paper"}


async def test_the_legacy_scheme_never_signs_a_query_string(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    nonces = ScriptedNonces(10, 11)
    auth = GopaxAuth(emulator.legacy_api_key, emulator.legacy_secret, scheme="legacy", nonces=nonces)
    signed_with_query = {**auth.headers("GET", "/orders", "", b"")}
    from adapters.gopax.auth import legacy_prehash, secret_key, sign

    signed_with_query["SIGNATURE"] = sign(secret_key(emulator.legacy_secret), legacy_prehash("10", "GET", "/orders?includePast=true", ""))
    signed_without = auth.headers("GET", "/orders", "includePast=true", b"")

    refused = await call(http, emulator, "/orders?includePast=true", signed_with_query)
    accepted = await call(http, emulator, "/orders?includePast=true", signed_without)

    assert refused == (401, {"errorMessage": "Invalid Signature", "errorCode": 10229})
    assert accepted[0] == 200


async def test_trading_pairs_always_carry_both_scales_on_the_wire(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    status, pairs = await call(http, emulator, "/trading-pairs", {})

    krw = next(p for p in pairs if p["name"] == "BTC-KRW")
    assert status == 200 and (krw["baseAssetScale"], krw["quoteAssetScale"]) == (8, 0)  # the defaults once left off


async def test_a_placed_order_carries_its_status_word_on_the_wire(emulator: GopaxEmulator, http: aiohttp.ClientSession) -> None:
    auth = GopaxAuth(emulator.api_key, emulator.secret)
    body = b'{"tradingPairName":"BTC-KRW","side":"buy","type":"limit","price":"1000000","amount":"0.01"}'
    async with http.post(emulator.url + "/orders", data=body, headers=auth.headers("POST", "/orders", "", body)) as resp:
        placed = await resp.json()
    path = f"/orders/{placed['id']}"

    got = await call(http, emulator, path, auth.headers("GET", path, "", b""))

    assert (placed["status"], got[1]["status"]) == ("placed", "placed")
    assert "clientOrderId" not in got[1] and "stopPrice" not in got[1]  # absent unless set, as at GOPAX
