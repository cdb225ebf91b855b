"""smallcase wire words both ways, and what a transaction's view says of each engine order in it.

Engine -> wire: the (ticker, BUY|SELL) of an order smallcase can carry (`security_of`), the codes
smallcase uses for sides, products and order types, and the venue order id
`<transactionId>:<TICKER>:<BUY|SELL>`. Wire -> engine: a poll's or a postback's `TransactionView`,
the per-security state summed over its batches (`leg_states`), and where that puts one order
(`target`), by three tables: an order's word in a batch (`STATUS`, the status table), a batch's
word for an order no batch lists (`BATCH_STATUS`), and the transaction's own word
(`TRANSACTION_STATUS`, by what it lets the adapter conclude).

A status word no table knows (`StatusWords`) goes to the venue-sync core's one rule (counted in
the venue's `unknown_statuses`, logged once per word at warning, the order kept working) and is
never guessed: it moves no order, and the transaction stays followed, so the poller asks again. In a COMPLETED transaction an order
whose word is unknown is treated as one the batches do not list: read again `unlisted_polls`
times, then ended by the transaction's documented finality (nothing more trades; what it filled
stays), its reason naming the word.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final, TypeVar

import msgspec
import structlog

from adapters.india import Exchange, Product, parse_product, split_symbol
from adapters.smallcase import schemas as w
from engine.errors import InvalidOrder
from engine.events import ZERO, Order, OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from adapters.smallcase.transactions import Leg

log = structlog.get_logger("tickbus.smallcase")
S = OrderStatus
V = TypeVar("V")

# --- engine -> wire: codes -----------------------------------------------------------------------

SIDE_CODES: Final[Mapping[Side, str]] = {Side.BUY: "BUY", Side.SELL: "SELL"}
SIDES: Final[Mapping[str, Side]] = {code: side for side, code in SIDE_CODES.items()}
PRODUCT_CODES: Final[Mapping[Product, str]] = {Product.CNC: "CNC", Product.NRML: "NRML"}
ORDER_TYPE_CODES: Final[Mapping[OrderType, str]] = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT"}


def side_code(side: Side) -> str:
    return SIDE_CODES[side]


def side_from_code(code: str) -> Side:
    side = SIDES.get(code.strip().upper())
    if side is None:
        raise ValueError(f"unknown side code {code!r} from smallcase")
    return side


def product_code(product: Product) -> str:
    code = PRODUCT_CODES.get(product)
    if code is None:
        raise ValueError(f"smallcase does not support product {product}")
    return code


def order_type_code(order_type: OrderType) -> str:
    code = ORDER_TYPE_CODES.get(order_type)
    if code is None:
        raise ValueError(f"smallcase does not support order type {order_type.value}")
    return code


def security_of(venue: str, order: Order) -> tuple[str, str]:
    """(ticker, BUY|SELL) of an order a SECURITIES transaction can carry, or InvalidOrder."""
    if order.type is not OrderType.MARKET:
        raise InvalidOrder(venue, f"smallcase SECURITIES transactions carry market orders only, not {order.type.value}")
    if order.after_market:
        raise InvalidOrder(venue, "after-market orders are not supported through smallcase")
    if order.qty != order.qty.to_integral_value() or order.qty <= 0:
        raise InvalidOrder(venue, f"quantity must be a whole number of shares, got {order.qty}")
    product = order.options.get("product")
    try:
        if product is not None and parse_product(product) is not Product.CNC:
            raise InvalidOrder(venue, f"smallcase buys and sells for delivery (CNC) only, not {product}")
        exchange, ticker = split_symbol(order.instrument.partition(":")[2])
    except ValueError as exc:
        raise InvalidOrder(venue, str(exc)) from None
    if exchange is not Exchange.NSE:
        raise InvalidOrder(venue, f"smallcase transactions take NSE tickers, not {exchange}")
    return ticker, side_code(order.side)


def create_request(orders: Mapping[tuple[str, str], Order]) -> w.CreateTransaction:
    """One SECURITIES transaction carrying every order of a basket, keyed by (ticker, side)."""
    securities = [w.Security(ticker, int(o.qty), side) for (ticker, side), o in orders.items()]  # type: ignore[arg-type]
    return w.CreateTransaction(intent="TRANSACTION", orderConfig=w.OrderConfig(type="SECURITIES", securities=securities))


def venue_order_id(transaction_id: str, ticker: str, side: str) -> str:
    return f"{transaction_id}:{ticker}:{side}"


def parse_venue_order_id(vid: str) -> tuple[str, str, str]:
    """(transactionId, ticker, side) of a venue order id made by `venue_order_id`."""
    parts = vid.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a smallcase venue order id: {vid!r}")
    return parts[0], parts[1], parts[2]


# --- wire -> engine: the status tables ----------------------------------------------------------

# An order's word in a batch (protocols.md 5.4): the status table.
STATUS: Final[Mapping[str, OrderStatus]] = {
    "PLACED": S.PLACED,
    "PARTIAL": S.UPDATED,
    "COMPLETE": S.COMPLETED,
    "CANCELLED": S.CANCELLED,
    "CANCELLED AMO": S.CANCELLED,
    "REJECTED": S.REJECTED,
    "ERROR": S.REJECTED,
    "UNPLACED": S.REJECTED,  # an entry of a batch's `unplaced` list: never sent to the exchange
}
# For an order its batch does not list (the batch's word is all there is).
BATCH_STATUS: Final[Mapping[str, OrderStatus]] = {
    "ERROR": S.REJECTED,
    "UNPLACED": S.REJECTED,
    "PARTIALLYPLACED": S.PLACED,
    "UNFILLED": S.PLACED,
    "PARTIALLYFILLED": S.UPDATED,
    "COMPLETED": S.COMPLETED,
    "FIXED": S.COMPLETED,
    "MARKEDCOMPLETE": S.COMPLETED,
    "CANCELLED": S.CANCELLED,
}
# An ERRORED transaction (or a refusal naming it) ends its orders by the SDK error's name.
TRANSACTION_ERRORS: Final[Mapping[str, OrderStatus]] = {
    "user_cancelled": S.CANCELLED,
    "transaction_expired": S.EXPIRED,
}


class Phase(enum.Enum):
    """What a transaction's status word lets the adapter conclude."""

    UNUSED = "unused"  # nobody has begun it: it expires by the clock
    IN_PROGRESS = "in progress"  # the user has begun: the venue decides
    FINAL = "final"


