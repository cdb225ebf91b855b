"""The emulator's market as Samco shows it: the scrip list, the emulator's orders, and everything
rendered in Samco's shapes (order book rows, trades, positions, quotes and streaming ticks), every
value a string.

The market mechanics (price process, matching, the account) are `adapters.simulation.exchange.SimExchange`,
and what the Indian brokers' emulators keep alike (the day's statistics, candle buckets, position
sums, money and quantity text) `adapters.simulation.india_market`'s; this module only looks at them
the way Samco's API does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.india import NSE_INDEX_FNO, ist_date
from adapters.samco import schemas as w
from adapters.samco.scrip import Scrip
from adapters.simulation.exchange import FillRecord, MarketState
from adapters.simulation.india_market import DayStats, Position, ScripNames, fills_by_position, money, qty_text
from adapters.simulation.matching import SimOrder
from engine.events import ZERO, OrderStatus, OrderType, Quote, Side

S = OrderStatus
NS = 1_000_000_000
DEPTH = 5  # levels a side in quote2 ticks and getQuote
ORDER_TYPES: dict[str, OrderType] = {
    "L": OrderType.LIMIT, "MKT": OrderType.MARKET, "SL": OrderType.STOP_LIMIT, "SL-M": OrderType.STOP_MARKET,
}
AMO_WORD = "After market order req received"


@dataclass(frozen=True)
class ScripSpec(ScripNames):
    """One instrument of the emulator's scrip master and where its price starts."""

    code: str
    trading_symbol: str
    name: str
    exchange: str
    instrument: str
    price: float
    tick: str = "0.05"
    lot: int = 1
    size: float = 2000.0
    expiry: str = ""
    strike: str = ""

    @property
    def token(self) -> str:
        return f"{self.code}_{self.exchange}"

    def scrip(self) -> Scrip:
        return Scrip(
            exchange=self.exchange, symbol_code=self.token, trading_symbol=self.trading_symbol, name=self.name,
            instrument=self.instrument, lot=Decimal(self.lot), tick=Decimal(self.tick), expiry=self.expiry,
            strike=self.strike, last_price=f"{self.price:.2f}", segment="CASH" if self.instrument == "EQ" else "FNO",
        )


def _equity(code: str, name: str, price: float, tick: str = "0.05", size: float = 2000.0) -> ScripSpec:
    return ScripSpec(code, f"{name}-EQ", name, "NSE", "EQ", price, tick, 1, size)


# About thirty NSE equities (NSE listing ids, late-2025 prices) and a few NFO contracts of the
# November 2026 series with the lots of india.NSE_INDEX_FNO (stock futures: NSE's lot).
_NIFTY, _BANKNIFTY = NSE_INDEX_FNO["NIFTY"].lot, NSE_INDEX_FNO["BANKNIFTY"].lot
SCRIPS: tuple[ScripSpec, ...] = (
    _equity("2885", "RELIANCE", 1290.50),
    _equity("11536", "TCS", 3110.00),
    _equity("1333", "HDFCBANK", 985.40),
    _equity("1594", "INFY", 1512.40),
    _equity("4963", "ICICIBANK", 1385.20),
    _equity("3045", "SBIN", 952.35),
    _equity("10604", "BHARTIARTL", 2055.80),
    _equity("1660", "ITC", 408.65),
    _equity("11483", "LT", 3945.10),
    _equity("1394", "HINDUNILVR", 2448.90),
    _equity("1922", "KOTAKBANK", 2098.75),
    _equity("5900", "AXISBANK", 1228.60),
    _equity("317", "BAJFINANCE", 1032.15),
    _equity("10999", "MARUTI", 15890.00, size=200),
    _equity("3351", "SUNPHARMA", 1748.30),
    _equity("3506", "TITAN", 3802.45),
    _equity("236", "ASIANPAINT", 2851.20),
    _equity("11532", "ULTRACEMCO", 11905.00, size=200),
    _equity("11630", "NTPC", 331.40),
    _equity("14977", "POWERGRID", 271.85),
    _equity("2475", "ONGC", 244.90),
    _equity("3499", "TATASTEEL", 171.26, tick="0.01"),
    _equity("3787", "WIPRO", 245.30),
    _equity("7229", "HCLTECH", 1604.70),
    _equity("13538", "TECHM", 1452.55),
    _equity("25", "ADANIENT", 2447.80),
    _equity("15083", "ADANIPORTS", 1451.20),
    _equity("20374", "COALINDIA", 384.95),
    _equity("11723", "JSWSTEEL", 1151.40),
    _equity("2031", "M&M", 3648.50),
    _equity("17963", "NESTLEIND", 1249.60),
    _equity("383", "BEL", 409.85),
    _equity("11915", "YESBANK", 22.41, tick="0.01", size=50000),
    _equity("14366", "IDEA", 9.52, tick="0.01", size=200000),
    ScripSpec("52168", "NIFTY26NOVFUT", "NIFTY", "NFO", "FUTIDX", 26110.0, lot=int(_NIFTY), size=650, expiry="2026-11-23"),
    ScripSpec("52170", "BANKNIFTY26NOVFUT", "BANKNIFTY", "NFO", "FUTIDX", 59240.0, lot=int(_BANKNIFTY), size=300, expiry="2026-11-23"),
    ScripSpec("52201", "NIFTY26NOV26000CE", "NIFTY", "NFO", "OPTIDX", 182.35, lot=int(_NIFTY), size=6500, expiry="2026-11-23", strike="26000"),
    ScripSpec("52202", "NIFTY26NOV26000PE", "NIFTY", "NFO", "OPTIDX", 96.80, lot=int(_NIFTY), size=6500, expiry="2026-11-23", strike="26000"),
    ScripSpec("52305", "BANKNIFTY26NOV59000CE", "BANKNIFTY", "NFO", "OPTIDX", 412.60, lot=int(_BANKNIFTY), size=3000, expiry="2026-11-23", strike="59000"),
    ScripSpec("52410", "RELIANCE26NOVFUT", "RELIANCE", "NFO", "FUTSTK", 1296.20, lot=500, size=5000, expiry="2026-11-23"),
)


