"""The emulator's market as GoPocket shows it: the contract list, the simulated exchange behind it,
the emulator's orders, and everything rendered in GoPocket's shapes (order and trade book rows,
history, positions, holdings, Noren order updates and socket ticks), every value a string.

The mechanics (price process, matching, the account) are `adapters.simulation.exchange.SimExchange`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.gopocket import schemas as w
from adapters.gopocket.contracts import Contract
from adapters.gopocket.parsing import AMO_WORD
from adapters.india import TradingCalendar, ist_date, make_instrument
from adapters.simulation.account import FeeSchedule
from adapters.simulation.exchange import EmulatorClock, FillRecord, SimExchange
from adapters.simulation.matching import SimOrder
from engine.data.synthetic import WalkSpec
from engine.events import ZERO, Instrument, OrderStatus, OrderType, Quote, Side

S = OrderStatus
OWNER = "DEMO01"
ORDER_TYPES: dict[str, OrderType] = {
    "LIMIT": OrderType.LIMIT, "L": OrderType.LIMIT, "LMT": OrderType.LIMIT, "MARKET": OrderType.MARKET,
    "MKT": OrderType.MARKET, "SL": OrderType.STOP_LIMIT, "SL-LMT": OrderType.STOP_LIMIT, "SLM": OrderType.STOP_MARKET,
    "SL-M": OrderType.STOP_MARKET, "SL-MKT": OrderType.STOP_MARKET,
}
CANONICAL_TYPE = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET", OrderType.STOP_LIMIT: "SL", OrderType.STOP_MARKET: "SLM"}
NOREN_TYPE = {OrderType.LIMIT: "LMT", OrderType.MARKET: "MKT", OrderType.STOP_LIMIT: "SL-LMT", OrderType.STOP_MARKET: "SL-MKT"}
PRODUCTS = {"CNC": "CNC", "C": "CNC", "DELIVERY": "CNC", "LONGTERM": "CNC", "MIS": "MIS", "I": "MIS", "INTRADAY": "MIS",
            "NORMAL": "NORMAL", "NRML": "NORMAL", "M": "NORMAL"}
NOREN_PRODUCT = {"CNC": "C", "MIS": "I", "NORMAL": "M"}


@dataclass(frozen=True)
class Spec:
    """One instrument of the emulator's contract master and where its price starts."""

    token: str
    symbol: str
    trading_symbol: str
    exchange: str
    instrument_type: str
    price: float
    tick: str = "0.05"
    lot: int = 1
    size: float = 2000.0
    expiry: str = ""
    isin: str = ""

    @property
    def key(self) -> str:
        """The simulated exchange's key ("NSE:SBIN"), the engine's symbol too."""
        name = self.symbol if self.instrument_type == "EQ" else self.trading_symbol
        return f"{self.exchange}:{name}"

    @property
    def kind(self) -> str:
        return "equity" if self.instrument_type == "EQ" else "future"

    def contract(self) -> Contract:
        return Contract(self.exchange, self.token, self.symbol, self.trading_symbol, self.instrument_type,
                        Decimal(self.lot), Decimal(self.tick), self.expiry, "", "XX" if self.kind == "future" else "", self.exchange)


def _eq(token: str, symbol: str, price: float, isin: str, exchange: str = "NSE", **kw: Any) -> Spec:
    return Spec(token, symbol, f"{symbol}-EQ", exchange, "EQ", price, isin=isin, **kw)


SPECS: tuple[Spec, ...] = (
    _eq("3045", "SBIN", 812.35, "INE062A01020"),
    _eq("2885", "RELIANCE", 1296.40, "INE002A01018"),
    _eq("1594", "INFY", 1482.10, "INE009A01021"),
    _eq("11536", "TCS", 3350.55, "INE467B01029"),
    _eq("1333", "HDFCBANK", 1702.80, "INE040A01034"),
    _eq("5097", "ZOMATO", 268.45, "INE758T01015"),
    _eq("11915", "YESBANK", 22.41, "INE528G01035", tick="0.01", size=50000),
    _eq("500325", "RELIANCE", 1296.30, "INE002A01018", exchange="BSE"),
    Spec("52168", "NIFTY", "NIFTY26DECFUT", "NFO", "FUTIDX", 26110.0, lot=75, size=650, expiry="2026-12-29"),
)
DEFAULT_HOLDINGS = {"NSE:SBIN": (Decimal(100), Decimal("790.10")), "NSE:INFY": (Decimal(20), Decimal("1450.00"))}


