"""The gateway behind the emulator: transactions, the users' broker accounts, and the user's SDK step.

Accounts live on the shared `SimExchange` (the matching engine). Market hours are checked per
account before anything is placed: a broker account follows the NSE calendar on the emulator's
clock; leprechaun accounts follow `leprechaun_hours` ("nse" by default, or "open" / "closed":
smallcase sets leprechaun hours itself). The user's step (what a person does in smallcase's SDK) is
`user_step`, then `finish`: on `POST /sdk/...`, or run by the emulator's virtual user for a
leprechaun account once the transaction's SDK link is opened. The step may stop half-way (USED,
ACTION_REQUIRED, PROCESSING: the emulator's `pause_at`) and be finished later; only its start
checks the transactionId's 5 minutes.

Emulator only: leprechaun accounts are named by their test token, and the token is also taken as
their smallcaseAuthId (a connected user's JWT names it). smallcase's real test tokens are not
public and its leprechaun accounts are not known to work this way. A guest logs in with the
emulator's `guest_token` in leprechaun mode.
"""

from __future__ import annotations

import enum
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from adapters.india import Exchange, default_calendar, nse_equity
from adapters.simulation.account import FeeSchedule
from adapters.simulation.exchange import EmulatorClock, ExchangeError, SimExchange
from adapters.simulation.hours import MarketHours
from adapters.smallcase import schemas as w
from engine.data.synthetic import WalkSpec
from engine.events import OrderType, Side

NS = 1_000_000_000
ZERO = Decimal(0)
TRANSACTION_TTL_NS = 300 * NS  # a transactionId lives 5 minutes
IN_PROGRESS = ("USED", "ACTION_REQUIRED", "PROCESSING")  # the user's step, begun and not finished
LeprechaunHours = Literal["nse", "open", "closed"]

# NSE stocks the configs use, at realistic prices (INR).
STOCKS: tuple[tuple[str, float], ...] = (
    ("RELIANCE", 1290.50), ("TCS", 3050.00), ("INFY", 1512.40), ("HDFCBANK", 1985.60),
    ("ICICIBANK", 1422.30), ("SBIN", 812.45), ("ITC", 411.20), ("LT", 3610.75),
    ("BHARTIARTL", 1905.10), ("KOTAKBANK", 2110.35), ("AXISBANK", 1178.90), ("HINDUNILVR", 2390.00),
)


class Scenario(enum.StrEnum):
    NORMAL = "normal"
    LOW_FUNDS = "low_funds"
    ORDER_FAILURE = "order_failure"
    PARTIAL_FILL = "partial_fill"
    USER_CANCELLED = "user_cancelled"
    CONSENT_DENIED = "consent_denied"


@dataclass(frozen=True)
class AccountSpec:
    scenario: Scenario
    leprechaun: bool
    funds: Decimal = Decimal(10_000_000)


DEMO_AUTH_ID = "5f0321b5f3743c31d95abd35"  # the seed's sample smallcaseAuthId: a "real" demo account
# Emulator only: accounts by smallcaseAuthId, leprechaun ones named by their test token.
ACCOUNTS: dict[str, AccountSpec] = {
    DEMO_AUTH_ID: AccountSpec(Scenario.NORMAL, leprechaun=False),
    "leprechaun": AccountSpec(Scenario.NORMAL, leprechaun=True),
    "leprechaun-low-funds": AccountSpec(Scenario.LOW_FUNDS, leprechaun=True, funds=Decimal(1000)),
    "leprechaun-order-failure": AccountSpec(Scenario.ORDER_FAILURE, leprechaun=True),
    "leprechaun-partial-fill": AccountSpec(Scenario.PARTIAL_FILL, leprechaun=True),
    "leprechaun-user-cancelled": AccountSpec(Scenario.USER_CANCELLED, leprechaun=True),
    "leprechaun-consent-denied": AccountSpec(Scenario.CONSENT_DENIED, leprechaun=True),
}
_SCENARIO_ERRORS = {Scenario.USER_CANCELLED: "user_cancelled", Scenario.CONSENT_DENIED: "consent_denied"}
_ACTION_ERRORS = {"cancel": "user_cancelled", "deny": "consent_denied"}
MODELLED_INTENTS = frozenset({"TRANSACTION", "CONNECT", "HOLDINGS_IMPORT"})


class GatewayError(Exception):
    """A refusal named as smallcase names it, with the HTTP status the emulator answers."""

    def __init__(self, name: str, status: int = 400) -> None:
        self.name = name
        self.status = status
        super().__init__(name)


