"""Samco's words <-> the engine's: the status table, the unknown-word rule, requests, trade book rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from adapters.india import nse_equity
from adapters.samco import schemas as w
from adapters.samco.parsing import (
    STATUS,
    StatusWords,
    build_request,
    fills_from_trades,
    map_status,
    report_from_reply,
    report_from_row,
    within_book,
)
from engine.errors import InvalidOrder
from engine.events import Order, OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus
RELIANCE = "samco:NSE:RELIANCE"


@pytest.mark.parametrize(
    ("word", "filled", "expected"),
    [
        ("PENDING", None, (S.PLACED, None)),
        ("open", Decimal(0), (S.PLACED, None)),
        ("Open", Decimal(3), (S.UPDATED, None)),
        ("TRIGGER PENDING", None, (S.PLACED, "stop")),
        ("Complete", Decimal(5), (S.COMPLETED, None)),
        ("EXECUTED", Decimal(5), (S.COMPLETED, None)),
        ("Cancelled", Decimal(2), (S.CANCELLED, None)),
        ("Rejected", None, (S.REJECTED, None)),
        ("After market order req received", None, (S.PLACED, "amo")),
        ("Validation Pending", None, None),
    ],
)
def test_the_status_table_maps_samcos_words_case_insensitively(word: str, filled: Decimal | None, expected: Any) -> None:
    assert map_status(word, filled) == expected


def test_the_status_table_is_data_in_lower_case() -> None:
    assert all(word == word.lower() for word in STATUS)


def test_a_gtc_order_is_refused_before_it_leaves() -> None:
    inst = Order(client_order_id="x", strategy_id="s1", instrument=RELIANCE, venue="samco", side=Side.BUY,
                 type=OrderType.LIMIT, qty=Decimal(1), price=Decimal("1200.00"), tif=TimeInForce.GTC)
    with pytest.raises(InvalidOrder, match="GTC is not available"):
        build_request(inst, nse_equity("samco", "RELIANCE"), "CNC")


def test_the_request_is_all_strings_with_samcos_codes() -> None:
    order = Order(client_order_id="x", strategy_id="s1", instrument=RELIANCE, venue="samco", side=Side.SELL,
                  type=OrderType.STOP_LIMIT, qty=Decimal(4), price=Decimal("1199.50"), trigger_price=Decimal("1200.00"),
                  tif=TimeInForce.IOC, after_market=True)

    body = msgspec_json(build_request(order, nse_equity("samco", "RELIANCE"), "MIS"))

    assert body == {
        "symbolName": "RELIANCE", "exchange": "NSE", "transactionType": "SELL", "orderType": "SL", "quantity": "4",
        "price": "1199.50", "triggerPrice": "1200.00", "disclosedQuantity": "0", "orderValidity": "IOC",
        "productType": "MIS", "afterMarketOrderFlag": "YES",
    }


def msgspec_json(value: Any) -> dict[str, Any]:
    import json

    return json.loads(w.encode(value))


def order(kind: OrderType = OrderType.LIMIT) -> Order:
    return Order(client_order_id="c1", strategy_id="s1", instrument=RELIANCE, venue="samco", side=Side.BUY,
                 type=kind, qty=Decimal(5), price=Decimal("1200.00"), trigger_price=Decimal("1199.00"))


def test_an_order_book_word_the_table_does_not_know_is_no_report_and_goes_to_the_core() -> None:
    unknown: list[tuple[str, str | None]] = []
    row = w.OrderRow(orderNumber="261206000001", orderStatus="Validation Pending", exchange="NSE", tradingSymbol="RELIANCE-EQ")

    assert report_from_row("samco", row, RELIANCE, "c1", 1, StatusWords(lambda *a: unknown.append(a))) is None
    assert unknown == [("Validation Pending", "261206000001")]


def test_a_reply_word_the_table_does_not_know_says_only_that_the_order_exists() -> None:
    unknown: list[tuple[str, str | None]] = []
    report = report_from_reply("samco", "Modified", "261206000002", None, order(OrderType.STOP_LIMIT), 1,
                               StatusWords(lambda *a: unknown.append(a)))

    assert (report.status, report.venue_order_id, report.stop_pending) == (S.SUBMITTED, "261206000002", None)
    assert unknown == [("Modified", "261206000002")]


def test_a_known_reply_word_never_reaches_the_unknown_rule() -> None:
    words = StatusWords(lambda *a: pytest.fail(f"unexpected {a}"))
    report = report_from_reply("samco", "Trigger Pending", "n1", None, order(OrderType.STOP_LIMIT), 1, words)
    assert (report.status, report.stop_pending) == (S.PLACED, True)


def test_fills_beyond_the_order_books_filled_quantity_wait() -> None:
    rows = [
        w.TradeRow(orderNumber="n1", tradeNumber=str(i), exchange="NSE", tradingSymbol="RELIANCE-EQ", transactionType="BUY",
                   tradePrice="1200.00", tradeQuantity="2")
        for i in (1, 2, 3)
    ]
    fills = fills_from_trades("samco", rows, {("NSE", "RELIANCE-EQ"): RELIANCE})

    shown, held = within_book(fills, {"n1": Decimal(4)})

    assert [f.fill_id for f in shown] == ["1", "2"] and held == 1
    assert all(f.instrument == RELIANCE for f in shown)


def test_samcos_codes_are_read_case_insensitively_and_an_unknown_one_is_none() -> None:
    from adapters.india import Product
    from adapters.samco.parsing import order_type_code, order_type_of, product_code, side_of

    assert [order_type_code(t) for t in (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.STOP_MARKET)] == [
        "MKT", "L", "SL", "SL-M"]
    assert order_type_of("sl-m") is OrderType.STOP_MARKET and order_type_of("CO") is None
    assert [product_code(p) for p in Product] == ["CNC", "MIS", "NRML"]
    assert side_of(" sell ") is Side.SELL and side_of("B") is None
