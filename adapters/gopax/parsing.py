"""GOPAX wire -> engine: reports, fills and ticks from wire rows, and GOPAX's words both ways.

Status table (REST words; the socket's numbers map onto them first): placed -> placed, updated ->
updated, completed -> completed, cancelled -> cancelled (GOPAX's `forcedCompletionReason` kept as
the reason), reserved -> placed with the stop pending. A word (or number) not in the table gives
no report: the caller counts it (`VenueSync.unknown_status`: counted, logged once per word) and the
order is asked about again, never guessed. An order row with no `status` at all (the seed's list
rows) reads as "placed": GOPAX lists only working orders unless asked for past ones.

Sides are typed where they are decoded: the REST rows' `side` is the engine's `Side` (a word GOPAX
does not send fails the decode, a `VenueError`); the socket's numbers map here, and a number not
in the table raises `BadMessage`, which the venue counts, logs and drops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final, NamedTuple

from adapters.gopax import schemas as w
from engine.errors import InvalidOrder
from engine.events import Fill, Order, OrderReport, OrderStatus, OrderType, Side, TimeInForce
from engine.venue.values import BadValue

NS = 1_000_000_000
S = OrderStatus


class WireStatus(NamedTuple):
    status: OrderStatus
    stop_pending: bool  # a stop order waiting for its trigger


STATUS: Final[Mapping[str, WireStatus]] = {
    "placed": WireStatus(S.PLACED, False),
    "updated": WireStatus(S.UPDATED, False),
    "completed": WireStatus(S.COMPLETED, False),
    "cancelled": WireStatus(S.CANCELLED, False),
    "reserved": WireStatus(S.PLACED, True),
}
TIF: Final[Mapping[TimeInForce, str]] = {
    TimeInForce.GTC: "gtc",
    TimeInForce.POST_ONLY: "po",
    TimeInForce.IOC: "ioc",
    TimeInForce.FOK: "fok",
}
ORDER_TYPE: Final[Mapping[OrderType, str]] = {
    OrderType.LIMIT: "limit", OrderType.MARKET: "market", OrderType.STOP_LIMIT: "limit",
}

# The socket's numeric enums (its order objects and trade events).
STATUS_CODES: Final[Mapping[int, str]] = {1: "placed", 2: "cancelled", 3: "completed", 4: "updated", 5: "reserved"}
SIDE_CODES: Final[Mapping[int, Side]] = {1: Side.BUY, 2: Side.SELL}
TYPE_CODES: Final[Mapping[int, str]] = {1: "limit", 2: "market"}
TIF_CODES: Final[Mapping[int, str]] = {0: "gtc", 1: "po", 2: "ioc", 3: "fok"}
PROTECTION_CODES: Final[Mapping[int, str]] = {1: "no", 2: "yes"}
FORCED_CODES: Final[Mapping[int, str | None]] = {0: None, 1: "timeInForce", 2: "protection"}


class BadMessage(BadValue):
    """A socket message with a value GOPAX does not define (e.g. a side number): dropped, counted."""


def status_word(o: w.Order | w.WsOrder) -> str:
    """GOPAX's status word for a REST or socket order (a socket number not in the table as text)."""
    if isinstance(o, w.Order):
        return o.status or "placed"
    return STATUS_CODES.get(o.status, str(o.status))


def ws_side(venue: str, code: int) -> Side:
    side = SIDE_CODES.get(code)
    if side is None:
        raise BadMessage(venue, f"side {code!r} is not one of GOPAX's (1 bid, 2 ask)")
    return side


def report_from_rest(venue: str, iid: str, o: w.Order) -> OrderReport | None:
    """The engine's report of a REST order; None when its status word is not in STATUS."""
    known = STATUS.get(status_word(o))
    if known is None:
        return None
    filled, avg = _rest_filled(o)
    stamp = o.updatedAt or o.createdAt
    return OrderReport(
        venue=venue,
        status=known.status,
        client_order_id=o.clientOrderId,
        venue_order_id=o.id,
        filled_qty=filled,
        avg_price=avg,
        reason=o.forcedCompletionReason,
        stop_pending=known.stop_pending if o.stopPrice is not None else None,
        instrument=iid,
        side=o.side,
        ts_event=w.iso_ns(stamp) if stamp else 0,
    )


