"""The session token's life: login, expiry at 08:00 IST of the next day, renewal ahead of it and
after a 401, orders waiting for a renewal, and refusals that are not retried in a loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from adapters.india import IST
from adapters.samco.auth import SessionState, session_expiry_ns
from adapters.samco.client import SamcoClient
from adapters.samco.emulator import SamcoEmulator
from engine.clock import RealtimeClock
from engine.errors import AuthError
from engine.events import OrderStatus, Side
from tests.adapters._india_fixtures import ist, submit

from .conftest import (
    OPEN_FRIDAY,
    THURSDAY_EVENING,
    bounded,
    start_venue,
    ticks_away,
    until,
)

Make = Callable[..., Awaitable[SamcoEmulator]]
S = OrderStatus


def test_a_token_lives_until_eight_on_the_next_calendar_day() -> None:
    assert session_expiry_ns(ist(2026, 11, 20, 9, 20)) == ist(2026, 11, 21, 8, 0)
    assert session_expiry_ns(ist(2026, 11, 20, 7, 50)) == ist(2026, 11, 21, 8, 0)  # not 08:00 the same day
    assert session_expiry_ns(ist(2026, 11, 20, 23, 59)) == ist(2026, 11, 21, 8, 0)


async def test_login_makes_an_active_session_that_expires_at_eight_ist(client: SamcoClient, emulator: SamcoEmulator) -> None:
    await bounded(client.auth.start())

    assert client.auth.state is SessionState.ACTIVE
    assert list(client.auth.history) == [SessionState.AUTHENTICATING, SessionState.ACTIVE]
    assert abs(client.auth.expires_ns - ist(2026, 11, 21, 8, 0)) < 2 * 10**9  # serverTime has whole seconds
    assert client.auth.account == "DEMO01" and emulator.logins == 1


async def test_the_emulator_refuses_missing_forged_and_expired_tokens(client: SamcoClient, emulator: SamcoEmulator) -> None:
    token = await bounded(client.auth.token())
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    async def status(headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        async with aiohttp.ClientSession() as http, http.get(emulator.url + "/limit/getLimits", headers=headers) as resp:
            return resp.status, await resp.json()

    missing = await status({})
    bad = await status({"x-session-token": forged})
    good = await status({"x-session-token": token})
    emulator.clock.set(ist(2026, 11, 21, 8, 0, 1))
    expired = await status({"x-session-token": token})

    assert missing[0] == bad[0] == expired[0] == 401 and good[0] == 200
    assert {missing[1]["status"], bad[1]["status"], expired[1]["status"]} == {"Failure"}
    assert expired[1]["statusMessage"].startswith("Session expired")


async def test_a_wrong_secret_is_one_auth_error_and_the_login_is_not_retried_in_a_loop(emulator: SamcoEmulator) -> None:
    client = SamcoClient("samco", emulator.url, api_key=emulator.api_key, api_secret="wrong", now_ns=emulator.clock.now_ns)
    await client.start()
    try:
        with pytest.raises(AuthError, match="Invalid API secret") as first:
            await bounded(client.auth.start())
        with pytest.raises(AuthError) as second:
            await bounded(client.order_book())
    finally:
        await client.close()

    assert first.value.http_status == 401 and first.value.code == "EOAUTH008"
    assert second.value is first.value  # the refusal remembered, not asked again
    assert emulator.requests["POST /session/token"] == 1 and emulator.requests["GET /order/orderBook"] == 0


async def test_crossing_eight_oclock_renews_ahead_and_no_order_is_lost(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    h = await start_venue(emulator, tmp_path)  # on the emulator's clock
    inst = "samco:NSE:RELIANCE"
    try:
        price = ticks_away(emulator, "NSE:RELIANCE", 60)  # well above the market: fills at the open
        first = submit(h, inst, Side.BUY, 3, price, after_market=True)
        await until(lambda: h.order(first.client_order_id).status is S.PLACED)

        emulator.clock.set(ist(2026, 11, 20, 7, 55))  # inside the renewal window
        await until(lambda: emulator.logins == 2)
        second = submit(h, inst, Side.BUY, 2, price, after_market=True)
        await until(lambda: h.order(second.client_order_id).status is S.PLACED)

        emulator.clock.set(ist(2026, 11, 20, 8, 1))  # the first token is dead now
        await bounded(h.venue.open_orders())
        emulator.clock.set(ist(2026, 11, 20, 9, 15, 1))  # the open: both orders reach the market
        await until(lambda: all(h.order(o.client_order_id).status is S.COMPLETED for o in (first, second)))
        await until(lambda: all(h.order(o.client_order_id).filled_qty == o.qty for o in (first, second)))
    finally:
        await h.close()

    session = h.venue.client.auth  # type: ignore[union-attr]
    assert SessionState.EXPIRING in session.history and session.state is SessionState.ACTIVE
    assert emulator.unauthorized == 0  # renewed before the old token died: never a 401
    assert session.expires_ns > ist(2026, 11, 21, 7, 0)  # the new token carries into Saturday
    assert h.order(first.client_order_id).after_market and h.order(second.client_order_id).after_market
    assert emulator.orders[h.order(second.client_order_id).venue_order_id].token_id == emulator.issued[1]


async def test_a_401_renews_the_session_once_and_the_request_goes_again(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    h = await start_venue(emulator, tmp_path, clock=RealtimeClock(), mode="paper")  # a clock that misses the jump
    try:
        emulator.clock.set(ist(2026, 11, 20, 8, 1))
        rows = await bounded(h.venue.open_orders())
        balances = await bounded(h.venue.balances())
    finally:
        await h.close()

    assert rows == [] and balances[0].free == Decimal(10_000_000)
    assert emulator.unauthorized == 1 and emulator.logins == 2
    assert h.venue.client.auth.rejections == 1  # type: ignore[union-attr]


async def test_orders_wait_while_the_session_renews_instead_of_failing(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    h = await start_venue(emulator, tmp_path)
    gate = emulator.login_gate = asyncio.Event()
    session = h.venue.client.auth  # type: ignore[union-attr]
    try:
        emulator.clock.set(ist(2026, 11, 20, 7, 55))
        await until(lambda: session.state is SessionState.EXPIRING)  # the renewal is held at the gate
        order = submit(h, "samco:NSE:INFY", Side.BUY, 1, Decimal("1400.00"), after_market=True)
        for _ in range(20):
            await asyncio.sleep(0.01)
        held = (h.order(order.client_order_id).status, len(emulator.orders))
        gate.set()
        await until(lambda: h.order(order.client_order_id).status is S.PLACED)
    finally:
        gate.set()
        await h.close()

    assert held == (S.SUBMITTED, 0)  # waiting, not failed
    placed = emulator.orders[h.order(order.client_order_id).venue_order_id]
    assert placed.token_id == emulator.issued[-1] and emulator.logins == 2 and emulator.unauthorized == 0


async def test_a_session_that_cannot_be_renewed_fails_calls_without_a_login_storm(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=OPEN_FRIDAY)
    h = await start_venue(emulator, tmp_path, mode="paper")
    try:
        emulator.api_secret = "revoked-in-the-dashboard"
        emulator.clock.set(ist(2026, 11, 21, 8, 0, 1))
        with pytest.raises(AuthError, match="Invalid API secret"):
            await bounded(h.venue.balances())
        for _ in range(3):
            with pytest.raises(AuthError):
                await bounded(h.venue.balances())
    finally:
        await h.close()

    assert emulator.requests["POST /session/token"] == 2  # the first login and one renewal
    assert h.venue.client.auth.state is SessionState.EXPIRED  # type: ignore[union-attr]


async def test_an_idle_session_renews_ahead_of_expiry_on_its_own(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    h = await start_venue(emulator, tmp_path, mode="paper")  # paper: no order poller calling in
    try:
        calls = sum(emulator.requests.values())
        emulator.clock.set(ist(2026, 11, 20, 7, 51))
        await until(lambda: emulator.logins == 2)
    finally:
        await h.close()

    assert sum(emulator.requests.values()) == calls + 1  # the renewal and nothing else
    assert h.venue.client.auth.state is SessionState.ACTIVE  # type: ignore[union-attr]


async def test_a_venue_that_reads_eight_oclock_as_todays_causes_no_login_storm(make_emulator: Make) -> None:
    emulator = await make_emulator(start=datetime(2026, 11, 20, 7, 0, tzinfo=IST))
    emulator.expiry_rule = "next_eight"  # a token issued before eight lives until eight the same day
    client = SamcoClient("samco", emulator.url, api_key=emulator.api_key, api_secret=emulator.api_secret,
                         now_ns=emulator.clock.now_ns, session_check_s=3600, requests_per_s=1000)
    await client.start()
    try:
        await bounded(client.auth.start())
        first_expiry = client.auth.expires_ns
        instant = ist(2026, 11, 20, 7, 49, 5)
        while instant <= ist(2026, 11, 20, 8, 0, 30):  # a call every ten seconds across eight o'clock
            emulator.clock.set(instant)
            await bounded(client.limits())
            instant += 10 * 10**9
    finally:
        await client.auth.stop()
        await client.close()

    assert abs(first_expiry - ist(2026, 11, 20, 8, 0)) < 2 * 10**9  # serverTime has whole seconds
    assert emulator.logins == 3  # the first, the renewal ahead of eight (which bought nothing), the one at eight
    assert abs(client.auth.expires_ns - ist(2026, 11, 21, 8, 0)) < 2 * 10**9 and emulator.unauthorized == 0


async def test_a_login_from_an_unregistered_address_is_refused_with_eoauth009(make_emulator: Make) -> None:
    emulator = await make_emulator(registered_ips=["203.0.113.7"])
    emulator.login_ip_check = True
    client = SamcoClient("samco", emulator.url, api_key=emulator.api_key, api_secret=emulator.api_secret, now_ns=emulator.clock.now_ns)
    await client.start()
    try:
        with pytest.raises(AuthError) as caught:
            await bounded(client.auth.start())
    finally:
        await client.auth.stop()
        await client.close()

    assert (caught.value.code, caught.value.http_status) == ("EOAUTH009", 403) and emulator.logins == 0
