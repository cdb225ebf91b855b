"""Firstock wire messages as msgspec Structs, field names as Firstock spells them; decoders built once.

REST: every request is a JSON body carrying `userId` and `jKey`; every answer is the envelope
{"status": "success" | "failed", "message", "data"} or, failed, {"code", "name", "error": {"field",
"message"}}. Numbers travel as strings ("1290.50"); `dec` makes them Decimal at the boundary.
The socket's Structs are ticks.py's. Answers hold no JSON true/false/null: the public client
reads them with `ast.literal_eval`, so every field here is a string, a number or a list.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import msgspec
from msgspec import Struct

from adapters.india import IST

NS = 1_000_000_000
_EMPTY = frozenset({"", "--", "NA", "N/A", "null", "None"})
TIME_FORMAT = "%H:%M:%S %d-%m-%Y"  # Noren's "10:06:43 07-12-2026", IST
_TIME_FORMATS = (TIME_FORMAT, "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --- conversions -------------------------------------------------------------------------------


def dec(value: str | int | float | None) -> Decimal | None:
    """A Firstock number (a string on REST) as a Decimal; None for "", "--" and the like."""
    if value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    text = str(value).strip().replace(",", "")
    if text in _EMPTY:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def text(value: Decimal | int | None) -> str:
    """A number as Firstock takes it in requests: plain digits, no exponent."""
    return "0" if value is None else format(value, "f")


def ist_ns(value: str) -> int | None:
    """Epoch nanoseconds of one of Firstock's IST date-time strings, or None."""
    value = value.strip()
    for fmt in _TIME_FORMATS:
        try:
            dt = datetime.strptime(value, fmt).replace(tzinfo=IST)
        except ValueError:
            continue
        return (dt - _EPOCH) // timedelta(microseconds=1) * 1000
    return None


def ist_text(ts_ns: int, fmt: str = TIME_FORMAT) -> str:
    return datetime.fromtimestamp(ts_ns / NS, IST).strftime(fmt)


# --- the envelope ------------------------------------------------------------------------------


class ErrorDetail(Struct, omit_defaults=True):
    field: str = ""
    message: str = ""


class Envelope(Struct, kw_only=True, omit_defaults=True):
    status: str = ""
    message: str = ""
    code: str | int = ""
    name: str = ""
    error: ErrorDetail | None = None

    @property
    def failed(self) -> bool:
        return self.status.lower() != "success"

    @property
    def reason(self) -> str:
        if self.error is not None and self.error.message:
            return self.error.message
        return self.message


# --- requests ----------------------------------------------------------------------------------


class LoginRequest(Struct):
    userId: str
    password: str  # SHA-256 hex of the plain password
    TOTP: str
    vendorCode: str
    apiKey: str


class Authed(Struct, kw_only=True, omit_defaults=True):
    """What every call after login carries: the user and the session key (`susertoken`)."""

    userId: str
    jKey: str


class PlaceOrderRequest(Authed, kw_only=True, omit_defaults=True):
    exchange: str
    tradingSymbol: str
    quantity: str
    price: str
    product: str
    transactionType: str
    priceType: str
    retention: str
    triggerPrice: str
    remarks: str
    mkt_protection: str = ""  # left out when empty


class ModifyOrderRequest(Authed, kw_only=True, omit_defaults=True):
    orderNumber: str
    quantity: str
    price: str
    triggerPrice: str
    tradingSymbol: str
    priceType: str
    retention: str
    product: str
    mkt_protection: str = ""


class ModifyAmoRequest(Authed, kw_only=True, omit_defaults=True):
    orderNumber: str
    quantity: str
    price: str
    priceType: str
    product: str
    triggerPrice: str


class OrderNumberRequest(Authed, kw_only=True):
    orderNumber: str


class AccountRequest(Authed, kw_only=True):
    actid: str


class HoldingsRequest(Authed, kw_only=True):
    actid: str
    product: str = "C"


class OrderMarginRequest(Authed, kw_only=True):
    actid: str
    exchange: str
    tradingSymbol: str
    quantity: str
    price: str
    product: str
    transactionType: str
    priceType: str


class ProductConversionRequest(Authed, kw_only=True):
    exchange: str
    tradingSymbol: str
    quantity: str
    actid: str
    product: str
    previousProduct: str
    transactionType: str
    positionType: str


