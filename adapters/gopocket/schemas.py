"""GoPocket wire messages as msgspec Structs, field names as the venue spells them; decoders built once.

Every REST answer is the `{"status": "Ok" | "Not_Ok", "message": ..., "result": [...]}` envelope
(the SDK's own failures say `{"stat": "Not_ok", "emsg": ...}`: both spellings are read). Values are
strings in the venue's examples; a number where a string is expected is read too (`Num`), and `dec`
turns either into a Decimal at the boundary. The webhook and the socket speak Noren's short keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import msgspec
from msgspec import Struct

from adapters.india import IST

NS = 1_000_000_000
Num = str | float
T = TypeVar("T")
_EMPTY = frozenset({"", "--", "NA", "N/A", "null", "None"})


def dec(value: Num | None) -> Decimal | None:
    """A wire number as a Decimal; None for "", "--", "NA", null and the like."""
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    value = value.strip().replace(",", "")
    if value in _EMPTY:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def num(value: Num | None) -> float:
    """A market-data number as a float (0.0 when empty)."""
    if value is None:
        return 0.0
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        return 0.0


def text(value: Decimal | int | None) -> str:
    """A number as requests carry it: plain digits, no exponent."""
    return "" if value is None else format(value, "f")


TIME_FORMATS = ("%d-%m-%Y %H:%M:%S", "%H:%M:%S %d-%m-%Y", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")


def ist_ns(value: str) -> int | None:
    """Epoch nanoseconds of one of the venue's IST times ("07-12-2026 10:00:01"), or None."""
    value = value.strip()
    for fmt in TIME_FORMATS:
        try:
            dt = datetime.strptime(value, fmt).replace(tzinfo=IST)
        except ValueError:
            continue
        return (dt - _EPOCH) // timedelta(microseconds=1) * 1000
    return None


def ist_text(ts_ns: int, fmt: str = "%d-%m-%Y %H:%M:%S") -> str:
    return datetime.fromtimestamp(ts_ns / NS, IST).strftime(fmt)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the envelope ------------------------------------------------------------------------------


class Envelope(Struct, kw_only=True):
    status: str = ""
    stat: str = ""
    message: str = ""
    emsg: str = ""

    @property
    def ok(self) -> bool:
        return (self.status or self.stat).lower() == "ok"

    @property
    def failed(self) -> bool:
        return (self.status or self.stat).lower() in ("not_ok", "notok", "error", "failure")

    @property
    def reason(self) -> str:
        return self.emsg or self.message


class Reply(Envelope, Generic[T], kw_only=True):
    result: list[T] = []


# --- session -----------------------------------------------------------------------------------


class SessionRequest(Struct):
    checkSum: str


class SessionRow(Struct, kw_only=True):
    accessToken: str = ""
    userId: str = ""


class SessionReply(Reply[SessionRow], kw_only=True):
    userSession: str = ""  # the {"stat": "Ok", "userSession": ...} form the SDK also reads
    clientId: str = ""

    @property
    def token(self) -> str:
        if self.result and self.result[0].accessToken:
            return self.result[0].accessToken
        return self.userSession


# --- account -----------------------------------------------------------------------------------


class ProfileRow(Struct, kw_only=True):
    clientId: str = ""
    clientName: str = ""
    emailId: str = ""
    mobileNo: str = ""
    brokerName: str = ""
    exchanges: list[str] = []
    products: list[str] = []


class LimitsRow(Struct, kw_only=True):
    availableMargin: Num = ""
    openingBalance: Num = ""
    marginUsed: Num = ""
    payin: Num = ""
    payout: Num = ""
    exposure: Num = ""
    span: Num = ""
    premium: Num = ""
    collateral: Num = ""


class PositionRow(Struct, kw_only=True):
    exchange: str = ""
    tradingSymbol: str = ""
    instrumentId: Num = ""
    product: str = ""
    netQuantity: Num = ""
    netBuyQuantity: Num = ""
    netBuyAvgPrice: Num = ""
    netSellQuantity: Num = ""
    netSellAvgPrice: Num = ""
    ltp: Num = ""
    realizedPnl: Num = ""
    unrealizedPnl: Num = ""


class HoldingRow(Struct, kw_only=True):
    exchange: str = ""
    tradingSymbol: str = ""
    instrumentId: Num = ""
    isin: str = ""
    quantity: Num = ""
    sellableQuantity: Num = ""
    averagePrice: Num = ""
    ltp: Num = ""


# --- orders ------------------------------------------------------------------------------------

Opt = str | float | None


class OrderRequest(Struct, kw_only=True, omit_defaults=False):
    """One item of the placeorder array (the SDK's keys; unset values are null)."""

    instrumentId: Opt = None
    exchange: Opt = None
    transactionType: Opt = None
    quantity: Opt = None
    orderComplexity: Opt = None
    product: Opt = None
    orderType: Opt = None
    price: Opt = None
    slTriggerPrice: Opt = None
    slLegPrice: Opt = None
    trailingSlAmount: Opt = None
    targetLegPrice: Opt = None
    validity: Opt = None
    disclosedQuantity: Opt = None
    marketProtectionPercent: Opt = None
    apiOrderSource: Opt = None
    algoId: Opt = None
    orderTag: Opt = None


class ModifyRequest(Struct, kw_only=True):
    """The modify body (the SDK's keys; unchanged values are "")."""

    brokerOrderId: Opt = None
    quantity: Opt = ""
    orderType: Opt = ""
    slTriggerPrice: Opt = ""
    price: Opt = ""
    slLegPrice: Opt = ""
    trailingSLAmount: Opt = ""
    targetLegPrice: Opt = ""
    validity: Opt = ""
    disclosedQuantity: Opt = ""
    marketProtectionPrecent: Opt = ""  # sic, as the SDK spells it
    deviceId: Opt = ""


