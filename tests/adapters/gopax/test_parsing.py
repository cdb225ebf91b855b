"""GOPAX's wire words onto the engine's: the status table (REST words and socket numbers), what a
word or a side GOPAX does not define becomes, fills, and the order request."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from adapters.gopax import schemas as w
from adapters.gopax.parsing import (
    STATUS,
    BadMessage,
    fill_from_ws,
    report_from_rest,
    report_from_ws,
    status_word,
)
from engine.events import OrderStatus, Side

S = OrderStatus


def ws_order(code: int = 1, side: int = 2, forced: int = 0, stop: Decimal = Decimal(0)) -> w.WsOrder:
    return w.WsOrder(
        orderId=7, status=code, side=side, type=1, price=Decimal(100), orgAmount=Decimal(2), remainAmount=Decimal(1),
        createdAt=1.0, updatedAt=2.0, tradingPairName="BTC-KRW", tradedBaseAmount=Decimal(1),
        tradedQuoteAmount=Decimal(100), forcedCompletionReason=forced, stopPrice=stop,
    )


def ws_trade(side: int) -> w.WsTrade:
    return w.WsTrade(
        tradeId=5, orderId=7, side=side, baseAmount=Decimal(1), quoteAmount=Decimal(100), fee=Decimal("0.2"),
        price=Decimal(100), occurredAt=3.0, tradingPairName="BTC-KRW",
    )


@pytest.mark.parametrize(
    ("word", "status", "stop_pending"),
    [
        ("placed", S.PLACED, None),
        ("updated", S.UPDATED, None),
        ("completed", S.COMPLETED, None),
        ("cancelled", S.CANCELLED, None),
        ("reserved", S.PLACED, True),
    ],
)
def test_rest_statuses_map_onto_the_engines(word: str, status: S, stop_pending: bool | None) -> None:
    stop = Decimal(101) if word == "reserved" else None
    order = w.Order(id="7", tradingPairName="BTC-KRW", side=Side.BUY, type="limit", amount=Decimal(1), status=word, stopPrice=stop)

    report = report_from_rest("gopax", "gopax:BTC-KRW", order)

    assert report is not None
    assert (report.status, report.stop_pending, report.venue_order_id) == (status, stop_pending, "7")


@pytest.mark.parametrize(
    ("code", "status", "forced", "reason"),
    [(1, S.PLACED, 0, None), (4, S.UPDATED, 0, None), (3, S.COMPLETED, 0, None), (2, S.CANCELLED, 1, "timeInForce"),
     (2, S.CANCELLED, 2, "protection"), (5, S.PLACED, 0, None)],
)
def test_socket_status_numbers_map_like_the_rest_words(code: int, status: S, forced: int, reason: str | None) -> None:
    order = ws_order(code, forced=forced, stop=Decimal(99) if code == 5 else Decimal(0))

    report = report_from_ws("gopax", "gopax:BTC-KRW", order)

    assert report is not None
    assert (report.status, report.reason, report.side, report.avg_price) == (status, reason, Side.SELL, Decimal(100))
    assert report.stop_pending is (True if code == 5 else None)


def test_a_status_word_or_number_not_in_the_table_gives_no_report_rather_than_a_guess() -> None:
    rest = w.Order(id="7", tradingPairName="BTC-KRW", side=Side.BUY, type="limit", amount=Decimal(1), status="accepted")

    assert "accepted" not in STATUS
    assert report_from_rest("gopax", "gopax:BTC-KRW", rest) is None
    assert report_from_ws("gopax", "gopax:BTC-KRW", ws_order(code=9)) is None
    assert (status_word(rest), status_word(ws_order(code=9))) == ("accepted", "9")


def test_a_rest_order_without_a_status_reads_as_placed() -> None:
    row = w.decode_order(b'{"id":"7","tradingPairName":"BTC-KRW","side":"buy","type":"limit","amount":1,"price":100}')

    report = report_from_rest("gopax", "gopax:BTC-KRW", row)

    assert report is not None and report.status is S.PLACED


def test_a_rest_side_gopax_does_not_send_fails_the_decode() -> None:
    order = b'{"id":"7","tradingPairName":"BTC-KRW","side":"SELL","type":"limit","amount":1}'
    trade = (
        b'[{"id":7,"orderId":7,"baseAmount":1,"quoteAmount":1,"fee":0,"price":1,'
        b'"timestamp":"2026-01-01T00:00:00.000Z","side":"SELL","tradingPairName":"BTC-KRW"}]'
    )
    with pytest.raises(msgspec.ValidationError, match="side"):
        w.decode_order(order)  # the client turns this into a VenueError ("unexpected answer")
    with pytest.raises(msgspec.ValidationError, match="side"):
        w.decode_own_trades(trade)


def test_a_socket_side_number_gopax_does_not_define_is_a_bad_message_not_a_key_error() -> None:
    with pytest.raises(BadMessage, match="side 3"):
        report_from_ws("gopax", "gopax:BTC-KRW", ws_order(side=3))
    with pytest.raises(BadMessage, match="side 0"):
        fill_from_ws("gopax", "gopax:BTC-KRW", "KRW", ws_trade(side=0))
    assert fill_from_ws("gopax", "gopax:BTC-KRW", "KRW", ws_trade(side=1)).side is Side.BUY
