"""The emulator as the gateway's executable spec: transactions and their 5 minutes, the user's step,
the intents it models, the paths it serves, and `python run.py emulate smallcase`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import GatewayAuth
from adapters.smallcase.client import SmallcaseClient
from adapters.smallcase.emulator import SmallcaseEmulator
from adapters.smallcase.emulator.market import DEMO_AUTH_ID
from engine.errors import InvalidOrder, OrderNotFound, VenueError
from tests.helpers import emulate

from ..conftest import (
    OPEN_NS,
    SATURDAY_NS,
    SEED_SECRET,
    bounded,
    make_client,
    opened,
    started,
)

BASKET = w.CreateTransaction(
    "TRANSACTION", w.OrderConfig("SECURITIES", [w.Security("RELIANCE", 4, "BUY"), w.Security("TCS", 2, "BUY")]),
)


@pytest.fixture
async def real_client(real_emulator: SmallcaseEmulator) -> AsyncIterator[SmallcaseClient]:
    async with opened(make_client(real_emulator)) as c:
        yield c


async def sdk(emulator: SmallcaseEmulator, transaction_id: str, **body: str) -> tuple[int, dict]:
    """The user acting at the SDK step (POST to the link)."""
    url = f"{emulator.url}/sdk/{emulator.gateway_name}/{transaction_id}"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        return resp.status, await resp.json()


async def open_link(emulator: SmallcaseEmulator, transaction_id: str) -> int:
    """The partner's page opening the SDK with the transaction (GET the link)."""
    url = f"{emulator.url}/sdk/{emulator.gateway_name}/{transaction_id}"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status


async def test_a_transaction_used_within_five_minutes_completes_and_shows_its_orders(real_emulator: SmallcaseEmulator, real_client: SmallcaseClient) -> None:
    created = await bounded(real_client.create_transaction(BASKET))
    assert (await bounded(real_client.transaction(created.transactionId))).status == "INITIALIZED"
    assert (await bounded(real_client.order_details(created.transactionId))).orderBatches == []
    real_emulator.clock.advance(299)

    status, result = await bounded(sdk(real_emulator, created.transactionId))

    assert status == 200 and result["data"]["status"] == "COMPLETED"
    details = await bounded(real_client.order_details(created.transactionId))
    (batch,) = details.orderBatches
    assert batch.status == "COMPLETED" and sorted((o.tradingsymbol, o.filledQuantity) for o in batch.orders) == [("RELIANCE", 4), ("TCS", 2)]


async def test_a_transaction_used_after_five_minutes_is_expired(real_emulator: SmallcaseEmulator, real_client: SmallcaseClient) -> None:
    created = await bounded(real_client.create_transaction(BASKET))
    real_emulator.clock.advance(301)
    assert (await bounded(real_client.transaction(created.transactionId))).status == "INITIALIZED"

    status, result = await bounded(sdk(real_emulator, created.transactionId))

    assert (status, result["errorMessage"], result["errorCode"]) == (400, "transaction_expired", w.SDK_ERROR_CODES["transaction_expired"])
    details = await bounded(real_client.transaction(created.transactionId))
    assert details.status == "ERRORED" and details.error is not None and details.error.message == "transaction_expired"


async def test_the_user_can_cancel_or_deny_at_the_sdk_step(real_emulator: SmallcaseEmulator, real_client: SmallcaseClient) -> None:
    for action, error in (("cancel", "user_cancelled"), ("deny", "consent_denied")):
        created = await bounded(real_client.create_transaction(BASKET))
        status, result = await bounded(sdk(real_emulator, created.transactionId, action=action))
        assert (status, result["errorMessage"]) == (400, error)
        assert (await bounded(sdk(real_emulator, created.transactionId)))[0] == 409  # used once only


async def test_both_status_paths_answer_the_same(real_emulator: SmallcaseEmulator, real_client: SmallcaseClient) -> None:
    created = await bounded(real_client.create_transaction(BASKET))
    auth = real_client.auth
    url = f"{real_emulator.url}/gateway/{real_emulator.gateway_name}/transaction/{created.transactionId}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=auth.headers()) as resp:
        other = w.decode_transaction(await resp.read())

    assert other.data is not None and other.data.transactionDetails == await bounded(real_client.transaction(created.transactionId))


async def test_an_unknown_transaction_is_not_found(client: SmallcaseClient) -> None:
    with pytest.raises(OrderNotFound) as err:
        await bounded(client.transaction("TRX_" + "0" * 32))
    assert err.value.code == "invalid_transactionId"


@pytest.mark.parametrize(
    "request_",
    [
        w.CreateTransaction("TRANSACTION"),
        w.CreateTransaction("TRANSACTION", w.OrderConfig("SECURITIES", [])),
        w.CreateTransaction("TRANSACTION", w.OrderConfig("SECURITIES", [w.Security("SBIN", 1, "BUY"), w.Security("ITC")])),
        w.CreateTransaction("TRANSACTION", w.OrderConfig("SECURITIES", [w.Security("SBIN", 0, "BUY")])),
        w.CreateTransaction("SIP_SETUP"),
    ],
    ids=["no order config", "no securities", "quantity and type not all-or-none", "zero quantity", "intent not modelled"],
)
async def test_malformed_transactions_are_refused(client: SmallcaseClient, request_: w.CreateTransaction) -> None:
    with pytest.raises(InvalidOrder):
        await bounded(client.create_transaction(request_))


