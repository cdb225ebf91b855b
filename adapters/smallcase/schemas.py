"""smallcase Gateway wire messages as msgspec Structs, field names as smallcase spells them.

Every REST answer is the envelope `{"success", "errors", "data"}`; quantities and prices are JSON
numbers and decode to Decimal (exact, from the number's text), checked on decode (finite, of
sane magnitude, fill sizes and prices not negative, times ISO-8601: engine/venue/values.py), so a
bad one is the client's `VenueError` or a postback refused 400, never a crash after the decode.
Decoders are built once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import msgspec
from msgspec import Struct

from engine.venue.values import Checked
from engine.venue.values import iso_ns as _iso_ns

T = TypeVar("T")
ZERO = Decimal(0)
NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --- vocabularies --------------------------------------------------------------------------------

# The status words smallcase documents (protocols.md 5.3, 5.4); tests/adapters/smallcase check that
# the adapter has a rule for every one of them.
INTENTS = ("TRANSACTION", "CONNECT", "HOLDINGS_IMPORT", "SIP_SETUP", "IMR_SETUP", "FETCH_FUNDS",
           "AUTHORISE_HOLDINGS", "MF_HOLDINGS_IMPORT")
TRANSACTION_STATUSES = ("INITIALIZED", "USED", "PROCESSING", "ACTION_REQUIRED", "ERRORED", "COMPLETED")
BATCH_STATUSES = ("ERROR", "UNPLACED", "PARTIALLYPLACED", "UNFILLED", "PARTIALLYFILLED", "COMPLETED",
                  "FIXED", "MARKEDCOMPLETE", "CANCELLED")
ORDER_STATUSES = ("PLACED", "REJECTED", "CANCELLED", "COMPLETE", "ERROR", "CANCELLED AMO", "PARTIAL")

# The SDK's error names (protocols.md 5.5). Their numbers are not published: the emulator gives
# each 1000 + its place in this list, and the adapter reads only the names.
SDK_ERRORS = ("init_sdk", "no_order", "no_broker", "invalid_jwt", "market_closed", "user_mismatch",
              "order_pending", "internal_error", "user_cancelled", "consent_denied", "order_in_queue",
              "invalid_gateway", "transaction_expired", "invalid_transactionId", "insufficient_holdings",
              "transaction_in_process", "no_compatible_browser")
SDK_ERROR_CODES: dict[str, int] = {name: 1000 + i for i, name in enumerate(SDK_ERRORS)}

# --- time ----------------------------------------------------------------------------------------


def epoch_ns(dt: datetime) -> int:
    """Epoch nanoseconds of a datetime; a naive one is UTC.

    The package's one time helper: the rule is the engine's for a config's `start:`
    (engine.app.config.Plan.start_ns), applied here to `emulator_start` and to the gateway's ISO
    timestamps (createdAt, a postback's timestamp), which may come without an offset.
    """
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1) * 1000


def iso_ns(text: str) -> int:
    """Epoch nanoseconds of an ISO-8601 timestamp (naive = UTC); ValueError if it is not one (the
    shared rule, engine/venue/values.py; the Structs carrying one check it on decode)."""
    return _iso_ns(text)


# --- the envelope --------------------------------------------------------------------------------


class Envelope(Struct, Generic[T]):
    success: bool
    errors: list[Any] | None = None
    data: T | None = None


def error_names(errors: list[Any] | None) -> list[str]:
    """The error names of an envelope: plain strings, or objects with a message / code."""
    names: list[str] = []
    for item in errors or ():
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):
            names.append(str(item.get("message") or item.get("code") or item))
        else:
            names.append(str(item))
    return names


# --- create transaction --------------------------------------------------------------------------


class Security(Struct, omit_defaults=True):
    """One stock of a SECURITIES order; `quantity` and `type` are all-or-none across the list."""

    ticker: str
    quantity: int | None = None
    type: Literal["BUY", "SELL"] | None = None


class OrderConfig(Struct, omit_defaults=True):
    type: str
    securities: list[Security] = []


class CreateTransaction(Struct, omit_defaults=True):
    intent: str
    orderConfig: OrderConfig | None = None
    notes: str | None = None


class Created(Struct):
    transactionId: str
    expireAt: str | None = None  # the emulator's; not in smallcase's documentation


# --- transaction status --------------------------------------------------------------------------


class TransactionError(Struct):
    message: str
    code: int | None = None


class TransactionDetails(Checked):
    iso_times = ("createdAt",)

    status: str
    intent: str | None = None
    createdAt: str | None = None
    expireAt: str | None = None
    error: TransactionError | None = None
    smallcaseAuthId: str | None = None


class TransactionData(Struct):
    transactionDetails: TransactionDetails
    transactionId: str | None = None


# --- order details (also the SDK result and the postback payload) --------------------------------


class BatchOrder(Checked, kw_only=True):
    non_negative = ("quantity", "filledQuantity", "averagePrice")

    tradingsymbol: str
    transactionType: str
    quantity: Decimal
    filledQuantity: Decimal = ZERO
    averagePrice: Decimal = ZERO
    status: str = "PLACED"
    exchangeOrderId: str | None = None
    exchange: str = "NSE"
    orderType: str = "MARKET"
    product: str = "CNC"
    errorCode: str | None = None
    statusMessage: str | None = None


class OrderBatch(Checked, kw_only=True):
    batchId: str
    status: str
    transactionId: str | None = None
    variety: str = "regular"
    quantity: Decimal = ZERO
    filled: Decimal = ZERO
    buyAmount: Decimal = ZERO
    sellAmount: Decimal = ZERO
    completedDate: str | None = None
    orders: list[BatchOrder] = []
    unplaced: list[BatchOrder] = []


class OrderDetails(Struct, kw_only=True):
    orderBatches: list[OrderBatch] = []
    transactionId: str | None = None
    smallcaseAuthId: str | None = None
    notes: str | None = None


# --- holdings ------------------------------------------------------------------------------------


class HoldingAmount(Checked):
    quantity: Decimal
    averagePrice: Decimal = ZERO


class HoldingSecurity(Struct, kw_only=True):
    holdings: HoldingAmount
    nseTicker: str | None = None
    bseTicker: str | None = None
    isin: str | None = None
    name: str | None = None


class Holdings(Struct, kw_only=True):
    securities: list[HoldingSecurity] = []
    smallcaseAuthId: str | None = None
    broker: str | None = None
    updating: bool = False
    lastUpdate: str | None = None


# --- postbacks -----------------------------------------------------------------------------------


class Postback(Struct, kw_only=True):
    """A postback's payload: the order-batch result plus smallcaseAuthId (status and error [I])."""

    transactionId: str
    orderBatches: list[OrderBatch] = []
    smallcaseAuthId: str | None = None
    status: str | None = None
    error: TransactionError | None = None
    intent: str | None = None
    notes: str | None = None
    timestamp: str | None = None


class SignedPostback(Struct):
    """The `field` scheme's body: the payload's JSON text and its checksum."""

    data: str
    checksum: str


# --- the SDK step (the emulator's stand-in for the user's screens) -------------------------------


class SdkAction(Struct, omit_defaults=True):
    action: Literal["confirm", "cancel", "deny"] = "confirm"
    token: str | None = None


class PostbackRegistration(Struct):
    url: str


# --- decoders and encoders, built once -----------------------------------------------------------

decode_envelope = msgspec.json.Decoder(Envelope[Any]).decode
decode_created = msgspec.json.Decoder(Envelope[Created]).decode
decode_transaction = msgspec.json.Decoder(Envelope[TransactionData]).decode
decode_order_details = msgspec.json.Decoder(Envelope[OrderDetails]).decode
decode_holdings = msgspec.json.Decoder(Envelope[Holdings]).decode
decode_create_request = msgspec.json.Decoder(CreateTransaction).decode
decode_postback = msgspec.json.Decoder(Postback).decode
decode_signed_postback = msgspec.json.Decoder(SignedPostback).decode
decode_sdk_action = msgspec.json.Decoder(SdkAction).decode
decode_registration = msgspec.json.Decoder(PostbackRegistration).decode
encode = msgspec.json.Encoder(decimal_format="number").encode
