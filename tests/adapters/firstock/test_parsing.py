"""Firstock's words <-> the engine's: the Noren status table, the codes, the request builders (every
value a string, the client order id in remarks), the parsers, and the failed envelope's typing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from adapters.firstock import schemas as w
from adapters.firstock import ticks
from adapters.firstock.client import error_for
from adapters.firstock.parsing import (
    STATUS,
    Flag,
    StatusWords,
    build_modify,
    build_place,
    fill_from_update,
    map_status,
    order_type_of,
    report_from_row,
    report_from_update,
    side_of,
)
from adapters.india import nse_equity
from engine.errors import (
    AuthError,
    InsufficientFunds,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    RateLimited,
    VenueUnavailable,
)
from engine.events import Order, OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus
INST = nse_equity("firstock", "SBIN")


def order(**kw: Any) -> Order:
    fields: dict[str, Any] = {"client_order_id": "tbabc001", "strategy_id": "s1", "instrument": INST.id, "venue": "firstock",
                              "side": Side.BUY, "type": OrderType.LIMIT, "qty": Decimal(5), "price": Decimal("950.35"),
                              "tif": TimeInForce.DAY, **kw}
    return Order(**fields)


@pytest.mark.parametrize(("word", "filled", "expected"), [
    ("OPEN", None, (S.PLACED, None)),
    ("open", Decimal(2), (S.UPDATED, None)),
    ("PENDING", None, (S.PLACED, None)),
    ("TRIGGER_PENDING", None, (S.PLACED, Flag.STOP)),
    ("TRIGGER PENDING", None, (S.PLACED, Flag.STOP)),
    ("COMPLETE", Decimal(5), (S.COMPLETED, None)),
    ("CANCELED", Decimal(1), (S.CANCELLED, None)),
    ("REJECTED", None, (S.REJECTED, None)),
    ("MODIFIED", None, None),
])
def test_the_status_table_maps_noren_words_whatever_their_case_or_spacing(word: str, filled: Decimal | None, expected: Any) -> None:
    assert map_status(word, filled) == expected


def test_the_status_table_is_data_in_lower_case_with_spaces() -> None:
    assert all(word == word.lower() and "_" not in word for word in STATUS)


def test_the_place_body_is_all_strings_with_firstocks_codes_and_the_client_id_in_remarks() -> None:
    body = build_place(order(), INST, "C")
    assert (body.exchange, body.tradingSymbol, body.quantity, body.price, body.triggerPrice) == ("NSE", "SBIN-EQ", "5", "950.35", "0")
    assert (body.transactionType, body.priceType, body.retention, body.product, body.remarks) == ("B", "LMT", "DAY", "C", "tbabc001")
    assert b"mkt_protection" not in w.encode(body)  # left out unless asked for
    market = build_place(order(type=OrderType.MARKET, price=None, side=Side.SELL, tif=TimeInForce.IOC), INST, "I", mkt_protection="2")
    assert (market.priceType, market.price, market.transactionType, market.retention, market.mkt_protection) == ("MKT", "0", "S", "IOC", "2")
    stop = build_place(order(type=OrderType.STOP_MARKET, price=None, trigger_price=Decimal("960")), INST, "C")
    assert (stop.priceType, stop.triggerPrice, stop.price) == ("SL-MKT", "960", "0")


def test_a_gtc_or_fractional_order_is_refused_before_it_leaves() -> None:
    with pytest.raises(InvalidOrder, match="DAY or IOC"):
        build_place(order(tif=TimeInForce.GTC), INST, "C")
    with pytest.raises(InvalidOrder, match="whole number"):
        build_place(order(qty=Decimal("1.5")), INST, "C")


def test_a_modify_sends_the_whole_order_with_the_new_price() -> None:
    body = build_modify(order(), "26112000000001", INST, "C", None, Decimal("949.00"), None)
    assert (body.orderNumber, body.quantity, body.price, body.priceType, body.tradingSymbol) == ("26112000000001", "5", "949.00", "LMT", "SBIN-EQ")


def test_rows_and_socket_updates_become_reports_with_the_client_id_from_remarks() -> None:
    unknown: list[tuple[str, str | None]] = []
    words = StatusWords(lambda word, number: unknown.append((word, number)))
    row = w.OrderRow(orderNumber="1", status="OPEN", fillShares="2", averagePrice="950.40", quantity="5", price="950.35",
                     priceType="LMT", transactionType="B", remarks="tbabc001", orderTime="09:20:01 20-11-2026")
    report = report_from_row("firstock", row, INST.id, 0, words)
    assert report is not None and (report.status, report.filled_qty, report.avg_price, report.client_order_id) == (
        S.UPDATED, Decimal(2), Decimal("950.40"), "tbabc001")
    update = ticks.OrderUpdate(norenordno="1", status="REJECTED", rejreason="RMS:Margin Exceeds", prctyp="LMT", trantype="S")
    rejected = report_from_update("firstock", update, INST.id, 0, words)
    assert rejected is not None and rejected.status is S.REJECTED and rejected.reason == "RMS:Margin Exceeds"
    assert report_from_row("firstock", w.OrderRow(orderNumber="9", status="PARKED"), INST.id, 0, words) is None
    assert unknown == [("PARKED", "9")]  # to the sync core's rule, never guessed


def test_a_fill_frame_is_one_fill_and_other_frames_none() -> None:
    frame = ticks.OrderUpdate(norenordno="1", reporttype="Fill", flid="100000007", flqty="3", flprc="950.35", trantype="B",
                          remarks="tbabc001", fltm="09:20:05 20-11-2026", status="OPEN")
    fill = fill_from_update("firstock", frame, INST.id)
    assert fill is not None and (fill.fill_id, fill.qty, fill.price, fill.client_order_id) == ("100000007", Decimal(3), Decimal("950.35"), "tbabc001")
    assert fill_from_update("firstock", ticks.OrderUpdate(norenordno="1", reporttype="New", status="OPEN"), INST.id) is None


def test_codes_are_read_in_short_and_long_forms() -> None:
    assert order_type_of("SL-LIMIT") is OrderType.STOP_LIMIT and order_type_of("lmt") is OrderType.LIMIT and order_type_of("CO") is None
    assert side_of("S") is Side.SELL and side_of("BUY") is Side.BUY and side_of("X") is None


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, b'{"status":"failed","code":"401","name":"INVALID_TOTP","error":{"field":"TOTP","message":"Invalid TOTP"}}', AuthError),
    (401, b'{"status":"failed","code":"401","name":"INVALID_SESSION","error":{"field":"jKey","message":"Invalid jKey"}}', AuthError),
    (429, b'{"status":"failed","code":"429","name":"RATE_LIMIT_EXCEEDED","error":{"message":"Too many"}}', RateLimited),
    (503, b'{"status":"failed","code":"503","name":"SERVICE_UNAVAILABLE","error":{"message":"down"}}', VenueUnavailable),
    (400, b'{"status":"failed","code":"400","name":"MARKET_CLOSED","error":{"message":"Market is closed"}}', MarketClosed),
    (400, b'{"status":"failed","code":"400","name":"ORDER_NOT_FOUND","error":{"message":"Order not found"}}', OrderNotFound),
    (400, b'{"status":"failed","message":"Insufficient balance"}', InsufficientFunds),
    (400, b'{"status":"failed","code":"400","name":"INVALID_PARAMETER","error":{"message":"Invalid quantity"}}', InvalidOrder),
])
def test_a_failed_envelope_becomes_a_typed_error_with_firstocks_words(status: int, body: bytes, expected: type[Exception]) -> None:
    error = error_for("firstock", status, body)
    assert type(error) is expected and error is not None and error.text


def test_a_success_is_no_error_at_any_spacing() -> None:
    assert error_for("firstock", 200, b'{"status":"success","data":[]}') is None
    assert error_for("firstock", 200, b'{"data": [], "status": "success"}') is None
    assert error_for("firstock", 200, b'{"status":"Success","message":"Logout"}') is None
