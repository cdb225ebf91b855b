"""The smallcase Gateway venue: a basket of engine orders <-> one transaction, its statuses, its fills.

A partner cannot place orders for a user: it creates a transaction and the user completes it in
smallcase's SDK. So `place()` calls that arrive together (one rebalance: the same loop turn plus
`linger_ms`) become ONE transaction (`orderConfig` SECURITIES with every ticker), and each call is
answered with a SUBMITTED ack whose venue order id is `<transactionId>:<TICKER>:<BUY|SELL>`. Two
orders for the same ticker and side never share a transaction (the second opens the next one).

From then on the transaction is polled (fast while open) and postbacks are applied the same way:
- order and batch statuses map onto the engine's through the tables below;
- fills are the growth of filledQuantity at the averagePrice that growth implies, with fill ids
  `<venue order id>:<cumulative qty>` (the same fact from a poll and a postback is one fill);
- COMPLETED is final: an order still working in it ends CANCELLED with what it filled;
- ERRORED ends every order by the SDK error's name (user_cancelled -> cancelled, others rejected);
- a transaction still unused (INITIALIZED, USED, ACTION_REQUIRED) at `transaction_ttl_s` (5 minutes)
  after its creation -> its orders EXPIRED with reason `transaction_expired`.
With a real account (`leprechaun: false`) the engine logs the transactionId and the link where the
user completes it, and waits; in leprechaun mode the virtual account completes it.

Only market orders (smallcase's SECURITIES orders carry no price) of NSE tickers, delivery (CNC),
no AMO. Cancel and modify are not possible: a transaction cannot be withdrawn, it expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import msgspec
import structlog

from adapters.india import Exchange, Product, parse_product, side_code, split_symbol
from adapters.india import to_ns as aware_ns
from adapters.smallcase import schemas as w
from adapters.smallcase.auth import GatewayAuth
from adapters.smallcase.client import SmallcaseClient
from adapters.smallcase.feed import (
    PostbackReceiver,
    TransactionPoller,
    TransactionView,
    view_of_postback,
)
from engine.errors import InvalidOrder, NotSupported, UserError, VenueError
from engine.events import (
    ZERO,
    Fill,
    Instrument,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
)
from engine.venue import EmulatorInfo, Venue, VenueConfig, VenueContext

if TYPE_CHECKING:
    from adapters.smallcase.emulator import SmallcaseEmulator

log = structlog.get_logger("tickbus.smallcase")
NS = 1_000_000_000
S = OrderStatus
Positive = msgspec.Meta(gt=0)
NonNegative = msgspec.Meta(ge=0)


class PostbackConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The postback receiver the engine serves (off unless `enabled`)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    path: str = "/smallcase/postback"
    scheme: Literal["field", "header"] = "field"
    header: str = "x-gateway-checksum"
    remember: Annotated[int, Positive] = 10_000
    # Where the adapter announces its URL on the gateway (the emulator's /emulator/postback); the
    # real gateway has no such endpoint: the URL is registered with smallcase's team.
    register_path: str | None = None


class SmallcaseConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A smallcase Gateway block; `secret` and `api_secret` belong in ${VAR}s."""

    secret_fields: ClassVar[tuple[str, ...]] = ("secret", "api_secret")

    gateway_name: str = ""
    secret: str = ""  # signs the users' JWTs
    api_secret: str = ""  # x-gateway-secret, and the postback checksum key
    url: str = "https://gatewayapi.smallcase.com"
    leprechaun: bool = False
    auth_id: str | None = None  # a connected user's smallcaseAuthId; a guest token without it
    token_ttl_s: Annotated[float, Positive] = 120.0
    transaction_ttl_s: Annotated[float, Positive] = 300.0
    linger_ms: Annotated[float, NonNegative] = 50.0
    poll_interval_s: Annotated[float, Positive] = 1.0
    idle_poll_interval_s: Annotated[float, Positive] = 5.0
    postback: PostbackConfig = msgspec.field(default_factory=PostbackConfig)
    # Where the user completes a transaction: your page that opens smallcase's SDK with it.
    link_template: str = "https://gateway.smallcase.com/{gateway}/transaction/{transaction_id}"
    timeout_s: Annotated[float, Positive] = 10.0
    emulator_complete_delay_s: Annotated[float, NonNegative] = 0.3  # leprechaun: how long the virtual user takes