def report_from_ws(venue: str, iid: str, o: w.WsOrder) -> OrderReport | None:
    """The engine's report of a socket order; None when its status number is not in the table;
    `BadMessage` for a side number GOPAX does not define."""
    side = ws_side(venue, o.side)
    known = STATUS.get(status_word(o))
    if known is None:
        return None
    filled = o.tradedBaseAmount
    return OrderReport(
        venue=venue,
        status=known.status,
        client_order_id=o.clientOrderId,
        venue_order_id=str(o.orderId),
        filled_qty=filled,
        avg_price=o.tradedQuoteAmount / filled if filled else None,
        reason=FORCED_CODES.get(o.forcedCompletionReason),
        stop_pending=known.stop_pending if o.stopPrice else None,
        instrument=iid,
        side=side,
        ts_event=int(o.updatedAt * NS),
    )


def fill_from_rest(venue: str, iid: str, quote: str, t: w.OwnTrade) -> Fill:
    return Fill(
        venue=venue,
        instrument=iid,
        side=t.side,
        qty=t.baseAmount,
        price=t.price,
        fill_id=str(t.id),
        fee=t.fee,
        fee_asset=t.feeAsset or quote,
        venue_order_id=str(t.orderId),
        liquidity=t.position,
        ts_event=w.iso_ns(t.timestamp),
    )


def fill_from_ws(venue: str, iid: str, quote: str, t: w.WsTrade) -> Fill:
    """The engine's fill of a socket trade event; `BadMessage` for a side number not GOPAX's."""
    return Fill(
        venue=venue,
        instrument=iid,
        side=ws_side(venue, t.side),
        qty=t.baseAmount,
        price=t.price,
        fill_id=str(t.tradeId),  # the same id GET /trades gives: the manager drops the repeat
        fee=t.fee,
        fee_asset=t.feeAssetName or quote,
        venue_order_id=str(t.orderId),
        ts_event=int(t.occurredAt * NS),
    )


def _rest_filled(o: w.Order) -> tuple[Decimal | None, Decimal | None]:
    change = o.balanceChange
    if change is not None:
        base, quote = abs(change.baseGross), abs(change.quoteGross)
        return base, (quote / base if base else None)
    if o.remaining is not None and not (o.type == "market" and o.side is Side.BUY):
        return o.amount - o.remaining, None  # a market buy's amount is in the quote currency
    return None, None


def tick_at(tiers: Sequence[w.TickSize], price: float) -> Decimal:
    """The tick of the tier `price` falls in (tiers by ascending startPrice)."""
    tick = tiers[0].tickSize if tiers else Decimal(1)
    for tier in sorted(tiers, key=lambda t: t.startPrice):
        if Decimal(repr(price)) >= tier.startPrice:
            tick = tier.tickSize
    return tick


def build_request(order: Order, pair: str, amount: Decimal) -> w.OrderRequest:
    """The POST /orders body for `order` (`amount` already in GOPAX's units)."""
    if order.type not in ORDER_TYPE:
        raise InvalidOrder(order.venue, f"GOPAX has no {order.type.value} orders (stops must be limit orders)")
    is_limit = order.type is not OrderType.MARKET
    tif = None
    if is_limit:
        if order.tif not in TIF:
            raise InvalidOrder(order.venue, f"GOPAX has no {order.tif.value} orders (gtc, po, ioc, fok)")
        tif = TIF[order.tif]
    return w.OrderRequest(
        tradingPairName=pair,
        side=order.side.value,
        type=ORDER_TYPE[order.type],
        amount=amount,
        price=order.price if is_limit else None,
        stopPrice=order.trigger_price if order.type is OrderType.STOP_LIMIT else None,
        clientOrderId=order.client_order_id,
        protection=order.options.get("protection"),
        timeInForce=tif,
    )