TRANSACTION_STATUS: Final[Mapping[str, Phase]] = {
    "INITIALIZED": Phase.UNUSED,
    "USED": Phase.IN_PROGRESS,
    "PROCESSING": Phase.IN_PROGRESS,
    "ACTION_REQUIRED": Phase.IN_PROGRESS,
    "COMPLETED": Phase.FINAL,
    "ERRORED": Phase.FINAL,
}
UNUSED = frozenset(k for k, v in TRANSACTION_STATUS.items() if v is Phase.UNUSED)
IN_PROGRESS = frozenset(k for k, v in TRANSACTION_STATUS.items() if v is Phase.IN_PROGRESS)
FINAL = frozenset(k for k, v in TRANSACTION_STATUS.items() if v is Phase.FINAL)
# The statuses whose order batches are worth reading (only COMPLETED ones are documented to have them).
WITH_ORDERS = frozenset({"COMPLETED", "PROCESSING"})
# Series suffixes some brokers append to an NSE tradingsymbol (SBIN-EQ).
SERIES_SUFFIXES = ("-EQ", "-BE", "-BZ", "-BL", "-SM", "-ST")


class StatusWords:
    """The tables, and for a word none of them knows the core's one rule (`on_unknown`: counted,
    logged once per word, the order asked about again): nothing is concluded from it."""

    def __init__(self, on_unknown: Callable[[str, str | None], None]) -> None:
        self._on_unknown = on_unknown

    def order(self, word: str, venue_order_id: str | None = None) -> OrderStatus | None:
        return self._known(STATUS, word, venue_order_id)

    def batch(self, word: str, venue_order_id: str | None = None) -> OrderStatus | None:
        return self._known(BATCH_STATUS, word, venue_order_id)

    def phase(self, word: str | None) -> Phase | None:
        return None if word is None else self._known(TRANSACTION_STATUS, word, None)

    def _known(self, table: Mapping[str, V], word: str, venue_order_id: str | None) -> V | None:
        found = table.get(word)
        if found is None:
            self._on_unknown(word, venue_order_id)
        return found


# --- wire -> engine: views and their states -----------------------------------------------------


class TransactionView(msgspec.Struct, frozen=True):
    """What is known of one transaction at one moment, from a poll or a postback."""

    transaction_id: str
    status: str | None = None
    error: str | None = None
    batches: tuple[w.OrderBatch, ...] = ()
    past_deadline: bool = False
    created_at: str | None = None


def view_of_postback(payload: w.Postback) -> TransactionView:
    return TransactionView(
        transaction_id=payload.transactionId,
        status=payload.status,
        error=payload.error.message if payload.error is not None else None,
        batches=tuple(payload.orderBatches),
    )