# --- the mapping tables --------------------------------------------------------------------------

ORDER_STATUS: dict[str, OrderStatus] = {
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
BATCH_STATUS: dict[str, OrderStatus] = {
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
TRANSACTION_ERRORS: dict[str, OrderStatus] = {
    "user_cancelled": S.CANCELLED,
    "transaction_expired": S.EXPIRED,
}
UNUSED = frozenset({"INITIALIZED", "USED", "ACTION_REQUIRED"})  # nothing at the exchange yet


def venue_order_id(transaction_id: str, ticker: str, side: str) -> str:
    return f"{transaction_id}:{ticker}:{side}"


def parse_venue_order_id(vid: str) -> tuple[str, str, str]:
    """(transactionId, ticker, side) of a venue order id made by `venue_order_id`."""
    parts = vid.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a smallcase venue order id: {vid!r}")
    return parts[0], parts[1], parts[2]


@dataclass
class LegState:
    """One security's result summed over the transaction's batches."""

    filled: Decimal = ZERO
    notional: Decimal = ZERO
    word: str | None = None  # the order's status word in the latest batch listing it
    message: str | None = None


def leg_states(batches: Sequence[w.OrderBatch]) -> tuple[dict[tuple[str, str], LegState], str | None]:
    """Per (ticker, side): fills summed over batches (a FIX batch re-places what was left), the
    last word on it; and the last batch's status (for orders no batch lists)."""
    states: dict[tuple[str, str], LegState] = {}
    for batch in batches:
        listed = [(o, o.status) for o in batch.orders] + [(o, "UNPLACED") for o in batch.unplaced]
        for o, word in listed:
            state = states.setdefault((o.tradingsymbol, o.transactionType.upper()), LegState())
            state.filled += o.filledQuantity
            state.notional += o.filledQuantity * o.averagePrice
            state.word = word.upper()
            state.message = o.errorCode or o.statusMessage or state.message
    return states, (batches[-1].status.upper() if batches else None)


@dataclass
class Leg:
    """One engine order inside a transaction, as last reported to the engine."""

    order: Order
    vid: str
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    status: OrderStatus = S.SUBMITTED
    reason: str | None = None


@dataclass
class Tracked:
    """A transaction this run follows, and its orders."""

    transaction_id: str
    deadline_ns: int
    legs: dict[tuple[str, str], Leg] = field(default_factory=dict)
    adopted: bool = False  # learned from a lookup (a restart), not created in this run

    @property
    def done(self) -> bool:
        return all(leg.status.is_terminal for leg in self.legs.values())


def target(leg: Leg, state: LegState | None, batch_word: str | None, view: TransactionView) -> tuple[OrderStatus, str | None] | None:
    """Where the view puts one order (None: no news for it)."""
    qty = leg.order.qty
    reason: str | None
    if view.error is not None:
        status, reason = TRANSACTION_ERRORS.get(view.error, S.REJECTED), view.error
    elif state is not None and state.word is not None:
        status = ORDER_STATUS.get(state.word, leg.status)
        reason = state.message if status in (S.REJECTED, S.CANCELLED) else None
        if state.filled >= qty:
            status = S.COMPLETED
        elif status is S.PLACED and state.filled > 0:
            status = S.UPDATED
        if view.status == "COMPLETED" and status.is_open:  # final: what was left will not trade
            status, reason = S.CANCELLED, f"transaction completed with {state.filled} of {qty} filled"
    elif view.status == "COMPLETED":
        status = BATCH_STATUS.get(batch_word or "", S.REJECTED)
        if status.is_open or status is S.COMPLETED:  # nothing of it was filled
            status = S.CANCELLED
        reason = f"not in the transaction's order batches (batch {batch_word or 'none'})"
    elif view.status == "ERRORED":
        status, reason = S.REJECTED, "transaction errored"
    elif view.past_deadline and (view.status is None or view.status in UNUSED):
        status, reason = S.EXPIRED, "transaction_expired"
    else:
        return None
    filled = state.filled if state is not None else leg.filled
    if status is S.REJECTED and filled > 0:
        status = S.CANCELLED  # part of it traded: it ended cancelled with what it filled
    return status, reason


class _Basket:
    """The orders of one transaction while it is being gathered."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], Order] = {}
        self.created: asyncio.Future[str] = asyncio.get_running_loop().create_future()


def to_ns(dt: datetime) -> int:
    """Epoch nanoseconds of a datetime (naive = UTC, as the engine reads `start:`)."""
    return aware_ns(dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC))


# --- the venue -----------------------------------------------------------------------------------


class SmallcaseVenue(Venue):
    Config = SmallcaseConfig

    def __init__(self, ctx: VenueContext, config: SmallcaseConfig) -> None:  # type: ignore[override]
        super().__init__(ctx, config)
        self.config: SmallcaseConfig = config
        self.client: SmallcaseClient | None = None
        self.poller: TransactionPoller | None = None
        self.receiver: PostbackReceiver | None = None
        self.transactions: dict[str, Tracked] = {}
        self._basket: _Basket | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    # --- emulator -----------------------------------------------------------------------------

    @classmethod
    def make_emulator(cls, config: VenueConfig, seed: int) -> SmallcaseEmulator:
        """The gateway's emulator; it logs every request when served on its own (`run.py emulate`)."""
        from adapters.smallcase.emulator import SmallcaseEmulator

        assert isinstance(config, SmallcaseConfig)
        return SmallcaseEmulator(
            seed=seed,
            leprechaun=config.leprechaun,
            start_ns=to_ns(config.emulator_start) if config.emulator_start else None,
            postback_scheme=config.postback.scheme,
            postback_header=config.postback.header,
            complete_delay_s=config.emulator_complete_delay_s,
            log_requests=not config.emulator,
        )

    @classmethod
    def with_emulator(cls, config: VenueConfig, info: EmulatorInfo) -> SmallcaseConfig:
        assert isinstance(config, SmallcaseConfig)
        creds = info.credentials
        postback = config.postback
        if postback.enabled and postback.register_path is None:
            postback = msgspec.structs.replace(postback, register_path="/emulator/postback")
        return msgspec.structs.replace(
            config, url=info.url, gateway_name=creds["gateway_name"], secret=creds["secret"],
            api_secret=creds["api_secret"], link_template=creds["link_template"], postback=postback,
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        cfg = self.config
        clock = self.ctx.clock
        auth = GatewayAuth(cfg.secret, cfg.api_secret, auth_id=cfg.auth_id, ttl_s=cfg.token_ttl_s, now_s=lambda: clock.now_ns() / NS)
        if not cfg.gateway_name:
            raise UserError(f"{self.name}: gateway_name is not set")
        self.client = SmallcaseClient(self.name, cfg.url, cfg.gateway_name, auth, timeout_s=cfg.timeout_s)
        await self.client.start()
        self.poller = TransactionPoller(
            self.name, self.client, open_transactions=self._open_transactions, on_views=self._on_views,
            now_ns=clock.now_ns, interval_s=cfg.poll_interval_s, idle_interval_s=cfg.idle_poll_interval_s,
        )
        self.poller.start()
        if cfg.postback.enabled:
            await self._serve_postbacks()
        if not cfg.leprechaun:
            log.warning("real account: every transaction waits for the user to complete it in smallcase's SDK",
                        venue=self.name, expires_after_s=cfg.transaction_ttl_s)

    async def _serve_postbacks(self) -> None:
        pb = self.config.postback
        self.receiver = PostbackReceiver(
            self.config.api_secret, self._on_postback, path=pb.path, scheme=pb.scheme, header=pb.header, remember=pb.remember,
        )
        url = await self.receiver.start(pb.host, pb.port)
        log.info("postback receiver listening", venue=self.name, url=url, scheme=pb.scheme)
        if pb.register_path:
            await self._client().register_postback(pb.register_path, url)

    async def close(self) -> None:
        for task in list(self._flushes):
            task.cancel()
        for part in (self.poller, self.receiver):
            if part is not None:
                await part.stop()
        if self.client is not None:
            await self.client.close()

    async def instruments(self) -> Sequence[Instrument]:
        return []  # no market data: instruments come from a data venue routed here

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        key = self._security(order)
        basket = self._basket
        if basket is None or key in basket.orders:
            basket = self._open_basket()
        basket.orders[key] = order
        transaction_id = await asyncio.shield(basket.created)
        vid = venue_order_id(transaction_id, *key)
        return OrderReport(
            venue=self.name, status=S.SUBMITTED, client_order_id=order.client_order_id, venue_order_id=vid,
            instrument=order.instrument, side=order.side, qty=order.qty, ts_event=self.ctx.clock.now_ns(),
        )

    async def cancel(self, order: Order) -> OrderReport | None:
        raise NotSupported(self.name, "a smallcase transaction cannot be withdrawn; it expires 5 minutes after creation")

    async def order_status(self, order: Order) -> OrderReport | None:
        vid = order.venue_order_id
        if vid is None:  # no transaction was made for it (a lost create answer leaves none known)
            return None
        transaction_id, ticker, side = parse_venue_order_id(vid)
        tracked = self.transactions.get(transaction_id)
        if tracked is None:
            tracked = self.transactions[transaction_id] = Tracked(
                transaction_id, self.ctx.clock.now_ns() + int(self.config.transaction_ttl_s * NS), adopted=True,
            )
        leg = tracked.legs.get((ticker, side))
        if leg is None:
            leg = tracked.legs[(ticker, side)] = Leg(
                order, vid, filled=order.filled_qty, notional=order.filled_qty * (order.avg_price or ZERO),
                status=order.status if order.status is not S.NEW else S.SUBMITTED,
            )
        if not tracked.done:
            self._apply(await self._poller().view(transaction_id, tracked.deadline_ns))
            if not tracked.done:
                self._poller().wake()  # an adopted transaction is followed like one made here
        return self._report(leg)

    async def open_orders(self) -> Sequence[OrderReport]:
        return [self._report(leg) for t in self.transactions.values() for leg in t.legs.values() if leg.status.is_open]

    # --- baskets -> transactions --------------------------------------------------------------

    def _security(self, order: Order) -> tuple[str, str]:
        """(ticker, BUY|SELL) of an order smallcase can carry, or InvalidOrder."""
        if order.type is not OrderType.MARKET:
            raise InvalidOrder(self.name, f"smallcase SECURITIES transactions carry market orders only, not {order.type.value}")
        if order.after_market:
            raise InvalidOrder(self.name, "after-market orders are not supported through smallcase")
        if order.qty != order.qty.to_integral_value() or order.qty <= 0:
            raise InvalidOrder(self.name, f"quantity must be a whole number of shares, got {order.qty}")
        product = order.options.get("product")
        try:
            if product is not None and parse_product(product) is not Product.CNC:
                raise InvalidOrder(self.name, f"smallcase buys and sells for delivery (CNC) only, not {product}")
            exchange, ticker = split_symbol(order.instrument.partition(":")[2])
        except ValueError as exc:
            raise InvalidOrder(self.name, str(exc)) from None
        if exchange is not Exchange.NSE:
            raise InvalidOrder(self.name, f"smallcase transactions take NSE tickers, not {exchange}")
        return ticker, side_code("smallcase", order.side)

    def _open_basket(self) -> _Basket:
        basket = self._basket = _Basket()
        task = asyncio.get_running_loop().create_task(self._flush(basket), name=f"{self.name}:basket")
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)
        task.add_done_callback(lambda _: basket.created.cancel())  # a no-op unless the flush was cancelled
        return basket

    async def _flush(self, basket: _Basket) -> None:
        """After the linger: the basket becomes one transaction, and every order in it learns its id."""
        try:
            await asyncio.sleep(self.config.linger_ms / 1000)
        finally:
            if self._basket is basket:  # from now on orders go to the next basket
                self._basket = None
        try:
            transaction_id = await self._create(basket.orders)
        except Exception as exc:  # noqa: BLE001 - every failure goes to the orders waiting on it
            basket.created.set_exception(exc)
            return
        basket.created.set_result(transaction_id)

    async def _create(self, orders: dict[tuple[str, str], Order]) -> str:
        request = w.CreateTransaction(
            intent="TRANSACTION",
            orderConfig=w.OrderConfig(
                type="SECURITIES",
                securities=[w.Security(ticker, int(o.qty), side) for (ticker, side), o in orders.items()],  # type: ignore[arg-type]
            ),
        )
        created = await self._client().create_transaction(request)
        transaction_id = created.transactionId
        now = self.ctx.clock.now_ns()
        tracked = Tracked(transaction_id, now + int(self.config.transaction_ttl_s * NS))
        for (ticker, side), o in orders.items():
            tracked.legs[(ticker, side)] = Leg(o, venue_order_id(transaction_id, ticker, side))
        self.transactions[transaction_id] = tracked
        self._announce(transaction_id, len(orders))
        self._poller().wake()
        return transaction_id

    def _announce(self, transaction_id: str, count: int) -> None:
        cfg = self.config
        if cfg.leprechaun:
            log.info("transaction created; the leprechaun account completes it", venue=self.name,
                     transaction_id=transaction_id, orders=count)
            return
        link = cfg.link_template.format(gateway=cfg.gateway_name, transaction_id=transaction_id, url=cfg.url)
        log.warning("complete this transaction in smallcase's SDK", venue=self.name, transaction_id=transaction_id,
                    link=link, orders=count, expires_in_s=cfg.transaction_ttl_s)

    # --- results -> the engine ----------------------------------------------------------------

    def _open_transactions(self) -> list[tuple[str, int]]:
        return [(t.transaction_id, t.deadline_ns) for t in self.transactions.values() if not t.done]

    def _on_views(self, views: tuple[TransactionView, ...]) -> None:
        for view in views:
            self._apply(view)

    def _on_postback(self, payload: w.Postback) -> None:
        if payload.transactionId not in self.transactions:
            log.info("postback for a transaction this run does not track", venue=self.name, transaction_id=payload.transactionId)
            return
        self._apply(view_of_postback(payload))

    def _apply(self, view: TransactionView) -> None:
        """Fills first (they move orders on by themselves), then the statuses the view implies."""
        tracked = self.transactions.get(view.transaction_id)
        if tracked is None:
            return
        if tracked.adopted and view.created_at:
            tracked.deadline_ns = _iso_ns(view.created_at) + int(self.config.transaction_ttl_s * NS)
        states, batch_word = leg_states(view.batches)
        sink = self.ctx.sink
        for key, leg in tracked.legs.items():
            state = states.get(key)
            if state is not None and state.filled > leg.filled:
                sink.on_fill(self._fill(leg, state))
            if leg.status.is_terminal:
                continue
            moved = target(leg, state, batch_word, view)
            if moved is not None and moved[0] is not leg.status:
                leg.status, leg.reason = moved
                sink.on_order_report(self._report(leg))
        if tracked.done:
            log.info("transaction finished", venue=self.name, transaction_id=tracked.transaction_id,
                     status=view.status, error=view.error)

    def _fill(self, leg: Leg, state: LegState) -> Fill:
        qty = state.filled - leg.filled
        price = (state.notional - leg.notional) / qty
        leg.filled, leg.notional = state.filled, state.notional
        o = leg.order
        return Fill(
            venue=self.name, instrument=o.instrument, side=o.side, qty=qty, price=price,
            fill_id=f"{leg.vid}:{state.filled}", fee_asset="INR", client_order_id=o.client_order_id,
            venue_order_id=leg.vid, ts_event=self.ctx.clock.now_ns(),
        )

    def _report(self, leg: Leg) -> OrderReport:
        o = leg.order
        return OrderReport(
            venue=self.name, status=leg.status, client_order_id=o.client_order_id, venue_order_id=leg.vid,
            filled_qty=leg.filled, avg_price=leg.notional / leg.filled if leg.filled else None,
            reason=leg.reason, instrument=o.instrument, side=o.side, ts_event=self.ctx.clock.now_ns(),
        )

    # --- helpers ------------------------------------------------------------------------------

    def _client(self) -> SmallcaseClient:
        if self.client is None:
            raise VenueError(self.name, "not connected")
        return self.client

    def _poller(self) -> TransactionPoller:
        if self.poller is None:
            raise VenueError(self.name, "not connected")
        return self.poller


def _iso_ns(text: str) -> int:
    return to_ns(datetime.fromisoformat(text))
