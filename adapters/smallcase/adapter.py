"""The smallcase Gateway venue: a basket of engine orders <-> one transaction, its statuses, its fills.

A partner cannot place orders for a user: it creates a transaction and the user completes it in
smallcase's SDK. So `place()` calls that arrive together (one rebalance: the same loop turn plus
`linger_ms`) become ONE transaction (`orderConfig` SECURITIES with every ticker), and each call is
answered with a SUBMITTED ack whose venue order id is `<transactionId>:<TICKER>:<BUY|SELL>`. Two
orders for the same ticker and side never share a transaction: only the second one goes to an
overflow basket (the next transaction); the rest of the rebalance stays together.

From then on the transaction is polled (fast while open) and postbacks are applied the same way:
- order and batch statuses map onto the engine's through the tables below; a batch's
  `tradingsymbol` is matched without its exchange prefix or series suffix (`SBIN-EQ` is SBIN);
- fills are the growth of filledQuantity at the averagePrice that growth implies, with fill ids
  `<venue order id>:<cumulative qty>` (the same fact from a poll and a postback is one fill); an
  order's progress never goes down, whatever a later listing says;
- COMPLETED is final: an order still working in it ends CANCELLED with what it filled. An order no
  batch lists is read again (`unlisted_polls` views: order details may lag the status) before it
  is ended by its batch's word;
- ERRORED ends every order by the SDK error's name (user_cancelled -> cancelled, transaction_expired
  -> expired, others rejected);
- only an unused transaction (INITIALIZED) expires by the local clock, `transaction_ttl_s`
  (5 minutes) after its creation: its orders EXPIRED with reason `transaction_expired`. It is
  still read for `expiry_grace_s` after that, so a user who began at the last moment and
  completes late is seen (the fills apply to the expired orders). Once the user has begun it
  (USED, PROCESSING, ACTION_REQUIRED) the venue decides: it is read until COMPLETED or ERRORED.

Unless the gateway is emulated the engine logs, at warning level, the transactionId and the link
where the user completes it, and waits: leprechaun (virtual) accounts included, since `leprechaun`
is a flag of smallcase's SDK and the user still goes through the SDK. With the emulator in
leprechaun mode the adapter opens the transaction's SDK link itself, as the partner's page would,
and the emulated virtual user completes it; a transaction whose creation answer was lost is
never opened, stays unused and expires, so the engine and the account agree.

Time: the auth tokens' `exp`, the transactions' deadlines and the postbacks' ages are wall-clock
time (the gateway's), except against the emulator (`emulator: true`), whose clock starts at the
run's `start:` by design (engine/config.py): then the engine's clock.

Only market orders (smallcase's SECURITIES orders carry no price) of NSE tickers, delivery (CNC),
no AMO. Cancel and modify are not possible: a transaction cannot be withdrawn, it expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import msgspec
import structlog

from adapters.india import Exchange, Product, parse_product, side_code, split_symbol
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
from engine.venue.contract import EmulatorInfo, Venue, VenueConfig, VenueContext

if TYPE_CHECKING:
    from adapters.smallcase.emulator import SmallcaseEmulator

log = structlog.get_logger("tickbus.smallcase")
NS = w.NS
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
    max_age_s: Annotated[float, Positive] = 600.0  # an older postback is refused as stale (409)
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
    # smallcase's SDK flag: the user's session goes to a virtual broker account. Against the real
    # gateway the user still completes every transaction in the SDK (the link is logged).
    leprechaun: bool = False
    # A connected user's smallcaseAuthId (returned after their first broker login); a guest token
    # without it. Emulator only: its virtual accounts are named by test token, and the token is
    # taken as the smallcaseAuthId (emulator_gateway.ACCOUNTS).
    auth_id: str | None = None
    token_ttl_s: Annotated[float, Positive] = 120.0
    transaction_ttl_s: Annotated[float, Positive] = 300.0
    # how long an unused transaction that expired here is still read (a late completion is seen)
    expiry_grace_s: Annotated[float, NonNegative] = 300.0
    # COMPLETED views that do not list an order before it is ended by its batch's word
    unlisted_polls: Annotated[int, msgspec.Meta(ge=1)] = 3
    linger_ms: Annotated[float, NonNegative] = 50.0
    poll_interval_s: Annotated[float, Positive] = 1.0
    idle_poll_interval_s: Annotated[float, Positive] = 5.0
    postback: PostbackConfig = msgspec.field(default_factory=PostbackConfig)
    # Where the user completes a transaction: your page that opens smallcase's SDK with it.
    link_template: str = "https://gateway.smallcase.com/{gateway}/transaction/{transaction_id}"
    timeout_s: Annotated[float, Positive] = 10.0
    read_retries: Annotated[int, NonNegative] = 3  # a read answered 429/5xx or cut is sent again this often
    # emulator only: how long its leprechaun user takes once the SDK link is opened, and when its
    # leprechaun accounts' market is open (smallcase sets those hours; default the NSE calendar)
    emulator_complete_delay_s: Annotated[float, NonNegative] = 0.3
    emulator_leprechaun_hours: Literal["nse", "open", "closed"] = "nse"

    def __post_init__(self) -> None:  # checked when the config loads: one line, exit 2
        try:
            fill_link(self.link_template, gateway="g", transaction_id="t", url="u")
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"link_template {self.link_template!r} cannot be filled ({exc!r}); "
                "it may use {gateway}, {transaction_id} and {url}"
            ) from None


def fill_link(template: str, *, gateway: str, transaction_id: str, url: str) -> str:
    """The link where the user completes a transaction, from `link_template`."""
    return template.format(gateway=gateway, transaction_id=transaction_id, url=url)


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
# Transaction statuses by what they let the adapter conclude (every documented word is in one).
UNUSED = frozenset({"INITIALIZED"})  # nobody has begun it: it expires by the clock
IN_PROGRESS = frozenset({"USED", "PROCESSING", "ACTION_REQUIRED"})  # the user has begun: the venue decides
FINAL = frozenset({"COMPLETED", "ERRORED"})
# Series suffixes some brokers append to an NSE tradingsymbol (SBIN-EQ).
SERIES_SUFFIXES = ("-EQ", "-BE", "-BZ", "-BL", "-SM", "-ST")


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
    final: bool = False  # the venue's last word came: COMPLETED (every order settled), ERRORED, not found
    begun: bool = False  # the venue showed the user's step begun (USED, PROCESSING, ACTION_REQUIRED, a result)
    expired_ns: int | None = None  # when it expired here, unused
    unlisted: int = 0  # COMPLETED views that did not list every open order
    unmatched: set[tuple[str, str]] = field(default_factory=set)  # batch orders of no leg, logged once

    @property
    def done(self) -> bool:
        return all(leg.status.is_terminal for leg in self.legs.values())

    def followed(self, now_ns: int, grace_ns: int) -> bool:
        """Whether it is still worth reading: until the venue's last word, and for a transaction
        that expired here unused, for `grace_ns` more (longer if the user turns out to have begun)."""
        if self.final:
            return False
        if not self.done or self.begun:
            return True
        return self.expired_ns is not None and now_ns < self.expired_ns + grace_ns


def target(
    leg: Leg, state: LegState | None, batch_word: str | None, view: TransactionView, *, finalise_unlisted: bool = True,
) -> tuple[OrderStatus, str | None] | None:
    """Where the view puts one order (None: no news for it). `finalise_unlisted` False: a COMPLETED
    transaction whose batches do not list the order yet leaves it as it is (read again)."""
    qty = leg.order.qty
    progress = max(state.filled if state is not None else ZERO, leg.filled)  # never lowered
    reason: str | None
    if view.error is not None:
        status, reason = TRANSACTION_ERRORS.get(view.error, S.REJECTED), view.error
    elif state is not None and state.word is not None:
        status = ORDER_STATUS.get(state.word, leg.status)
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
        status = BATCH_STATUS.get(batch_word or "", S.REJECTED)
        if status.is_open or status is S.COMPLETED:  # nothing of it was filled
            status = S.CANCELLED
        reason = f"not in the transaction's order batches (batch {batch_word or 'none'})"
    elif view.status == "ERRORED":
        status, reason = S.REJECTED, "transaction errored"
    elif view.past_deadline and view.status in UNUSED:
        status, reason = S.EXPIRED, "transaction_expired"
    else:
        return None
    if status is S.REJECTED and progress > 0:
        status = S.CANCELLED  # part of it traded: it ended cancelled with what it filled
    return status, reason


class _Basket:
    """The orders of one transaction while it is being gathered."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], Order] = {}
        self.created: asyncio.Future[str] = asyncio.get_running_loop().create_future()


