"""The emulator's market as GOPAX shows it: pairs and tick tiers, the public order book with
exchange-wide entry ids, and our simulated orders and fills rendered in GOPAX's shapes.

The market itself (price process, matching, accounts) is `adapters.simulation.exchange.SimExchange`;
this module only looks at it the way GOPAX's API does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from adapters.gopax import schemas as w
from adapters.gopax.parsing import FORCED_CODES, STATUS_CODES, TIF_CODES
from adapters.simulation.exchange import FillRecord, SimExchange
from adapters.simulation.matching import SimOrder
from engine.data.synthetic import WalkSpec
from engine.events import (
    ZERO,
    Instrument,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)

NS = 1_000_000_000
S = OrderStatus
T = TypeVar("T")
DEPTH = 50  # levels a side the price process shows
VISIBLE_AFTER_DONE_NS = 600 * NS  # finished orders stay visible for 10 minutes
# GOPAX's KRW price tiers: (from price, tick)
KRW_TICKS: tuple[tuple[int, int], ...] = (
    (1, 1), (5_000, 5), (10_000, 10), (50_000, 50), (100_000, 100), (500_000, 500), (2_000_000, 1000),
)


@dataclass(frozen=True)
class PairSpec:
    name: str
    price: float
    size: float  # typical size at the touch, base units
    base_scale: int = 8
    quote_scale: int = 0
    id: int = 0

    @property
    def base(self) -> str:
        return self.name.split("-")[0]

    @property
    def quote(self) -> str:
        return self.name.split("-")[1]


DEFAULT_PAIRS: tuple[PairSpec, ...] = (
    PairSpec("BTC-KRW", 135_000_000, 0.4, id=1),
    PairSpec("ETH-KRW", 4_800_000, 6.0, id=2),
    PairSpec("XRP-KRW", 3_000, 20_000.0, id=3),
)
ASSET_NAMES = {"KRW": ("대한민국 원", "Korean Won"), "BTC": ("비트코인", "Bitcoin"), "ETH": ("이더리움", "Ethereum"), "XRP": ("리플", "Ripple")}


def tick_for(price: Decimal | float) -> Decimal:
    """The tick GOPAX's KRW tiers give `price`."""
    tick = KRW_TICKS[0][1]
    for start, step in KRW_TICKS:
        if price >= start:
            tick = step
    return Decimal(tick)


def instrument(spec: PairSpec) -> tuple[Instrument, WalkSpec]:
    tick = tick_for(spec.price)
    inst = Instrument(
        id=f"gopax:{spec.name}", venue="gopax", symbol=spec.name, base=spec.base, quote=spec.quote,
        exchange="GOPAX", tick_size=tick, lot_size=Decimal(1).scaleb(-spec.base_scale),
    )
    walk = WalkSpec(instrument=spec.name, price=spec.price, tick=float(tick), size=spec.size, reversion=0.01)
    return inst, walk


def num(value: float) -> float | int:
    """Whole numbers go out as JSON integers, as GOPAX writes prices."""
    return int(value) if value == int(value) else value


def seconds(ts_ns: int) -> float:
    return round(ts_ns / NS, 3)


# --- the public book ---------------------------------------------------------------------------