# --- the emulator's orders ---------------------------------------------------------------------


@dataclass
class EmuOrder:
    """An order as Samco keeps it: the request, and the simulated order once at the exchange."""

    number: str
    spec: ScripSpec
    side: Side
    type_code: str
    product: str
    validity: str
    qty: Decimal
    price: Decimal | None
    trigger: Decimal | None
    amo: bool
    placed_ns: int
    token_id: str
    sim: SimOrder | None = None
    state: str = ""  # "" (the simulated order speaks) | "amo" | "ack" (RMS not yet run) | "rejected" | "cancelled"
    reason: str = ""
    release_ns: int = 0
    cancel_at_ns: int | None = None  # a cancel accepted, carried out at the exchange then
    fills: list[FillRecord] = field(default_factory=list)

    @property
    def type(self) -> OrderType:
        return ORDER_TYPES[self.type_code]

    @property
    def filled(self) -> Decimal:
        return self.sim.filled if self.sim is not None else ZERO

    @property
    def is_open(self) -> bool:
        return self.state in ("amo", "ack") or (self.state == "" and self.sim is not None and self.sim.is_open)

    def word(self) -> str:
        """The order book's orderStatus."""
        if self.state == "amo":
            return AMO_WORD
        if self.state == "ack":
            return "PENDING"
        if self.state == "rejected":
            return "Rejected"
        if self.state == "cancelled" or self.sim is None:
            return "Cancelled"
        status = self.sim.status
        if status in (S.PLACED, S.UPDATED):
            return "Open" if self.sim.triggered else "Trigger Pending"
        return {S.COMPLETED: "Complete", S.REJECTED: "Rejected"}.get(status, "Cancelled")

    def ack_word(self) -> str:
        """placeOrder's exchangeOrderStatus: the SDK's upper-case PENDING / EXECUTED where they apply."""
        word = self.word()
        if word == "Open" and not self.filled:
            return "PENDING"
        return "EXECUTED" if word == "Complete" else word

    def rejection(self) -> str:
        if self.state == "rejected":
            return self.reason
        if self.sim is not None and self.sim.status in (S.REJECTED, S.EXPIRED, S.CANCELLED):
            return self.sim.reason or ""
        return ""


def details(o: EmuOrder) -> w.OrderDetails:
    avg = o.sim.avg_price if o.sim is not None else None
    return w.OrderDetails(
        pendingQuantity=qty_text(o.qty - o.filled if o.is_open else ZERO), avgExecutionPrice=money(avg),
        orderPlacedBy="DEMO01", tradingSymbol=o.spec.trading_symbol, triggerPrice=money(o.trigger),
        exchange=o.spec.exchange, totalQuantity=qty_text(o.qty), transactionType=o.side.value.upper(),
        productType=o.product, orderType=o.type_code, quantity=qty_text(o.qty), filledQuantity=qty_text(o.filled),
        orderPrice=money(o.price), filledPrice=money(avg), exchangeOrderNo=f"1{o.number[-9:]}",
        orderValidity=o.validity, orderTime=w.ist_text(o.placed_ns, "%d/%m/%Y %H:%M:%S"),
    )