# --- the venue -----------------------------------------------------------------------------------


class SmallcaseVenue(Venue[SmallcaseConfig]):
    Config = SmallcaseConfig

    def __init__(self, ctx: VenueContext, config: SmallcaseConfig) -> None:
        super().__init__(ctx, config)
        self.config: SmallcaseConfig = config
        self.client: SmallcaseClient | None = None
        self.poller: TransactionPoller | None = None
        self.receiver: PostbackReceiver | None = None
        self.transactions: dict[str, Tracked] = {}
        self._baskets: list[_Basket] = []  # gathering: the first, and overflow baskets for repeats
        self._tasks: set[asyncio.Task[None]] = set()  # basket flushes and SDK links being opened
        # The gateway's time: wall clock, or the engine's clock when the gateway is emulated (the
        # emulator's clock starts at the run's `start:`, engine/config.py).
        self.venue_now_ns: Callable[[], int] = ctx.clock.now_ns if config.emulator else time.time_ns

    # --- emulator -----------------------------------------------------------------------------

    @classmethod
    def make_emulator(cls, config: VenueConfig, seed: int) -> SmallcaseEmulator:
        """The gateway's emulator; it logs every request when served on its own (`run.py emulate`)."""
        from adapters.smallcase.emulator import SmallcaseEmulator

        assert isinstance(config, SmallcaseConfig)
        return SmallcaseEmulator(
            seed=seed,
            leprechaun=config.leprechaun,
            start_ns=w.epoch_ns(config.emulator_start) if config.emulator_start else None,
            postback_scheme=config.postback.scheme,
            postback_header=config.postback.header,
            complete_delay_s=config.emulator_complete_delay_s,
            leprechaun_hours=config.emulator_leprechaun_hours,
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
        venue_now_ns = self.venue_now_ns
        auth = GatewayAuth(cfg.secret, cfg.api_secret, auth_id=cfg.auth_id, ttl_s=cfg.token_ttl_s, now_s=lambda: venue_now_ns() / NS)
        if not cfg.gateway_name:
            raise UserError(f"{self.name}: gateway_name is not set")
        self.client = SmallcaseClient(self.name, cfg.url, cfg.gateway_name, auth, timeout_s=cfg.timeout_s, retries=cfg.read_retries)
        await self.client.start()
        self.poller = TransactionPoller(
            self.name, self.client, open_transactions=self._open_transactions, on_view=self._apply,
            now_ns=venue_now_ns, interval_s=cfg.poll_interval_s, idle_interval_s=cfg.idle_poll_interval_s,
        )
        self.poller.start()
        if cfg.postback.enabled:
            await self._serve_postbacks()
        if not (cfg.emulator and cfg.leprechaun):
            log.warning("every transaction waits for the user to complete it in smallcase's SDK",
                        venue=self.name, leprechaun=cfg.leprechaun, expires_after_s=cfg.transaction_ttl_s)

    async def _serve_postbacks(self) -> None:
        pb = self.config.postback
        self.receiver = PostbackReceiver(
            self.config.api_secret, self._on_postback, path=pb.path, scheme=pb.scheme, header=pb.header,
            remember=pb.remember, max_age_s=pb.max_age_s, now_ns=self.venue_now_ns,
        )
        url = await self.receiver.start(pb.host, pb.port)
        log.info("postback receiver listening", venue=self.name, url=url, scheme=pb.scheme)
        if pb.register_path:
            await self._client().register_postback(pb.register_path, url)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        # awaited: a flush ends its basket's placements before the client goes away
        await asyncio.gather(*tasks, return_exceptions=True)
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
        basket = next((b for b in self._baskets if key not in b.orders), None)
        if basket is None:  # the first order, or a repeat of a ticker and side every basket has
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
                transaction_id, self.venue_now_ns() + int(self.config.transaction_ttl_s * NS), adopted=True,
            )
        leg = tracked.legs.get((ticker, side))
        if leg is None:
            leg = tracked.legs[(ticker, side)] = Leg(
                order, vid, filled=order.filled_qty, notional=order.filled_qty * (order.avg_price or ZERO),
                status=order.status if order.status is not S.NEW else S.SUBMITTED,
            )
        if not tracked.done:
            poller = self._poller()
            poller.wake()  # followed from now on like one made here, whatever this lookup gives
            try:
                view = await poller.view(transaction_id, tracked.deadline_ns)
            except (TimeoutError, VenueError, OSError) as exc:
                if isinstance(exc, VenueError) and not exc.retryable:
                    raise
                # The venue id proves the transaction exists: report what is known (submitted),
                # and let the poller bring the outcome.
                log.warning("transaction lookup failed; reporting what is known", venue=self.name,
                            transaction_id=transaction_id, error=str(exc))
                return self._report(leg)
            self._apply(view)
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
        basket = _Basket()
        self._baskets.append(basket)
        task = self._spawn(self._flush(basket), f"{self.name}:basket")
        task.add_done_callback(lambda _: basket.created.cancel())  # a no-op unless the flush was cancelled
        return basket

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush(self, basket: _Basket) -> None:
        """After the linger: the basket becomes one transaction, and every order in it learns its id."""
        try:
            await asyncio.sleep(self.config.linger_ms / 1000)
        finally:
            if basket in self._baskets:  # from now on orders go to the next basket
                self._baskets.remove(basket)
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
        tracked = Tracked(transaction_id, self.venue_now_ns() + int(self.config.transaction_ttl_s * NS))
        for (ticker, side), o in orders.items():
            tracked.legs[(ticker, side)] = Leg(o, venue_order_id(transaction_id, ticker, side))
        self.transactions[transaction_id] = tracked
        link = self._announce(transaction_id, len(orders))
        if link is not None and self.config.emulator and self.config.leprechaun:
            self._spawn(self._open_sdk(transaction_id, link), f"{self.name}:sdk:{transaction_id}")
        self._poller().wake()
        return transaction_id

    def _announce(self, transaction_id: str, count: int) -> str | None:
        """Log the new transaction and where the user completes it; its link (None if the template
        cannot be filled). Never raises: the transaction exists whatever happens here."""
        cfg = self.config
        try:
            link: str | None = fill_link(cfg.link_template, gateway=cfg.gateway_name, transaction_id=transaction_id, url=cfg.url)
        except Exception as exc:  # noqa: BLE001 - validated at load; a template set later must not lose the basket
            link = None
            log.error("link_template cannot be filled", venue=self.name, transaction_id=transaction_id, error=repr(exc))
        try:
            if cfg.emulator and cfg.leprechaun:
                log.info("transaction created; the emulated leprechaun user completes it", venue=self.name,
                         transaction_id=transaction_id, link=link, orders=count)
            else:
                log.warning("complete this transaction in smallcase's SDK", venue=self.name, transaction_id=transaction_id,
                            link=link, orders=count, leprechaun=cfg.leprechaun, expires_in_s=cfg.transaction_ttl_s)
        except Exception:  # noqa: BLE001, S110 - a logging failure must not reject a basket that exists
            pass
        return link

    async def _open_sdk(self, transaction_id: str, link: str) -> None:
        """Emulated leprechaun mode: open the SDK link, as the partner's page would for its user."""
        try:
            status = await self._client().open_link(link)
        except Exception as exc:  # noqa: BLE001 - the transaction then expires unused
            log.warning("could not open the transaction's SDK link; it will expire unused", venue=self.name,
                        transaction_id=transaction_id, error=str(exc))
            return
        if status >= 400:
            log.warning("the SDK link was refused; the transaction will expire unused", venue=self.name,
                        transaction_id=transaction_id, status=status)

    # --- results -> the engine ----------------------------------------------------------------

    def _open_transactions(self) -> list[tuple[str, int]]:
        now, grace = self.venue_now_ns(), int(self.config.expiry_grace_s * NS)
        return [(t.transaction_id, t.deadline_ns) for t in self.transactions.values() if t.followed(now, grace)]

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
            tracked.deadline_ns = w.iso_ns(view.created_at) + int(self.config.transaction_ttl_s * NS)
        if view.status in IN_PROGRESS or view.status in FINAL:
            tracked.begun = True
        states, batch_word = leg_states(view.batches)
        self._log_unmatched(tracked, states)
        finalise_unlisted = self._finalise_unlisted(tracked, states, view)
        sink = self.ctx.sink
        for key, leg in tracked.legs.items():
            state = states.get(key)
            if state is not None and state.filled > leg.filled:
                if leg.status.is_terminal:
                    log.warning("fill for an order that already ended here (a late completion)", venue=self.name,
                                transaction_id=tracked.transaction_id, venue_order_id=leg.vid, status=leg.status)
                sink.on_fill(self._fill(leg, state))
            if leg.status.is_terminal:
                continue
            moved = target(leg, state, batch_word, view, finalise_unlisted=finalise_unlisted)
            if moved is not None and moved[0] is not leg.status:
                leg.status, leg.reason = moved
                if leg.status is S.EXPIRED and view.error is None and tracked.expired_ns is None:
                    tracked.expired_ns = self.venue_now_ns()
                    log.info("transaction expired unused; still read a while in case the user began it late",
                             venue=self.name, transaction_id=tracked.transaction_id, grace_s=self.config.expiry_grace_s)
                sink.on_order_report(self._report(leg))
        if tracked.final:
            return
        if view.error is not None or view.status == "ERRORED" or (view.status == "COMPLETED" and tracked.done):
            tracked.final = True
            log.info("transaction finished", venue=self.name, transaction_id=tracked.transaction_id,
                     status=view.status, error=view.error)

    def _finalise_unlisted(self, tracked: Tracked, states: dict[tuple[str, str], LegState], view: TransactionView) -> bool:
        """A COMPLETED view that lists not every open order: whether to end those orders now (after
        `unlisted_polls` such views) rather than read the order details again."""
        if view.status != "COMPLETED" or view.error is not None:
            return True
        missing = [leg.vid for key, leg in tracked.legs.items()
                   if not leg.status.is_terminal and (key not in states or states[key].word is None)]
        if not missing:
            return True
        tracked.unlisted += 1
        if tracked.unlisted < self.config.unlisted_polls:
            log.info("transaction completed but its batches do not list every order yet; reading again",
                     venue=self.name, transaction_id=tracked.transaction_id, orders=missing, views=tracked.unlisted)
            self._poller().wake()
            return False
        log.warning("transaction completed without listing these orders; they end by the batch's status",
                    venue=self.name, transaction_id=tracked.transaction_id, orders=missing)
        return True

    def _log_unmatched(self, tracked: Tracked, states: dict[tuple[str, str], LegState]) -> None:
        for key in states.keys() - tracked.legs.keys() - tracked.unmatched:
            tracked.unmatched.add(key)
            log.warning("a batch order matches no order of the transaction", venue=self.name,
                        transaction_id=tracked.transaction_id, ticker=key[0], side=key[1])

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
