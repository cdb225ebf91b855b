"""Samco wire messages as msgspec Structs, field names as Samco spells them; decoders built once.

REST values are strings throughout, numbers included ("1290.50", "10"), with "", "--" and "NA" for
nothing; `dec` turns them into Decimal at the boundary. The answer Structs check on decode that
the string numbers their parsers read hold one (`Row.text_numbers`, engine/venue/values.py), so an
answer with "NaN", "1e999999" or "abc" there is the REST client's `VenueError`, never a crash after
the decode. Stream ticks decode into one Struct whatever their shape (flat, as the v3.2 docs show
quotes, or wrapped in {"response": {...}}); `num` refuses a tick number that is none
(`NotANumber`: the feed counts and drops that tick).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from math import isfinite

import msgspec
from msgspec import Struct

from adapters.india import IST
from engine.venue.values import Checked, NotANumber, decimal_problem, finite_decimal

NS = 1_000_000_000
_EMPTY = frozenset({"", "--", "NA", "N/A", "null"})

# --- conversions -------------------------------------------------------------------------------


def number(text: str) -> Decimal | None:
    """Samco's string number as a finite Decimal; None for "", "--", "NA" and the like; ValueError
    (`NotANumber`) for anything else (the answer Structs check theirs with it on decode)."""
    text = text.strip().replace(",", "")
    return None if text in _EMPTY else finite_decimal(text)


def dec(text: str | None) -> Decimal | None:
    """Samco's string number as a Decimal; None for "", "--", "NA" and the like (and for what is
    not a finite number: a decoded answer has none of those, its Structs refuse them)."""
    if text is None:
        return None
    text = text.strip().replace(",", "")
    if text in _EMPTY:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if decimal_problem(value) is None else None


def num(text: str) -> float:
    """A tick's string number as a float (0.0 when empty); thousands separators tolerated;
    `NotANumber` for one that is not a finite number."""
    try:
        value = float(text)
    except ValueError:
        text = text.replace(",", "").strip()
        try:
            value = float(text) if text and text not in _EMPTY else 0.0
        except ValueError:
            raise NotANumber(f"{text[:40]!r} is not a number") from None
    if not isfinite(value):
        raise NotANumber(f"{text[:40]!r} is not a finite number")
    return value


class Row(Checked, kw_only=True):
    """A Samco answer Struct: the string numbers it names (`text_numbers`) are checked on decode."""

    @classmethod
    def read_number(cls, text: str) -> Decimal | None:
        return number(text)


def text(value: Decimal | int | None) -> str:
    """A number as Samco writes it in requests: plain digits, no exponent."""
    return "" if value is None else format(value, "f")


# Samco writes times in several shapes: place/status "20/11/2026 09:20:01", the order book
# "20-Nov-2026 09:20:01", the trade book "20NOV2026" + "09:20:01"; all IST.
_IST_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d-%b-%Y %H:%M:%S", "%d%b%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%y %H:%M:%S")


def ist_ns(value: str) -> int | None:
    """Epoch nanoseconds of one of Samco's IST date-time strings, or None."""
    value = value.strip()
    for fmt in _IST_FORMATS:
        try:
            return _ns(datetime.strptime(value, fmt).replace(tzinfo=IST))
        except ValueError:
            continue
    return None


def utc_tick_ns(value: str) -> int | None:
    """A tick's `lttUTC` ("01 Oct 2019, 01:17:03 PM") in epoch nanoseconds, or None."""
    try:
        return _ns(datetime.strptime(value, "%d %b %Y, %I:%M:%S %p").replace(tzinfo=UTC))
    except ValueError:
        return None