async def test_connect_and_holdings_import_complete_for_a_leprechaun_user_whose_holdings_show_the_buys(emulator: SmallcaseEmulator) -> None:
    async with opened(make_client(emulator, auth_id="leprechaun-partial-fill")) as user:
        connect = await bounded(user.create_transaction(w.CreateTransaction("CONNECT")))
        buy = await bounded(user.create_transaction(w.CreateTransaction(
            "TRANSACTION", w.OrderConfig("SECURITIES", [w.Security("LT", 8, "BUY")]))))
        imported = await bounded(user.create_transaction(w.CreateTransaction("HOLDINGS_IMPORT")))
        for txid in (connect.transactionId, buy.transactionId, imported.transactionId):
            assert await bounded(open_link(emulator, txid)) == 200
            await wait_status(user, txid, "COMPLETED")
        holdings = await bounded(user.holdings())
    assert emulator.gateway.transactions[connect.transactionId].auth_id == "leprechaun-partial-fill"
    (lt,) = holdings.securities
    assert lt.nseTicker == "LT" and lt.holdings.quantity == 4 and lt.holdings.averagePrice > 0


async def test_a_leprechaun_transaction_waits_until_its_sdk_link_is_opened(emulator: SmallcaseEmulator, client: SmallcaseClient) -> None:
    created = await bounded(client.create_transaction(BASKET))
    other = await bounded(client.create_transaction(BASKET))

    assert await bounded(open_link(emulator, created.transactionId)) == 200
    await wait_status(client, created.transactionId, "COMPLETED")

    assert (await bounded(client.transaction(other.transactionId))).status == "INITIALIZED"  # never opened


@pytest.mark.parametrize("pause_at", ["USED", "ACTION_REQUIRED", "PROCESSING"])
async def test_a_step_paused_half_way_shows_its_state_and_finishes_after_the_five_minutes(
    real_emulator: SmallcaseEmulator, real_client: SmallcaseClient, pause_at: str,
) -> None:
    real_emulator.pause_at = pause_at
    created = await bounded(real_client.create_transaction(BASKET))
    status, result = await bounded(sdk(real_emulator, created.transactionId))
    assert (status, result["data"]["status"]) == (200, pause_at)
    real_emulator.clock.advance(600)

    assert (await bounded(real_client.transaction(created.transactionId))).status == pause_at
    assert (await bounded(real_client.order_details(created.transactionId))).orderBatches == []  # COMPLETED only

    status, result = await bounded(sdk(real_emulator, created.transactionId))  # the user comes back
    assert (status, result["data"]["status"]) == (200, "COMPLETED")
    (batch,) = (await bounded(real_client.order_details(created.transactionId))).orderBatches
    assert batch.status == "COMPLETED"


async def test_a_404_fault_is_a_proxys_answer_not_the_gateways(real_emulator: SmallcaseEmulator, real_client: SmallcaseClient) -> None:
    real_emulator.faults.burst_status, real_emulator.faults.burst_5xx = 404, 1

    with pytest.raises(VenueError) as err:
        await bounded(real_client.transaction("TRX_" + "0" * 32))

    assert not isinstance(err.value, OrderNotFound) and (err.value.http_status, err.value.code) == (404, None)


@pytest.mark.parametrize(
    ("hours", "start_ns", "auth_id", "status"),
    [
        ("nse", OPEN_NS, "leprechaun", "COMPLETED"),
        ("nse", SATURDAY_NS, "leprechaun", "ERRORED"),
        ("open", SATURDAY_NS, "leprechaun", "COMPLETED"),
        ("closed", OPEN_NS, "leprechaun", "ERRORED"),
        ("open", SATURDAY_NS, DEMO_AUTH_ID, "ERRORED"),  # a broker account keeps NSE's hours
    ],
    ids=["nse-open", "nse-saturday", "open-saturday", "closed-friday", "demo-account-saturday"],
)
async def test_leprechaun_market_hours_are_a_setting(hours: str, start_ns: int, auth_id: str, status: str) -> None:
    emulator = await started(SmallcaseEmulator(seed=8, secret=SEED_SECRET, leprechaun=True, start_ns=start_ns,
                                               complete_delay_s=0.0, leprechaun_hours=hours))  # type: ignore[arg-type]
    try:
        async with opened(make_client(emulator, auth_id=auth_id)) as user:
            created = await bounded(user.create_transaction(BASKET))
            await bounded(sdk(emulator, created.transactionId))
            details = await bounded(user.transaction(created.transactionId))
    finally:
        await bounded(emulator.stop())
    assert details.status == status
    assert details.error is None if status == "COMPLETED" else details.error.message == "market_closed"  # type: ignore[union-attr]


async def wait_status(client: SmallcaseClient, transaction_id: str, status: str) -> None:
    for _ in range(400):
        if (await bounded(client.transaction(transaction_id))).status == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{transaction_id} never reached {status}")


async def test_emulate_prints_its_address_first_and_its_credentials_work_until_sigterm() -> None:
    async with emulate("smallcase", "--seed", "4") as child:
        info = child.info
        creds = info["credentials"]
        auth = GatewayAuth(creds["secret"], creds["api_secret"])
        async with opened(SmallcaseClient("smallcase", info["url"], creds["gateway_name"], auth)) as client:
            created = await bounded(client.create_transaction(BASKET))
        code = await child.terminate()
    assert info["venue"] == "smallcase" and info["url"].startswith("http://127.0.0.1:")
    assert creds["link_template"] == info["url"] + "/sdk/{gateway}/{transaction_id}"
    assert created.transactionId.startswith("TRX_") and code == 0
