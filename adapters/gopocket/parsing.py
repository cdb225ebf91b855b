"""GoPocket's words <-> the engine's: the wire codes, the status table, request builders, parsers.

Codes (case-insensitive on the way in): sides BUY / SELL (B / S read too), order types LIMIT /
MARKET / SL / SLM (Noren's LMT / MKT / SL-LMT / SL-MKT read too), products CNC / MIS / NORMAL (the
SDK's enum; C / I / M, DELIVERY / INTRADAY and NRML read), order complexity REGULAR / AMO / CO / BO,
validity DAY / IOC (india's `Validity`). Every number of a request is a string.

Status table (`STATUS`, case-insensitive, spaces and underscores alike): OPEN / PENDING -> placed
(updated once fillQuantity > 0), TRIGGER_PENDING -> placed with its stop pending, COMPLETE ->
completed, CANCELLED / CANCELED -> cancelled, REJECTED -> rejected (rejectReason kept), AFTER MARKET
ORDER REQ RECEIVED -> placed as an after-market order. A word the table does not know goes to
`StatusWords.on_unknown` (the sync core's rule: counted, logged once, asked about again) and is
never guessed: a row so worded is no report.

The client order id travels as `orderTag` and the order book echoes it: that is how an order whose
placement answer was lost is found again ([RECON]: the SDK sends orderTag; the echo is the
Codifi/AliceBlue pattern).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Final

from adapters import india
from adapters.gopocket import schemas as w
from engine.errors import InvalidOrder
from engine.events import ZERO, Fill, Instrument, Order, OrderReport, OrderStatus, OrderType, Side

S = OrderStatus

# --- wire codes -------------------------------------------------------------------------------

ORDER_TYPE_CODES: Final[Mapping[OrderType, str]] = {
    OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET", OrderType.STOP_LIMIT: "SL", OrderType.STOP_MARKET: "SLM",
}
ORDER_TYPES: Final[Mapping[str, OrderType]] = {
    **{code: kind for kind, code in ORDER_TYPE_CODES.items()},
    "L": OrderType.LIMIT, "LMT": OrderType.LIMIT, "MKT": OrderType.MARKET, "SL-LMT": OrderType.STOP_LIMIT,
    "SL-M": OrderType.STOP_MARKET, "SL-MKT": OrderType.STOP_MARKET,
}
SIDE_CODES: Final[Mapping[Side, str]] = {Side.BUY: "BUY", Side.SELL: "SELL"}
SIDES: Final[Mapping[str, Side]] = {"BUY": Side.BUY, "SELL": Side.SELL, "B": Side.BUY, "S": Side.SELL}
PRODUCT_CODES: Final[Mapping[india.Product, str]] = {
    india.Product.CNC: "CNC", india.Product.MIS: "MIS", india.Product.NRML: "NORMAL",
}
PRODUCTS: Final[Mapping[str, india.Product]] = {
    "CNC": india.Product.CNC, "C": india.Product.CNC, "DELIVERY": india.Product.CNC, "LONGTERM": india.Product.CNC,
    "MIS": india.Product.MIS, "I": india.Product.MIS, "INTRADAY": india.Product.MIS,
    "NORMAL": india.Product.NRML, "NRML": india.Product.NRML, "M": india.Product.NRML,
}
COMPLEXITIES: Final = ("REGULAR", "AMO", "CO", "BO")
STOP_TYPES = frozenset({OrderType.STOP_LIMIT, OrderType.STOP_MARKET})
PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})


def order_type_of(code: str) -> OrderType | None:
    return ORDER_TYPES.get(code.strip().upper())


def side_of(code: str) -> Side | None:
    return SIDES.get(code.strip().upper())


def product_of(code: str) -> india.Product | None:
    return PRODUCTS.get(code.strip().upper())


# --- the status table -------------------------------------------------------------------------


class Flag(enum.StrEnum):
    STOP = "stop"  # a stop order whose trigger has not been reached
    AMO = "amo"  # an after-market order held for the next session


AMO_WORD = "AFTER MARKET ORDER REQ RECEIVED"
STATUS: Final[Mapping[str, tuple[OrderStatus, Flag | None]]] = {
    "open": (S.PLACED, None),
    "pending": (S.PLACED, None),
    "trigger pending": (S.PLACED, Flag.STOP),
    "complete": (S.COMPLETED, None),
    "cancelled": (S.CANCELLED, None),
    "canceled": (S.CANCELLED, None),
    "rejected": (S.REJECTED, None),
    AMO_WORD.lower(): (S.PLACED, Flag.AMO),
}
OPEN_WORDS = frozenset(word for word, (status, _) in STATUS.items() if status.is_open)


def _key(word: str) -> str:
    return " ".join(word.replace("_", " ").lower().split())


def is_open_word(word: str) -> bool:
    return _key(word) in OPEN_WORDS


def map_status(word: str, filled: Decimal | None) -> tuple[OrderStatus, Flag | None] | None:
    """The engine status (and flag) of the venue's word, or None for a word not in the table."""
    found = STATUS.get(_key(word))
    if found is None:
        return None
    status, flag = found
    if status is S.PLACED and filled and flag is None:
        return S.UPDATED, None
    return status, flag


