"""Samco's words <-> the engine's: the wire codes, the status table, request builders, parsers.

Codes (case-insensitive on the way in): products CNC / MIS / NRML, order types L / MKT / SL / SL-M,
sides BUY / SELL, validity DAY / IOC (india's `Validity`). Every value of a request is a string.

Status table (`STATUS`, case-insensitive): PENDING / Open -> placed (updated once filledQuantity >
0), Trigger Pending -> placed with its stop pending, Complete / Executed -> completed, Cancelled ->
cancelled, Rejected -> rejected (rejectionReason kept), "After market order req received" -> placed
as an after-market order. A word the table does not know goes to `StatusWords`' `on_unknown` (the
sync core's `unknown_status`: counted, logged once, the order asked about again) and is never
guessed: an order book row so worded is no report; an answer to placeOrder or getOrderStatus so
worded tells only that the order exists (submitted); one to modifyOrder tells nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Final

from adapters import india
from adapters.samco import schemas as w
from engine.errors import InvalidOrder
from engine.events import ZERO, Bar, Fill, Instrument, Order, OrderReport, OrderStatus, OrderType, Side

S = OrderStatus

# --- wire codes -------------------------------------------------------------------------------

PRODUCT_CODES: Final[Mapping[india.Product, str]] = {p: p.value for p in india.Product}  # CNC, MIS, NRML
ORDER_TYPE_CODES: Final[Mapping[OrderType, str]] = {
    OrderType.MARKET: "MKT", OrderType.LIMIT: "L", OrderType.STOP_LIMIT: "SL", OrderType.STOP_MARKET: "SL-M",
}
ORDER_TYPES: Final[Mapping[str, OrderType]] = {code: kind for kind, code in ORDER_TYPE_CODES.items()}
SIDE_CODES: Final[Mapping[Side, str]] = {Side.BUY: "BUY", Side.SELL: "SELL"}
SIDES: Final[Mapping[str, Side]] = {code: side for side, code in SIDE_CODES.items()}
STOP_TYPES = frozenset({OrderType.STOP_LIMIT, OrderType.STOP_MARKET})
PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})


def order_type_code(kind: OrderType) -> str:
    code = ORDER_TYPE_CODES.get(kind)
    if code is None:
        raise ValueError(f"Samco does not support order type {kind.value}")
    return code


def order_type_of(code: str) -> OrderType | None:
    """The engine order type of Samco's code; None for one outside L/MKT/SL/SL-M (a CO or BO leg)."""
    return ORDER_TYPES.get(code.strip().upper())


def side_of(code: str) -> Side | None:
    return SIDES.get(code.strip().upper())


def product_code(product: india.Product) -> str:
    return PRODUCT_CODES[product]


# --- the status table -------------------------------------------------------------------------


class Flag(enum.StrEnum):
    """What a status word says besides the status."""

    STOP = "stop"  # a stop order whose trigger has not been reached
    AMO = "amo"  # an after-market order held for the next session


STATUS: Final[Mapping[str, tuple[OrderStatus, Flag | None]]] = {
    "pending": (S.PLACED, None),
    "open": (S.PLACED, None),
    "trigger pending": (S.PLACED, Flag.STOP),
    "complete": (S.COMPLETED, None),
    "executed": (S.COMPLETED, None),
    "cancelled": (S.CANCELLED, None),
    "canceled": (S.CANCELLED, None),
    "rejected": (S.REJECTED, None),
    "after market order req received": (S.PLACED, Flag.AMO),
}
OPEN_WORDS = frozenset(word for word, (status, _) in STATUS.items() if status.is_open)


def map_status(word: str, filled: Decimal | None) -> tuple[OrderStatus, Flag | None] | None:
    """The engine status (and its flag) of Samco's word, or None for a word not in the table."""
    found = STATUS.get(word.strip().lower())
    if found is None:
        return None
    status, flag = found
    if status is S.PLACED and filled and flag is None:
        return S.UPDATED, None
    return status, flag


class StatusWords:
    """The table, and for a word it does not know the sync core's rule (`on_unknown(word, order
    number)`: counted, logged once, the order asked about again): nothing is concluded from it."""

    def __init__(self, on_unknown: Callable[[str, str | None], None]) -> None:
        self.on_unknown = on_unknown

    def map(self, word: str, filled: Decimal | None, number: str | None) -> tuple[OrderStatus, Flag | None] | None:
        mapped = map_status(word, filled)
        if mapped is None:
            self.on_unknown(word, number)
        return mapped


# --- engine -> wire ---------------------------------------------------------------------------


