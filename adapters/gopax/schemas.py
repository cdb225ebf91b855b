"""GOPAX wire messages as msgspec Structs, field names as GOPAX spells them; decoders built once.

REST money fields decode to Decimal (exact, straight from the JSON number's text); public market
data decodes to float (speed). Websocket frames decode in one pass into a tagged union on `n`.
Values are checked on decode (engine/venue/values.py's `Checked`): every Decimal finite and of sane
magnitude, ISO times that parse, fill sizes and prices not negative, socket times in seconds within
datetime's range, asset scales 0..18, sides the engine's `Side`; a value outside that fails the
decode (the REST client's `VenueError`, a feed's malformed frame), never the code after it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec
from msgspec import Struct

from engine.events import Side
from engine.venue.values import Checked, EpochSeconds, Scale
from engine.venue.values import iso_ns as _iso_ns

ZERO = Decimal(0)
NS = 1_000_000_000


def dt_ns(dt: datetime) -> int:
    """An aware datetime in epoch nanoseconds (exact to the microsecond GOPAX's times carry)."""
    return round(dt.timestamp() * 1e6) * 1000


def iso_ns(text: str) -> int:
    """GOPAX's ISO-8601 UTC time ("2018-03-14T03:50:41.184Z") in epoch nanoseconds; ValueError if
    it is none (the Structs carrying one check it on decode, so a decoded time always converts)."""
    return _iso_ns(text)


def ns_iso(ts_ns: int) -> str:
    """Epoch nanoseconds as GOPAX writes times: ISO-8601 UTC with milliseconds and a Z."""
    dt = datetime.fromtimestamp(ts_ns // NS, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ts_ns % NS // 1_000_000:03d}Z"

# --- REST: errors ------------------------------------------------------------------------------


class ErrorBody(Struct):
    errorMessage: str = ""
    errorCode: int | None = None
    errorData: Any = None


# Error codes: the seed's table (100-108, 201-204, 10155) and the current documentation's.
ERROR_TEXT: dict[int, str] = {
    100: "Invalid Asset",
    101: "Invalid Trading Pair",
    103: "Invalid Order Type",
    104: "Not Enabled Trading Pair",
    105: "Not Activated Trading Pair",
    106: "Not Enabled Asset",
    107: "Invalid Amount",
    108: "Invalid Price",
    201: "Insufficient Balance",
    202: "Invalid Id",
    203: "Invalid Numbers Overflow",
    204: "Not Allowed Bid Order",
    206: "Invalid Option Combination",
    10001: "No such endpoint",
    10004: "Not Authorized",
    10052: "Order Server Not Available",
    10058: "No Such Asset Code",
    10059: "No Such Trading Pair",
    10062: "Invalid Chart Interval",
    10069: "No Such Order Id",
    10074: "Send To Order Server Failed",
    10105: "Rate Limit Exceeded",
    10108: "Nonce Too Low",
    10155: "Invalid API key",
    10166: "Invalid Chart Range",
    10212: "Too Small Quote Amount",
    10221: "No Such Client Order Id",
    10222: "Client Order Id Being Used",
    10227: "Invalid Client Order Id Format",
    10229: "Invalid Signature",
    10230: "No Api Key",
    10231: "No Nonce And Timestamp",
    10256: "Unparsable Request Body",
    10263: "Timestamp Too Low",
    10264: "Timestamp Too High",
    10265: "Choose Either Nonce Or Timestamp",
    10296: "Invalid Receive Window",
    10298: "Fail To Meet Server Arrival Deadline",
    10321: "Too many order books are subscribed",
    10325: "Already subscribed",
    10329: "Invalid limit",
    10358: "Invalid Order Type",
    10359: "Invalid Order Side",
    10361: "Invalid Time In Force",
    10362: "Invalid Protection",
    10367: "Mandatory Query String Missing",
}

# --- REST: account and orders ------------------------------------------------------------------


class Balance(Checked):
    asset: str
    avail: Decimal
    hold: Decimal
    pendingWithdrawal: Decimal = ZERO
    lastUpdatedAt: str | None = None


class FeeSplit(Checked):
    taking: Decimal = ZERO
    making: Decimal = ZERO


class BalanceChange(Checked):
    baseGross: Decimal = ZERO
    baseFee: FeeSplit = msgspec.field(default_factory=FeeSplit)
    baseNet: Decimal = ZERO
    quoteGross: Decimal = ZERO
    quoteFee: FeeSplit = msgspec.field(default_factory=FeeSplit)
    quoteNet: Decimal = ZERO


class OrderRequest(Checked, omit_defaults=True, kw_only=True):
    """The body of POST /orders."""

    tradingPairName: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None = None
    stopPrice: Decimal | None = None
    clientOrderId: str | None = None
    protection: str | None = None
    timeInForce: str | None = None


class Order(OrderRequest, kw_only=True):
    """An order as GOPAX returns it: the request's fields and its state. `status` is always sent by
    the current API; the seed's list rows lack it, read then as "placed" (`rest_status`). No default
    word here: with omit_defaults a default "placed" would be left off the emulator's answers."""

    iso_times = ("createdAt", "updatedAt")

    id: str
    side: Side  # typed: a word GOPAX does not send fails the decode (a VenueError), not a parser
    type: Literal["limit", "market"]  # typed too: a market buy's amount is quote currency, read by it
    status: str | None = None
    forcedCompletionReason: str | None = None
    remaining: Decimal | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    balanceChange: BalanceChange | None = None


class OwnTrade(Checked):
    """One row of GET /trades: a fill of one of our orders."""

    iso_times = ("timestamp",)
    non_negative = ("baseAmount", "price")

    id: int
    orderId: int | str
    baseAmount: Decimal
    quoteAmount: Decimal
    fee: Decimal
    price: Decimal
    timestamp: str
    side: Side
    tradingPairName: str
    feeAsset: str | None = None
    position: str | None = None


# --- REST: public ------------------------------------------------------------------------------


class Asset(Checked, omit_defaults=True):
    id: str
    name: str
    englishName: str | None = None
    scale: int | None = None
    withdrawalFee: Decimal | None = None
    withdrawalAmountMin: Decimal | None = None


class AmountMin(Checked):
    amount: Decimal
    unit: str


class OrderAmountMin(Struct):
    limitAsk: AmountMin
    limitBid: AmountMin
    marketAsk: AmountMin
    marketBid: AmountMin


class TradingPair(Checked):
    """A row of GET /trading-pairs; every field is always sent (ccxt reads the scales as its
    precision), so no omit_defaults here."""

    name: str
    baseAsset: str
    quoteAsset: str
    id: int | None = None
    baseAssetScale: Scale = 8
    quoteAssetScale: Scale = 0
    priceMin: Decimal | None = None
    restApiOrderAmountMin: OrderAmountMin | None = None
    makerFeePercent: Decimal | None = None
    takerFeePercent: Decimal | None = None


class TickSize(Checked):
    startPrice: Decimal
    tickSize: Decimal


class Ticker(Struct, gc=False):
    price: float
    ask: float
    bid: float
    volume: float
    time: datetime  # msgspec parses ISO-8601 in C: much cheaper than fromisoformat
    askVolume: float = 0.0
    bidVolume: float = 0.0
    quoteVolume: float = 0.0


# [entryId, price, volume, updatedAt ms]; ids and times are strings on REST, numbers on the socket
BookLevel = tuple[str, float, float, str]


class Book(Struct):
    ask: list[BookLevel]
    bid: list[BookLevel]
    sequence: int | None = None


class PublicTrade(Struct, gc=False):
    time: datetime
    id: int
    price: float
    amount: float
    side: Literal["buy", "sell"]  # any other word is refused, not read as a sell
    date: int | None = None


class Stats(Struct):
    open: float
    high: float
    low: float
    close: float
    volume: float
    time: str


class PairStats(Stats):
    name: str


# [start ms, low, high, open, close, volume]: GOPAX's order is L, H, O, C
Candle = tuple[int, float, float, float, float, float]


class TickerRow(Struct):
    """A row of GET /tickers and of the websocket tickers channel."""

    tradingPairName: str
    baseVolume: float = 0.0
    high: float = 0.0
    highestBid: float = 0.0
    last: float = 0.0
    lastTraded: int = 0
    low: float = 0.0
    lowestAsk: float = 0.0
    open: float = 0.0
    quoteVolume: float = 0.0


class ServerTime(Struct):
    serverTime: int


# --- websocket: payloads -----------------------------------------------------------------------


class Reply(Struct):
    """Fields every subscribe reply may carry when the server refuses it."""

    result: bool | None = None
    errCode: int | None = None
    errData: Any = None


class BookEntry(Struct, gc=False):
    entryId: int
    price: float
    volume: float
    updatedAt: EpochSeconds


class BookData(Reply):
    ask: list[BookEntry] = []
    bid: list[BookEntry] = []
    tradingPairName: str = ""
    maxEntryId: int | None = None


class PublicTradeData(Struct, gc=False):
    tradeId: int
    baseAmount: float
    quoteAmount: float
    price: float
    isBuy: bool
    occurredAt: EpochSeconds
    tradingPairName: str


class TickersData(Reply):
    data: list[TickerRow] = []


class WsOrder(Checked, omit_defaults=True):
    """An order on the socket: numeric enums, times in seconds (see parsing.py's *_CODES tables)."""

    orderId: int
    status: int
    side: int
    type: int
    price: Decimal
    orgAmount: Decimal
    remainAmount: Decimal
    createdAt: EpochSeconds
    updatedAt: EpochSeconds
    tradingPairName: str
    tradedBaseAmount: Decimal = ZERO
    tradedQuoteAmount: Decimal = ZERO
    feeAmount: Decimal = ZERO
    feeAssetName: str | None = None
    rewardAmount: Decimal = ZERO
    rewardAssetName: str | None = None
    timeInForce: int = 0
    protection: int = 1
    forcedCompletionReason: int = 0
    stopPrice: Decimal = ZERO
    takerFeeAmount: Decimal = ZERO
    clientOrderId: str | None = None


class OrdersData(Reply):
    data: list[WsOrder] = []


class WsBalance(Checked, omit_defaults=True):
    isoAlpha3: str
    avail: Decimal
    hold: Decimal
    pendingWithdrawal: Decimal = ZERO
    assetId: int | None = None
    blendedPrice: Decimal | None = None
    lastUpdatedAt: float | None = None


class BalancesData(Reply):
    data: list[WsBalance] = []


class WsTrade(Checked, omit_defaults=True):
    """A fill of one of our orders on the socket (TradeEvent)."""

    non_negative = ("baseAmount", "price")

    tradeId: int
    orderId: int
    side: int
    baseAmount: Decimal
    quoteAmount: Decimal
    fee: Decimal
    price: Decimal
    occurredAt: EpochSeconds
    tradingPairName: str
    type: int = 1
    feeAssetName: str | None = None
    isSelfTrade: bool = False


# The socket's numeric enums are parsing.py's (STATUS_CODES, SIDE_CODES, ...).

# --- websocket: frames (a tagged union on `n`) -------------------------------------------------


class Frame(Struct, tag_field="n", kw_only=True):
    i: int | str | None = None


class OrderBookReply(Frame, tag="SubscribeToOrderBook"):
    o: BookData


class TradingPairReply(Frame, tag="SubscribeToTradingPair"):
    o: BookData


class OrderBookEvent(Frame, tag="OrderBookEvent"):
    o: BookData


class PublicTradeEvent(Frame, tag="PublicTradeEvent"):
    o: PublicTradeData


class TickersReply(Frame, tag="SubscribeToTickers"):
    o: TickersData


class TickerEvent(Frame, tag="TickerEvent"):
    o: dict[str, TickerRow]


class OrdersReply(Frame, tag="SubscribeToOrders"):
    o: OrdersData


class OrderEvent(Frame, tag="OrderEvent"):
    o: WsOrder


class BalancesReply(Frame, tag="SubscribeToBalances"):
    o: BalancesData


class BalanceEvent(Frame, tag="BalanceEvent"):
    o: WsBalance


class TradesReply(Frame, tag="SubscribeToTrades"):
    o: Reply


class TradeEvent(Frame, tag="TradeEvent"):
    o: WsTrade


AnyFrame = (
    str  # "primus::ping::<ms>"
    | OrderBookReply
    | TradingPairReply
    | OrderBookEvent
    | PublicTradeEvent
    | TickersReply
    | TickerEvent
    | OrdersReply
    | OrderEvent
    | BalancesReply
    | BalanceEvent
    | TradesReply
    | TradeEvent
)


FRAME_NAMES: frozenset[str] = frozenset(
    str(kind.__struct_config__.tag) for kind in AnyFrame.__args__ if kind is not str
)


class Request(Struct, omit_defaults=True):
    """A client's request frame: {"i": id, "n": name, "o": params}."""

    n: str
    o: dict[str, Any] = {}
    i: int | str | None = None


class AnyNamed(Struct):
    """Just the name of a frame the union does not know (GOPAX adds kinds without notice)."""

    n: str = ""


PING_PREFIX = '"primus::ping::'
PONG_PREFIX = '"primus::pong::'

# --- decoders and encoders, built once ---------------------------------------------------------

decode_frame = msgspec.json.Decoder(AnyFrame).decode
decode_named = msgspec.json.Decoder(AnyNamed).decode
decode_request = msgspec.json.Decoder(Request).decode
decode_error = msgspec.json.Decoder(ErrorBody).decode
decode_balances = msgspec.json.Decoder(list[Balance]).decode
decode_balance = msgspec.json.Decoder(Balance).decode
decode_order = msgspec.json.Decoder(Order).decode
decode_orders = msgspec.json.Decoder(list[Order]).decode
decode_order_request = msgspec.json.Decoder(OrderRequest).decode
decode_own_trades = msgspec.json.Decoder(list[OwnTrade]).decode
decode_assets = msgspec.json.Decoder(list[Asset]).decode
decode_pairs = msgspec.json.Decoder(list[TradingPair]).decode
decode_tick_sizes = msgspec.json.Decoder(list[TickSize]).decode
decode_ticker = msgspec.json.Decoder(Ticker).decode
decode_tickers = msgspec.json.Decoder(list[TickerRow]).decode
decode_book = msgspec.json.Decoder(Book).decode
decode_public_trades = msgspec.json.Decoder(list[PublicTrade]).decode
decode_stats = msgspec.json.Decoder(Stats).decode
decode_all_stats = msgspec.json.Decoder(list[PairStats]).decode
decode_candles = msgspec.json.Decoder(list[Candle]).decode
decode_time = msgspec.json.Decoder(ServerTime).decode

# GOPAX writes numbers as JSON numbers, so Decimals go out as numbers, not strings.
encode = msgspec.json.Encoder(decimal_format="number").encode