class StatusWords:
    """The table, and for a word it does not know the sync core's rule; nothing is concluded."""

    def __init__(self, on_unknown: Callable[[str, str | None], None]) -> None:
        self.on_unknown = on_unknown

    def map(self, word: str, filled: Decimal | None, number: str | None) -> tuple[OrderStatus, Flag | None] | None:
        mapped = map_status(word, filled)
        if mapped is None:
            self.on_unknown(word, number)
        return mapped


# --- engine -> wire ---------------------------------------------------------------------------


def complexity_of(order: Order) -> str:
    """REGULAR, AMO for an after-market order, or `options["complexity"]` CO / BO."""
    asked = order.options.get("complexity", "").upper()
    if asked and asked not in COMPLEXITIES:
        raise InvalidOrder(order.venue, f"order complexity must be one of {', '.join(COMPLEXITIES)}, got {asked}")
    if order.after_market:
        return "AMO"
    return asked or "REGULAR"


def build_request(order: Order, inst: Instrument, product: str) -> w.OrderRequest:
    """The placeorder item for `order` (numbers as strings; the client order id as orderTag)."""
    try:
        validity = india.validity_for(order.tif)
    except ValueError as exc:
        raise InvalidOrder(order.venue, str(exc)) from None
    type_code = ORDER_TYPE_CODES.get(order.type)
    if type_code is None:
        raise InvalidOrder(order.venue, f"GoPocket does not support order type {order.type.value}")
    if order.qty != order.qty.to_integral_value():
        raise InvalidOrder(order.venue, f"quantity must be a whole number, got {order.qty}")
    priced = order.type in PRICED_TYPES
    if priced and order.price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a price")
    if order.type in STOP_TYPES and order.trigger_price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a trigger price")
    complexity = complexity_of(order)
    opts = order.options
    if complexity == "BO" and not (opts.get("target") and opts.get("stop_loss")):
        raise InvalidOrder(order.venue, "a bracket order needs options target and stop_loss")
    if complexity == "CO" and not (opts.get("stop_loss") or order.trigger_price):
        raise InvalidOrder(order.venue, "a cover order needs a stop_loss option or a trigger price")
    return w.OrderRequest(
        instrumentId=inst.token or inst.base,
        exchange=inst.exchange,
        transactionType=SIDE_CODES[order.side],
        quantity=w.text(order.qty),
        orderComplexity=complexity,
        product=product,
        orderType=type_code,
        price=w.text(order.price) if priced else "0",
        slTriggerPrice=w.text(order.trigger_price) if order.type in STOP_TYPES else "",
        slLegPrice=opts.get("stop_loss", ""),
        trailingSlAmount=opts.get("trailing_sl", ""),
        targetLegPrice=opts.get("target", ""),
        validity=validity.value,
        disclosedQuantity=opts.get("disclosed_qty", "0"),
        marketProtectionPercent=opts.get("market_protection", ""),
        apiOrderSource="API",
        algoId=opts.get("algo_id", ""),
        orderTag=order.client_order_id,
    )


def modify_request(number: str, order: Order, qty: Decimal | None, price: Decimal | None, trigger: Decimal | None) -> w.ModifyRequest:
    """The modify body: what changes, the rest empty (as the SDK sends it)."""
    return w.ModifyRequest(
        brokerOrderId=number,
        quantity=w.text(qty or order.qty),
        orderType=ORDER_TYPE_CODES.get(order.type, ""),
        price=w.text(price if price is not None else order.price) if order.type in PRICED_TYPES else "",
        slTriggerPrice=w.text(trigger if trigger is not None else order.trigger_price) if order.type in STOP_TYPES else "",
        validity=india.validity_for(order.tif).value if order.tif.value in ("day", "ioc") else "",
    )


# --- wire -> engine ---------------------------------------------------------------------------


