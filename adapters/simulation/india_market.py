"""The market as an Indian broker's emulator keeps it, in no venue's wire shape.

What the Indian brokers' emulators (Firstock's, Samco's) show alike: a scrip's names (its bare
symbol, its key in the simulated exchange, its kind), the simulated exchange over the scrips, the
day's statistics a tick reports, candles bucketed from IST midnight, a position summed from the
fills, order numbers (yymmdd and a sequence), money and quantities as text, the RMS's rejection
text, and the lot and tick checks of an order's quantity and prices. Field names, units (paise)
and status words stay in each venue's `emulator/market.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol, TypeVar

import msgspec

from adapters.india import TradingCalendar, ist_date, make_instrument
from adapters.simulation.account import FeeSchedule
from adapters.simulation.exchange import EmulatorClock, FillRecord, PublicTrade, SimExchange
from engine.data.synthetic import WalkSpec
from engine.events import ZERO, Instrument, Side

NS = 1_000_000_000
IST_OFFSET_NS = 19_800 * NS  # IST is UTC+05:30
KINDS = {"EQ": "equity", "FUTIDX": "future", "FUTSTK": "future"}  # anything else: an option


# --- scrips -------------------------------------------------------------------------------------


class ScripNames:
    """The names a scrip spec derives from its trading symbol, exchange and instrument code; mixed
    into each venue's frozen `ScripSpec` dataclass, which holds those fields."""

    trading_symbol: str  # "RELIANCE-EQ", "NIFTY26NOVFUT"
    exchange: str
    instrument: str  # EQ, FUTIDX, OPTIDX, FUTSTK

    @property
    def symbol(self) -> str:
        """The bare symbol ("RELIANCE" for "RELIANCE-EQ")."""
        return self.trading_symbol[:-3] if self.trading_symbol.endswith("-EQ") else self.trading_symbol

    @property
    def key(self) -> str:
        """The market's key inside the simulated exchange ("NSE:RELIANCE")."""
        return f"{self.exchange}:{self.symbol}"

    @property
    def kind(self) -> str:
        return KINDS.get(self.instrument, "option")


