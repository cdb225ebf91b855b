"""The emulator's market as Firstock shows it: the scrip list, the emulator's orders, and everything
rendered in Firstock's shapes (order book and history rows, trades, positions, quotes, the socket's
ticks in paise and its Noren-style order updates).

The market mechanics (price process, matching, the account) are `adapters.simulation.exchange.SimExchange`,
and what the Indian brokers' emulators keep alike (the day's statistics, candle buckets, position
sums, money and quantity text) `adapters.simulation.india_market`'s; this module only looks at them
the way Firstock's API does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from adapters.firstock import schemas as w
from adapters.firstock import ticks
from adapters.india import NSE_INDEX_FNO
from adapters.simulation.exchange import FillRecord, PublicTrade
from adapters.simulation.india_market import (
    DayStats,
    Position,
    ScripNames,
    candle_buckets,
    fills_by_position,
    money,
    qty_text,
)
from adapters.simulation.matching import SimOrder
from engine.events import ZERO, OrderStatus, OrderType, Quote, Side

S = OrderStatus
NS = 1_000_000_000
OWNER = "FA9999"
PRICE_TYPES: dict[str, OrderType] = {
    "LMT": OrderType.LIMIT, "MKT": OrderType.MARKET, "SL-LMT": OrderType.STOP_LIMIT, "SL-MKT": OrderType.STOP_MARKET,
}
SIDES = {"B": Side.BUY, "S": Side.SELL}
FILL_ID_BASE = 100_000_000


@dataclass(frozen=True)
class ScripSpec(ScripNames):
    """One instrument of the emulator and where its price starts."""

    token: str
    trading_symbol: str  # "RELIANCE-EQ", "NIFTY26NOVFUT"
    name: str
    exchange: str
    instrument: str  # EQ, FUTIDX, OPTIDX, FUTSTK
    price: float
    tick: str = "0.05"
    lot: int = 1
    size: float = 2000.0
    freeze: int = 0
    expiry: str = ""
    strike: str = ""

    @property
    def stream_key(self) -> str:
        return f"{self.exchange}:{self.token}"


def _eq(token: str, name: str, price: float, tick: str = "0.05", size: float = 2000.0) -> ScripSpec:
    return ScripSpec(token, f"{name}-EQ", name, "NSE", "EQ", price, tick, 1, size)


_NIFTY, _BANKNIFTY = int(NSE_INDEX_FNO["NIFTY"].lot), int(NSE_INDEX_FNO["BANKNIFTY"].lot)
SCRIPS: tuple[ScripSpec, ...] = (
    _eq("2885", "RELIANCE", 1290.50),
    _eq("11536", "TCS", 3110.00),
    _eq("1333", "HDFCBANK", 985.40),
    _eq("1594", "INFY", 1512.40),
    _eq("4963", "ICICIBANK", 1385.20),
    _eq("3045", "SBIN", 952.35),
    _eq("10604", "BHARTIARTL", 2055.80),
    _eq("1660", "ITC", 408.65),
    _eq("11483", "LT", 3945.10),
    _eq("1922", "KOTAKBANK", 2098.75),
    _eq("5900", "AXISBANK", 1228.60),
    _eq("3499", "TATASTEEL", 171.26, tick="0.01"),
    _eq("3787", "WIPRO", 245.30),
    _eq("11915", "YESBANK", 22.41, tick="0.01", size=50000),
    ScripSpec("52168", "NIFTY26NOVFUT", "NIFTY", "NFO", "FUTIDX", 26110.0, lot=_NIFTY, size=650, freeze=1800, expiry="23-NOV-2026"),
    ScripSpec("52170", "BANKNIFTY26NOVFUT", "BANKNIFTY", "NFO", "FUTIDX", 59240.0, lot=_BANKNIFTY, size=300, freeze=900,
              expiry="23-NOV-2026"),
    ScripSpec("52201", "NIFTY26NOV26000CE", "NIFTY", "NFO", "OPTIDX", 182.35, lot=_NIFTY, size=6500, freeze=1800,
              expiry="23-NOV-2026", strike="26000"),
)


# --- the emulator's orders ---------------------------------------------------------------------


@dataclass
class EmuOrder:
    """An order as Firstock keeps it: the request, the simulated order once at the exchange, and
    its history (one row per state it was shown in, newest last)."""

    number: str
    spec: ScripSpec
    side: Side
    price_type: str
    product: str
    retention: str
    qty: Decimal
    price: Decimal | None
    trigger: Decimal | None
    amo: bool
    placed_ns: int
    remarks: str
    session: str = ""  # the jKey it was placed with
    sim: SimOrder | None = None
    state: str = ""  # "" (the simulated order speaks) | "amo" | "rejected" | "cancelled"
    reason: str = ""
    release_ns: int = 0
    cancel_at_ns: int | None = None
    fills: list[FillRecord] = field(default_factory=list)
    history: list[w.OrderRow] = field(default_factory=list)
    shown: str = ""  # the last status word told

    @property
    def type(self) -> OrderType:
        return PRICE_TYPES[self.price_type]

    @property
    def validity(self) -> str:
        """DAY or IOC: the retention, by the name the shared order life reads."""
        return self.retention

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)

    @property
    def is_open(self) -> bool:
        return self.state == "amo" or (self.state == "" and self.sim is not None and self.sim.is_open)

    def word(self) -> str:
        if self.state == "amo":
            return "PENDING"
        if self.state == "rejected":
            return "REJECTED"
        if self.state == "cancelled" or self.sim is None:
            return "CANCELED"
        status = self.sim.status
        if status in (S.PLACED, S.UPDATED, S.SUBMITTED):
            return "OPEN" if self.sim.triggered or self.type not in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET) else "TRIGGER_PENDING"
        if status is S.COMPLETED and self.filled < self.qty:
            return "OPEN"  # the last fill not yet told
        return {S.COMPLETED: "COMPLETE", S.REJECTED: "REJECTED"}.get(status, "CANCELED")

    def rejection(self) -> str:
        if self.state == "rejected":
            return self.reason
        if self.sim is not None and self.sim.status in (S.REJECTED, S.EXPIRED, S.CANCELLED):
            return self.sim.reason or ("expired at the session close" if self.sim.status is S.EXPIRED else "")
        return ""


def avg_price(o: EmuOrder) -> Decimal | None:
    filled = o.filled
    return sum((f.qty * f.price for f in o.fills), ZERO) / filled if filled else None


def order_row(o: EmuOrder, report_type: str = "", now_ns: int = 0) -> w.OrderRow:
    return w.OrderRow(
        orderNumber=o.number, userId=OWNER, exchange=o.spec.exchange, tradingSymbol=o.spec.trading_symbol,
        token=o.spec.token, transactionType="B" if o.side is Side.BUY else "S", priceType=o.price_type,
        product=o.product, retention=o.retention, quantity=qty_text(o.qty), price=money(o.price),
        triggerPrice=money(o.trigger), fillShares=qty_text(o.filled), averagePrice=money(avg_price(o)),
        status=o.word(), rejectReason=o.rejection(), orderTime=w.ist_text(o.placed_ns), remarks=o.remarks,
        lotSize=str(o.spec.lot), tickSize=o.spec.tick, exchangeOrderNum=f"1{o.number[-9:]}" if o.sim else "",
        exchangeTime=w.ist_text(now_ns or o.placed_ns), reportType=report_type,
    )


def trade_row(o: EmuOrder, fill: FillRecord) -> w.TradeRow:
    through = sum((f.qty for f in o.fills if f.id <= fill.id), ZERO)
    return w.TradeRow(
        orderNumber=o.number, userId=OWNER, exchange=o.spec.exchange, tradingSymbol=o.spec.trading_symbol,
        token=o.spec.token, transactionType="B" if o.side is Side.BUY else "S", priceType=o.price_type,
        product=o.product, quantity=qty_text(o.qty), price=money(o.price), averagePrice=money(avg_price(o)),
        remarks=o.remarks, fillId=str(FILL_ID_BASE + fill.id), fillPrice=money(fill.price), fillQuantity=qty_text(fill.qty),
        fillTime=w.ist_text(fill.ts_ns), fillshares=qty_text(through), exchordid=f"1{o.number[-9:]}",
        exchangeUpdateTime=w.ist_text(fill.ts_ns),
    )


def order_update(o: EmuOrder, report_type: str, now_ns: int, fill: FillRecord | None = None) -> ticks.OrderUpdate:
    """The socket's order update (Noren's field names), for a state change or one fill."""
    through = sum((f.qty for f in o.fills if fill is None or f.id <= fill.id), ZERO)
    word = o.word()
    if fill is not None:
        word = "COMPLETE" if through >= o.qty else "OPEN"
    return ticks.OrderUpdate(
        norenordno=o.number, uid=OWNER, actid=OWNER, exch=o.spec.exchange, tsym=o.spec.trading_symbol,
        token=o.spec.token, trantype="B" if o.side is Side.BUY else "S", qty=qty_text(o.qty), prc=money(o.price),
        trgprc=money(o.trigger), prd=o.product, prctyp=o.price_type, ret=o.retention, status=word,
        reporttype=report_type, fillshares=qty_text(through), avgprc=money(avg_price(o)),
        flqty=qty_text(fill.qty) if fill else "", flprc=money(fill.price) if fill else "",
        flid=str(FILL_ID_BASE + fill.id) if fill else "", fltm=w.ist_text(fill.ts_ns) if fill else "",
        rejreason=o.rejection(), remarks=o.remarks, exchordid=f"1{o.number[-9:]}" if o.sim else "",
        norentm=w.ist_text(now_ns), exch_tm=w.ist_text(now_ns),
    )


# --- market data in Firstock's shapes ----------------------------------------------------------


def paise(value: float) -> int:
    return round(value * 100)


Levels = list[tuple[Decimal, Decimal]]


def tick(spec: ScripSpec, quote: Quote, day: DayStats, bids: Levels, asks: Levels, now_ns: int) -> ticks.Tick:
    last = day.last or (quote.bid + quote.ask) / 2
    return ticks.Tick(
        c_symbol=spec.token, c_exch_seg=spec.exchange, i_last_traded_price=paise(last),
        i_open_price=paise(day.open or last), i_high_price=paise(day.high or last), i_low_price=paise(day.low or last),
        i_closing_price=paise(day.prev_close), i_average_trade_price=paise(last), i_last_trade_quantity=int(day.last_qty),
        i_last_trade_time=(day.last_ns or now_ns) // NS, i_volume_traded_today=int(day.volume),
        i_total_buy_quantity=int(sum(q for _, q in bids)), i_total_sell_quantity=int(sum(q for _, q in asks)),
        i_upper_circuit_limit=paise(day.prev_close * 1.2), i_lower_circuit_limit=paise(day.prev_close * 0.8),
        i_feed_time=now_ns // NS,
        best_buy=[ticks.Level(paise(float(p)), int(q), 1) for p, q in bids[:5]] or [ticks.Level(paise(quote.bid), int(quote.bid_size), 1)],
        best_sell=[ticks.Level(paise(float(p)), int(q), 1) for p, q in asks[:5]] or [ticks.Level(paise(quote.ask), int(quote.ask_size), 1)],
    )


def quote_data(spec: ScripSpec, quote: Quote | None, day: DayStats, bids: Levels, asks: Levels, now_ns: int) -> w.QuoteData:
    last = day.last or ((quote.bid + quote.ask) / 2 if quote is not None else spec.price)
    bid = bids[0] if bids else (Decimal(repr(quote.bid)), Decimal(int(quote.bid_size))) if quote else (Decimal(0), Decimal(0))
    ask = asks[0] if asks else (Decimal(repr(quote.ask)), Decimal(int(quote.ask_size))) if quote else (Decimal(0), Decimal(0))
    return w.QuoteData(
        exchange=spec.exchange, tradingSymbol=spec.trading_symbol, token=spec.token, companyName=spec.name,
        lastTradedPrice=f"{last:.2f}", dayOpenPrice=f"{day.open or last:.2f}", dayHighPrice=f"{day.high or last:.2f}",
        dayLowPrice=f"{day.low or last:.2f}", dayClosePrice=f"{day.prev_close:.2f}", volume=str(int(day.volume)),
        openInterest="0", totalBuyQuantity=str(int(sum(q for _, q in bids))), totalSellQuantity=str(int(sum(q for _, q in asks))),
        bestBuyPrice1=f"{bid[0]:.2f}", bestBuyQuantity1=str(int(bid[1])), bestBuyOrder1="1",
        bestSellPrice1=f"{ask[0]:.2f}", bestSellQuantity1=str(int(ask[1])), bestSellOrder1="1", VWAP=f"{last:.2f}",
        upperCircuit=f"{day.prev_close * 1.2:.2f}", lowerCircuit=f"{day.prev_close * 0.8:.2f}", lotSize=str(spec.lot),
        tickSize=spec.tick, requestTime=w.ist_text(now_ns),
    )


def security_info(spec: ScripSpec) -> w.SecurityInfo:
    return w.SecurityInfo(
        exchange=spec.exchange, tradingSymbol=spec.trading_symbol, token=spec.token, companyName=spec.name,
        instrumentName=spec.instrument, lotSize=str(spec.lot), tickSize=spec.tick,
        freezeQuantity=str(spec.freeze) if spec.freeze else "", expiry=spec.expiry, strikePrice=spec.strike,
    )


def position_rows(orders: Iterable[EmuOrder], marks: dict[str, float]) -> list[w.PositionRow]:
    """The day's (and carried) positions from every trade, by symbol and product."""
    rows = []
    for (key, product), trades in fills_by_position(orders).items():
        spec = trades[0][0].spec
        p = Position.of(trades, marks.get(key, spec.price))
        avg_buy, avg_sell, net, realized, unrealized = p.avg_buy, p.avg_sell, p.net, p.realized, p.unrealized
        rows.append(w.PositionRow(
            userId=OWNER, exchange=spec.exchange, tradingSymbol=spec.trading_symbol, token=spec.token, product=product,
            netQuantity=qty_text(net), netAveragePrice=money(avg_buy if net >= 0 else avg_sell),
            dayBuyQuantity=qty_text(p.bought), dayBuyAveragePrice=money(avg_buy), dayBuyAmount=money(p.buy_value),
            daySellQuantity=qty_text(p.sold), daySellAveragePrice=money(avg_sell), daySellAmount=money(p.sell_value),
            lastTradedPrice=money(p.mark), RealizedPNL=money(realized), UnrealizedMTM=money(unrealized),
            totalMTM=money(unrealized), totalPNL=money(realized + unrealized), lotSize=str(spec.lot), tickSize=spec.tick,
        ))
    return rows


def candles(trades: Iterable[PublicTrade], start_ns: int, end_ns: int, span_ns: int) -> list[w.Candle]:
    """One candle per `span_ns` bucket (aligned to IST midnight) of the public trades."""
    return [
        w.Candle(time=w.ist_text(ts, "%Y-%m-%dT%H:%M:%S"), epochTime=ts // NS, open=o, high=h, low=lo, close=c, volume=v, oi=0.0)
        for ts, (o, h, lo, c, v) in candle_buckets(trades, start_ns, end_ns, span_ns)
    ]