def order_row(o: EmuOrder) -> w.OrderRow:
    avg = o.sim.avg_price if o.sim is not None else None
    word = o.word()
    return w.OrderRow(
        orderNumber=o.number, exchange=o.spec.exchange, tradingSymbol=o.spec.trading_symbol, symbol=o.spec.token,
        transactionType=o.side.value.upper(), productCode=o.product, orderType=o.type_code,
        orderPrice=money(o.price), triggerPrice=money(o.trigger), orderValidity=o.validity, orderStatus=word,
        status=word, exchangeStatus=word.lower(), orderValue=money((o.price or Decimal(0)) * o.qty),
        orderTime=w.ist_text(o.placed_ns, "%d-%b-%Y %H:%M:%S"), userId="DEMO01", quantity=qty_text(o.qty),
        totalQuanity=qty_text(o.qty), pendingQuantity=qty_text(o.qty - o.filled if o.is_open else ZERO),
        filledQuantity=qty_text(o.filled), fillPrice=money(avg), averagePrice=money(avg),
        rejectionReason=o.rejection(), exchangeOrderNumber=f"1{o.number[-9:]}", expiry=o.spec.expiry,
        optionType=o.spec.trading_symbol[-2:] if o.spec.instrument == "OPTIDX" else "", orderPlaceBy="DEMO01",
    )


def trade_row(o: EmuOrder, fill: FillRecord, *, minimal: bool = False) -> w.TradeRow:
    """One trade book row; `minimal` leaves out tradeNumber and tradeQuantity and gives
    filledQuantity as the order's cumulative fill after this trade (a reading of the SDK's rows)."""
    if minimal:
        cumulative = sum((f.qty for f in o.fills if f.id <= fill.id), ZERO)
        return w.TradeRow(
            orderNumber=o.number, exchange=o.spec.exchange, tradingSymbol=o.spec.trading_symbol,
            transactionType=o.side.value.upper(), productCode=o.product, orderType=o.type_code,
            orderPrice=money(o.price), quantity=qty_text(o.qty), filledQuantity=qty_text(cumulative),
            exchangeOrderNumber=f"1{o.number[-9:]}", tradePrice=money(fill.price),
            tradeDate=w.ist_text(fill.ts_ns, "%d%b%Y").upper(), tradeTime=w.ist_text(fill.ts_ns, "%H:%M:%S"),
        )
    return w.TradeRow(
        orderNumber=o.number, exchange=o.spec.exchange, tradingSymbol=o.spec.trading_symbol,
        transactionType=o.side.value.upper(), productCode=o.product, orderType=o.type_code,
        orderPrice=money(o.price), quantity=qty_text(o.qty), filledQuantity=qty_text(fill.qty), tradeQuantity=qty_text(fill.qty),
        exchangeOrderNumber=f"1{o.number[-9:]}", tradeNumber=f"{50_000_000 + fill.id}",
        tradePrice=money(fill.price), tradeDate=w.ist_text(fill.ts_ns, "%d%b%Y").upper(),
        tradeTime=w.ist_text(fill.ts_ns, "%H:%M:%S"),
    )


def position_rows(orders: Iterable[EmuOrder], kind: str, today: int, marks: dict[str, float]) -> list[w.PositionRow]:
    """DAY: today's trades; NET: every trade since the emulator started; by symbol and product."""
    rows = []
    for (key, product), trades in fills_by_position(orders, lambda f: kind == "NET" or ist_date(f.ts_ns).toordinal() == today).items():
        spec = trades[0][0].spec
        p = Position.of(trades, marks.get(key, 0.0))
        avg_buy, avg_sell, net, mark = p.avg_buy, p.avg_sell, p.net, p.mark
        rows.append(
            w.PositionRow(
                tradingSymbol=spec.trading_symbol, exchange=spec.exchange, productCode=product, positionType=kind,
                transactionType="BUY" if net >= 0 else "SELL", netQuantity=qty_text(net), buyQuantity=qty_text(p.bought),
                sellQuantity=qty_text(p.sold), averagePrice=money(avg_buy if net >= 0 else avg_sell),
                averageBuyPrice=money(avg_buy), averageSellPrice=money(avg_sell), lastTradedPrice=money(mark),
                previousClose=money(Decimal(repr(spec.price))), netValue=money(net * mark),
                realizedGainAndLoss=money(p.realized), unrealizedGainAndLoss=money(p.unrealized),
            )
        )
    return rows