class PublicBook:
    """One pair's book: the price process's levels around the touch plus resting user orders.

    Every change of a level takes the next id of the exchange-wide `entry_ids` counter, as on
    GOPAX. Walk levels behind a user order at a better price are hidden, so the book never crosses.
    """

    def __init__(self, spec: PairSpec, tick: Decimal, entry_ids: EntryIds) -> None:
        self.spec = spec
        self.tick = float(tick)
        self._ids = entry_ids
        self.bids: dict[float, w.BookEntry] = {}
        self.asks: dict[float, w.BookEntry] = {}

    def refresh(self, quote: Quote | None, resting: Iterable[SimOrder], now_ns: int) -> tuple[list[w.BookEntry], list[w.BookEntry]]:
        """Bring the book to the current state; the changed entries (asks, bids) best first."""
        bids, asks = self._target(quote, resting)
        updated = seconds(now_ns)
        return self._diff(self.asks, asks, updated, False), self._diff(self.bids, bids, updated, True)

    def _target(self, quote: Quote | None, resting: Iterable[SimOrder]) -> tuple[dict[float, float], dict[float, float]]:
        user_bids: dict[float, float] = {}
        user_asks: dict[float, float] = {}
        for order in resting:
            side = user_bids if order.side is Side.BUY else user_asks
            px = float(order.price)  # type: ignore[arg-type]
            side[px] = side.get(px, 0.0) + float(order.remaining)
        bids: dict[float, float] = {}
        asks: dict[float, float] = {}
        if quote is not None and quote.bid > 0 and quote.ask > 0:
            top_user_ask = min(user_asks, default=float("inf"))
            top_user_bid = max(user_bids, default=0.0)
            for i in range(DEPTH):
                bid = quote.bid - i * self.tick
                ask = quote.ask + i * self.tick
                if 0 < bid < top_user_ask:
                    bids[bid] = quote.bid_size if i == 0 else self._depth_size(bid)
                if ask > top_user_bid:
                    asks[ask] = quote.ask_size if i == 0 else self._depth_size(ask)
        for px, qty in user_bids.items():
            bids[px] = bids.get(px, 0.0) + qty
        for px, qty in user_asks.items():
            asks[px] = asks.get(px, 0.0) + qty
        return ({px: round(q, 8) for px, q in bids.items()}, {px: round(q, 8) for px, q in asks.items()})

    def _depth_size(self, price: float) -> float:
        """A size behind the touch that depends on the price only, so it moves with its level."""
        step = int(round(price / self.tick))
        return self.spec.size * (0.4 + (step * 2_654_435_761 % 997) / 997)

    def _diff(self, held: dict[float, w.BookEntry], target: dict[float, float], updated: float, descending: bool) -> list[w.BookEntry]:
        changed: list[w.BookEntry] = []
        for px in [px for px in held if px not in target]:
            del held[px]
            changed.append(w.BookEntry(next(self._ids), px, 0.0, updated))
        for px, volume in target.items():
            old = held.get(px)
            if old is None or old.volume != volume:
                entry = held[px] = w.BookEntry(next(self._ids), px, volume, updated)
                changed.append(entry)
        changed.sort(key=lambda e: -e.price if descending else e.price)
        return changed

    def side(self, bids: bool, limit: int | None = None) -> list[w.BookEntry]:
        """One side best first, at most `limit` levels."""
        levels = self.bids if bids else self.asks
        prices = sorted(levels, reverse=bids)[:limit]
        return [levels[px] for px in prices]


# --- our orders as GOPAX shows them ------------------------------------------------------------


@dataclass
class OrderMeta:
    """What GOPAX reports about an order that the matching engine does not keep."""

    protection: str = "no"
    updated_ns: int = 0
    finished_ns: int | None = None
    fee_taking: Decimal = ZERO
    fee_making: Decimal = ZERO
    last_sent: tuple[str, Decimal] | None = field(default=None)  # (status, remaining) last pushed


