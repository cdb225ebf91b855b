"""Firstock's words <-> the engine's: the wire codes, the Noren status table, builders, parsers.

Codes (case-insensitive on the way in): products C (CNC) / I (MIS) / M (NRML), price types LMT /
MKT / SL-LMT / SL-MKT (the long forms LIMIT, MARKET, SL-LIMIT, SL-MARKET are read too), sides B / S,
retention DAY / IOC. Every value of a request is a string.

Status table (`STATUS`, case-insensitive, spaces and underscores alike): OPEN / PENDING (and Noren's
"validation pending", "put order req received") -> placed (updated once fillShares > 0),
TRIGGER_PENDING -> placed with its stop pending, COMPLETE -> completed, CANCELED -> cancelled,
REJECTED -> rejected (rejectReason kept). A word the table does not know goes to `StatusWords`'
`on_unknown` (the sync core's rule: counted, logged once, the order asked about again) and is never
guessed: a row or a socket frame so worded is no report.

The client order id travels in `remarks`: Firstock takes no client id, but echoes remarks in the
order book, the trade book and the socket's order updates, so an order whose placement answer was
lost is found by it, and a restart knows which order is whose.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Final

from adapters import india
from adapters.firstock import schemas as w
from adapters.firstock import ticks
from engine.errors import InvalidOrder
from engine.events import Fill, Instrument, Order, OrderReport, OrderStatus, OrderType, Side

S = OrderStatus

# --- wire codes -------------------------------------------------------------------------------

PRODUCT_CODES: Final[Mapping[india.Product, str]] = {india.Product.CNC: "C", india.Product.MIS: "I", india.Product.NRML: "M"}
PRODUCTS: Final[Mapping[str, india.Product]] = {code: p for p, code in PRODUCT_CODES.items()}
ORDER_TYPE_CODES: Final[Mapping[OrderType, str]] = {
    OrderType.LIMIT: "LMT", OrderType.MARKET: "MKT", OrderType.STOP_LIMIT: "SL-LMT", OrderType.STOP_MARKET: "SL-MKT",
}
ORDER_TYPES: Final[Mapping[str, OrderType]] = {
    **{code: kind for kind, code in ORDER_TYPE_CODES.items()},
    "LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET, "SL-LIMIT": OrderType.STOP_LIMIT, "SL-MARKET": OrderType.STOP_MARKET,
}
SIDE_CODES: Final[Mapping[Side, str]] = {Side.BUY: "B", Side.SELL: "S"}
SIDES: Final[Mapping[str, Side]] = {"B": Side.BUY, "S": Side.SELL, "BUY": Side.BUY, "SELL": Side.SELL}
STOP_TYPES = frozenset({OrderType.STOP_LIMIT, OrderType.STOP_MARKET})
PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})


def order_type_code(kind: OrderType) -> str:
    code = ORDER_TYPE_CODES.get(kind)
    if code is None:
        raise ValueError(f"Firstock does not support order type {kind.value}")
    return code


def order_type_of(code: str) -> OrderType | None:
    return ORDER_TYPES.get(code.strip().upper())


def side_of(code: str) -> Side | None:
    return SIDES.get(code.strip().upper())


def product_code(product: india.Product) -> str:
    return PRODUCT_CODES[product]


# --- the status table -------------------------------------------------------------------------


class Flag(enum.StrEnum):
    STOP = "stop"  # a stop order whose trigger has not been reached


STATUS: Final[Mapping[str, tuple[OrderStatus, Flag | None]]] = {
    "open": (S.PLACED, None),
    "pending": (S.PLACED, None),
    "validation pending": (S.PLACED, None),
    "put order req received": (S.PLACED, None),
    "trigger pending": (S.PLACED, Flag.STOP),
    "complete": (S.COMPLETED, None),
    "canceled": (S.CANCELLED, None),
    "cancelled": (S.CANCELLED, None),
    "rejected": (S.REJECTED, None),
}
OPEN_WORDS = frozenset(word for word, (status, _) in STATUS.items() if status.is_open)


def normal(word: str) -> str:
    return word.strip().lower().replace("_", " ")


def map_status(word: str, filled: Decimal | None) -> tuple[OrderStatus, Flag | None] | None:
    """The engine status (and its flag) of Firstock's word, or None for a word not in the table."""
    found = STATUS.get(normal(word))
    if found is None:
        return None
    status, flag = found
    if status is S.PLACED and filled and flag is None:
        return S.UPDATED, None
    return status, flag