# --- market data in Samco's shapes -------------------------------------------------------------


def _px(value: float) -> str:
    return f"{value:.2f}"


def quote_tick(spec: ScripSpec, quote: Quote, day: DayStats) -> dict[str, str]:
    """A flat `quote` tick, as the v3.2 docs show it."""
    last = day.last or (quote.bid + quote.ask) / 2
    change = last - day.prev_close
    return {
        "aPr": _px(quote.ask), "aSz": f"{int(quote.ask_size)}", "bPr": _px(quote.bid), "bSz": f"{int(quote.bid_size)}",
        "sym": spec.token, "avgPr": _px(last), "c": _px(day.prev_close), "h": _px(day.high or last), "l": _px(day.low or last),
        "o": _px(day.open or last), "oI": "", "oIChg": "", "ch": _px(change), "chPer": _px(100 * change / day.prev_close),
        "lTrdT": w.ist_text(day.last_ns or quote.ts_event, "%d %b %Y, %I:%M:%S %p"), "ltp": _px(last),
        "ltq": f"{int(day.last_qty)}", "ltt": w.ist_text(day.last_ns or quote.ts_event, "%d %b %Y, %I:%M:%S %p"),
        "lttUTC": w.utc_tick_text(day.last_ns or quote.ts_event), "tBQ": f"{int(quote.bid_size * DEPTH)}",
        "tSQ": f"{int(quote.ask_size * DEPTH)}", "ttv": _px(day.volume * last), "vol": f"{int(day.volume)}",
        "yH": _px(max(day.high, day.prev_close) * 1.2), "yL": _px(min(day.low or last, day.prev_close) * 0.8),
        "streaming_type": "quote",
    }


def depth_tick(spec: ScripSpec, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> dict[str, Any]:
    """A `quote2` tick's data: five levels a side."""
    def side(levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
        return [{"no": str(i + 1), "qty": f"{int(q)}", "price": f"{p:.2f}"} for i, (p, q) in enumerate(levels[:DEPTH])]

    return {
        "symbol": spec.token, "bidValues": side(bids), "askValues": side(asks),
        "tbq": f"{int(sum(q for _, q in bids))}", "taq": f"{int(sum(q for _, q in asks))}",
    }


Levels = list[tuple[Decimal, Decimal]]


def quote_reply(spec: ScripSpec, state: MarketState, day: DayStats, bids: Levels, asks: Levels, now_ns: int) -> w.QuoteReply:
    quote = state.quote
    last = day.last or ((quote.bid + quote.ask) / 2 if quote is not None else spec.price)
    change = last - day.prev_close
    return w.QuoteReply(
        status="Success", statusMessage="Quote details retrieved successfully", symbolName=spec.symbol,
        tradingSymbol=spec.trading_symbol, exchange=spec.exchange, listingId=spec.token,
        lastTradedTime=w.ist_text(day.last_ns or now_ns, "%d/%m/%Y %H:%M:%S"), lastTradedPrice=_px(last),
        lastTradedQuantity=f"{int(day.last_qty)}", previousClose=_px(day.prev_close), changeValue=_px(change),
        changePercentage=_px(100 * change / day.prev_close), lowerCircuitLimit=_px(day.prev_close * 0.8),
        upperCircuitLimit=_px(day.prev_close * 1.2), averagePrice=_px(last), openValue=_px(day.open or last),
        highValue=_px(day.high or last), lowValue=_px(day.low or last), closeValue=_px(day.prev_close),
        totalBuyQuantity=f"{int(sum(q for _, q in bids))}", totalSellQuantity=f"{int(sum(q for _, q in asks))}",
        totalTradedVolume=f"{int(day.volume)}", tickSize=spec.tick, openInterest="",
        bestBids=[w.Level(number=str(i + 1), quantity=f"{int(q)}", price=f"{p:.2f}") for i, (p, q) in enumerate(bids[:DEPTH])],
        bestAsks=[w.Level(number=str(i + 1), quantity=f"{int(q)}", price=f"{p:.2f}") for i, (p, q) in enumerate(asks[:DEPTH])],
    )
