"""The GOPAX venue: engine orders <-> GOPAX orders, the status table, fills, reconciliation.

Orders: limit, market, and stop-limit (`stopPrice`; GOPAX has no stop-market). `timeInForce`
gtc/po/ioc/fok on limits (no DAY), `protection` from `Order.options["protection"]` (yes/no).
A market buy's `amount` is in the quote currency: the engine's qty is in base units, so the
adapter sends qty x best ask (the feed's book, else a ticker call), rounded down to the quote's
scale (KRW: whole won) - or `Order.options["quote_amount"]` as given. Fills report the base
quantity actually bought. Client order ids go out as `clientOrderId`.

Status table (REST words; the socket's numbers map onto them first):
placed -> placed, updated -> updated, completed -> completed, cancelled -> cancelled (GOPAX's
`forcedCompletionReason` kept as the reason), reserved -> placed with the stop pending. A word
(or number) not in the table is taken as placed, logged and counted in `unknown_statuses`: an
order GOPAX accepted is never reported rejected for a word we do not know.

Orders are told apart by GOPAX's order id: the manager matches reports and fills by venue id once
it has one (the placement's answer gives it), so the adapter keeps no map of its own; the socket's
order objects carry no client order id.

Like Samco, the run mode decides: in live mode private state comes from the websocket (order,
trade and balance events), and after every (re)connect the adapter catches up over REST (own
trades after the trade id the socket had reached when it reopened, orders it placed that are no
longer open), retried with backoff until it succeeds or the venue closes. Without a usable socket
(`private_stream: false`, or a 36-character legacy key the socket refuses) the same look runs
every `poll_interval_s` (`feed.PrivatePoller`, where Samco's order poller lives too). `close()`
takes one last look: at the orders still working, and at own trades unless a connected socket
with no catch-up pending is pushing them. In paper mode the venue is market data only: no private
socket, no polling.
The trade-id mark moves only once a fill has been handed to the order manager.

`fills_since(0)` (a first run, with an empty journal) reads the last 24 hours of own trades, not
the account's whole history. Signing uses the engine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import msgspec
import structlog

from adapters.gopax import schemas as w
from adapters.gopax.auth import GopaxAuth, NonceSource
from adapters.gopax.client import GopaxClient
from adapters.gopax.feed import (
    PRIVATE_KEYS,
    GopaxFeed,
    GopaxPoller,
    PrivateChanges,
    PrivatePoller,
    own_trades,
)
from engine.errors import InvalidOrder, OrderNotFound, UserError, VenueError
from engine.events import (
    Balance,
    Fill,
    Instrument,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from engine.log import fingerprint
from engine.venue.contract import Channel, EmulatorInfo, Venue, VenueConfig, VenueContext
from engine.venue.retry import Backoff

if TYPE_CHECKING:
    from adapters.gopax.emulator import GopaxEmulator

log = structlog.get_logger("tickbus.gopax")
NS = 1_000_000_000
S = OrderStatus
WS_KEY_LENGTH = 64  # the socket refuses legacy (36-character) keys
FIRST_RUN_LOOKBACK_NS = 86_400 * NS  # fills_since(0): the last 24 hours, not the whole history


class GopaxConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A GOPAX venue block; `api_key` and `secret` belong in ${VAR}s."""

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key", "secret")

    api_key: str = ""
    secret: str = ""
    signing: Literal["current", "legacy"] = "current"
    url: str = "https://api.gopax.co.kr"
    ws_url: str = "wss://wsapi.gopax.co.kr"
    market_data: Literal["ws", "rest"] = "ws"
    quotes: Literal["book", "tickers"] = "book"  # quotes-only pairs: from their book, or SubscribeToTickers
    poll_interval_s: float = 1.0
    private_stream: bool = True
    pairs: list[str] = []
    book_depth: int = 20
    stale_after_s: float = 60.0  # a subscription quiet this long is STALE and the socket reconnected
    catch_up_backoff_s: tuple[float, float] = (0.2, 5.0)  # the REST catch-up after a reconnect, retried
    receive_window_ms: int | None = None
    timeout_s: float = 10.0


# --- the mapping tables ------------------------------------------------------------------------