def gopocket_exchange(specs: Iterable[Spec], *, seed: int, clock: EmulatorClock, calendar: TradingCalendar,
                      tick_interval_s: float) -> SimExchange:
    pairs: list[tuple[Instrument, WalkSpec]] = []
    for s in specs:
        name = s.key.split(":", 1)[1]
        inst = make_instrument("gopocket", s.exchange, name, Decimal(s.tick), Decimal(s.lot), s.kind, token=s.token)
        pairs.append((inst, WalkSpec(instrument=inst.symbol, price=s.price, tick=float(s.tick), size=s.size, reversion=0.01)))
    return SimExchange(pairs, seed=seed, clock=clock, fees=FeeSchedule(),
                       is_open=lambda inst, ts: calendar.is_open(inst.exchange, ts), tick_interval_s=tick_interval_s)


# --- the emulator's orders ---------------------------------------------------------------------


@dataclass
class EmuOrder:
    number: str
    spec: Spec
    side: Side
    type: OrderType
    product: str
    complexity: str
    validity: str
    qty: Decimal
    price: Decimal | None
    trigger: Decimal | None
    placed_ns: int
    tag: str | None = None
    target: str = ""
    stop_loss: str = ""
    sim: SimOrder | None = None
    state: str = ""  # "" (the simulated order speaks) | "amo" | "rejected" | "cancelled"
    reason: str = ""
    release_ns: int = 0
    fills: list[FillRecord] = field(default_factory=list)
    history: list[tuple[int, str]] = field(default_factory=list)  # (ts, status word), oldest first

    @property
    def filled(self) -> Decimal:
        return self.sim.filled if self.sim is not None else ZERO

    @property
    def avg(self) -> Decimal | None:
        return self.sim.avg_price if self.sim is not None else None

    @property
    def is_open(self) -> bool:
        return self.state == "amo" or (self.state == "" and self.sim is not None and self.sim.is_open)

    def word(self) -> str:
        if self.state == "amo":
            return AMO_WORD
        if self.state == "rejected":
            return "REJECTED"
        if self.state == "cancelled" or self.sim is None:
            return "CANCELLED"
        status = self.sim.status
        if status in (S.PLACED, S.UPDATED):
            return "OPEN" if self.sim.triggered else "TRIGGER_PENDING"
        return {S.COMPLETED: "COMPLETE", S.REJECTED: "REJECTED"}.get(status, "CANCELLED")

    def rejection(self) -> str:
        if self.state == "rejected":
            return self.reason
        if self.sim is not None and self.sim.status in (S.REJECTED, S.EXPIRED):
            return self.sim.reason or ""
        return ""

    def note(self, ts_ns: int) -> None:
        """Remember the status word when it moved (the order history)."""
        word = self.word()
        if not self.history or self.history[-1][1] != word:
            self.history.append((ts_ns, word))


