"""The smallcase Gateway venue: a basket of engine orders <-> one transaction, its statuses, its fills.

A partner cannot place orders for a user: it creates a transaction and the user completes it in
smallcase's SDK. So `place()` calls that arrive together (one rebalance: the same loop turn plus
`linger_ms`) become ONE transaction (`orderConfig` SECURITIES with every ticker), and each call is
answered with a SUBMITTED ack whose venue order id is `<transactionId>:<TICKER>:<BUY|SELL>`. Two
orders for the same ticker and side never share a transaction: only the second one goes to an
overflow basket (the next transaction); the rest of the rebalance stays together.

From then on the transaction is polled (fast while open) and postbacks are applied the same way:
- order and batch statuses map onto the engine's through parsing.py's tables (a word no table
  knows is counted in `unknown_statuses`, logged once, and moves nothing: the transaction is read
  again); a batch's `tradingsymbol` is matched without its exchange prefix or series suffix
  (`SBIN-EQ` is SBIN);
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

Keeping in step goes through the venue-sync core (engine/venue/sync.py): it holds the working set
(the transactions polled are those with a working order, plus the venue-specific ones of
transactions.Book: begun and not finished, or expired here and within their grace), the fill ids
delivered, the last state per order, delivery where a mark moves only once the manager took the
event, the unknown-status rule, and the last look at close (`look`: every followed transaction
read once more). The poller's cadence and the postbacks stay here: each view goes to `deliver`.

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
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import GatewayAuth
from adapters.smallcase.client import SmallcaseClient
from adapters.smallcase.config import SmallcaseConfig, fill_link
from adapters.smallcase.feed import PostbackReceiver, TransactionPoller
from adapters.smallcase.parsing import (
    TransactionView,
    create_request,
    parse_venue_order_id,
    security_of,
    view_of_postback,
)
from adapters.smallcase.transactions import Basket, Book, Tracked
from engine.errors import NotSupported, UserError, VenueError, VenueUnavailable
from engine.events import Instrument, Order, OrderReport, OrderStatus
from engine.venue.contract import EmulatorInfo, Venue, VenueConfig, VenueContext
from engine.venue.sync import Look, VenueSync

if TYPE_CHECKING:
    from adapters.smallcase.emulator import SmallcaseEmulator

log = structlog.get_logger("tickbus.smallcase")
NS = w.NS
S = OrderStatus


class SmallcaseVenue(Venue[SmallcaseConfig]):
    Config = SmallcaseConfig

    def __init__(self, ctx: VenueContext, config: SmallcaseConfig) -> None:
        super().__init__(ctx, config)
        self.config: SmallcaseConfig = config
        self.client: SmallcaseClient | None = None
        self.poller: TransactionPoller | None = None
        self.receiver: PostbackReceiver | None = None
        self._baskets: list[Basket] = []  # gathering: the first, and overflow baskets for repeats
        self._tasks: set[asyncio.Task[None]] = set()  # basket flushes and SDK links being opened
        # The gateway's time: wall clock, or the engine's clock when the gateway is emulated (the
        # emulator's clock starts at the run's `start:`, engine/config.py).
        self.venue_now_ns: Callable[[], int] = ctx.clock.now_ns if config.emulator else time.time_ns
        self.book = Book(
            self.name, config, ctx.sink, questions=self, venue_now_ns=self.venue_now_ns, now_ns=ctx.clock.now_ns,
            read_again=lambda: self._poller().wake(),
        )
        self.sync: VenueSync = self.book.sync
        self.transactions: dict[str, Tracked] = self.book.transactions

    @property
    def unknown_statuses(self) -> dict[str, int]:
        """Status words no table knows, by times seen (the core's count)."""
        return self.sync.stats.unknown_statuses

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
            self.name, self.client, open_transactions=self._open_transactions, on_view=self.book.apply,
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
        if self.poller is not None:
            await self.poller.stop()
            # what happened just before the stop is not left for the next run (never raises)
            await self.sync.last_look(timeout_s=self.config.last_look_timeout_s)
        if self.receiver is not None:
            await self.receiver.stop()
        await self.sync.close()
        if self.client is not None:
            await self.client.close()

    async def instruments(self) -> Sequence[Instrument]:
        return []  # no market data: instruments come from a data venue routed here

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        key = security_of(self.name, order)
        basket = next((b for b in self._baskets if key not in b.orders), None)
        if basket is None:  # the first order, or a repeat of a ticker and side every basket has
            basket = self._open_basket()
        basket.orders[key] = order
        acks = await asyncio.shield(basket.created)
        return acks[key]

    async def cancel(self, order: Order) -> OrderReport | None:
        raise NotSupported(self.name, "a smallcase transaction cannot be withdrawn; it expires 5 minutes after creation")

    async def order_status(self, order: Order) -> OrderReport | None:
        vid = order.venue_order_id
        if vid is None:  # no transaction was made for it (a lost create answer leaves none known)
            return None
        transaction_id, ticker, side = parse_venue_order_id(vid)
        tracked, leg = self.book.adopt(order, transaction_id, (ticker, side))
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
                return self.book.report(leg)
            self.book.apply(view)
        return self.book.report(leg)

    async def open_orders(self) -> Sequence[OrderReport]:
        return self.book.open_reports(self.sync.working)

    async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
        """The core's question: every transaction still followed, read now (smallcase has no fill
        cursor: fills are growths of cumulative totals, `since` is always 0). Raises only if none
        of them could be read."""
        followed = self.book.followed(working)
        poller = self._poller()
        views = await asyncio.gather(*(poller.view(t.transaction_id, t.deadline_ns) for t in followed), return_exceptions=True)
        read = [(t, v) for t, v in zip(followed, views, strict=True) if isinstance(v, TransactionView)]
        if followed and not read:
            raise VenueUnavailable(self.name, f"none of {len(followed)} followed transactions could be read")
        looks = [self.book.look(t, v) for t, v in read]
        return Look(
            fills=[f for lk in looks for f in lk.fills] if fills else (),
            reports=[r for lk in looks for r in lk.reports],
            fills_read=fills,
        )

    # --- baskets -> transactions --------------------------------------------------------------

    def _open_basket(self) -> Basket:
        basket = Basket()
        self._baskets.append(basket)
        task = self._spawn(self._flush(basket), f"{self.name}:basket")
        task.add_done_callback(lambda _: basket.created.cancel())  # a no-op unless the flush was cancelled
        return basket

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush(self, basket: Basket) -> None:
        """After the linger: the basket becomes one transaction, and every order in it learns its id."""
        try:
            await asyncio.sleep(self.config.linger_ms / 1000)
        finally:
            if basket in self._baskets:  # from now on orders go to the next basket
                self._baskets.remove(basket)
        try:
            acks = await self._create(basket.orders)
        except Exception as exc:  # noqa: BLE001 - every failure goes to the orders waiting on it
            basket.created.set_exception(exc)
            return
        basket.created.set_result(acks)

    async def _create(self, orders: dict[tuple[str, str], Order]) -> dict[tuple[str, str], OrderReport]:
        created = await self._client().create_transaction(create_request(orders))
        transaction_id = created.transactionId
        acks = self.book.new(transaction_id, orders)
        link = self._announce(transaction_id, len(orders))
        if link is not None and self.config.emulator and self.config.leprechaun:
            self._spawn(self._open_sdk(transaction_id, link), f"{self.name}:sdk:{transaction_id}")
        self._poller().wake()
        return acks

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
        return [(t.transaction_id, t.deadline_ns) for t in self.book.followed(self.sync.working)]

    def _on_postback(self, payload: w.Postback) -> None:
        if payload.transactionId not in self.transactions:
            log.info("postback for a transaction this run does not track", venue=self.name, transaction_id=payload.transactionId)
            return
        self.book.apply(view_of_postback(payload))

    # --- helpers ------------------------------------------------------------------------------

    def _client(self) -> SmallcaseClient:
        if self.client is None:
            raise VenueError(self.name, "not connected")
        return self.client

    def _poller(self) -> TransactionPoller:
        if self.poller is None:
            raise VenueError(self.name, "not connected")
        return self.poller
