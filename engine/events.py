"""Typed events: market data in floats, money and owned quantities in Decimal, time in integer ns."""

from __future__ import annotations

import enum
from decimal import Decimal

from msgspec import Struct, field

ZERO = Decimal(0)


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"


class TimeInForce(enum.StrEnum):
    GTC = "gtc"
    DAY = "day"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "po"


class OrderStatus(enum.StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    PLACED = "placed"
    UPDATED = "updated"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return self not in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Pending(enum.StrEnum):
    """A request in flight beside the status: an order can be `updated` with a cancel pending."""

    CANCEL = "cancel"
    MODIFY = "modify"


class FeedState(enum.StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STALE = "stale"
    DISCONNECTED = "disconnected"


# --- instruments -----------------------------------------------------------------------------


class Instrument(Struct, frozen=True, gc=False, kw_only=True):
    """What an instrument id refers to. `id` is "venue:symbol", e.g. "gopax:BTC-KRW"."""

    id: str
    venue: str
    symbol: str
    base: str
    quote: str
    exchange: str
    tick_size: Decimal
    lot_size: Decimal = Decimal(1)
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    freeze_qty: Decimal | None = None
    kind: str = "spot"
    token: str | None = None


def instrument_id(venue: str, symbol: str) -> str:
    return f"{venue}:{symbol}"


def split_instrument_id(iid: str) -> tuple[str, str]:
    venue, sep, symbol = iid.partition(":")
    if not sep or not venue or not symbol:
        raise ValueError(f"instrument id must look like 'venue:symbol', got {iid!r}")
    return venue, symbol


# --- market data (floats) --------------------------------------------------------------------


class Quote(Struct, frozen=True, gc=False):
    instrument: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    ts_event: int
    ts_recv: int
    last: float | None = None


class Trade(Struct, frozen=True, gc=False):
    instrument: str
    price: float
    size: float
    ts_event: int
    ts_recv: int
    aggressor: Side | None = None
    trade_id: str | None = None


class Bar(Struct, frozen=True, gc=False):
    instrument: str
    interval_s: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    ts_start: int
    ts_event: int


class BookSnapshot(Struct, frozen=True, gc=False):
    """Levels best first: bids descending, asks ascending, each (price, size)."""

    instrument: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    ts_event: int
    ts_recv: int


MARKET_DATA = (Quote, Trade, Bar, BookSnapshot)


# --- execution (Decimal) ---------------------------------------------------------------------


class Order(Struct, frozen=True, gc=False, kw_only=True):
    """The order manager's record; every change makes a new snapshot."""

    client_order_id: str
    strategy_id: str
    instrument: str
    venue: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    fees: Decimal = ZERO
    venue_order_id: str | None = None
    reason: str | None = None
    pending: Pending | None = None
    stop_pending: bool = False
    after_market: bool = False
    options: dict[str, str] = field(default_factory=dict)
    parent_id: str | None = None  # the first slice, when a freeze quantity split the order
    created_ns: int = 0
    updated_ns: int = 0

    @property
    def remaining(self) -> Decimal:
        left = self.qty - self.filled_qty
        return left if left > 0 else ZERO

    @property
    def is_open(self) -> bool:
        return self.status not in _TERMINAL


class OrderUpdate(Struct, frozen=True, gc=False):
    """The manager's announcement of an order's new state (routed by strategy id)."""

    order: Order
    previous: OrderStatus | None
    ts: int


class OrderReport(Struct, frozen=True, gc=False, kw_only=True):
    """What a venue says about one of our orders, already mapped onto the engine's statuses."""

    venue: str
    status: OrderStatus
    client_order_id: str | None = None
    venue_order_id: str | None = None
    filled_qty: Decimal | None = None
    avg_price: Decimal | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reason: str | None = None
    stop_pending: bool | None = None
    after_market: bool | None = None
    instrument: str | None = None
    side: Side | None = None
    ts_event: int = 0


class Fill(Struct, frozen=True, gc=False, kw_only=True):
    """A trade against one of our orders; `fill_id` is the venue's id, used to de-duplicate."""

    venue: str
    instrument: str
    side: Side
    qty: Decimal
    price: Decimal
    fill_id: str
    fee: Decimal = ZERO
    fee_asset: str | None = None
    client_order_id: str | None = None
    venue_order_id: str | None = None
    strategy_id: str | None = None
    liquidity: str | None = None
    ts_event: int = 0
    ts_recv: int = 0


class Balance(Struct, frozen=True, gc=False, kw_only=True):
    venue: str
    asset: str
    free: Decimal
    locked: Decimal = ZERO
    ts: int = 0

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class Position(Struct, frozen=True, gc=False, kw_only=True):
    instrument: str
    qty: Decimal
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    strategy_id: str | None = None


# --- system ----------------------------------------------------------------------------------


class FeedStatus(Struct, frozen=True, gc=False, kw_only=True):
    venue: str
    state: FeedState
    subscription: str | None = None
    detail: str = ""
    ts: int = 0


class EngineError(Struct, frozen=True, gc=False, kw_only=True):
    source: str
    message: str
    ts: int = 0
