"""Auth tokens and the gateway secret, over real sockets: the seed's samples, guest and connected
tokens, a wrong secret, an expired token."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import SECRET_HEADER, TOKEN_HEADER, GatewayAuth
from adapters.smallcase.client import SmallcaseClient
from adapters.smallcase.emulator import SmallcaseEmulator
from adapters.smallcase.emulator.market import DEMO_AUTH_ID
from engine.errors import AuthError
from engine.venue import jwt

from .conftest import SEED_SECRET, bounded, make_client, opened

# The seed's published samples ("signed with secret have-a-good-day"): they are not (see
# tests/engine/test_jwt.py), and the emulator, strict, says so.
GUEST_SAMPLE = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJndWVzdCI6dHJ1ZSwiZXhwIjoyNTU2MTI0MTk5fQ."
    "PHmNnVVqhtB7sZjo5_VWlOs5p_HQzIr3qaS9CV0kiAo"
)
CONNECTED_SAMPLE = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzbWFsbGNhc2VBdXRoSWQiOiI1ZjAzMjFiNWYzNzQzYzMxZDk1YWJkMzUiLCJleHAiOjI1NTYxMjQxOTl9."
    "EC6B435Xsw02dDy_LCmHqKmEmJOqhq3f2MuSOjUmxYs"
)
ORDER = {"intent": "TRANSACTION", "orderConfig": {"type": "SECURITIES", "securities": [{"ticker": "SBIN", "quantity": 1, "type": "BUY"}]}}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def create_with(http: aiohttp.ClientSession, emulator: SmallcaseEmulator, token: str, api_secret: str | None = None) -> tuple[int, dict]:
    headers = {SECRET_HEADER: api_secret or emulator.api_secret, TOKEN_HEADER: token}
    async with http.post(f"{emulator.url}/gateway/{emulator.gateway_name}/transaction", json=ORDER, headers=headers) as resp:
        return resp.status, await resp.json()


def _payload(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest.mark.parametrize("sample", [GUEST_SAMPLE, CONNECTED_SAMPLE], ids=["guest", "connected"])
async def test_the_seeds_sample_tokens_are_refused_under_the_seeds_secret(emulator: SmallcaseEmulator, http: aiohttp.ClientSession, sample: str) -> None:
    assert emulator.secret == SEED_SECRET

    status, body = await bounded(create_with(http, emulator, sample))

    assert (status, body) == (401, {"success": False, "errors": ["invalid_jwt"], "data": None})


@pytest.mark.parametrize("sample", [GUEST_SAMPLE, CONNECTED_SAMPLE], ids=["guest", "connected"])
async def test_the_samples_payloads_signed_with_the_seeds_secret_are_accepted(emulator: SmallcaseEmulator, http: aiohttp.ClientSession, sample: str) -> None:
    remade = jwt.encode(_payload(sample), SEED_SECRET)

    status, body = await bounded(create_with(http, emulator, remade))

    assert status == 200 and body["success"] is True and body["data"]["transactionId"].startswith("TRX_")


def test_guest_and_connected_tokens_carry_the_documented_payloads_and_a_short_expiry() -> None:
    now = 1_800_000_000.0
    guest = GatewayAuth(SEED_SECRET, "api", ttl_s=60, now_s=lambda: now).token()
    connected = GatewayAuth(SEED_SECRET, "api", auth_id=DEMO_AUTH_ID, ttl_s=60, now_s=lambda: now).token()

    assert jwt.decode(guest, SEED_SECRET, now_s=now) == {"guest": True, "exp": 1_800_000_060}
    assert jwt.decode(connected, SEED_SECRET, now_s=now) == {"smallcaseAuthId": DEMO_AUTH_ID, "exp": 1_800_000_060}


def test_a_token_is_reused_until_half_its_life_is_gone_then_renewed() -> None:
    clock = [1_800_000_000.0]
    auth = GatewayAuth(SEED_SECRET, "api", ttl_s=60, now_s=lambda: clock[0])
    first = auth.token()
    clock[0] += 29
    assert auth.token() == first
    clock[0] += 1
    renewed = auth.token()
    assert renewed != first and jwt.decode(renewed, SEED_SECRET)["exp"] == 1_800_000_090


async def test_guest_and_connected_clients_both_create_transactions(emulator: SmallcaseEmulator) -> None:
    request = w.CreateTransaction("TRANSACTION", w.OrderConfig("SECURITIES", [w.Security("ITC", 1, "BUY")]))
    for auth_id in (None, DEMO_AUTH_ID):
        async with opened(make_client(emulator, auth_id=auth_id)) as client:
            created = await bounded(client.create_transaction(request))
        assert emulator.gateway.transactions[created.transactionId].auth_id == auth_id


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"api_secret": "wrong-api-secret"}, "invalid_gateway_secret"), ({"secret": "another-jwt-secret"}, "invalid_jwt")],
    ids=["wrong x-gateway-secret", "token signed with another secret"],
)
async def test_a_wrong_secret_is_refused_as_an_auth_error(emulator: SmallcaseEmulator, kwargs: dict[str, str], error: str) -> None:
    async with opened(make_client(emulator, **kwargs)) as client:
        with pytest.raises(AuthError) as err:
            await bounded(client.transaction("TRX_0"))
    assert (err.value.http_status, err.value.code) == (401, error)


async def test_an_unknown_gateway_name_is_refused(emulator: SmallcaseEmulator) -> None:
    auth = GatewayAuth(emulator.secret, emulator.api_secret)
    async with opened(SmallcaseClient("smallcase", emulator.url, "someone-else", auth, retries=0)) as client:
        with pytest.raises(AuthError) as err:
            await bounded(client.transaction("TRX_0"))
    assert err.value.code == "invalid_gateway"


async def test_a_token_past_its_exp_on_the_emulators_clock_is_refused(emulator: SmallcaseEmulator, http: aiohttp.ClientSession) -> None:
    now = emulator.clock.now_ns() / 1e9
    token = jwt.encode({"guest": True, "exp": int(now + 60)}, SEED_SECRET)
    assert (await bounded(create_with(http, emulator, token)))[0] == 200

    emulator.clock.advance(61)

    assert await bounded(create_with(http, emulator, token)) == (401, {"success": False, "errors": ["invalid_jwt"], "data": None})


async def test_a_token_without_exp_or_without_a_user_is_refused(emulator: SmallcaseEmulator, http: aiohttp.ClientSession) -> None:
    exp = int(emulator.clock.now_ns() / 1e9 + 60)
    for payload in ({"guest": True}, {"exp": exp}, {"smallcaseAuthId": "not-an-account", "exp": exp}):
        status, _ = await bounded(create_with(http, emulator, jwt.encode(payload, SEED_SECRET)))
        assert status == 401, payload


async def test_holdings_need_a_connected_user(emulator: SmallcaseEmulator) -> None:
    async with opened(make_client(emulator)) as guest, opened(make_client(emulator, auth_id="leprechaun")) as connected:
        with pytest.raises(AuthError) as err:
            await bounded(guest.holdings())
        holdings = await bounded(connected.holdings())
    assert (err.value.http_status, err.value.code) == (403, "user_not_connected")
    assert holdings.smallcaseAuthId == "leprechaun" and holdings.broker == "leprechaun"
