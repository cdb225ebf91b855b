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
from engine.errors import InvalidOrder, OrderNotFound

from tests.helpers import emulate

from .conftest import bounded, make_client, opened
BASKET = w.CreateTransaction(
    "TRANSACTION", w.OrderConfig("SECURITIES", [w.Security("RELIANCE", 4, "BUY"), w.Security("TCS", 2, "BUY")]),
)


@pytest.fixture
async def real_client(real_emulator: SmallcaseEmulator) -> AsyncIterator[SmallcaseClient]:
    async with opened(make_client(real_emulator)) as c:
        yield c


async def sdk(emulator: SmallcaseEmulator, transaction_id: str, **body: str) -> tuple[int, dict]:
    url = f"{emulator.url}/sdk/{emulator.gateway_name}/{transaction_id}"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        return resp.status, await resp.json()


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
            await wait_status(user, txid, "COMPLETED")
        holdings = await bounded(user.holdings())
    assert emulator.gateway.transactions[connect.transactionId].auth_id == "leprechaun-partial-fill"
    (lt,) = holdings.securities
    assert lt.nseTicker == "LT" and lt.holdings.quantity == 4 and lt.holdings.averagePrice > 0


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