class ScripRef(Struct):
    exchange: str
    tradingSymbol: str


class QuoteRequest(Authed, kw_only=True):
    exchange: str
    tradingSymbol: str


class MultiQuoteRequest(Authed, kw_only=True):
    data: list[ScripRef]


class SearchRequest(Authed, kw_only=True):
    stext: str


class SeriesRequest(Authed, kw_only=True):
    exchange: str
    tradingSymbol: str
    startTime: str
    endTime: str
    interval: str


# --- answers -----------------------------------------------------------------------------------


class LoginData(Struct, kw_only=True):
    actid: str = ""
    userName: str = ""
    susertoken: str = ""
    email: str = ""


class LoginReply(Envelope, kw_only=True, omit_defaults=True):
    data: LoginData | None = None


class UserDetails(Struct, kw_only=True):
    actid: str = ""
    email: str = ""
    exchange: list[str] = []
    orarr: list[str] = []
    requestTime: str = ""
    uprev: str = ""
    userName: str = ""


class UserDetailsReply(Envelope, kw_only=True, omit_defaults=True):
    data: UserDetails | None = None


class OrderNumberData(Struct, kw_only=True):
    orderNumber: str = ""
    requestTime: str = ""
    rejreason: str = ""


class OrderNumberReply(Envelope, kw_only=True, omit_defaults=True):
    data: OrderNumberData | None = None


class OrderRow(Struct, kw_only=True):
    orderNumber: str = ""
    userId: str = ""
    exchange: str = ""
    tradingSymbol: str = ""
    token: str = ""
    transactionType: str = ""
    priceType: str = ""
    product: str = ""
    retention: str = ""
    quantity: str = ""
    price: str = ""
    triggerPrice: str = ""
    fillShares: str = ""
    averagePrice: str = ""
    status: str = ""
    rejectReason: str = ""
    orderTime: str = ""
    remarks: str = ""
    lotSize: str = ""
    tickSize: str = ""
    exchangeOrderNum: str = ""  # singleOrderHistory rows
    exchangeTime: str = ""
    reportType: str = ""


class OrderBookReply(Envelope, kw_only=True, omit_defaults=True):
    data: list[OrderRow] = []


class TradeRow(Struct, kw_only=True):
    orderNumber: str = ""
    userId: str = ""
    exchange: str = ""
    tradingSymbol: str = ""
    token: str = ""
    transactionType: str = ""
    priceType: str = ""
    product: str = ""
    quantity: str = ""
    price: str = ""
    averagePrice: str = ""
    remarks: str = ""
    fillId: str = ""
    fillPrice: str = ""
    fillQuantity: str = ""
    fillTime: str = ""
    fillshares: str = ""
    exchordid: str = ""
    exchangeUpdateTime: str = ""


class TradeBookReply(Envelope, kw_only=True, omit_defaults=True):
    data: list[TradeRow] = []


class PositionRow(Struct, kw_only=True):
    userId: str = ""
    exchange: str = ""
    tradingSymbol: str = ""
    token: str = ""
    product: str = ""
    netQuantity: str = ""
    netAveragePrice: str = ""
    dayBuyQuantity: str = ""
    dayBuyAveragePrice: str = ""
    dayBuyAmount: str = ""
    daySellQuantity: str = ""
    daySellAveragePrice: str = ""
    daySellAmount: str = ""
    lastTradedPrice: str = ""
    RealizedPNL: str = ""
    UnrealizedMTM: str = ""
    totalMTM: str = ""
    totalPNL: str = ""
    lotSize: str = ""
    tickSize: str = ""


class PositionBookReply(Envelope, kw_only=True, omit_defaults=True):
    data: list[PositionRow] = []


class HoldingScrip(Struct, kw_only=True):
    exchange: str = ""
    token: str = ""
    tradingSymbol: str = ""
    tickSize: str = ""
    lotSize: str = ""


class HoldingRow(Struct, kw_only=True):
    exchangeTradingSymbol: list[HoldingScrip] = []
    holdQuantity: str = ""
    uploadPrice: str = ""
    BTSTQuantity: str = ""
    usedQuantity: str = ""
    tradeQuantity: str = ""
    sellAmount: str = ""


