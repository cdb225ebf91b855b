"""The GOPAX REST client against the emulator: every endpoint, typed errors, limits, retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from adapters.gopax import schemas as w
from adapters.gopax.client import GopaxClient, Window, error_for
from adapters.gopax.emulator import GopaxEmulator
from engine.errors import (
    AuthError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    VenueError,
    VenueUnavailable,
)

from .conftest import bounded


def far_bid(emulator: GopaxEmulator, pair: str = "BTC-KRW", ticks: int = 200) -> Decimal:
    """A bid price far below the market: it rests untouched."""
    best = emulator.books[pair].side(True, 1)[0].price
    tick = emulator.books[pair].tick
    return Decimal(int(best - ticks * tick))


async def test_public_endpoints_answer_in_gopax_shapes(client: GopaxClient) -> None:
    now_ms = int(time.time() * 1000)
    assets = await bounded(client.assets())
    pairs = await bounded(client.trading_pairs())
    ticker = await bounded(client.ticker("BTC-KRW"))
    top = await bounded(client.book("BTC-KRW", level=1))
    trades = await bounded(client.recent_trades("BTC-KRW", Window(limit=5)))
    stats = await bounded(client.stats("BTC-KRW"))
    all_stats = await bounded(client.all_stats())
    candles = await bounded(client.candles("BTC-KRW", start_ms=now_ms - 600_000, end_ms=now_ms + 60_000, interval_min=1))
    tiers = await bounded(client.price_tick_size("BTC-KRW"))
    tickers = await bounded(client.tickers())
    server_ms = await bounded(client.server_time())

    assert {"KRW", "BTC", "ETH", "XRP"} <= {a.id for a in assets}
    assert {p.name for p in pairs} == {"BTC-KRW", "ETH-KRW", "XRP-KRW"}
    assert 0 < ticker.bid < ticker.ask and ticker.time.utcoffset() is not None
    assert len(top.ask) == len(top.bid) == 1 and top.sequence is not None
    assert top.bid[0][1] < top.ask[0][1] and int(top.ask[0][0]) <= top.sequence
    assert 0 < len(trades) <= 5 and trades == sorted(trades, key=lambda t: -t.id)
    assert stats.low <= stats.close <= stats.high
    assert {s.name for s in all_stats} == {"BTC-KRW", "ETH-KRW", "XRP-KRW"}
    assert candles and all(low <= open_ <= high and low <= close <= high for _, low, high, open_, close, _ in candles)
    assert (tiers[-1].startPrice, tiers[-1].tickSize) == (Decimal(2_000_000), Decimal(1000))
    assert {t.tradingPairName for t in tickers} == {"BTC-KRW", "ETH-KRW", "XRP-KRW"}
    assert abs(server_ms - now_ms) < 60_000


async def test_book_levels_give_one_fifty_or_all_levels(client: GopaxClient) -> None:
    two = await bounded(client.book("ETH-KRW", level=2))
    every = await bounded(client.book("ETH-KRW"))

    assert len(two.bid) == len(two.ask) == 50
    assert [lv[1] for lv in two.bid] == sorted((lv[1] for lv in two.bid), reverse=True)
    assert [lv[1] for lv in two.ask] == sorted(lv[1] for lv in two.ask)
    assert len(every.bid) >= 50


async def test_private_endpoints_through_an_order_life(client: GopaxClient, emulator: GopaxEmulator) -> None:
    price = far_bid(emulator)
    request = w.OrderRequest(tradingPairName="BTC-KRW", side="buy", type="limit", amount=Decimal("0.01"), price=price, clientOrderId="life1")

    placed = await bounded(client.place(request))
    by_id = await bounded(client.order(placed.id))
    by_client_id = await bounded(client.order_by_client_id("life1"))
    open_orders = await bounded(client.orders())
    krw = await bounded(client.balance("KRW"))
    await bounded(client.cancel(placed.id))
    cancelled = await bounded(client.order(placed.id))
    past = await bounded(client.orders(include_past=True))

    assert (placed.status, placed.clientOrderId, placed.price, placed.amount) == ("placed", "life1", price, Decimal("0.01"))
    assert by_id.id == by_client_id.id == placed.id
    assert [o.id for o in open_orders] == [placed.id]
    assert krw.hold >= price * Decimal("0.01")  # the order's KRW is held
    assert cancelled.status == "cancelled" and cancelled.remaining == 0
    assert placed.id in {o.id for o in past} and placed.id not in {o.id for o in await bounded(client.orders())}


async def test_cancel_by_client_order_id_and_own_trades(client: GopaxClient, emulator: GopaxEmulator) -> None:
    rest = await bounded(client.place(w.OrderRequest(
        tradingPairName="XRP-KRW", side="buy", type="limit", amount=Decimal(10), price=far_bid(emulator, "XRP-KRW", 100),
        clientOrderId="byclient",
    )))
    await bounded(client.cancel_by_client_id("byclient"))
    bought = await bounded(client.place(w.OrderRequest(tradingPairName="XRP-KRW", side="buy", type="market", amount=Decimal(30000))))
    trades = await bounded(client.trades(Window(limit=100)))
    balances = await bounded(client.balances())

    assert (await bounded(client.order(rest.id))).status == "cancelled"
    assert bought.status == "completed" and bought.amount == Decimal(30000)  # KRW: a market buy's amount
    assert trades and {t.orderId for t in trades} == {int(bought.id)}
    assert sum(t.quoteAmount for t in trades) <= Decimal(30000)
    assert {b.asset for b in balances} >= {"KRW", "XRP"}


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.cancel("99999999"), 10069),
        (lambda c: c.order("99999999"), 10069),
        (lambda c: c.cancel("not-a-number"), 202),
        (lambda c: c.order_by_client_id("nosuchid"), 10221),
        (lambda c: c.cancel_by_client_id("nosuchid"), 10221),
    ],
)
async def test_unknown_orders_are_the_typed_not_found_error_with_gopaxs_code(
    client: GopaxClient, call: Callable[[GopaxClient], Awaitable[object]], code: int
) -> None:
    with pytest.raises(OrderNotFound) as caught:
        await bounded(call(client))

    assert caught.value.code == code and caught.value.http_status == 404


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"amount": Decimal(1000)}, InsufficientFunds, 201),
        ({"price": Decimal("100000500")}, InvalidOrder, 108),
        ({"amount": Decimal("0.000001"), "price": Decimal(100_000_000)}, InvalidOrder, 10212),
        ({"tradingPairName": "NOPE-KRW"}, InvalidOrder, 101),
        ({"type": "stop"}, InvalidOrder, 103),
        ({"timeInForce": "day"}, InvalidOrder, 10361),
        ({"clientOrderId": "way-too-long-for-gopax-0123"}, InvalidOrder, 10227),
        ({"timeInForce": "ioc", "protection": "yes"}, InvalidOrder, 206),
    ],
)
async def test_refused_orders_raise_typed_errors_carrying_gopaxs_code(
    client: GopaxClient, changes: dict[str, Any], error: type[VenueError], code: int
) -> None:
    fields: dict[str, Any] = {"tradingPairName": "BTC-KRW", "side": "buy", "type": "limit", "amount": Decimal("0.01"), "price": Decimal(100_000_000)}
    fields.update(changes)

    with pytest.raises(error) as caught:
        await bounded(client.place(w.OrderRequest(**fields)))

    assert caught.value.code == code


async def test_a_client_order_id_in_use_is_refused(client: GopaxClient, emulator: GopaxEmulator) -> None:
    request = w.OrderRequest(tradingPairName="BTC-KRW", side="buy", type="limit", amount=Decimal("0.001"), price=far_bid(emulator), clientOrderId="dup1")
    await bounded(client.place(request))

    with pytest.raises(InvalidOrder) as caught:
        await bounded(client.place(request))

    assert caught.value.code == 10222


async def test_a_burst_of_200_calls_through_the_limiter_gets_no_429(client: GopaxClient, emulator: GopaxEmulator) -> None:
    calls = [client.balances() if i % 2 else client.server_time() for i in range(200)]

    results = await bounded(asyncio.gather(*calls, return_exceptions=True), timeout=30)

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert client.statuses == {200: 200} and client.retried == 0
    assert emulator.requests["GET /balances"] + emulator.requests["GET /time"] == 200


async def test_an_injected_429_on_a_read_is_backed_off_and_retried(client: GopaxClient, emulator: GopaxEmulator) -> None:
    emulator.faults.burst_status = 429
    emulator.faults.burst_5xx = 2

    balances = await bounded(client.balances())

    assert balances and client.statuses[429] == 2 and client.retried == 2


async def test_a_burst_of_5xx_on_a_read_is_retried_until_it_passes(client: GopaxClient, emulator: GopaxEmulator) -> None:
    emulator.faults.burst_5xx = 3

    ticker = await bounded(client.ticker("ETH-KRW"))

    assert ticker.ask > 0 and client.statuses[503] == 3 and client.retried == 3


async def test_post_orders_is_never_retried_after_a_5xx(client: GopaxClient, emulator: GopaxEmulator) -> None:
    emulator.faults.burst_5xx = 1
    request = w.OrderRequest(tradingPairName="BTC-KRW", side="buy", type="limit", amount=Decimal("0.001"), price=far_bid(emulator), clientOrderId="once1")

    with pytest.raises(VenueUnavailable):
        await bounded(client.place(request))

    assert emulator.requests["POST /orders"] == 1 and client.retried == 0


async def test_an_order_whose_answer_was_lost_is_found_by_its_client_order_id(client: GopaxClient, emulator: GopaxEmulator) -> None:
    emulator.faults.lose_write_responses = 1
    request = w.OrderRequest(tradingPairName="BTC-KRW", side="buy", type="limit", amount=Decimal("0.001"), price=far_bid(emulator), clientOrderId="lost1")

    with pytest.raises(VenueUnavailable):
        await bounded(client.place(request))
    found = await bounded(client.order_by_client_id("lost1"))

    assert emulator.requests["POST /orders"] == 1
    assert found.status == "placed" and found.clientOrderId == "lost1"


async def test_private_calls_without_credentials_are_refused_before_sending(emulator: GopaxEmulator) -> None:
    public = GopaxClient("gopax", emulator.url)
    await public.start()
    try:
        with pytest.raises(AuthError):
            await bounded(public.balances())
    finally:
        await public.close()

    assert emulator.requests["GET /balances"] == 0


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (404, b'{"errorMessage":"No such order ID: 7","errorCode":10069,"errorData":"7"}', OrderNotFound, 10069),
        (400, b'{"errorMessage":"Unmached unique No. of Order","errorCode":202}', OrderNotFound, 202),
        (400, b'{"errorMessage":"Insufficient balance","errorCode":201}', InsufficientFunds, 201),
        (401, b'{"errorMessage":"Invalid API key","errorCode":10155}', AuthError, 10155),
        (400, b'{"errorMessage":"Buy order is currently unavailable","errorCode":204}', InvalidOrder, 204),
        (429, b"", RateLimited, None),
        (502, b"<html>bad gateway</html>", VenueUnavailable, None),
        (400, b"not json", VenueError, None),
    ],
)
def test_the_error_envelope_becomes_a_typed_exception(status: int, body: bytes, error: type, code: int | None) -> None:
    found = error_for("gopax", status, body)

    assert found is not None
    assert type(found) is error and found.code == code and found.http_status == status


async def test_the_usual_open_orders_call_sends_no_query_string(client: GopaxClient, emulator: GopaxEmulator) -> None:
    sent: list[Any] = []
    request = client.request

    async def recording(method: str, path: str, **kw: Any) -> Any:
        sent.append((method, path, kw.get("params")))
        return await request(method, path, **kw)

    client.request = recording  # type: ignore[method-assign]
    await bounded(client.orders())
    await bounded(client.orders(include_past=True))

    assert [params for _, path, params in sent if path == "/orders"] == [{}, {"includePast": True}]
