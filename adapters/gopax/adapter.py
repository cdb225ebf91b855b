"""The GOPAX venue: engine orders <-> GOPAX orders over the venue-sync core (engine/venue/sync.py).

Orders: limit, market, and stop-limit (`stopPrice`; GOPAX has no stop-market). `timeInForce`
gtc/po/ioc/fok on limits (no DAY), `protection` from `Order.options["protection"]` (yes/no).
A market buy's `amount` is in the quote currency: the engine's qty is in base units, so the
adapter sends qty x best ask (the feed's book, else a ticker call), rounded down to the quote's
scale (KRW: whole won) - or `Order.options["quote_amount"]` as given. Fills report the base
quantity actually bought. Client order ids go out as `clientOrderId`. The status table and the
wire words are parsing.py's.

A status word the table does not know is never guessed: `VenueSync.unknown_status` counts it
(`unknown_statuses`), logs it once and keeps the order working so a look asks about it again. A
placement answered with such a word is asked about at once (GET /orders/<id>); an answer that
still has no known word (placement, order_status, open_orders) is reported SUBMITTED: the venue
has the order, its state is not known yet. A socket message with a side GOPAX does not define is
counted in `bad_messages`, logged and dropped.

Orders are told apart by GOPAX's order id: the manager matches reports and fills by venue id once
it has one (the placement's answer gives it); the socket's order objects carry no client order id.

The core owns the working set, the trade-id cursor (a fill's position is its trade id), the
catch-up and the last look at close; this class answers its one question (`look`: own trades after
a trade id, or since the connect when there is none; which working orders stopped) and hands it the
socket's events. In live mode private state comes from the websocket (order, trade and balance
events) and every (re)connect starts a catch-up over REST; without a usable socket
(`private_stream: false`, or a 36-character legacy key the socket refuses) the look runs every
`poll_interval_s`. In paper mode the venue is market data only: no private socket, no polling.

`fills_since(0)` (a first run, with an empty journal) reads the last 24 hours of own trades, not
the account's whole history. Signing uses the engine's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog

from adapters.gopax import schemas as w
from adapters.gopax.auth import GopaxAuth, NonceSource
from adapters.gopax.client import GopaxClient, own_trades, private_changes
from adapters.gopax.config import GopaxConfig
from adapters.gopax.feed import PRIVATE_KEYS, GopaxFeed, GopaxPoller
from adapters.gopax.parsing import (
    BadMessage,
    build_request,
    fill_from_rest,
    fill_from_ws,
    report_from_rest,
    report_from_ws,
    status_word,
    tick_at,
)
from engine.errors import InvalidOrder, OrderNotFound, UserError, VenueError
from engine.events import Balance, Bar, Fill, Instrument, Order, OrderReport, OrderStatus, OrderType, Side
from engine.log import fingerprint
from engine.venue.contract import Channel, EmulatorInfo, Venue, VenueConfig, VenueContext
from engine.venue.poller import Poller
from engine.venue.sync import Look, VenueSync

if TYPE_CHECKING:
    from adapters.gopax.emulator import GopaxEmulator

log = structlog.get_logger("tickbus.gopax")
NS = 1_000_000_000
S = OrderStatus
WS_KEY_LENGTH = 64  # the socket refuses legacy (36-character) keys
FIRST_RUN_LOOKBACK_NS = 86_400 * NS  # fills_since(0): the last 24 hours, not the whole history
CANDLE_MINUTES = (1, 5, 30, 1440)  # the candle lengths GOPAX serves
CANDLES_PER_CALL = 1000  # a window of at most this many candles per request (the answer keeps the newest 1024)


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
        self._pairs: dict[str, w.TradingPair] = {}
        self._instruments: dict[str, Instrument] = {}  # by pair
        self._connected_ns = 0
        self._trading = False  # live mode with credentials: private state is followed
        self.sync = VenueSync(
            self.name, ctx.sink, self, position=lambda f: int(f.fill_id), backoff_s=config.catch_up_backoff_s
        )
        self.private: Poller[Look] | None = None  # the look on a timer, without a usable socket
        self.bad_messages: dict[str, int] = {}  # socket messages dropped for a value GOPAX does not define

    @property
    def unknown_statuses(self) -> dict[str, int]:
        return self.sync.stats.unknown_statuses

    @property
    def catch_ups(self) -> int:
        return self.sync.stats.catch_ups

    @property
    def catch_up_failures(self) -> int:
        return self.sync.stats.catch_up_failures

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
        self._trading = True
        if self._private_socket:
            await self._feed().subscribe(*PRIVATE_KEYS)
        else:
            self.private = Poller(f"{self.name}:private", self._poll, self.sync.deliver, interval_s=cfg.poll_interval_s)
            self.private.start()

    async def close(self) -> None:
        if self.private is not None:
            await self.private.stop()
        if self._trading and self.client is not None:
            # own trades are read again unless an up-to-date socket is pushing them
            stream_current = self.feed is not None and self.feed.connected
            await self.sync.last_look(timeout_s=self.config.timeout_s, stream_current=stream_current)
        await self.sync.close()
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

    async def candles(self, symbol: str, interval_s: int, start_ns: int, end_ns: int) -> Sequence[Bar]:
        """GET /trading-pairs/{pair}/candles in windows of `CANDLES_PER_CALL` candles, oldest first."""
        minutes, rest = divmod(interval_s, 60)
        if rest or minutes not in CANDLE_MINUTES:
            raise UserError(f"--interval: GOPAX candles come in {', '.join(map(str, CANDLE_MINUTES))} minutes, "
                            f"not {interval_s} s")
        pair = self._pair_of(f"{self.name}:{symbol}")
        span_ms = minutes * 60_000
        rows: dict[int, w.Candle] = {}
        first, last = start_ns // 1_000_000, end_ns // 1_000_000
        while first <= last:
            upto = min(first + CANDLES_PER_CALL * span_ms - 1, last)
            for row in await self._client().candles(pair, start_ms=first, end_ms=upto, interval_min=minutes,
                                                    limit=CANDLES_PER_CALL):
                rows[row[0]] = row
            first = upto + 1
        iid = self._iid(pair)
        return [
            Bar(iid, interval_s, open_, high, low, close, volume, start * 1_000_000, (start + span_ms) * 1_000_000)
            for start, low, high, open_, close, volume in (rows[k] for k in sorted(rows))
        ]

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        pair = self._pair_of(order.instrument)
        request = build_request(order, pair, await self._amount(order, pair))
        client = self._client()
        placed = await client.place(request)
        report = self._report(placed)
        if report is None:  # accepted, with a status word we do not know: ask at once
            try:
                report = self._report(await client.order(placed.id))
            except Exception as exc:  # noqa: BLE001 - the order is placed: the next look asks again
                log.warning("asking about a placed order failed", venue=self.name, venue_order_id=placed.id, error=repr(exc))
        return self.sync.track(self.sync.before_fills(report or self._submitted(placed)))  # its fills complete it

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
        return self.sync.track(report)

    async def order_status(self, order: Order) -> OrderReport | None:
        client = self._client()
        try:
            if order.venue_order_id:
                found = await client.order(order.venue_order_id)
            else:
                found = await client.order_by_client_id(order.client_order_id)
        except OrderNotFound:
            return None
        return self.sync.track(self._report(found) or self._submitted(found))

    async def open_orders(self) -> Sequence[OrderReport]:
        return [self.sync.track(self._report(o) or self._submitted(o)) for o in await self._client().orders()]

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
        try:
            report = report_from_ws(self.name, self._iid(order.tradingPairName), order)
        except BadMessage as exc:
            self._bad_message("OrderEvent", exc)
            return
        if report is None:  # a status we do not know: a look asks about the order
            self.sync.unknown_status(status_word(order), str(order.orderId))
            self.sync.catch_up()
            return
        self.sync.stream_report(report)

    def on_ws_trade(self, trade: w.WsTrade) -> None:
        try:
            fill = fill_from_ws(self.name, self._iid(trade.tradingPairName), self._quote(trade.tradingPairName), trade)
        except BadMessage as exc:
            self._bad_message("TradeEvent", exc)
            return
        self.sync.stream_fill(fill)

    def on_ws_balance(self, balance: w.WsBalance) -> None:
        self.ctx.sink.on_balance(
            Balance(
                venue=self.name, asset=balance.isoAlpha3, free=balance.avail,
                locked=balance.hold + balance.pendingWithdrawal, ts=self.ctx.clock.now_ns(),
            )
        )

    def _bad_message(self, kind: str, exc: BadMessage) -> None:
        self.bad_messages[kind] = self.bad_messages.get(kind, 0) + 1
        log.warning("socket message dropped", venue=self.name, kind=kind, error=exc.text)

    # --- the sync core's question -------------------------------------------------------------

    async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
        """Own trades after trade id `since` (0: since the connect), and which working orders stopped."""
        trades, finished, gone = await private_changes(self._client(), since, self._connected_ns, working, trades=fills)
        reports = [r for r in map(self._report, finished) if r is not None]
        return Look(fills=[self._fill(t) for t in trades], reports=reports, gone=gone, fills_read=fills)

    async def _poll(self) -> Look:
        return await self.look(self.sync.cursor, frozenset(self.sync.working))

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
                on_open_hook=self.sync.stream_opened if private else None,
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

    def _report(self, o: w.Order) -> OrderReport | None:
        """The report of a REST order; None (counted, kept working) for a status word not known."""
        report = report_from_rest(self.name, self._iid(o.tradingPairName), o)
        if report is None:
            self.sync.unknown_status(status_word(o), o.id)
        return report

    def _submitted(self, o: w.Order) -> OrderReport:
        """An order GOPAX has whose state we cannot read: submitted, never a guessed status."""
        return OrderReport(
            venue=self.name, status=S.SUBMITTED, client_order_id=o.clientOrderId, venue_order_id=o.id,
            instrument=self._iid(o.tradingPairName), side=o.side, ts_event=self.ctx.clock.now_ns(),
        )

    def _fill(self, t: w.OwnTrade) -> Fill:
        return fill_from_rest(self.name, self._iid(t.tradingPairName), self._quote(t.tradingPairName), t)

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