@dataclass
class LegState:
    """One security's result summed over the transaction's batches."""

    filled: Decimal = ZERO
    notional: Decimal = ZERO
    word: str | None = None  # the order's status word in the latest batch listing it
    message: str | None = None


def ticker_of(tradingsymbol: str) -> str:
    """The NSE ticker a batch's tradingsymbol names: `NSE:SBIN-EQ` -> `SBIN`."""
    symbol = tradingsymbol.strip().upper().rpartition(":")[2]
    for suffix in SERIES_SUFFIXES:
        if symbol.endswith(suffix) and len(symbol) > len(suffix):
            return symbol[: -len(suffix)]
    return symbol


def leg_states(batches: Sequence[w.OrderBatch]) -> tuple[dict[tuple[str, str], LegState], str | None]:
    """Per (ticker, side): fills summed over batches (a FIX batch re-places what was left), the
    last word on it; and the last batch's status (for orders no batch lists)."""
    states: dict[tuple[str, str], LegState] = {}
    for batch in batches:
        listed = [(o, o.status) for o in batch.orders] + [(o, "UNPLACED") for o in batch.unplaced]
        for o, word in listed:
            state = states.setdefault((ticker_of(o.tradingsymbol), o.transactionType.upper()), LegState())
            state.filled += o.filledQuantity
            state.notional += o.filledQuantity * o.averagePrice
            state.word = word.upper()
            state.message = o.errorCode or o.statusMessage or state.message
    return states, (batches[-1].status.upper() if batches else None)


def known(state: LegState | None) -> bool:
    """Whether a batch lists the order by a word the status table knows."""
    return state is not None and state.word is not None and state.word in STATUS


def target(
    leg: Leg, state: LegState | None, batch_word: str | None, view: TransactionView, words: StatusWords,
    *, finalise_unlisted: bool = True,
) -> tuple[OrderStatus, str | None] | None:
    """Where the view puts one order (None: no news for it). `finalise_unlisted` False: a COMPLETED
    transaction whose batches do not list the order (by a known word) yet leaves it as it is."""
    qty = leg.order.qty
    progress = max(state.filled if state is not None else ZERO, leg.filled)  # never lowered
    reason: str | None
    if view.error is not None:
        status, reason = TRANSACTION_ERRORS.get(view.error, S.REJECTED), view.error
    elif state is not None and state.word is not None and (view.status != "COMPLETED" or known(state)):
        status = words.order(state.word, leg.vid) or leg.status  # a word no table knows: no news from it
        reason = state.message if status in (S.REJECTED, S.CANCELLED) else None
        if progress >= qty:
            status = S.COMPLETED
        elif status is S.PLACED and progress > 0:
            status = S.UPDATED
        if view.status == "COMPLETED" and status.is_open:  # final: what was left will not trade
            status, reason = S.CANCELLED, f"transaction completed with {progress} of {qty} filled"
    elif view.status == "COMPLETED":
        if not finalise_unlisted:
            return None
        status, reason = _unlisted(leg, state, batch_word, words, progress)
    elif view.status == "ERRORED":
        status, reason = S.REJECTED, "transaction errored"
    elif view.past_deadline and view.status in UNUSED:
        status, reason = S.EXPIRED, "transaction_expired"
    else:
        return None
    if status is S.REJECTED and progress > 0:
        status = S.CANCELLED  # part of it traded: it ended cancelled with what it filled
    return status, reason


def _unlisted(
    leg: Leg, state: LegState | None, batch_word: str | None, words: StatusWords, progress: Decimal,
) -> tuple[OrderStatus, str | None]:
    """A COMPLETED transaction's end for an order no batch lists by a known word (read again
    `unlisted_polls` times first): the transaction is final, so nothing more of it trades."""
    if state is not None and state.word is not None:  # listed, by a word no table knows
        qty = leg.order.qty
        words.order(state.word, leg.vid)
        if progress >= qty:
            return S.COMPLETED, None
        return S.CANCELLED, f"transaction completed with {progress} of {qty} filled; order status {state.word!r} unknown"
    status = S.REJECTED if batch_word is None else words.batch(batch_word, leg.vid)
    if status is None:  # the batch's word says nothing known
        return S.CANCELLED, f"not in the transaction's order batches (batch status {batch_word!r} unknown)"
    if status.is_open or status is S.COMPLETED:  # nothing of it was filled
        status = S.CANCELLED
    return status, f"not in the transaction's order batches (batch {batch_word or 'none'})"
