"""Firstock's session: the password hash and the TOTP, the emulator's strict login (HTTP 200 with a
failed body), the jKey in every body, and the state machine across the daily roll-over and a
refused jKey, with orders waiting while it logs in again, and the logout on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.firstock.auth import SessionState, next_session_end, password_hash, totp_code
from adapters.firstock.client import FirstockClient
from adapters.firstock.emulator import FirstockEmulator
from engine.errors import AuthError
from engine.events import OrderStatus as S
from engine.events import Side
from tests.adapters._india_fixtures import ist, submit

from .conftest import THURSDAY_EVENING, bounded, credentials, start_venue, ticks_away, until

Make = Callable[..., Awaitable[FirstockEmulator]]
NS = 1_000_000_000


def test_the_password_is_its_sha256_hex_and_the_totp_is_rfc_6238() -> None:
    assert password_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    # RFC 6238's SHA-1 test secret ("12345678901234567890") at T = 59 s: 94287082, six digits 287082
    assert totp_code("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59 * NS) == "287082"


def test_a_jkey_rolls_over_at_the_next_three_oclock_ist() -> None:
    assert next_session_end(ist(2026, 11, 19, 16, 0), time(3, 0)) == ist(2026, 11, 20, 3, 0)
    assert next_session_end(ist(2026, 11, 20, 2, 59), time(3, 0)) == ist(2026, 11, 20, 3, 0)
    assert next_session_end(ist(2026, 11, 20, 3, 0), time(3, 0)) == ist(2026, 11, 21, 3, 0)


async def test_login_makes_a_live_session_until_the_roll_over(client: FirstockClient, emulator: FirstockEmulator) -> None:
    await bounded(client.auth.start())
    assert client.auth.state is SessionState.LIVE and client.auth.account == emulator.user_id
    assert client.auth.expires_ns == ist(2026, 11, 21, 3, 0)
    assert list(client.auth.history) == [SessionState.LOGGED_OUT, SessionState.LOGGING_IN, SessionState.LIVE]


@pytest.mark.parametrize(("change", "field", "name"), [
    ({"password": "not the password"}, "password", "INVALID_CREDENTIALS"),
    ({"totp_stale": "1"}, "TOTP", "INVALID_TOTP"),
    ({"vendorCode": "SOMEONE_ELSE"}, "vendorCode", "INVALID_VENDOR_CODE"),
    ({"apiKey": "0" * 32}, "apiKey", "INVALID_API_KEY"),
])
async def test_a_wrong_hash_a_stale_totp_an_unknown_vendor_or_a_wrong_key_is_refused_with_http_200(
    emulator: FirstockEmulator, change: dict[str, str], field: str, name: str
) -> None:
    now = emulator.clock.now_ns()
    body: dict[str, Any] = {
        "userId": emulator.user_id, "password": password_hash(change.get("password", emulator.password)),
        "TOTP": totp_code(emulator.totp_secret, now - (300 * NS if "totp_stale" in change else 0)),
        "vendorCode": change.get("vendorCode", emulator.vendor_code), "apiKey": change.get("apiKey", emulator.api_key),
    }
    async with aiohttp.ClientSession() as http, http.post(f"{emulator.url}/V1/login", json=body) as resp:
        status, answer = resp.status, await resp.json()
    assert status == 200  # the public client calls raise_for_status on login
    assert answer["status"] == "failed" and answer["name"] == name and answer["error"]["field"] == field
    assert emulator.logins == 0 and emulator.refused_logins == [name]


async def test_every_call_needs_the_users_live_jkey_in_its_body(client: FirstockClient, emulator: FirstockEmulator) -> None:
    jkey = await bounded(client.auth.token())
    async with aiohttp.ClientSession() as http:
        answers = []
        for body in ({"userId": emulator.user_id}, {"userId": emulator.user_id, "jKey": "f" * 64},
                     {"userId": "SOMEONE", "jKey": jkey}, {"userId": emulator.user_id, "jkey": jkey}):
            async with http.post(f"{emulator.url}/V1/orderBook", json=body) as resp:
                answers.append((resp.status, (await resp.json())["status"]))
    assert answers == [(401, "failed"), (401, "failed"), (401, "failed"), (200, "success")]  # `jkey` as the Go client spells it


async def test_a_refused_login_is_one_auth_error_and_not_tried_again_at_once(emulator: FirstockEmulator) -> None:
    c = FirstockClient("firstock", emulator.url, credentials=credentials(emulator, password="wrong"),
                       now_ns=emulator.clock.now_ns, login_retry_s=60.0)
    await c.start()
    try:
        with pytest.raises(AuthError, match="Invalid userId or password"):
            await bounded(c.auth.start())
        for _ in range(3):
            with pytest.raises(AuthError):
                await bounded(c.order_book())
    finally:
        await c.close()
    assert emulator.refused_logins == ["INVALID_CREDENTIALS"]  # one login, not four
    assert c.auth.state is SessionState.LOGGED_OUT


async def test_crossing_the_daily_roll_over_logs_in_again_and_no_order_is_lost(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    h = await start_venue(emulator, tmp_path)  # on the emulator's clock
    inst = "firstock:NSE:RELIANCE"
    try:
        price = ticks_away(emulator, "NSE:RELIANCE", 60)  # above the market: fills at the open
        first = submit(h, inst, Side.BUY, 3, price, after_market=True)
        await until(lambda: h.order(first.client_order_id).status is S.PLACED)
        emulator.clock.set(ist(2026, 11, 20, 3, 1))  # the first jKey rolled over
        second = submit(h, inst, Side.BUY, 2, price, after_market=True)
        await until(lambda: h.order(second.client_order_id).status is S.PLACED)
        emulator.clock.set(ist(2026, 11, 20, 9, 15, 1))  # the open: both orders reach the market
        await until(lambda: all(h.order(o.client_order_id).status is S.COMPLETED for o in (first, second)))
        await until(lambda: all(h.order(o.client_order_id).filled_qty == o.qty for o in (first, second)))
    finally:
        await h.close()
    session = h.venue.client.auth  # type: ignore[union-attr]
    assert emulator.logins == 2 and emulator.orders[h.order(second.client_order_id).venue_order_id].session == emulator.issued[1]
    assert SessionState.EXPIRED in session.history and session.expires_ns == ist(2026, 11, 21, 3, 0)
    assert h.order(first.client_order_id).after_market and h.order(second.client_order_id).after_market


async def test_a_refused_jkey_logs_in_once_and_the_request_goes_again(emulator: FirstockEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, mode="paper")
    try:
        emulator.expire_sessions()
        rows = await bounded(h.venue.open_orders())
        balances = await bounded(h.venue.balances())
    finally:
        await h.close()
    assert rows == [] and balances[0].free == Decimal(10_000_000)
    assert emulator.unauthorized == 1 and emulator.logins == 2
    assert h.venue.client.auth.rejections == 1  # type: ignore[union-attr]


async def test_orders_wait_while_the_session_logs_in_again_instead_of_failing(emulator: FirstockEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, poll_s=60.0)
    gate = emulator.login_gate = asyncio.Event()
    session = h.venue.client.auth  # type: ignore[union-attr]
    try:
        emulator.expire_sessions()  # the socket is closed too: its reconnect asks for a login
        await until(lambda: session.state is SessionState.LOGGING_IN)  # held at the gate
        order = submit(h, "firstock:NSE:SBIN", Side.BUY, 1, ticks_away(emulator, "NSE:SBIN", -20))
        for _ in range(20):
            await asyncio.sleep(0.01)
        held = (h.order(order.client_order_id).status, len(emulator.orders))
        gate.set()
        await until(lambda: h.order(order.client_order_id).status is S.PLACED)
    finally:
        gate.set()
        await h.close()
    assert held == (S.SUBMITTED, 0)  # waiting, not failed
    assert emulator.orders[h.order(order.client_order_id).venue_order_id].session == emulator.issued[-1]
    assert emulator.logins == 2


async def test_stopping_logs_out(emulator: FirstockEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, mode="paper")
    jkey = emulator.issued[-1]
    await h.close()
    assert emulator.sessions[jkey].ended == "logged out"
    assert h.venue.client.auth.state is SessionState.LOGGED_OUT  # type: ignore[union-attr]


async def test_a_totp_code_alone_logs_in_once_and_a_refused_renewal_says_to_set_the_secret(emulator: FirstockEmulator) -> None:
    code = totp_code(emulator.totp_secret, emulator.clock.now_ns())
    c = FirstockClient("firstock", emulator.url, credentials=credentials(emulator, totp_secret="", totp=code),
                       now_ns=emulator.clock.now_ns, login_retry_s=0.0)
    await c.start()
    try:
        assert await bounded(c.order_book()) == []
        emulator.clock.advance(600)  # the code is stale now
        emulator.expire_sessions()
        with pytest.raises(AuthError, match="set totp_secret"):
            await bounded(c.order_book())
    finally:
        await c.close()
    assert emulator.logins == 1 and emulator.refused_logins == ["INVALID_TOTP"]