@dataclass
class Transaction:
    id: str
    intent: str
    created_ns: int
    securities: list[w.Security] = field(default_factory=list)
    auth_id: str | None = None  # the connected user who created it, or who completed it
    notes: str | None = None
    status: str = "INITIALIZED"
    error: str | None = None
    batches: list[w.OrderBatch] = field(default_factory=list)
    updated_ns: int = 0
    action: str = "confirm"  # what the user chose at the step (kept while it is paused)
    opened: bool = False  # its SDK link was opened (a leprechaun user acts then)
    hidden_reads: int = 0  # order-details reads still answered without its batches (lag)


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // NS, UTC).replace(microsecond=ts_ns % NS // 1000).isoformat()


def batch_status(orders: list[w.BatchOrder], unplaced: list[w.BatchOrder]) -> str:
    """A batch's word for what became of its orders."""
    if not orders:
        return "UNPLACED"
    if all(o.status in ("REJECTED", "ERROR") for o in orders):
        return "ERROR"
    if unplaced:
        return "PARTIALLYPLACED"
    if all(o.status == "COMPLETE" for o in orders):
        return "COMPLETED"
    if any(o.filledQuantity > 0 for o in orders):
        return "PARTIALLYFILLED"
    return "UNFILLED"


class Gateway:
    """Every transaction and account of one emulated gateway."""

    def __init__(
        self,
        *,
        seed: int = 1,
        clock: EmulatorClock | None = None,
        stocks: Iterable[tuple[str, float]] = STOCKS,
        guest_token: str = "leprechaun",
        tick_interval_s: float = 0.5,
        leprechaun_hours: LeprechaunHours = "nse",
    ) -> None:
        self.clock = clock or EmulatorClock()
        self.hours = MarketHours(calendar=default_calendar())
        self.leprechaun_hours: LeprechaunHours = leprechaun_hours
        specs = [(nse_equity("smallcase", t), WalkSpec(instrument=f"NSE:{t}", price=p, tick=0.05, size=2000, move_prob=0.5)) for t, p in stocks]
        # The market is checked per account before a transaction places anything (market_open):
        # leprechaun hours differ from the exchange's, so the matching engine itself never refuses.
        self.exchange = SimExchange(
            specs, seed=seed, clock=self.clock, fees=FeeSchedule(), is_open=lambda inst, ts: True, tick_interval_s=tick_interval_s,
        )
        self.guest_token = guest_token
        self.tradingsymbol_suffix = ""  # a knob: some brokers report SBIN-EQ for SBIN
        self.order_details_lag = 0  # a knob: order-details reads of a completed transaction without its batches
        self.transactions: dict[str, Transaction] = {}
        self._rng = random.Random(f"smallcase-transactions-{seed}")
        self._batch_ids = itertools.count(1)

    # --- accounts -----------------------------------------------------------------------------

    def account(self, auth_id: str) -> AccountSpec:
        spec = ACCOUNTS.get(auth_id)
        if spec is None:
            raise GatewayError("user_mismatch", 401)
        if auth_id not in self.exchange.accounts:
            self.exchange.open_account(auth_id, {"INR": spec.funds})
        return spec

    def is_leprechaun(self, tx: Transaction, leprechaun_guests: bool) -> bool:
        """Whether a virtual account will complete `tx` by itself."""
        return ACCOUNTS[tx.auth_id].leprechaun if tx.auth_id else leprechaun_guests

    def market_open(self, spec: AccountSpec) -> bool:
        """Whether `spec`'s market is open now: NSE's calendar, or smallcase's leprechaun hours."""
        if spec.leprechaun and self.leprechaun_hours != "nse":
            return self.leprechaun_hours == "open"
        return self.hours.calendar.is_open(Exchange.NSE, self.clock.now_ns())

    # --- transactions -------------------------------------------------------------------------

    def create(self, request: w.CreateTransaction, auth_id: str | None) -> Transaction:
        if request.intent not in w.INTENTS:
            raise GatewayError("invalid_intent")
        if request.intent not in MODELLED_INTENTS:
            raise GatewayError("intent_not_supported")
        securities: list[w.Security] = []
        if request.intent == "TRANSACTION":
            securities = self._securities(request.orderConfig)
        if request.notes is not None and len(request.notes) > 256:
            raise GatewayError("invalid_notes")
        if auth_id is not None:
            self.account(auth_id)
        now = self.clock.now_ns()
        tx = Transaction(
            id=f"TRX_{self._rng.getrandbits(128):032x}", intent=request.intent, created_ns=now,
            securities=securities, auth_id=auth_id, notes=request.notes, updated_ns=now,
        )
        self.transactions[tx.id] = tx
        return tx

    def _securities(self, config: w.OrderConfig | None) -> list[w.Security]:
        if config is None or config.type != "SECURITIES":
            raise GatewayError("invalid_order_config")  # smallcase orders (scid) are not modelled
        given = config.securities
        if not given:
            raise GatewayError("invalid_order_config")
        with_qty = [s.quantity is not None and s.type is not None for s in given]
        if any(with_qty) and not all(with_qty):
            raise GatewayError("invalid_order_config")  # quantity and type: all or none
        for s in given:
            if not s.ticker or (s.quantity is not None and s.quantity <= 0):
                raise GatewayError("invalid_order_config")
        return list(given)

    def get(self, transaction_id: str) -> Transaction:
        tx = self.transactions.get(transaction_id)
        if tx is None:
            raise GatewayError("invalid_transactionId", 404)
        return tx

    def expired(self, tx: Transaction) -> bool:
        return self.clock.now_ns() - tx.created_ns > TRANSACTION_TTL_NS

    # --- the user's step ----------------------------------------------------------------------

    def user_step(self, tx: Transaction, token: str | None = None, action: str = "confirm", pause_at: str | None = None) -> Transaction:
        """What the user does in the SDK: log in with `token` and confirm, cancel or deny; with
        `pause_at` (USED, ACTION_REQUIRED, PROCESSING) the step stops there until `finish`."""
        if tx.status != "INITIALIZED":
            raise GatewayError("transaction_in_process", 409)
        if self.expired(tx):
            return self._errored(tx, "transaction_expired")
        login = token or tx.auth_id or self.guest_token
        if tx.auth_id is not None and login != tx.auth_id:
            return self._errored(tx, "user_mismatch")
        self.account(login)
        tx.auth_id = login
        tx.status, tx.action, tx.updated_ns = "USED", action, self.clock.now_ns()
        if pause_at is not None:
            if pause_at not in IN_PROGRESS:
                raise ValueError(f"pause_at must be one of {IN_PROGRESS}, not {pause_at!r}")
            tx.status = pause_at
            return tx
        return self.finish(tx)

    def finish(self, tx: Transaction, action: str | None = None) -> Transaction:
        """The rest of a begun step (the user is past the 5 minutes' check): its result."""
        if tx.status not in IN_PROGRESS:
            raise GatewayError("transaction_in_process", 409)
        assert tx.auth_id is not None
        spec = self.account(tx.auth_id)
        refusal = _ACTION_ERRORS.get(action or tx.action) or _SCENARIO_ERRORS.get(spec.scenario)
        if refusal is not None:
            return self._errored(tx, refusal)
        if tx.intent == "TRANSACTION":
            if not self.market_open(spec):
                return self._errored(tx, "market_closed")
            tx.batches = [self._execute(tx, tx.auth_id, spec.scenario)]
            tx.hidden_reads = self.order_details_lag
        tx.status = "COMPLETED"
        tx.updated_ns = self.clock.now_ns()
        return tx

    def _errored(self, tx: Transaction, error: str) -> Transaction:
        tx.status, tx.error, tx.updated_ns = "ERRORED", error, self.clock.now_ns()
        return tx

    def _execute(self, tx: Transaction, owner: str, scenario: Scenario) -> w.OrderBatch:
        placed: list[w.BatchOrder] = []
        unplaced: list[w.BatchOrder] = []
        for sec in tx.securities:
            order, sent = self._place(owner, scenario, sec)
            (placed if sent else unplaced).append(order)
        buy = sum((o.filledQuantity * o.averagePrice for o in placed if o.transactionType == "BUY"), ZERO)
        sell = sum((o.filledQuantity * o.averagePrice for o in placed if o.transactionType == "SELL"), ZERO)
        return w.OrderBatch(
            batchId=f"B{next(self._batch_ids):08d}", transactionId=tx.id, status=batch_status(placed, unplaced),
            quantity=sum((o.quantity for o in placed), ZERO), filled=sum((o.filledQuantity for o in placed), ZERO),
            buyAmount=buy, sellAmount=sell, completedDate=iso(self.clock.now_ns()), orders=placed, unplaced=unplaced,
        )

    def _place(self, owner: str, scenario: Scenario, sec: w.Security) -> tuple[w.BatchOrder, bool]:
        """One security through the account: (its order as the batch shows it, whether it was sent)."""
        qty = Decimal(sec.quantity or 1)
        side = sec.type or "BUY"
        order = w.BatchOrder(tradingsymbol=sec.ticker + self.tradingsymbol_suffix, transactionType=side, quantity=qty, status="REJECTED")
        if f"NSE:{sec.ticker}" not in self.exchange.markets:
            order.status, order.errorCode, order.statusMessage = "ERROR", "adapterError", f"unknown ticker {sec.ticker}"
            return order, False
        if scenario is Scenario.ORDER_FAILURE:
            order.errorCode, order.statusMessage = "adapterError", "order rejected by the broker (leprechaun order-failure token)"
            return order, True
        send = qty // 2 if scenario is Scenario.PARTIAL_FILL else qty
        if send == 0:
            order.status, order.statusMessage = "CANCELLED", "nothing filled (leprechaun partial-fill token)"
            return order, True
        try:
            sim = self.exchange.place(owner, symbol=f"NSE:{sec.ticker}", side=Side(side.lower()), type=OrderType.MARKET, qty=send)
        except ExchangeError as exc:
            order.errorCode = _ERROR_CODES.get((exc.kind, side), "adapterError")
            order.statusMessage = exc.message
            return order, True
        order.exchangeOrderId = sim.id
        order.filledQuantity = sim.filled
        order.averagePrice = (sim.avg_price or ZERO).quantize(Decimal("0.01"))
        order.status = "COMPLETE" if sim.filled == qty else "PARTIAL" if sim.filled > 0 else "CANCELLED"
        return order, True

    # --- what the API shows -------------------------------------------------------------------

    def details(self, tx: Transaction) -> dict[str, object]:
        error = None if tx.error is None else {"code": w.SDK_ERROR_CODES.get(tx.error), "message": tx.error}
        return {
            "transactionId": tx.id,
            "transactionDetails": {
                "status": tx.status, "intent": tx.intent, "createdAt": iso(tx.created_ns),
                "expireAt": iso(tx.created_ns + TRANSACTION_TTL_NS), "error": error, "smallcaseAuthId": tx.auth_id,
            },
        }

    def order_details(self, tx: Transaction) -> w.OrderDetails:
        """Only a COMPLETED transaction shows its orders (after `order_details_lag` reads without)."""
        batches = tx.batches if tx.status == "COMPLETED" else []
        if batches and tx.hidden_reads > 0:
            tx.hidden_reads -= 1
            batches = []
        return w.OrderDetails(orderBatches=batches, transactionId=tx.id, smallcaseAuthId=tx.auth_id, notes=tx.notes)

    def postback(self, tx: Transaction) -> w.Postback:
        error = None if tx.error is None else w.TransactionError(tx.error, w.SDK_ERROR_CODES.get(tx.error))
        return w.Postback(
            transactionId=tx.id, orderBatches=tx.batches if tx.status == "COMPLETED" else [], smallcaseAuthId=tx.auth_id,
            status=tx.status, error=error, intent=tx.intent, notes=tx.notes, timestamp=iso(self.clock.now_ns()),
        )

    def holdings(self, auth_id: str) -> w.Holdings:
        """What the account holds, at the average cost of its buys (sells keep the average)."""
        self.account(auth_id)
        books: dict[str, tuple[Decimal, Decimal]] = {}
        for fill in self.exchange.fills.get(auth_id, []):
            qty, cost = books.get(fill.instrument, (ZERO, ZERO))
            if fill.side is Side.BUY:
                books[fill.instrument] = (qty + fill.qty, cost + fill.qty * fill.price)
            elif qty > 0:
                books[fill.instrument] = (qty - fill.qty, cost * (qty - fill.qty) / qty)
        securities = [
            w.HoldingSecurity(
                holdings=w.HoldingAmount(qty, (cost / qty).quantize(Decimal("0.01"))), nseTicker=symbol.partition(":")[2],
            )
            for symbol, (qty, cost) in sorted(books.items()) if qty > 0
        ]
        return w.Holdings(
            securities=securities, smallcaseAuthId=auth_id, broker="leprechaun" if ACCOUNTS[auth_id].leprechaun else "demo",
            lastUpdate=iso(self.clock.now_ns()),
        )


# (ExchangeError kind, side) -> the broker-agnostic errorCode smallcase reports. (A closed market
# never reaches the exchange: `finish` errors the transaction `market_closed` first.)
_ERROR_CODES: dict[tuple[str, str], str] = {
    ("insufficient_funds", "BUY"): "marginsExceeded",
    ("insufficient_funds", "SELL"): "checkHoldings",
}