STATUS: dict[str, tuple[OrderStatus, bool]] = {
    "placed": (S.PLACED, False),
    "updated": (S.UPDATED, False),
    "completed": (S.COMPLETED, False),
    "cancelled": (S.CANCELLED, False),
    "reserved": (S.PLACED, True),  # a stop order waiting for its trigger
}
TIF: dict[TimeInForce, str] = {
    TimeInForce.GTC: "gtc",
    TimeInForce.POST_ONLY: "po",
    TimeInForce.IOC: "ioc",
    TimeInForce.FOK: "fok",
}
ORDER_TYPE: dict[OrderType, str] = {OrderType.LIMIT: "limit", OrderType.MARKET: "market", OrderType.STOP_LIMIT: "limit"}


def report_from_rest(venue: str, iid: str, o: w.Order) -> OrderReport:
    status, stop = _status(venue, o.status or "placed", o.id)
    filled, avg = _rest_filled(o)
    stamp = o.updatedAt or o.createdAt
    return OrderReport(
        venue=venue,
        status=status,
        client_order_id=o.clientOrderId,
        venue_order_id=o.id,
        filled_qty=filled,
        avg_price=avg,
        reason=o.forcedCompletionReason,
        stop_pending=stop if o.stopPrice is not None else None,
        instrument=iid,
        side=Side(o.side),
        ts_event=w.iso_ns(stamp) if stamp else 0,
    )


def report_from_ws(venue: str, iid: str, o: w.WsOrder) -> OrderReport:
    status, stop = _status(venue, w.STATUS_CODES.get(o.status, str(o.status)), str(o.orderId))
    filled = o.tradedBaseAmount
    return OrderReport(
        venue=venue,
        status=status,
        client_order_id=o.clientOrderId,
        venue_order_id=str(o.orderId),
        filled_qty=filled,
        avg_price=o.tradedQuoteAmount / filled if filled else None,
        reason=w.FORCED_CODES.get(o.forcedCompletionReason),
        stop_pending=stop if o.stopPrice else None,
        instrument=iid,
        side=Side(w.SIDE_CODES[o.side]),
        ts_event=int(o.updatedAt * NS),
    )


def fill_from_rest(venue: str, iid: str, quote: str, t: w.OwnTrade) -> Fill:
    return Fill(
        venue=venue,
        instrument=iid,
        side=Side(t.side),
        qty=t.baseAmount,
        price=t.price,
        fill_id=str(t.id),
        fee=t.fee,
        fee_asset=t.feeAsset or quote,
        venue_order_id=str(t.orderId),
        liquidity=t.position,
        ts_event=w.iso_ns(t.timestamp),
    )


def fill_from_ws(venue: str, iid: str, quote: str, t: w.WsTrade) -> Fill:
    return Fill(
        venue=venue,
        instrument=iid,
        side=Side(w.SIDE_CODES[t.side]),
        qty=t.baseAmount,
        price=t.price,
        fill_id=str(t.tradeId),  # the same id GET /trades gives: the manager drops the repeat
        fee=t.fee,
        fee_asset=t.feeAssetName or quote,
        venue_order_id=str(t.orderId),
        ts_event=int(t.occurredAt * NS),
    )


def _status(venue: str, word: str, order_id: str) -> tuple[OrderStatus, bool]:
    """The engine status of GOPAX's word; a word not in the table is taken as placed (logged)."""
    found = STATUS.get(word)
    if found is None:
        log.warning("unknown order status, taken as placed", venue=venue, status=word, order_id=order_id)
        return S.PLACED, False
    return found


def status_word(o: w.Order | w.WsOrder) -> str:
    return (o.status or "placed") if isinstance(o, w.Order) else w.STATUS_CODES.get(o.status, str(o.status))


def _rest_filled(o: w.Order) -> tuple[Decimal | None, Decimal | None]:
    change = o.balanceChange
    if change is not None:
        base, quote = abs(change.baseGross), abs(change.quoteGross)
        return base, (quote / base if base else None)
    if o.remaining is not None and not (o.type == "market" and o.side == "buy"):
        return o.amount - o.remaining, None  # a market buy's amount is in the quote currency
    return None, None


def tick_at(tiers: Sequence[w.TickSize], price: float) -> Decimal:
    """The tick of the tier `price` falls in (tiers by ascending startPrice)."""
    tick = tiers[0].tickSize if tiers else Decimal(1)
    for tier in sorted(tiers, key=lambda t: t.startPrice):
        if Decimal(repr(price)) >= tier.startPrice:
            tick = tier.tickSize
    return tick