class OrderNumbers:
    """Noren-like order numbers: yymmdd + a eight-digit sequence ("26120700000001")."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)

    def next(self, ts_ns: int) -> str:
        return f"{ist_date(ts_ns):%y%m%d}{next(self._seq):08d}"


def money(value: Decimal | float | None) -> str:
    if not value:
        return "0.00"
    return f"{Decimal(repr(value)) if isinstance(value, float) else value:.2f}"


def qty_text(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else w.text(value)


def order_row(o: EmuOrder) -> dict[str, Any]:
    return {
        "brokerOrderId": o.number, "exchange": o.spec.exchange, "tradingSymbol": o.spec.trading_symbol,
        "instrumentId": o.spec.token, "transactionType": o.side.value.upper(), "orderType": CANONICAL_TYPE[o.type],
        "product": o.product, "orderComplexity": o.complexity, "validity": o.validity, "quantity": qty_text(o.qty),
        "price": money(o.price), "triggerPrice": money(o.trigger), "orderStatus": o.word(), "fillQuantity": qty_text(o.filled),
        "pendingQuantity": qty_text(o.qty - o.filled if o.is_open else ZERO), "averageTradedPrice": money(o.avg),
        "rejectReason": o.rejection(), "orderTime": w.ist_text(o.placed_ns), "exchangeOrderId": f"1{o.number[-9:]}",
        "orderTag": o.tag, "lotSize": str(o.spec.lot), "tickSize": o.spec.tick,
    }


def trade_row(o: EmuOrder, fill: FillRecord) -> dict[str, Any]:
    return {
        "brokerOrderId": o.number, "fillId": str(70_000_000 + fill.id), "exchange": o.spec.exchange,
        "tradingSymbol": o.spec.trading_symbol, "instrumentId": o.spec.token, "transactionType": o.side.value.upper(),
        "product": o.product, "orderType": CANONICAL_TYPE[o.type], "quantity": qty_text(o.qty),
        "fillQuantity": qty_text(fill.qty), "fillPrice": money(fill.price), "fillTime": w.ist_text(fill.ts_ns),
        "exchangeOrderId": f"1{o.number[-9:]}", "orderTag": o.tag,
    }


def history_rows(o: EmuOrder) -> list[dict[str, Any]]:
    """One row per status the order went through, newest first (as Noren lists them)."""
    return [
        {"brokerOrderId": o.number, "orderStatus": word, "quantity": qty_text(o.qty), "fillQuantity": qty_text(o.filled),
         "averageTradedPrice": money(o.avg), "price": money(o.price), "triggerPrice": money(o.trigger),
         "rejectReason": o.rejection() if word == "REJECTED" else "", "time": w.ist_text(ts)}
        for ts, word in reversed(o.history)
    ]


def noren_update(o: EmuOrder, user: str, fill: FillRecord | None = None) -> dict[str, str]:
    """A Noren order-update dict (the webhook's body; the socket's `om`)."""
    msg = {
        "t": "om", "norenordno": o.number, "uid": user, "actid": user, "exch": o.spec.exchange, "tsym": o.spec.trading_symbol,
        "token": o.spec.token, "qty": qty_text(o.qty), "prc": money(o.price), "trgprc": money(o.trigger),
        "prd": NOREN_PRODUCT.get(o.product, o.product), "status": o.word(), "trantype": "B" if o.side is Side.BUY else "S",
        "prctyp": NOREN_TYPE[o.type], "ret": o.validity, "fillshares": qty_text(o.filled), "avgprc": money(o.avg),
        "rejreason": o.rejection(), "exchordid": f"1{o.number[-9:]}", "amo": "Yes" if o.complexity == "AMO" else "No",
        "reporttype": {"OPEN": "New", "COMPLETE": "Fill", "CANCELLED": "Canceled", "REJECTED": "Rejected"}.get(o.word(), o.word()),
        "remarks": o.tag or "", "tm": str(o.placed_ns // 1_000_000_000),
    }
    if fill is not None:
        msg.update({"reporttype": "Fill", "flid": str(70_000_000 + fill.id), "flqty": qty_text(fill.qty),
                    "flprc": money(fill.price), "fltm": w.ist_text(fill.ts_ns)})
    return msg


def position_rows(orders: Iterable[EmuOrder], marks: dict[str, float]) -> list[dict[str, str]]:
    groups: dict[tuple[str, str], list[tuple[EmuOrder, FillRecord]]] = {}
    for o in orders:
        for f in o.fills:
            groups.setdefault((o.spec.key, o.product), []).append((o, f))
    rows = []
    for (key, product), trades in groups.items():
        spec = trades[0][0].spec
        bought = sum((f.qty for o, f in trades if o.side is Side.BUY), ZERO)
        sold = sum((f.qty for o, f in trades if o.side is Side.SELL), ZERO)
        avg_buy = sum((f.qty * f.price for o, f in trades if o.side is Side.BUY), ZERO) / bought if bought else ZERO
        avg_sell = sum((f.qty * f.price for o, f in trades if o.side is Side.SELL), ZERO) / sold if sold else ZERO
        net, mark = bought - sold, Decimal(repr(marks.get(key, 0.0)))
        rows.append({
            "exchange": spec.exchange, "tradingSymbol": spec.trading_symbol, "instrumentId": spec.token, "product": product,
            "netQuantity": qty_text(net), "netBuyQuantity": qty_text(bought), "netBuyAvgPrice": money(avg_buy),
            "netSellQuantity": qty_text(sold), "netSellAvgPrice": money(avg_sell), "ltp": money(mark),
            "realizedPnl": money(min(bought, sold) * (avg_sell - avg_buy)),
            "unrealizedPnl": money(net * (mark - (avg_buy if net > 0 else avg_sell)) if net else ZERO),
        })
    return rows


def touchline(spec: Spec, quote: Quote, volume: float, last: float, ack: bool) -> dict[str, str]:
    return {
        "t": "tk" if ack else "tf", "e": spec.exchange, "tk": spec.token, "ts": spec.trading_symbol, "lp": f"{last:.2f}",
        "v": str(int(volume)), "bp1": f"{quote.bid:.2f}", "sp1": f"{quote.ask:.2f}", "bq1": str(int(quote.bid_size)),
        "sq1": str(int(quote.ask_size)), "pc": "0.00", "ti": spec.tick, "ls": str(spec.lot),
    }


def depth(spec: Spec, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]], ack: bool) -> dict[str, str]:
    frame = {"t": "dk" if ack else "df", "e": spec.exchange, "tk": spec.token}
    for i, (p, q) in enumerate(bids[:5], start=1):
        frame[f"bp{i}"], frame[f"bq{i}"] = f"{p:.2f}", str(int(q))
    for i, (p, q) in enumerate(asks[:5], start=1):
        frame[f"sp{i}"], frame[f"sq{i}"] = f"{p:.2f}", str(int(q))
    return frame