class HoldingsReply(Envelope, kw_only=True, omit_defaults=True):
    data: list[HoldingRow] = []


class LimitData(Struct, kw_only=True):
    brkcollamt: str = ""
    cash: str = ""
    collateral: str = ""
    expo: str = ""
    marginused: str = ""
    payin: str = ""
    peak_mar: str = ""
    premium: str = ""
    span: str = ""
    requestTime: str = ""


class LimitReply(Envelope, kw_only=True, omit_defaults=True):
    data: LimitData | None = None


class MarginData(Struct, kw_only=True):
    requiredMargin: str = ""
    availableMargin: str = ""
    marginShortfall: str = ""
    requestTime: str = ""


class MarginReply(Envelope, kw_only=True, omit_defaults=True):
    data: MarginData | None = None


class QuoteData(Struct, kw_only=True, omit_defaults=True):
    exchange: str = ""
    tradingSymbol: str = ""
    token: str = ""
    companyName: str = ""
    lastTradedPrice: str = ""
    dayOpenPrice: str = ""
    dayHighPrice: str = ""
    dayLowPrice: str = ""
    dayClosePrice: str = ""
    volume: str = ""
    openInterest: str = ""
    totalBuyQuantity: str = ""
    totalSellQuantity: str = ""
    bestBuyPrice1: str = ""
    bestBuyQuantity1: str = ""
    bestBuyOrder1: str = ""
    bestSellPrice1: str = ""
    bestSellQuantity1: str = ""
    bestSellOrder1: str = ""
    VWAP: str = ""
    upperCircuit: str = ""
    lowerCircuit: str = ""
    lotSize: str = ""
    tickSize: str = ""
    requestTime: str = ""
    status: str = ""  # getMultiQuotes: a failed item says so, with its error
    error: ErrorDetail | None = None


class QuoteReply(Envelope, kw_only=True, omit_defaults=True):
    data: QuoteData | None = None


class MultiQuoteReply(Envelope, kw_only=True, omit_defaults=True):
    data: list[QuoteData] = []


class SearchRow(Struct, kw_only=True):
    token: str = ""
    exchange: str = ""
    companyName: str = ""
    representationName: str = ""
    instrumentName: str = ""
    tradingSymbol: str = ""


class SearchReply(Envelope, kw_only=True, omit_defaults=True):
    data: list[SearchRow] = []


class SecurityInfo(Struct, kw_only=True):
    exchange: str = ""
    tradingSymbol: str = ""
    token: str = ""
    companyName: str = ""
    instrumentName: str = ""
    lotSize: str = ""
    tickSize: str = ""
    freezeQuantity: str = ""
    expiry: str = ""
    strikePrice: str = ""


class SecurityInfoReply(Envelope, kw_only=True, omit_defaults=True):
    data: SecurityInfo | None = None


class Candle(Struct, kw_only=True):
    time: str = ""
    epochTime: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    volume: float = 0.0
    oi: float = 0.0


class SeriesReply(Envelope, kw_only=True, omit_defaults=True):
    data: list[Candle] = []


encode = msgspec.json.Encoder().encode
decode_envelope = msgspec.json.Decoder(Envelope).decode
decode_login = msgspec.json.Decoder(LoginReply).decode
decode_user = msgspec.json.Decoder(UserDetailsReply).decode
decode_order_number = msgspec.json.Decoder(OrderNumberReply).decode
decode_order_book = msgspec.json.Decoder(OrderBookReply).decode
decode_trade_book = msgspec.json.Decoder(TradeBookReply).decode
decode_positions = msgspec.json.Decoder(PositionBookReply).decode
decode_holdings = msgspec.json.Decoder(HoldingsReply).decode
decode_limit = msgspec.json.Decoder(LimitReply).decode
decode_margin = msgspec.json.Decoder(MarginReply).decode
decode_quote = msgspec.json.Decoder(QuoteReply).decode
decode_multi_quote = msgspec.json.Decoder(MultiQuoteReply).decode
decode_search = msgspec.json.Decoder(SearchReply).decode
decode_security = msgspec.json.Decoder(SecurityInfoReply).decode
decode_series = msgspec.json.Decoder(SeriesReply).decode