def build_request(order: Order, pair: str, amount: Decimal) -> w.OrderRequest:
    """The POST /orders body for `order` (`amount` already in GOPAX's units)."""
    if order.type not in ORDER_TYPE:
        raise InvalidOrder(order.venue, f"GOPAX has no {order.type.value} orders (stops must be limit orders)")
    is_limit = order.type is not OrderType.MARKET
    tif = None
    if is_limit:
        if order.tif not in TIF:
            raise InvalidOrder(order.venue, f"GOPAX has no {order.tif.value} orders (gtc, po, ioc, fok)")
        tif = TIF[order.tif]
    return w.OrderRequest(
        tradingPairName=pair,
        side=order.side.value,
        type=ORDER_TYPE[order.type],
        amount=amount,
        price=order.price if is_limit else None,
        stopPrice=order.trigger_price if order.type is OrderType.STOP_LIMIT else None,
        clientOrderId=order.client_order_id,
        protection=order.options.get("protection"),
        timeInForce=tif,
    )


# --- the venue ---------------------------------------------------------------------------------


class GopaxVenue(Venue[GopaxConfig]):
    Config = GopaxConfig

    def __init__(self, ctx: VenueContext, config: GopaxConfig) -> None:
        super().__init__(ctx, config)
        self.config: GopaxConfig = config
        self.auth: GopaxAuth | None = None
        self.client: GopaxClient | None = None
        self.feed: GopaxFeed | None = None
        self.poller: GopaxPoller | None = None
        self.private: PrivatePoller | None = None  # live mode with credentials
        self._pairs: dict[str, w.TradingPair] = {}
        self._instruments: dict[str, Instrument] = {}  # by pair
        self._working: set[str] = set()  # venue ids of our orders not yet seen finished
        self._last_trade_id = 0  # the newest own trade handed to the order manager
        self._connected_ns = 0
        self._catch_up: asyncio.Task[None] | None = None
        self._catch_up_from: int | None = None  # the cursor of the catch-up in progress
        self.catch_ups = 0  # catch-ups that succeeded
        self.catch_up_failures = 0
        self.unknown_statuses: dict[str, int] = {}

    # --- emulator -----------------------------------------------------------------------------

    @classmethod
    def make_emulator(cls, config: VenueConfig, seed: int) -> GopaxEmulator:
        """The GOPAX emulator; it logs every request when served on its own (`run.py emulate`)."""
        from adapters.gopax.emulator import GopaxEmulator

        emulator = GopaxEmulator(seed=seed, log_requests=not config.emulator)
        start = config.emulator_start
        if start is not None:  # a naive one is UTC, as for a run's `start:`
            aware = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
            emulator.clock.set(int(aware.timestamp()) * 1_000_000_000 + aware.microsecond * 1000)
        return emulator

    @classmethod
    def with_emulator(cls, config: VenueConfig, info: EmulatorInfo) -> GopaxConfig:
        assert isinstance(config, GopaxConfig)
        creds = info.credentials
        return msgspec.structs.replace(
            config, url=info.url, ws_url=info.ws_url or config.ws_url, api_key=creds["api_key"], secret=creds["secret"]
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        cfg = self.config
        self._connected_ns = self.ctx.clock.now_ns()
        if cfg.api_key or cfg.secret:
            now_ms = self._now_ms
            nonces = None
            if cfg.signing == "legacy":
                nonces = NonceSource(Path(self.ctx.state_dir) / "gopax" / f"nonce-{fingerprint(cfg.api_key)}", now_ms=now_ms)
                await nonces.prepare()  # the file is read and written off the event loop
            self.auth = GopaxAuth(
                cfg.api_key, cfg.secret, scheme=cfg.signing, nonces=nonces, receive_window_ms=cfg.receive_window_ms,
                now_ms=now_ms,
            )
        self.client = GopaxClient(self.name, cfg.url, auth=self.auth, timeout_s=cfg.timeout_s)
        await self.client.start()
        await self._load_instruments()
        if self.auth is None or self.ctx.mode != "live":
            return  # paper (and backtest): market data only, as with Samco
        self.private = PrivatePoller(
            f"{self.name}:private", self.client, self._deliver, state=self._private_state, interval_s=cfg.poll_interval_s
        )
        if self._private_socket:
            await self._feed().subscribe(*PRIVATE_KEYS)
        else:
            self.private.start()

    async def close(self) -> None:
        if self._catch_up is not None:
            self._catch_up.cancel()
            with contextlib.suppress(BaseException):
                await self._catch_up
        if self.private is not None and self.client is not None:
            await self.private.stop()
            try:  # a last look, so what happened just before the stop is not left for the next run
                behind = self._catch_up_from is not None
                cursor = self._catch_up_from if behind else self._last_trade_id
                # own trades (GOPAX allows two reads a second) unless an up-to-date socket pushes them
                trades = behind or self.feed is None or not self.feed.connected
                look = self.private.changes(*self._private_state(cursor), trades=trades)
                self._deliver(await asyncio.wait_for(look, self.config.timeout_s))
            except Exception as exc:  # noqa: BLE001 - a venue error, a broken connection, the timeout: logged, not raised
                log.warning("last private poll failed", venue=self.name, error=str(exc) or repr(exc))
        for part in (self.poller, self.feed):
            if part is not None:
                await part.stop()
        if self.client is not None:
            await self.client.close()

    async def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments.values())

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        pairs = [self._pair_of(iid) for iid in instruments]
        wanted = set(channels)
        if self.config.market_data == "ws":
            feed = self._feed()
            if self.config.quotes == "tickers" and wanted <= {Channel.QUOTES}:
                await feed.watch_tickers(pairs)  # one subscription for every pair, 1 s aggregates
                return
            await feed.watch(pairs, trades=Channel.TRADES in wanted, books=Channel.BOOK in wanted)
            return
        if self.poller is None:
            self.poller = GopaxPoller(
                self.name, self._client(), bus=self.ctx.bus, clock=self.ctx.clock,
                interval_s=self.config.poll_interval_s, book_depth=self.config.book_depth,
            )
        for pair in pairs:
            self.poller.watch(
                pair, quotes=Channel.QUOTES in wanted, trades=Channel.TRADES in wanted,
                books=Channel.BOOK in wanted, bars=Channel.BARS in wanted,
            )

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        pair = self._pair_of(order.instrument)
        request = build_request(order, pair, await self._amount(order, pair))
        placed = await self._client().place(request)
        return self._seen(self._report(placed))

    async def cancel(self, order: Order) -> OrderReport | None:
        client = self._client()
        if order.venue_order_id:
            await client.cancel(order.venue_order_id)
        else:
            await client.cancel_by_client_id(order.client_order_id)
        report = OrderReport(
            venue=self.name, status=S.CANCELLED, client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id, ts_event=self.ctx.clock.now_ns(),
        )
        return self._seen(report)

    async def order_status(self, order: Order) -> OrderReport | None:
        client = self._client()
        try:
            if order.venue_order_id:
                found = await client.order(order.venue_order_id)
            else:
                found = await client.order_by_client_id(order.client_order_id)
        except OrderNotFound:
            return None
        return self._seen(self._report(found))

    async def open_orders(self) -> Sequence[OrderReport]:
        return [self._seen(self._report(o)) for o in await self._client().orders()]

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        """Own fills from `since_ns` on; 0 (nothing journalled yet) means the last 24 hours."""
        if since_ns <= 0:
            since_ns = max(self.ctx.clock.now_ns() - FIRST_RUN_LOOKBACK_NS, 0)
        fills = [self._fill(t) for t in await own_trades(self._client(), after_s=since_ns // NS)]
        return sorted((f for f in fills if f.ts_event >= since_ns), key=lambda f: f.ts_event)

    async def balances(self) -> Sequence[Balance]:
        now = self.ctx.clock.now_ns()
        return [
            Balance(venue=self.name, asset=b.asset, free=b.avail, locked=b.hold + b.pendingWithdrawal, ts=now)
            for b in await self._client().balances()
        ]

    # --- the private stream (GopaxFeed calls these) -------------------------------------------

    def on_ws_order(self, order: w.WsOrder) -> None:
        self._count_unknown(order)
        report = report_from_ws(self.name, self._iid(order.tradingPairName), order)
        try:
            self.ctx.sink.on_order_report(report)
        except Exception as exc:  # noqa: BLE001 - not taken: the REST catch-up asks about the order again
            self._not_delivered("order report", exc, self._last_trade_id)
            return
        self._seen(report)  # marks move once the manager has it

    def on_ws_trade(self, trade: w.WsTrade) -> None:
        fill = fill_from_ws(self.name, self._iid(trade.tradingPairName), self._quote(trade.tradingPairName), trade)
        try:
            self.ctx.sink.on_fill(fill)
        except Exception as exc:  # noqa: BLE001 - not taken: read again over REST from just before it
            self._not_delivered("fill", exc, min(self._last_trade_id, trade.tradeId - 1))
            return
        self._last_trade_id = max(self._last_trade_id, trade.tradeId)

    def _not_delivered(self, what: str, exc: Exception, cursor: int) -> None:
        log.error("socket event not taken by the order manager: catching up over REST", venue=self.name, event_kind=what, error=repr(exc))
        self._start_catch_up(cursor)

    def on_ws_balance(self, balance: w.WsBalance) -> None:
        self.ctx.sink.on_balance(
            Balance(
                venue=self.name, asset=balance.isoAlpha3, free=balance.avail,
                locked=balance.hold + balance.pendingWithdrawal, ts=self.ctx.clock.now_ns(),
            )
        )

    def _on_stream_open(self) -> None:
        """The socket (re)opened: catch up on what it may have missed, from where it had got to.

        The cursor is taken now, before any event of the new connection moves it: trade events that
        arrive first must not carry it past trades missed while the socket was down.
        """
        self._start_catch_up(self._last_trade_id)

    def _start_catch_up(self, cursor: int) -> None:
        """A REST catch-up from trade id `cursor` (a catch-up still running keeps an older cursor)."""
        if self._catch_up_from is not None:
            cursor = min(cursor, self._catch_up_from)
        if self._catch_up is not None:
            self._catch_up.cancel()
        self._catch_up_from = cursor
        self._catch_up = asyncio.get_running_loop().create_task(self._run_catch_up(cursor), name=f"{self.name}:catch-up")

    async def _run_catch_up(self, cursor: int) -> None:
        """One REST look at what the socket may have missed, retried with backoff until it works
        (cancelled by the next reconnect, which starts over from this cursor, or by close())."""
        private = self.private
        assert private is not None
        initial, maximum = self.config.catch_up_backoff_s
        backoff = Backoff(initial_s=initial, maximum_s=maximum)
        while True:
            try:
                changes = await private.changes(*self._private_state(cursor))
                self._deliver(changes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a VenueError, a broken connection, a journal that failed...
                self.catch_up_failures += 1
                delay = backoff.next()
                log.warning("private catch-up failed, retrying", venue=self.name, error=str(exc) or repr(exc), retry_in_s=round(delay, 3))
                await asyncio.sleep(delay)
                continue
            self.catch_ups += 1
            if self._catch_up is asyncio.current_task():
                self._catch_up, self._catch_up_from = None, None
            return

    def _private_state(self, cursor: int | None = None) -> tuple[int, int, frozenset[str]]:
        """What the private REST look starts from: a trade id, else the connect time; our working orders."""
        return (self._last_trade_id if cursor is None else cursor), self._connected_ns, frozenset(self._working)

    def _deliver(self, changes: PrivateChanges) -> None:
        """Fills first (they are facts), then finished orders; each mark moves once delivered."""
        trades, finished, gone = changes
        sink = self.ctx.sink
        for trade in trades:
            sink.on_fill(self._fill(trade))
            self._last_trade_id = max(self._last_trade_id, trade.id)
        for order in finished:
            report = self._report(order)
            sink.on_order_report(report)
            self._seen(report)
        for vid in gone:
            self._working.discard(vid)  # finished over 10 minutes ago: its fills came by trade id

    # --- helpers ------------------------------------------------------------------------------

    def _client(self) -> GopaxClient:
        if self.client is None:
            raise VenueError(self.name, "not connected")
        return self.client

    @property
    def _private_socket(self) -> bool:
        """Private state over the socket: a live run, wanted, and a key the socket takes (64 characters)."""
        return (
            self.auth is not None and self.ctx.mode == "live" and self.config.private_stream
            and len(self.config.api_key) == WS_KEY_LENGTH
        )

    def _feed(self) -> GopaxFeed:
        if self.feed is None:
            private = self._private_socket
            self.feed = GopaxFeed(
                self.name, self.config.ws_url, bus=self.ctx.bus, clock=self.ctx.clock, client=self._client(),
                login=self.auth.ws_params if private and self.auth is not None else None,
                private=self if private else None,
                on_open_hook=self._on_stream_open if private else None,
                book_depth=self.config.book_depth,
                stale_after_s=self.config.stale_after_s or None,
                reconnect_when_stale=True,
            )
            self.feed.start()
        return self.feed

    async def _load_instruments(self) -> None:
        client = self._client()
        pairs = {p.name: p for p in await client.trading_pairs()}
        wanted = self.config.pairs or sorted(pairs)
        unknown = [p for p in wanted if p not in pairs]
        if unknown:
            raise UserError(f"{self.name}: unknown pairs {', '.join(unknown)} (GOPAX lists {len(pairs)})")
        prices = {row.tradingPairName: row.last for row in await client.tickers()}
        tiers = await asyncio.gather(*(client.price_tick_size(p) for p in wanted))
        for pair, pair_tiers in zip(wanted, tiers, strict=True):
            info = pairs[pair]
            self._pairs[pair] = info
            self._instruments[pair] = self._instrument(info, tick_at(pair_tiers, prices.get(pair, 0.0)))

    def _instrument(self, p: w.TradingPair, tick: Decimal) -> Instrument:
        minimum = p.restApiOrderAmountMin
        min_notional = minimum.limitBid.amount if minimum and minimum.limitBid.unit == p.quoteAsset else Decimal(1000)
        return Instrument(
            id=f"{self.name}:{p.name}", venue=self.name, symbol=p.name, base=p.baseAsset, quote=p.quoteAsset,
            exchange="GOPAX", tick_size=tick, lot_size=Decimal(1).scaleb(-p.baseAssetScale),
            min_notional=min_notional, kind="spot",
        )

    def _pair_of(self, iid: str) -> str:
        venue, _, pair = iid.partition(":")
        if venue != self.name or pair not in self._instruments:
            raise InvalidOrder(self.name, f"unknown instrument {iid}")
        return pair

    def _iid(self, pair: str) -> str:
        return f"{self.name}:{pair}"

    def _quote(self, pair: str) -> str:
        info = self._pairs.get(pair)
        return info.quoteAsset if info is not None else pair.rpartition("-")[2]

    def _report(self, o: w.Order) -> OrderReport:
        self._count_unknown(o)
        return report_from_rest(self.name, self._iid(o.tradingPairName), o)

    def _count_unknown(self, o: w.Order | w.WsOrder) -> None:
        word = status_word(o)
        if word not in STATUS:
            self.unknown_statuses[word] = self.unknown_statuses.get(word, 0) + 1

    def _fill(self, t: w.OwnTrade) -> Fill:
        return fill_from_rest(self.name, self._iid(t.tradingPairName), self._quote(t.tradingPairName), t)

    def _seen(self, report: OrderReport) -> OrderReport:
        """Track our order while it works (the REST catch-up asks about it once it stops)."""
        vid = report.venue_order_id
        if vid is not None:
            if report.status.is_open:
                self._working.add(vid)
            else:
                self._working.discard(vid)
        return report

    def _now_ms(self) -> int:
        return self.ctx.clock.now_ns() // 1_000_000

    async def _amount(self, order: Order, pair: str) -> Decimal:
        """GOPAX's `amount`: base units, except a market buy's, which is quote currency."""
        if not (order.type is OrderType.MARKET and order.side is Side.BUY):
            return order.qty
        given = order.options.get("quote_amount")
        if given is not None:
            return Decimal(given)
        ask = await self._best_ask(pair)
        if ask <= 0:
            raise InvalidOrder(self.name, f"no ask to price a market buy of {pair}")
        unit = Decimal(1).scaleb(-self._pairs[pair].quoteAssetScale)
        return (order.qty * ask).quantize(unit, rounding=ROUND_DOWN)

    async def _best_ask(self, pair: str) -> Decimal:
        book = self.feed.books.get(pair) if self.feed is not None else None
        if book is not None and book.synced and book.ask_prices:
            return Decimal(repr(book.ask_prices[0]))
        return Decimal(repr((await self._client().ticker(pair)).ask))