class OrderRef(Struct, kw_only=True):
    """cancel / history: {"brokerOrderId"}; exit of a bracket order adds orderComplexity."""

    brokerOrderId: Opt = None
    orderComplexity: Opt = None


class PlaceRow(Struct, kw_only=True):
    brokerOrderId: str = ""
    requestTime: str = ""
    orderTag: str | None = None


class OrderRow(Struct, kw_only=True):
    brokerOrderId: str = ""
    exchange: str = ""
    tradingSymbol: str = ""
    instrumentId: Num = ""
    transactionType: str = ""
    orderType: str = ""
    product: str = ""
    orderComplexity: str = ""
    validity: str = ""
    quantity: Num = ""
    price: Num = ""
    triggerPrice: Num = ""
    orderStatus: str = ""
    fillQuantity: Num = ""
    pendingQuantity: Num = ""
    averageTradedPrice: Num = ""
    rejectReason: str = ""
    orderTime: str = ""
    exchangeOrderId: str = ""
    orderTag: str | None = None


class TradeRow(Struct, kw_only=True):
    brokerOrderId: str = ""
    fillId: str = ""
    exchange: str = ""
    tradingSymbol: str = ""
    instrumentId: Num = ""
    transactionType: str = ""
    product: str = ""
    orderType: str = ""
    quantity: Num = ""
    fillQuantity: Num = ""
    fillPrice: Num = ""
    fillTime: str = ""
    exchangeOrderId: str = ""


class HistoryRow(Struct, kw_only=True):
    brokerOrderId: str = ""
    orderStatus: str = ""
    quantity: Num = ""
    fillQuantity: Num = ""
    averageTradedPrice: Num = ""
    price: Num = ""
    triggerPrice: Num = ""
    rejectReason: str = ""
    time: str = ""


class MarginRow(Struct, kw_only=True):
    requiredMargin: Num = ""
    availableMargin: Num = ""
    shortfall: Num = ""


class WebhookRequest(Struct):
    callbackUrl: str


# --- Noren messages (the webhook's order updates, the socket) ----------------------------------


class NorenOrder(Struct, kw_only=True):
    """A Noren order-update dict (webhook body; the socket's `om`)."""

    t: str = ""
    norenordno: str = ""
    actid: str = ""
    uid: str = ""
    exch: str = ""
    tsym: str = ""
    token: str = ""
    qty: str = ""
    prc: str = ""
    trgprc: str = ""
    prd: str = ""
    status: str = ""
    reporttype: str = ""
    trantype: str = ""
    prctyp: str = ""
    ret: str = ""
    fillshares: str = ""
    avgprc: str = ""
    fltm: str = ""
    flid: str = ""
    flqty: str = ""
    flprc: str = ""
    rejreason: str = ""
    exchordid: str = ""
    cancelqty: str = ""
    remarks: str = ""
    amo: str = ""
    tm: str = ""
    exch_tm: str = ""


class NorenFrame(Struct, kw_only=True):
    """Any socket frame: touchline (tk/tf), depth (dk/df), acks (ck/uk/ok), order updates (om)."""

    t: str = ""
    s: str = ""
    e: str = ""
    tk: str = ""
    lp: str = ""
    v: str = ""
    ltq: str = ""
    ft: str = ""
    bp1: str = ""
    sp1: str = ""
    bq1: str = ""
    sq1: str = ""
    bp2: str = ""
    sp2: str = ""
    bq2: str = ""
    sq2: str = ""
    bp3: str = ""
    sp3: str = ""
    bq3: str = ""
    sq3: str = ""
    bp4: str = ""
    sp4: str = ""
    bq4: str = ""
    sq4: str = ""
    bp5: str = ""
    sp5: str = ""
    bq5: str = ""
    sq5: str = ""
    norenordno: str = ""
    status: str = ""
    emsg: str = ""


# --- decoders ----------------------------------------------------------------------------------

decode_envelope = msgspec.json.Decoder(Envelope).decode
decode_session = msgspec.json.Decoder(SessionReply).decode
decode_profile = msgspec.json.Decoder(Reply[ProfileRow]).decode
decode_limits = msgspec.json.Decoder(Reply[LimitsRow]).decode
decode_positions = msgspec.json.Decoder(Reply[PositionRow]).decode
decode_holdings = msgspec.json.Decoder(Reply[HoldingRow]).decode
decode_place = msgspec.json.Decoder(Reply[PlaceRow]).decode
decode_order_book = msgspec.json.Decoder(Reply[OrderRow]).decode
decode_trade_book = msgspec.json.Decoder(Reply[TradeRow]).decode
decode_history = msgspec.json.Decoder(Reply[HistoryRow]).decode
decode_margin = msgspec.json.Decoder(Reply[MarginRow]).decode
decode_orders_request = msgspec.json.Decoder(list[OrderRequest]).decode
decode_order_request = msgspec.json.Decoder(OrderRequest).decode
decode_modify_request = msgspec.json.Decoder(ModifyRequest).decode
decode_order_ref = msgspec.json.Decoder(OrderRef).decode
decode_order_refs = msgspec.json.Decoder(list[OrderRef]).decode
decode_session_request = msgspec.json.Decoder(SessionRequest).decode
decode_webhook_request = msgspec.json.Decoder(WebhookRequest).decode
decode_noren_order = msgspec.json.Decoder(NorenOrder).decode
decode_frame = msgspec.json.Decoder(NorenFrame).decode
_encoder = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    return _encoder.encode(value)