def _ns(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ist_text(ts_ns: int, fmt: str) -> str:
    """Epoch nanoseconds as IST wall time in `fmt` (the emulator's side of `ist_ns`)."""
    return datetime.fromtimestamp(ts_ns / NS, IST).strftime(fmt)


def utc_tick_text(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // NS, UTC).strftime("%d %b %Y, %I:%M:%S %p")


# --- the envelope ------------------------------------------------------------------------------


class Envelope(Row, kw_only=True):
    """What every answer carries; a failure is `status: "Failure"` with the reason in text."""

    serverTime: str = ""
    msgId: str = ""
    status: str = ""
    statusMessage: str = ""
    errorCode: str | int | None = None

    @property
    def failed(self) -> bool:
        return self.status.lower() == "failure"


# --- session -----------------------------------------------------------------------------------


class SessionRequest(Struct):
    apiKey: str
    apiSecret: str


class LoginReply(Envelope, kw_only=True):
    sessionToken: str = ""
    validity: str = ""  # ISO-8601 UTC, e.g. "2026-06-08T02:30:00Z" (08:00 IST)
    tokenId: str = ""
    accountID: str = ""
    accountName: str = ""
    exchangeList: list[str] = []
    orderTypeList: list[str] = []
    productList: list[str] = []
    srcIp: str = ""
    primaryIp: str = ""
    secondaryIp: str = ""


class WhoAmIData(Struct, kw_only=True):
    ip: str = ""
    registered: bool | None = None


class WhoAmI(Envelope, kw_only=True):
    """GET /ip/whoami: the SDK README's `data` shape and the docs' flat one, both read."""

    srcIp: str = ""
    primaryIp: str = ""
    secondaryIp: str = ""
    matches: bool | str | None = None
    matchedAs: str = ""
    data: WhoAmIData | None = None

    @property
    def source_ip(self) -> str:
        return self.srcIp or (self.data.ip if self.data else "")

    @property
    def registered(self) -> bool | None:
        if isinstance(self.matches, bool):
            return self.matches
        if isinstance(self.matches, str):
            return self.matches.lower() in ("true", "yes")
        return self.data.registered if self.data else None


# --- orders ------------------------------------------------------------------------------------


class OrderRequest(Struct, kw_only=True, omit_defaults=True):
    """POST /order/placeOrder; every value a string."""

    symbolName: str
    exchange: str
    transactionType: str
    orderType: str
    quantity: str
    price: str = ""
    triggerPrice: str = ""
    disclosedQuantity: str = ""
    orderValidity: str
    productType: str
    afterMarketOrderFlag: str = "NO"
    marketProtection: str = ""


class ModifyRequest(Struct, kw_only=True, omit_defaults=True):
    """PUT /order/modifyOrder/{orderNumber}: any of these, as strings."""

    orderType: str = ""
    quantity: str = ""
    disclosedQuantity: str = ""
    orderValidity: str = ""
    price: str = ""
    triggerPrice: str = ""
    parentOrderId: str = ""


class OrderDetails(Row, kw_only=True):
    text_numbers = ("filledQuantity", "avgExecutionPrice")

    pendingQuantity: str = ""
    avgExecutionPrice: str = ""
    orderPlacedBy: str = ""
    tradingSymbol: str = ""
    triggerPrice: str = ""
    exchange: str = ""
    totalQuantity: str = ""
    transactionType: str = ""
    productType: str = ""
    orderType: str = ""
    quantity: str = ""
    filledQuantity: str = ""
    orderPrice: str = ""
    filledPrice: str = ""
    exchangeOrderNo: str = ""
    orderValidity: str = ""
    orderTime: str = ""


class PlaceReply(Envelope, kw_only=True):
    """placeOrder and modifyOrder answer alike."""

    orderNumber: str = ""
    exchangeOrderStatus: str = ""
    orderStatus: str = ""
    orderDetails: OrderDetails | None = None


class OrderStatusReply(Envelope, kw_only=True):
    orderNumber: str = ""
    orderStatus: str = ""
    orderDetails: OrderDetails | None = None


class CancelReply(Envelope, kw_only=True):
    orderNumber: str = ""


class OrderRow(Row, kw_only=True):
    """One row of GET /order/orderBook (`totalQuanity` is Samco's spelling)."""

    text_numbers = ("orderPrice", "triggerPrice", "quantity", "totalQuanity", "totalQuantity", "filledQuantity",
                    "fillPrice", "averagePrice")
    non_negative = ("filledQuantity", "averagePrice", "fillPrice")

    orderNumber: str = ""
    exchange: str = ""
    tradingSymbol: str = ""
    symbol: str = ""  # "2885_NSE"
    transactionType: str = ""
    productCode: str = ""
    orderType: str = ""
    orderPrice: str = ""
    triggerPrice: str = ""
    orderValidity: str = ""
    orderStatus: str = ""
    status: str = ""
    exchangeStatus: str = ""
    orderValue: str = ""
    orderTime: str = ""
    userId: str = ""
    quantity: str = ""
    totalQuanity: str = ""
    totalQuantity: str = ""
    pendingQuantity: str = ""
    filledQuantity: str = ""
    fillPrice: str = ""
    averagePrice: str = ""
    rejectionReason: str = ""
    exchangeConfirmationTime: str = ""
    exchangeOrderNumber: str = ""
    optionType: str = ""
    expiry: str = ""
    orderPlaceBy: str = ""

    @property
    def total(self) -> Decimal | None:
        return dec(self.totalQuanity) or dec(self.totalQuantity) or dec(self.quantity)

    @property
    def word(self) -> str:
        return self.orderStatus or self.status


class OrderBookReply(Envelope, kw_only=True):
    orderBookDetails: list[OrderRow] = []


class TradeRow(Row, kw_only=True):
    """One own trade; `tradeQuantity` (the emulator's) or `filledQuantity` is the trade's size."""

    text_numbers = ("filledQuantity", "tradeQuantity", "tradePrice")
    non_negative = ("filledQuantity", "tradeQuantity", "tradePrice")

    orderNumber: str = ""
    exchange: str = ""
    tradingSymbol: str = ""
    transactionType: str = ""
    productCode: str = ""
    orderType: str = ""
    orderPrice: str = ""
    quantity: str = ""
    filledQuantity: str = ""
    tradeQuantity: str = ""
    exchangeOrderNumber: str = ""
    tradeNumber: str = ""
    tradePrice: str = ""
    tradeDate: str = ""
    tradeTime: str = ""

    @property
    def size(self) -> Decimal | None:
        return dec(self.tradeQuantity) or dec(self.filledQuantity)

    @property
    def ts_ns(self) -> int | None:
        """The trade's time: `tradeTime` alone when it is a full date-time, else date + time."""
        return ist_ns(self.tradeTime) or ist_ns(f"{self.tradeDate} {self.tradeTime}")


class TradeBookReply(Envelope, kw_only=True):
    """The SDK README names the list `tradeBookDetails`; a docs sample reuses `orderBookDetails`."""

    tradeBookDetails: list[TradeRow] = []
    orderBookDetails: list[TradeRow] = []

    @property
    def rows(self) -> list[TradeRow]:
        return self.tradeBookDetails or self.orderBookDetails


# --- account -----------------------------------------------------------------------------------


class PositionRow(Row, kw_only=True):
    text_numbers = ("netQuantity", "averagePrice", "averageBuyPrice", "averageSellPrice", "realizedGainAndLoss")

    tradingSymbol: str = ""
    exchange: str = ""
    productCode: str = ""
    positionType: str = ""
    transactionType: str = ""
    netQuantity: str = ""
    buyQuantity: str = ""
    sellQuantity: str = ""
    averagePrice: str = ""
    averageBuyPrice: str = ""
    averageSellPrice: str = ""
    lastTradedPrice: str = ""
    previousClose: str = ""
    netValue: str = ""
    realizedGainAndLoss: str = ""
    unrealizedGainAndLoss: str = ""


class PositionsReply(Envelope, kw_only=True):
    positionDetails: list[PositionRow] = []
    positionSummary: dict[str, str] | None = None


class HoldingRow(Struct, kw_only=True):
    tradingSymbol: str = ""
    exchange: str = ""
    productCode: str = ""
    averagePrice: str = ""
    lastTradedPrice: str = ""
    previousClose: str = ""
    holdingsQuantity: str = ""
    collateralQuantity: str = ""
    sellableQuantity: str = ""
    holdingsValue: str = ""
    totalGainAndLoss: str = ""


class HoldingsReply(Envelope, kw_only=True):
    holdingSummary: dict[str, str] | None = None
    holdingDetails: list[HoldingRow] = []


class Limit(Row, kw_only=True):
    text_numbers = ("marginUsed", "netAvailableMargin")

    grossAvailableMargin: str = ""
    payInToday: str = ""
    notionalCash: str = ""
    marginUsed: str = ""
    netAvailableMargin: str = ""


class LimitsReply(Envelope, kw_only=True):
    equityLimit: Limit | None = None
    commodityLimit: Limit | None = None


# --- market data over REST ---------------------------------------------------------------------


class Level(Row, kw_only=True):
    text_numbers = ("quantity", "price")

    number: str = ""
    quantity: str = ""
    price: str = ""


class QuoteReply(Envelope, kw_only=True):
    text_numbers = ("lastTradedPrice",)

    symbolName: str = ""
    tradingSymbol: str = ""
    exchange: str = ""
    listingId: str = ""
    lastTradedTime: str = ""
    lastTradedPrice: str = ""
    lastTradedQuantity: str = ""
    previousClose: str = ""
    changeValue: str = ""
    changePercentage: str = ""
    lowerCircuitLimit: str = ""
    upperCircuitLimit: str = ""
    averagePrice: str = ""
    openValue: str = ""
    highValue: str = ""
    lowValue: str = ""
    closeValue: str = ""
    totalBuyQuantity: str = ""
    totalSellQuantity: str = ""
    totalTradedVolume: str = ""
    tickSize: str = ""
    openInterest: str = ""
    bestBids: list[Level] = []
    bestAsks: list[Level] = []


class HistoricalCandle(Struct, kw_only=True):
    date: str = ""
    open: str = ""
    high: str = ""
    low: str = ""
    close: str = ""
    ltp: str = ""
    volume: str = ""


class HistoryReply(Envelope, kw_only=True):
    historicalCandleData: list[HistoricalCandle] = []


class IntradayCandle(Struct, kw_only=True):
    dateTime: str = ""  # "2026-11-20 09:21:00.0"
    open: str = ""
    high: str = ""
    low: str = ""
    close: str = ""
    volume: str = ""


class IntradayReply(Envelope, kw_only=True):
    intradayCandleData: list[IntradayCandle] = []


class SearchRow(Struct, kw_only=True):
    exchange: str = ""
    tradingSymbol: str = ""
    name: str = ""
    instrument: str = ""
    symbolCode: str = ""
    lotSize: str = ""
    tickSize: str = ""
    expiryDate: str = ""
    strikePrice: str = ""


class SearchReply(Envelope, kw_only=True):
    searchResults: list[SearchRow] = []


# --- encoders and decoders, built once ---------------------------------------------------------

encode = msgspec.json.Encoder().encode
decode_envelope = msgspec.json.Decoder(Envelope).decode
decode_login = msgspec.json.Decoder(LoginReply).decode
decode_whoami = msgspec.json.Decoder(WhoAmI).decode
decode_place = msgspec.json.Decoder(PlaceReply).decode
decode_order_status = msgspec.json.Decoder(OrderStatusReply).decode
decode_cancel = msgspec.json.Decoder(CancelReply).decode
decode_order_book = msgspec.json.Decoder(OrderBookReply).decode
decode_trade_book = msgspec.json.Decoder(TradeBookReply).decode
decode_positions = msgspec.json.Decoder(PositionsReply).decode
decode_holdings = msgspec.json.Decoder(HoldingsReply).decode
decode_limits = msgspec.json.Decoder(LimitsReply).decode
decode_quote = msgspec.json.Decoder(QuoteReply).decode
decode_history = msgspec.json.Decoder(HistoryReply).decode
decode_intraday = msgspec.json.Decoder(IntradayReply).decode
decode_search = msgspec.json.Decoder(SearchReply).decode
decode_order_request = msgspec.json.Decoder(OrderRequest).decode
decode_modify_request = msgspec.json.Decoder(ModifyRequest).decode
decode_session_request = msgspec.json.Decoder(SessionRequest).decode