def report_from_row(venue: str, row: w.OrderRow, iid: str, ts: int, words: StatusWords) -> OrderReport | None:
    """The engine's view of one order book row (None for a status word not in the table)."""
    filled = w.dec(row.fillQuantity)
    mapped = words.map(row.orderStatus, filled, row.brokerOrderId)
    if mapped is None:
        return None
    status, flag = mapped
    kind = order_type_of(row.orderType)
    return OrderReport(
        venue=venue,
        status=status,
        client_order_id=row.orderTag or None,
        venue_order_id=row.brokerOrderId,
        filled_qty=filled,
        avg_price=w.dec(row.averageTradedPrice) if filled else None,
        qty=w.dec(row.quantity),
        price=w.dec(row.price) if kind in PRICED_TYPES else None,
        trigger_price=w.dec(row.triggerPrice) if kind in STOP_TYPES else None,
        reason=(row.rejectReason or None) if status in (S.REJECTED, S.CANCELLED) else None,
        stop_pending=(flag is Flag.STOP) if kind in STOP_TYPES else None,
        after_market=True if flag is Flag.AMO else None,
        instrument=iid,
        side=side_of(row.transactionType),
        ts_event=ts,
    )


def fills_from_trades(venue: str, rows: Iterable[w.TradeRow], iid_of: Callable[[str, str, str], str]) -> list[Fill]:
    """Fills from trade book rows, oldest first; ids are fillIds (else "<order>:<n>")."""
    fills = []
    counts: dict[str, int] = {}
    for r in rows:
        qty, price, side = w.dec(r.fillQuantity), w.dec(r.fillPrice), side_of(r.transactionType)
        if not qty or price is None or side is None or not r.brokerOrderId:
            continue
        n = counts[r.brokerOrderId] = counts.get(r.brokerOrderId, 0) + 1
        fills.append(
            Fill(
                venue=venue, instrument=iid_of(r.exchange, str(r.instrumentId), r.tradingSymbol), side=side,
                qty=qty, price=price, fill_id=r.fillId or f"{r.brokerOrderId}:{n}", fee_asset="INR",
                venue_order_id=r.brokerOrderId, ts_event=w.ist_ns(r.fillTime) or 0,
            )
        )
    fills.sort(key=lambda f: f.ts_event)
    return fills


def report_from_noren(venue: str, msg: w.NorenOrder, iid: str, coid: str | None, ts: int, words: StatusWords) -> OrderReport | None:
    """A Noren order update (webhook or socket) as a report; None for an unknown word."""
    filled = w.dec(msg.fillshares)
    mapped = words.map(msg.status, filled, msg.norenordno)
    if mapped is None:
        return None
    status, flag = mapped
    kind = order_type_of(msg.prctyp)
    return OrderReport(
        venue=venue, status=status, client_order_id=coid, venue_order_id=msg.norenordno, filled_qty=filled,
        avg_price=w.dec(msg.avgprc) if filled else None, qty=w.dec(msg.qty),
        price=w.dec(msg.prc) if kind in PRICED_TYPES else None,
        trigger_price=w.dec(msg.trgprc) if kind in STOP_TYPES else None,
        reason=(msg.rejreason or None) if status in (S.REJECTED, S.CANCELLED) else None,
        stop_pending=(flag is Flag.STOP) if kind in STOP_TYPES else None,
        after_market=True if flag is Flag.AMO else None, instrument=iid, side=side_of(msg.trantype), ts_event=ts,
    )


def fill_from_noren(venue: str, msg: w.NorenOrder, iid: str, coid: str | None) -> Fill | None:
    """The fill a Noren `reporttype: Fill` update carries (flid, flqty, flprc), else None."""
    qty, price, side = w.dec(msg.flqty), w.dec(msg.flprc), side_of(msg.trantype)
    if not msg.flid or not qty or price is None or side is None:
        return None
    return Fill(
        venue=venue, instrument=iid, side=side, qty=qty, price=price, fill_id=msg.flid, fee_asset="INR",
        client_order_id=coid, venue_order_id=msg.norenordno, ts_event=w.ist_ns(msg.fltm) or 0,
    )


def instrument_id(venue: str, exchange: str, trading_symbol: str) -> str:
    """The id of a row naming an instrument not loaded (`-EQ` series suffix dropped)."""
    symbol = trading_symbol[:-3] if trading_symbol.upper().endswith("-EQ") else trading_symbol
    return f"{venue}:{exchange.upper()}:{symbol}"


def filled_by_order(rows: Iterable[w.OrderRow]) -> dict[str, Decimal]:
    return {row.brokerOrderId: w.dec(row.fillQuantity) or ZERO for row in rows}
