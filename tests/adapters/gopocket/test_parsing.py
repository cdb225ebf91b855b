"""GoPocket's words: the status table, the codes, the request builders, the parsers, the contract master."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from adapters.gopocket import schemas as w
from adapters.gopocket.client import error_for
from adapters.gopocket.contracts import instrument, parse, render
from adapters.gopocket.emulator.market import SPECS
from adapters.gopocket.parsing import (
    StatusWords,
    build_request,
    fill_from_noren,
    fills_from_trades,
    map_status,
    modify_request,
    report_from_row,
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
from engine.events import Order, OrderType, Side, TimeInForce
from engine.events import OrderStatus as S

SBIN = msgspec.structs.replace(nse_equity("gopocket", "SBIN"), token="3045")


def order(**kw: object) -> Order:
    base: dict[str, object] = dict(client_order_id="tb1", strategy_id="s", instrument=SBIN.id, venue="gopocket", side=Side.BUY,
                                   type=OrderType.LIMIT, qty=Decimal(5), price=Decimal("810.05"), tif=TimeInForce.DAY)
    return Order(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(("word", "filled", "expected"), [
    ("OPEN", None, (S.PLACED, None)), ("open", Decimal(2), (S.UPDATED, None)), ("PENDING", None, (S.PLACED, None)),
    ("TRIGGER_PENDING", None, (S.PLACED, "stop")), ("Trigger Pending", None, (S.PLACED, "stop")),
    ("COMPLETE", Decimal(5), (S.COMPLETED, None)), ("CANCELLED", None, (S.CANCELLED, None)),
    ("CANCELED", None, (S.CANCELLED, None)), ("REJECTED", None, (S.REJECTED, None)),
    ("AFTER MARKET ORDER REQ RECEIVED", None, (S.PLACED, "amo")),
])
def test_the_status_table(word: str, filled: Decimal | None, expected: tuple[S, str | None]) -> None:
    assert map_status(word, filled) == expected


def test_an_unknown_word_is_never_guessed() -> None:
    seen: list[tuple[str, str | None]] = []
    row = w.OrderRow(brokerOrderId="1", orderStatus="MODIFY_PENDING", orderType="LIMIT")
    assert report_from_row("gopocket", row, SBIN.id, 0, StatusWords(lambda word, n: seen.append((word, n)))) is None
    assert seen == [("MODIFY_PENDING", "1")]


def test_the_placement_item_carries_the_sdk_keys_with_strings_and_the_tag() -> None:
    req = build_request(order(), SBIN, "CNC")
    body = msgspec.json.decode(w.encode([req]))
    assert body == [{
        "instrumentId": "3045", "exchange": "NSE", "transactionType": "BUY", "quantity": "5", "orderComplexity": "REGULAR",
        "product": "CNC", "orderType": "LIMIT", "price": "810.05", "slTriggerPrice": "", "slLegPrice": "",
        "trailingSlAmount": "", "targetLegPrice": "", "validity": "DAY", "disclosedQuantity": "0",
        "marketProtectionPercent": "", "apiOrderSource": "API", "algoId": "", "orderTag": "tb1",
    }]
    assert build_request(order(after_market=True), SBIN, "CNC").orderComplexity == "AMO"
    stop = build_request(order(type=OrderType.STOP_MARKET, price=None, trigger_price=Decimal("800")), SBIN, "MIS")
    assert (stop.orderType, stop.price, stop.slTriggerPrice) == ("SLM", "0", "800")
    bo = build_request(order(options={"complexity": "BO", "target": "5", "stop_loss": "3"}), SBIN, "MIS")
    assert (bo.orderComplexity, bo.targetLegPrice, bo.slLegPrice) == ("BO", "5", "3")


@pytest.mark.parametrize("bad", [
    {"tif": TimeInForce.GTC}, {"qty": Decimal("1.5")}, {"price": None}, {"options": {"complexity": "BO"}},
    {"options": {"complexity": "XX"}}, {"type": OrderType.STOP_LIMIT},
])
def test_what_gopocket_cannot_take_is_refused_before_sending(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidOrder):
        build_request(order(**bad), SBIN, "CNC")


def test_modify_sends_the_changes() -> None:
    body = modify_request("26120700000001", order(), None, Decimal("809.00"), None)
    assert (body.brokerOrderId, body.quantity, body.price, body.orderType, body.validity) == ("26120700000001", "5", "809.00", "LIMIT", "DAY")


def test_rows_and_pushes_become_reports_and_fills_in_decimal() -> None:
    row = w.OrderRow(brokerOrderId="9", orderStatus="OPEN", orderType="LIMIT", quantity="5", price="810.05",
                     fillQuantity="2", averageTradedPrice="810.00", transactionType="BUY", orderTag="tb1")
    report = report_from_row("gopocket", row, SBIN.id, 1, StatusWords(lambda *a: None))
    assert report is not None and (report.status, report.filled_qty, report.avg_price, report.client_order_id) == (
        S.UPDATED, Decimal(2), Decimal("810.00"), "tb1")
    trades = [w.TradeRow(brokerOrderId="9", fillId="70000001", fillQuantity=2.0, fillPrice="810.00", transactionType="BUY",
                         exchange="NSE", instrumentId="3045", fillTime="07-12-2026 10:00:01")]
    fill = fills_from_trades("gopocket", trades, lambda e, t, s: SBIN.id)[0]
    assert (fill.qty, fill.price, fill.fill_id) == (Decimal(2), Decimal("810.00"), "70000001") and fill.ts_event > 0
    push = w.NorenOrder(norenordno="9", status="OPEN", trantype="B", flid="70000002", flqty="1", flprc="810.10")
    noren = fill_from_noren("gopocket", push, SBIN.id, "tb1")
    assert noren is not None and noren.qty == 1 and noren.price == Decimal("810.10")


@pytest.mark.parametrize(("status", "body", "cls"), [
    (200, b'{"status":"Not_Ok","message":"Invalid checksum","result":[]}', AuthError),
    (200, b'{"status":"Not_Ok","emsg":"Market is closed; place it as an AMO"}', MarketClosed),
    (200, b'{"stat":"Not_ok","emsg":"Insufficient funds"}', InsufficientFunds),
    (200, b'{"status":"Not_Ok","message":"Invalid broker order id 1: order not found"}', OrderNotFound),
    (200, b'{"status":"Not_Ok","message":"Invalid quantity"}', InvalidOrder),
    (401, b'{"status":"Not_Ok","message":"Unauthorized"}', AuthError),
    (429, b'{"status":"Not_Ok","message":"Too many requests"}', RateLimited),
    (503, b"", VenueUnavailable),
])
def test_the_envelope_becomes_typed_errors(status: int, body: bytes, cls: type[Exception]) -> None:
    assert type(error_for("gopocket", status, body)) is cls
    assert error_for("gopocket", 200, b'{"status":"Ok","message":"Success","result":[]}') is None


def test_the_contract_master_round_trips_with_the_columns_the_sdk_reads() -> None:
    text = render(s.contract() for s in SPECS)
    assert text.splitlines()[0].startswith("Exch,Exchange Segment,Token,Symbol,Trading Symbol")
    rows = parse(text)
    sbin = next(r for r in rows if r.token == "3045")
    inst = instrument("gopocket", sbin)
    assert inst is not None and (inst.id, inst.token, inst.tick_size) == ("gopocket:NSE:SBIN", "3045", Decimal("0.05"))
    fut = instrument("gopocket", next(r for r in rows if r.exchange == "NFO"))
    assert fut is not None and fut.symbol == "NFO:NIFTY26DECFUT" and fut.lot_size == 75