def build_request(order: Order, inst: Instrument, product: str) -> w.OrderRequest:
    """The placeOrder body for `order` (every value a string)."""
    try:
        validity = india.validity_for(order.tif)
        type_code = order_type_code(order.type)
    except ValueError as exc:
        raise InvalidOrder(order.venue, str(exc)) from None
    if order.qty != order.qty.to_integral_value():
        raise InvalidOrder(order.venue, f"quantity must be a whole number, got {order.qty}")
    priced = order.type in PRICED_TYPES
    if priced and order.price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a price")
    if order.type in STOP_TYPES and order.trigger_price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a trigger price")
    return w.OrderRequest(
        symbolName=inst.base,
        exchange=inst.exchange,
        transactionType=SIDE_CODES[order.side],
        orderType=type_code,
        quantity=w.text(order.qty),
        price=w.text(order.price) if priced else "0",
        triggerPrice=w.text(order.trigger_price) if order.type in STOP_TYPES else "",
        disclosedQuantity=order.options.get("disclosed_qty", "0"),
        orderValidity=validity.value,
        productType=product,
        afterMarketOrderFlag="YES" if order.after_market else "NO",
        marketProtection=order.options.get("market_protection", ""),
    )


def modify_request(order: Order, qty: Decimal | None, price: Decimal | None, trigger_price: Decimal | None) -> w.ModifyRequest:
    """The modifyOrder body: what changes, the rest empty."""
    try:
        validity = india.validity_for(order.tif)
        type_code = order_type_code(order.type)
    except ValueError as exc:
        raise InvalidOrder(order.venue, str(exc)) from None
    return w.ModifyRequest(
        orderType=type_code,
        quantity=w.text(qty),
        price=w.text(price) if order.type in PRICED_TYPES else "",
        triggerPrice=w.text(trigger_price) if order.type in STOP_TYPES else "",
        orderValidity=validity.value,
    )


# --- wire -> engine ---------------------------------------------------------------------------


def report_from_row(venue: str, row: w.OrderRow, iid: str, coid: str | None, ts: int, words: StatusWords) -> OrderReport | None:
    """The engine's view of one order book row (None for a status word not in the table)."""
    filled = w.dec(row.filledQuantity)
    mapped = words.map(row.word, filled, row.orderNumber)
    if mapped is None:
        return None
    status, flag = mapped
    kind = order_type_of(row.orderType)
    avg = (w.dec(row.averagePrice) or w.dec(row.fillPrice)) if filled else None
    return OrderReport(
        venue=venue,
        status=status,
        client_order_id=coid,
        venue_order_id=row.orderNumber,
        filled_qty=filled,
        avg_price=avg,
        qty=row.total,
        price=w.dec(row.orderPrice) if kind in PRICED_TYPES else None,
        trigger_price=w.dec(row.triggerPrice) if kind in STOP_TYPES else None,
        reason=(row.rejectionReason or None) if status in (S.REJECTED, S.CANCELLED) else None,
        stop_pending=(flag is Flag.STOP) if kind in STOP_TYPES else None,
        after_market=True if flag is Flag.AMO else None,
        instrument=iid,
        side=side_of(row.transactionType),
        ts_event=ts,
    )


def report_from_reply(
    venue: str, word: str, number: str, details: w.OrderDetails | None, order: Order, ts: int, words: StatusWords
) -> OrderReport:
    """The engine's view of a placeOrder/modifyOrder/getOrderStatus answer; a word the table does
    not know says only that the order exists (submitted)."""
    filled = w.dec(details.filledQuantity) if details is not None else None
    status, flag = words.map(word, filled, number) or (S.SUBMITTED, None)
    avg = w.dec(details.avgExecutionPrice) if details is not None and filled else None
    return OrderReport(
        venue=venue,
        status=status,
        client_order_id=order.client_order_id,
        venue_order_id=number,
        filled_qty=filled,
        avg_price=avg,
        stop_pending=(flag is Flag.STOP) if order.type in STOP_TYPES and status is not S.SUBMITTED else None,
        after_market=True if flag is Flag.AMO else None,
        instrument=order.instrument,
        side=order.side,
        ts_event=ts,
    )


def fills_from_trades(
    venue: str,
    rows: Iterable[w.TradeRow],
    iid_of: Mapping[tuple[str, str], str],
    book_filled: Mapping[str, Decimal] | None = None,
    on_bad: Callable[[w.TradeRow, str], None] | None = None,
) -> list[Fill]:
    """Fills from trade book rows, oldest first; ids are tradeNumbers or "<order>:<cumulative>".

    `book_filled` (order number -> the order book's filledQuantity) tells how to read rows without
    `tradeQuantity`: if an order's rows add up to more than it, their filledQuantity is cumulative.
    A row with a size but no price, or a side that is neither BUY nor SELL, is no fill: it goes to
    `on_bad(row, why)` (the venue counts and logs it), never dropped unseen.
    """
    by_order: dict[str, list[tuple[int, w.TradeRow]]] = {}
    for r in rows:
        by_order.setdefault(r.orderNumber, []).append((r.ts_ns or 0, r))
    fills = []
    for number, group in by_order.items():
        sizes = _trade_sizes(group, (book_filled or {}).get(number))
        total = ZERO
        for (ts, r), size in zip(group, sizes, strict=False):
            price, side = w.dec(r.tradePrice), side_of(r.transactionType)
            if not size:
                continue  # nothing of its own (a cumulative row that adds nothing)
            if price is None or side is None:
                if on_bad is not None:
                    on_bad(r, "no price" if price is None else "no side")
                continue
            total += size
            fills.append(
                Fill(
                    venue=venue,
                    instrument=iid_of.get((r.exchange.upper(), r.tradingSymbol.upper())) or instrument_id(venue, r.exchange, r.tradingSymbol),
                    side=side,
                    qty=size,
                    price=price,
                    fill_id=r.tradeNumber or f"{number}:{w.text(total)}",
                    fee_asset="INR",
                    venue_order_id=number,
                    ts_event=ts,
                )
            )
    fills.sort(key=lambda f: f.ts_event)
    return fills