class Scrip(Protocol):
    """What the shared code reads of a venue's scrip spec."""

    @property
    def exchange(self) -> str: ...
    @property
    def trading_symbol(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def token(self) -> str: ...
    @property
    def price(self) -> float: ...
    @property
    def tick(self) -> str: ...
    @property
    def lot(self) -> int: ...
    @property
    def size(self) -> float: ...


def scrip_key(exchange: str, symbol: str) -> str:
    """The key of the scrip an order names ("nse", "reliance-eq" -> "NSE:RELIANCE")."""
    name = symbol.upper()
    return f"{exchange.upper()}:{name[:-3] if name.endswith('-EQ') else name}"


def scrip_exchange(
    venue: str, scrips: Iterable[Scrip], *, seed: int, clock: EmulatorClock, calendar: TradingCalendar, tick_interval_s: float
) -> SimExchange:
    """The simulated exchange over `scrips`, open during the calendar's sessions; no fees."""
    pairs: list[tuple[Instrument, WalkSpec]] = []
    for s in scrips:
        inst = make_instrument(venue, s.exchange, s.symbol, Decimal(s.tick), Decimal(s.lot), s.kind, token=s.token)
        pairs.append((inst, WalkSpec(instrument=inst.symbol, price=s.price, tick=float(s.tick), size=s.size, reversion=0.01)))
    return SimExchange(
        pairs, seed=seed, clock=clock, fees=FeeSchedule(),
        is_open=lambda inst, ts: calendar.is_open(inst.exchange, ts), tick_interval_s=tick_interval_s,
    )


# --- orders -------------------------------------------------------------------------------------


class Traded(Protocol):
    """What the shared code reads of a venue's emulated order."""

    @property
    def spec(self) -> Scrip: ...
    @property
    def product(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def trigger(self) -> Decimal | None: ...
    @property
    def fills(self) -> list[FillRecord]: ...


class OrderNumbers:
    """Broker-like order numbers: yymmdd (IST) + a `digits`-digit sequence ("26112000000001")."""

    def __init__(self, digits: int) -> None:
        self._seq = itertools.count(1)
        self._digits = digits

    def next(self, ts_ns: int) -> str:
        return f"{ist_date(ts_ns):%y%m%d}{next(self._seq):0{self._digits}d}"


def rms_text(exchange: SimExchange, owner: str, order: Traded) -> str:
    """The RMS's reason for an order the account cannot carry: the holdings a sell lacks, or the
    margin a buy needs (at its price, else its trigger, else the ask) against the free cash."""
    account = exchange.account(owner)
    if order.side is Side.SELL:
        held = account.free.get(order.spec.symbol, Decimal(0))
        return f"RMS:Insufficient holdings: {order.qty} {order.spec.trading_symbol} to sell, {held} available"
    quote = exchange.market(order.spec.key).quote
    reference = order.price or order.trigger or Decimal(repr(quote.ask if quote is not None else order.spec.price))
    required = (order.qty * reference).quantize(Decimal("0.01"))
    return f"RMS:Margin Exceeds,Required:{required}, Available:{account.free.get('INR', Decimal(0)):.2f}"


class Unfit(ValueError):
    """An order's quantity or price the venue refuses; the message says why, in the venues' words."""


def whole_lots(text: str, lot: int, freeze: int = 0) -> Decimal:
    """A quantity of whole lots (at most `freeze`, when it is not 0); `Unfit` otherwise."""
    try:
        qty = Decimal(text)
    except InvalidOperation:
        raise Unfit(f"Invalid quantity {text!r}") from None
    if qty <= 0 or qty != qty.to_integral_value():
        raise Unfit(f"Invalid quantity {text!r}")
    if qty % lot:
        raise Unfit(f"Quantity should be a multiple of the lot size {lot}")
    if freeze and qty > freeze:
        raise Unfit(f"Quantity exceeds the freeze quantity {freeze}")
    return qty


def on_tick(text: str, tick: str, what: str) -> Decimal:
    """A positive price (`what`: "price", "trigger price") on the tick; `Unfit` otherwise."""
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise Unfit(f"Invalid {what} {text!r}") from None
    if price <= 0:
        raise Unfit(f"Invalid {what} {text!r}")
    if price % Decimal(tick):
        raise Unfit(f"The {what} should be a multiple of the tick size {tick}")
    return price


def money(value: Decimal | float | None) -> str:
    """Two decimals; "0.00" for nothing and for -0 (which would print as "-0.00")."""
    if not value:
        return "0.00"
    return f"{Decimal(repr(value)) if isinstance(value, float) else value:.2f}"


def qty_text(value: Decimal) -> str:
    """A whole quantity as digits, any other in plain digits (no exponent)."""
    return str(int(value)) if value == value.to_integral_value() else format(value, "f")


# --- positions ----------------------------------------------------------------------------------

OrderT = TypeVar("OrderT", bound=Traded)


def fills_by_position(
    orders: Iterable[OrderT], keep: Callable[[FillRecord], bool] = lambda fill: True
) -> dict[tuple[str, str], list[tuple[OrderT, FillRecord]]]:
    """Every fill `keep` takes with its order, by (scrip key, product), in the order first traded."""
    groups: dict[tuple[str, str], list[tuple[OrderT, FillRecord]]] = {}
    for o in orders:
        for f in o.fills:
            if keep(f):
                groups.setdefault((o.spec.key, o.product), []).append((o, f))
    return groups


class Position(msgspec.Struct, frozen=True):
    """One scrip and product's fills summed, marked at `mark`."""

    bought: Decimal
    sold: Decimal
    buy_value: Decimal
    sell_value: Decimal
    mark: Decimal

    @classmethod
    def of(cls, trades: Iterable[tuple[Traded, FillRecord]], mark: float) -> Position:
        trades = list(trades)
        return cls(
            bought=sum((f.qty for o, f in trades if o.side is Side.BUY), ZERO),
            sold=sum((f.qty for o, f in trades if o.side is Side.SELL), ZERO),
            buy_value=sum((f.qty * f.price for o, f in trades if o.side is Side.BUY), ZERO),
            sell_value=sum((f.qty * f.price for o, f in trades if o.side is Side.SELL), ZERO),
            mark=Decimal(repr(mark)),
        )

    @property
    def avg_buy(self) -> Decimal:
        return self.buy_value / self.bought if self.bought else ZERO

    @property
    def avg_sell(self) -> Decimal:
        return self.sell_value / self.sold if self.sold else ZERO

    @property
    def net(self) -> Decimal:
        return self.bought - self.sold

    @property
    def realized(self) -> Decimal:
        return min(self.bought, self.sold) * (self.avg_sell - self.avg_buy)

    @property
    def unrealized(self) -> Decimal:
        net = self.net
        return net * (self.mark - (self.avg_buy if net > 0 else self.avg_sell)) if net else ZERO


# --- market data --------------------------------------------------------------------------------


@dataclass
class DayStats:
    """What a tick says beyond the touch: the day's open/high/low, volume, the last trade."""

    prev_close: float
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    volume: float = 0.0
    last: float = 0.0
    last_qty: float = 0.0
    last_ns: int = 0

    def trade(self, price: float, size: float, ts_ns: int) -> None:
        if not self.open:
            self.open = self.high = self.low = price
        self.high, self.low = max(self.high, price), min(self.low, price)
        self.volume += size
        self.last, self.last_qty, self.last_ns = price, size, ts_ns


def candle_buckets(trades: Iterable[PublicTrade], start_ns: int, end_ns: int, span_ns: int) -> list[tuple[int, list[float]]]:
    """(start, [open, high, low, close, volume]) per `span_ns` bucket (aligned to IST midnight) of
    the public trades from `start_ns` to `end_ns`, oldest first."""
    groups: dict[int, list[float]] = {}
    for t in trades:
        ts, price, size = t.ts_ns, t.price, t.size
        if start_ns <= ts <= end_ns:
            bucket = ts - (ts + IST_OFFSET_NS) % span_ns
            row = groups.setdefault(bucket, [price, price, price, price, 0.0])
            row[1], row[2], row[3] = max(row[1], price), min(row[2], price), price
            row[4] += size
    return sorted(groups.items())