class StatusWords:
    """The table, and the sync core's rule for a word it does not know (`on_unknown(word, number)`)."""

    def __init__(self, on_unknown: Callable[[str, str | None], None]) -> None:
        self.on_unknown = on_unknown

    def map(self, word: str, filled: Decimal | None, number: str | None) -> tuple[OrderStatus, Flag | None] | None:
        mapped = map_status(word, filled)
        if mapped is None:
            self.on_unknown(word, number)
        return mapped


# --- engine -> wire ---------------------------------------------------------------------------


def _checked(order: Order) -> tuple[str, str]:
    """(retention, price type) of `order`, or InvalidOrder saying why Firstock cannot take it."""
    try:
        return india.validity_for(order.tif).value, order_type_code(order.type)
    except ValueError as exc:
        raise InvalidOrder(order.venue, str(exc)) from None


def build_place(order: Order, inst: Instrument, product: str, *, mkt_protection: str = "") -> w.PlaceOrderRequest:
    """The placeOrder (or placeAMO) body for `order`; `remarks` carries the client order id."""
    retention, price_type = _checked(order)
    if order.qty != order.qty.to_integral_value():
        raise InvalidOrder(order.venue, f"quantity must be a whole number, got {order.qty}")
    if order.type in PRICED_TYPES and order.price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a price")
    if order.type in STOP_TYPES and order.trigger_price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a trigger price")
    protect = order.options.get("mkt_protection", mkt_protection) if order.type in (OrderType.MARKET, OrderType.STOP_MARKET) else ""
    return w.PlaceOrderRequest(
        userId="", jKey="", exchange=inst.exchange, tradingSymbol=trading_symbol(inst), quantity=w.text(order.qty),
        price=w.text(order.price) if order.type in PRICED_TYPES else "0", product=product,
        transactionType=SIDE_CODES[order.side], priceType=price_type, retention=retention,
        triggerPrice=w.text(order.trigger_price) if order.type in STOP_TYPES else "0",
        remarks=order.client_order_id, mkt_protection=protect,
    )


def build_modify(
    order: Order, number: str, inst: Instrument, product: str,
    qty: Decimal | None, price: Decimal | None, trigger_price: Decimal | None,
) -> w.ModifyOrderRequest:
    """The modifyOrder body: Firstock wants the whole order, the changed fields new."""
    retention, price_type = _checked(order)
    new_price = price if price is not None else order.price
    new_trigger = trigger_price if trigger_price is not None else order.trigger_price
    return w.ModifyOrderRequest(
        userId="", jKey="", orderNumber=number, quantity=w.text(qty if qty is not None else order.qty),
        price=w.text(new_price) if order.type in PRICED_TYPES else "0",
        triggerPrice=w.text(new_trigger) if order.type in STOP_TYPES else "0",
        tradingSymbol=trading_symbol(inst), priceType=price_type, retention=retention, product=product,
    )


def build_modify_amo(order: Order, number: str, product: str, qty: Decimal | None, price: Decimal | None,
                     trigger_price: Decimal | None) -> w.ModifyAmoRequest:
    _, price_type = _checked(order)
    new_price = price if price is not None else order.price
    new_trigger = trigger_price if trigger_price is not None else order.trigger_price
    return w.ModifyAmoRequest(
        userId="", jKey="", orderNumber=number, quantity=w.text(qty if qty is not None else order.qty),
        price=w.text(new_price) if order.type in PRICED_TYPES else "0", priceType=price_type, product=product,
        triggerPrice=w.text(new_trigger) if order.type in STOP_TYPES else "0",
    )


def trading_symbol(inst: Instrument) -> str:
    """Firstock's tradingSymbol: the cash series' "RELIANCE-EQ", a derivative's own name."""
    if india.parse_exchange(inst.exchange).segment is india.Segment.CASH_EQUITY and "-" not in inst.base:
        return f"{inst.base}-EQ"
    return inst.base


def bare_symbol(trading_symbol: str) -> str:
    """"RELIANCE" for "RELIANCE-EQ" (the engine's symbol); other names as they are."""
    upper = trading_symbol.strip().upper()
    return upper[:-3] if upper.endswith("-EQ") else upper