def within_book(fills: Iterable[Fill], book_filled: Mapping[str, Decimal]) -> tuple[list[Fill], int]:
    """The fills an order book shows (an order's never add up beyond its filledQuantity: those past
    it wait for a later look), and how many were held back."""
    kept: list[Fill] = []
    totals: dict[str, Decimal] = {}
    held = 0
    for fill in fills:
        number = fill.venue_order_id or ""
        total = totals.get(number, ZERO) + fill.qty
        if number in book_filled and total > book_filled[number]:
            held += 1
            continue
        totals[number] = total
        kept.append(fill)
    return kept, held


def _trade_sizes(group: list[tuple[int, w.TradeRow]], book_filled: Decimal | None) -> list[Decimal | None]:
    """The size of each of one order's trades; sorts `group` oldest first (in place)."""
    if all(r.tradeQuantity for _, r in group):
        group.sort(key=lambda pair: (pair[0], pair[1].tradeNumber))
        return [w.dec(r.tradeQuantity) for _, r in group]
    group.sort(key=lambda pair: (pair[0], w.dec(pair[1].filledQuantity) or ZERO, pair[1].tradeNumber))
    values = [r.size for _, r in group]
    if book_filled is None or sum((v or ZERO for v in values), ZERO) <= book_filled:
        return values  # each row is one trade
    sizes: list[Decimal | None] = []
    before = ZERO
    for value in values:  # cumulative: each row's size is what it adds
        if value is None or value <= before:
            sizes.append(None)
            continue
        sizes.append(value - before)
        before = value
    return sizes


def match_order(
    rows: Iterable[w.OrderRow], order: Order, inst: Instrument, claimed: Mapping[str, str], earliest_ns: int
) -> w.OrderRow | None:
    """The order book row that is `order`, or None: same exchange and symbol, side, quantity, limit
    and trigger prices, placed at or after `earliest_ns`, not attributed to another order (`claimed`:
    order number -> client order id); of those, the earliest."""
    rows = list(rows)
    for row in rows:
        if claimed.get(row.orderNumber) == order.client_order_id:
            return row  # attributed to this very order already
    side = SIDE_CODES[order.side]
    names = {inst.base.upper(), f"{inst.base}-EQ".upper()}
    found: list[tuple[int, w.OrderRow]] = []
    for row in rows:
        if row.orderNumber in claimed or row.exchange.upper() != inst.exchange or row.tradingSymbol.upper() not in names:
            continue
        if row.transactionType.upper() != side or row.total != order.qty:
            continue
        if order.type in PRICED_TYPES and w.dec(row.orderPrice) != order.price:
            continue
        if order.type in STOP_TYPES and w.dec(row.triggerPrice) != order.trigger_price:
            continue
        placed = w.ist_ns(row.orderTime)
        if placed is not None and placed < earliest_ns:
            continue
        found.append((placed or 0, row))
    return min(found, key=lambda pair: pair[0])[1] if found else None


def instrument_id(venue: str, exchange: str, trading_symbol: str) -> str:
    """The instrument id of a row naming an instrument not loaded (`-EQ` series suffix dropped)."""
    symbol = trading_symbol[:-3] if trading_symbol.upper().endswith("-EQ") else trading_symbol
    return f"{venue}:{exchange.upper()}:{symbol}"


# --- candles -----------------------------------------------------------------------------------

INTRADAY_MINUTES: Final = (1, 5, 10, 15, 30, 60)  # /intraday/candleData's intervals; a day: /history
DAY_S: Final = 86_400


def bars_from_candles(iid: str, interval_s: int, rows: Iterable[w.IntradayCandle | w.HistoricalCandle]) -> list[Bar]:
    """Samco's candles as Bars: `dateTime` ("2026-11-20 09:21:00.0", IST) or `date` (an IST day)
    is the candle's start; a row whose time or prices do not read is left out."""
    bars = []
    for row in rows:
        text = row.dateTime.partition(".")[0] if isinstance(row, w.IntradayCandle) else f"{row.date} 00:00:00"
        start = w.ist_ns(text)
        try:
            values = [float(v) for v in (row.open, row.high, row.low, row.close, row.volume or "0")]
        except ValueError:
            continue
        if start is None:
            continue
        open_, high, low, close, volume = values
        bars.append(Bar(iid, interval_s, open_, high, low, close, volume, start, start + interval_s * 1_000_000_000))
    return sorted(bars, key=lambda b: b.ts_start)