TIF_WORDS = {TimeInForce.GTC: "gtc", TimeInForce.POST_ONLY: "po", TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok"}
_TIF_NUMBERS = {word: code for code, word in TIF_CODES.items()}
_STATUS_NUMBERS = {word: code for code, word in STATUS_CODES.items()}
_FORCED_NUMBERS = {word: code for code, word in FORCED_CODES.items()}


def status_of(order: SimOrder) -> tuple[str, str | None]:
    """GOPAX's status word and forcedCompletionReason for a simulated order."""
    if order.status in (S.PLACED, S.UPDATED):
        if not order.triggered:
            return "reserved", None
        return ("placed" if order.status is S.PLACED else "updated"), None
    if order.status is S.COMPLETED:
        return "completed", None
    by_tif = (order.status is S.EXPIRED and order.tif in (TimeInForce.IOC, TimeInForce.FOK)) or (
        order.status is S.REJECTED and order.tif is TimeInForce.POST_ONLY
    )
    return "cancelled", ("timeInForce" if by_tif and not order.acts_as_market else None)


def amounts(order: SimOrder) -> tuple[Decimal, Decimal]:
    """(amount, remaining) in GOPAX's units: a market buy's are quote currency."""
    if order.notional is not None:
        left = order.notional - order.spent if order.is_open else ZERO
        return order.notional, left
    return order.qty, (order.remaining if order.is_open else ZERO)


def rest_order(order: SimOrder, meta: OrderMeta) -> w.Order:
    status, forced = status_of(order)
    amount, remaining = amounts(order)
    buy = order.side is Side.BUY
    fees = meta.fee_taking + meta.fee_making
    base = order.filled if buy else -order.filled
    quote = -order.spent if buy else order.spent
    return w.Order(
        id=order.id,
        clientOrderId=order.client_id,
        status=status,
        forcedCompletionReason=forced,
        tradingPairName=order.instrument,
        side=order.side,
        type="market" if order.acts_as_market else "limit",
        price=order.price,
        stopPrice=order.trigger,
        amount=amount,
        remaining=remaining,
        protection=meta.protection,
        timeInForce=TIF_WORDS.get(order.tif, "gtc"),
        createdAt=w.ns_iso(order.created_ns),
        updatedAt=w.ns_iso(meta.updated_ns or order.created_ns),
        balanceChange=w.BalanceChange(
            baseGross=base, baseNet=base, quoteGross=quote,
            quoteFee=w.FeeSplit(taking=meta.fee_taking, making=meta.fee_making), quoteNet=quote - fees,
        ),
    )


def ws_order(order: SimOrder, meta: OrderMeta, quote_asset: str, *, client_ids: bool = False) -> w.WsOrder:
    """An order as the socket shows it: numeric enums, no `clientOrderId` unless `client_ids`."""
    status, forced = status_of(order)
    amount, remaining = amounts(order)
    return w.WsOrder(
        orderId=int(order.id),
        status=_STATUS_NUMBERS[status],
        side=1 if order.side is Side.BUY else 2,
        type=2 if order.acts_as_market else 1,
        price=order.price or ZERO,
        orgAmount=amount,
        remainAmount=remaining,
        createdAt=seconds(order.created_ns),
        updatedAt=seconds(meta.updated_ns or order.created_ns),
        tradingPairName=order.instrument,
        tradedBaseAmount=order.filled,
        tradedQuoteAmount=order.spent,
        feeAmount=meta.fee_taking + meta.fee_making,
        feeAssetName=quote_asset,
        rewardAssetName=quote_asset,
        timeInForce=_TIF_NUMBERS[TIF_WORDS.get(order.tif, "gtc")],
        protection=2 if meta.protection == "yes" else 1,
        forcedCompletionReason=_FORCED_NUMBERS[forced],
        stopPrice=order.trigger or ZERO,
        takerFeeAmount=meta.fee_taking,
        clientOrderId=order.client_id if client_ids else None,
    )


def own_trade(fill: FillRecord) -> w.OwnTrade:
    return w.OwnTrade(
        id=fill.id, orderId=int(fill.order_id), baseAmount=fill.qty, quoteAmount=fill.qty * fill.price,
        fee=fill.fee, price=fill.price, timestamp=w.ns_iso(fill.ts_ns), side=fill.side,
        tradingPairName=fill.instrument, feeAsset=fill.fee_asset, position=fill.liquidity,
    )


def ws_trade(fill: FillRecord) -> w.WsTrade:
    return w.WsTrade(
        tradeId=fill.id, orderId=int(fill.order_id), side=1 if fill.side is Side.BUY else 2,
        baseAmount=fill.qty, quoteAmount=fill.qty * fill.price, fee=fill.fee, price=fill.price,
        occurredAt=seconds(fill.ts_ns), tradingPairName=fill.instrument, type=1, feeAssetName=fill.fee_asset,
    )


def is_resting(order: SimOrder) -> bool:
    """On the book: working, triggered, priced (a stop waiting for its trigger is not)."""
    return order.is_open and order.triggered and order.price is not None and order.type is not OrderType.MARKET


# --- id/time windows, as GET /trades and the public trades take them ---------------------------


def window(
    rows: Iterable[T],
    id_of: Callable[[T], int],
    ts_of: Callable[[T], int],
    query: Any,
    *,
    max_limit: int = 100,
) -> list[T]:
    """Rows newest first, filtered by latestmin/pastmax (ids) and after/before (s, or ms)."""
    latestmin = _int(query.get("latestmin"))
    pastmax = _int(query.get("pastmax"))
    after = _epoch_ns(query.get("after"))
    before = _epoch_ns(query.get("before"))
    limit = min(_int(query.get("limit")) or max_limit, max_limit)
    picked = [
        r for r in rows
        if (latestmin is None or id_of(r) > latestmin)
        and (pastmax is None or id_of(r) < pastmax)
        and (after is None or ts_of(r) >= after)
        and (before is None or ts_of(r) < before)
    ]
    picked.sort(key=id_of, reverse=True)
    return picked[:limit]


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _epoch_ns(text: str | None) -> int | None:
    """Seconds (current docs) or milliseconds (the seed): told apart by magnitude."""
    value = _int(text)
    if value is None:
        return None
    return value * 1_000_000 if value > 10**11 else value * NS


class EntryIds:
    """GOPAX's exchange-wide counter of order book entry updates."""

    def __init__(self, start: int = 84_000_001) -> None:
        self.last = start - 1

    def __next__(self) -> int:
        self.last += 1
        return self.last


def spot_exchange(pairs: Iterable[PairSpec], *, seed: int, clock: Any, fees: Any, tick_interval_s: float) -> SimExchange:
    return SimExchange([instrument(p) for p in pairs], seed=seed, clock=clock, fees=fees, tick_interval_s=tick_interval_s)