def instrument_id(venue: str, exchange: str, trading_symbol: str) -> str:
    return f"{venue}:{exchange.upper()}:{bare_symbol(trading_symbol)}"


# --- wire -> engine ---------------------------------------------------------------------------


def report_from_row(venue: str, row: w.OrderRow, iid: str, ts: int, words: StatusWords) -> OrderReport | None:
    """The engine's view of one order book (or singleOrderHistory) row; None for an unknown word."""
    filled = w.dec(row.fillShares)
    mapped = words.map(row.status, filled, row.orderNumber)
    if mapped is None:
        return None
    status, flag = mapped
    kind = order_type_of(row.priceType)
    return OrderReport(
        venue=venue, status=status, client_order_id=row.remarks or None, venue_order_id=row.orderNumber,
        filled_qty=filled, avg_price=w.dec(row.averagePrice) if filled else None, qty=w.dec(row.quantity),
        price=w.dec(row.price) if kind in PRICED_TYPES else None,
        trigger_price=w.dec(row.triggerPrice) if kind in STOP_TYPES else None,
        reason=(row.rejectReason or None) if status in (S.REJECTED, S.CANCELLED) else None,
        stop_pending=(flag is Flag.STOP) if kind in STOP_TYPES else None,
        instrument=iid, side=side_of(row.transactionType), ts_event=w.ist_ns(row.orderTime) or ts,
    )


def row_of_update(u: ticks.OrderUpdate) -> w.OrderRow:
    """A socket order update in the order book's words (Noren's short names -> Firstock's)."""
    return w.OrderRow(
        orderNumber=u.norenordno, userId=u.uid, exchange=u.exch, tradingSymbol=u.tsym, token=u.token,
        transactionType=u.trantype, priceType=u.prctyp, product=u.prd, retention=u.ret, quantity=u.qty, price=u.prc,
        triggerPrice=u.trgprc, fillShares=u.fillshares, averagePrice=u.avgprc, status=u.status, rejectReason=u.rejreason,
        orderTime=u.norentm, remarks=u.remarks, exchangeOrderNum=u.exchordid, exchangeTime=u.exch_tm, reportType=u.reporttype,
    )


def report_from_update(venue: str, u: ticks.OrderUpdate, iid: str, ts: int, words: StatusWords) -> OrderReport | None:
    """The engine's view of one socket order update; None for an unknown word."""
    return report_from_row(venue, row_of_update(u), iid, ts, words)


def fill_from_update(venue: str, u: ticks.OrderUpdate, iid: str) -> Fill | None:
    """The fill a socket order update of report type Fill tells, or None."""
    if u.reporttype.strip().lower() != "fill" or not u.flid:
        return None
    qty, price, side = w.dec(u.flqty), w.dec(u.flprc), side_of(u.trantype)
    if not qty or price is None or side is None:
        return None
    return Fill(
        venue=venue, instrument=iid, side=side, qty=qty, price=price, fill_id=u.flid, fee_asset="INR",
        client_order_id=u.remarks or None, venue_order_id=u.norenordno, ts_event=w.ist_ns(u.fltm) or 0,
    )


def fills_from_trades(venue: str, rows: Iterable[w.TradeRow], iid_of: Callable[[str, str], str]) -> list[Fill]:
    """Fills from trade book rows, oldest first; ids are the venue's fillId."""
    fills = []
    for r in rows:
        qty, price, side = w.dec(r.fillQuantity), w.dec(r.fillPrice), side_of(r.transactionType)
        if not qty or price is None or side is None or not r.fillId:
            continue
        fills.append(Fill(
            venue=venue, instrument=iid_of(r.exchange, r.tradingSymbol), side=side, qty=qty, price=price,
            fill_id=r.fillId, fee_asset="INR", client_order_id=r.remarks or None, venue_order_id=r.orderNumber,
            ts_event=w.ist_ns(r.fillTime) or 0,
        ))
    fills.sort(key=lambda f: f.ts_event)
    return fills


def find_by_remarks(rows: Iterable[w.OrderRow], client_order_id: str) -> w.OrderRow | None:
    """The order book row whose remarks are `client_order_id` (the earliest, should there be two)."""
    found = [r for r in rows if r.remarks == client_order_id]
    return min(found, key=lambda r: w.ist_ns(r.orderTime) or 0) if found else None
