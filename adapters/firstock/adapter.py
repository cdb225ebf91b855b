"""The Firstock venue: engine orders <-> Firstock orders over the venue-sync core (engine/venue/sync.py).

Orders: LMT, MKT, SL-LMT and SL-MKT, retention DAY or IOC from the engine's time in force (GTC, FOK
and post-only are refused), `product` C / I / M from `Order.options["product"]` or the config's
`product` (CNC on a derivatives exchange is sent as NRML), after-market orders through placeAMO /
modifyAMO. Before anything is sent, india's rules: a whole lot multiple, a price on the tick, the
market open (else only an after-market order), no new intraday (MIS) order after the square-off.
The order manager splits orders above the freeze quantity; this adapter never does.

The client order id travels in `remarks` (parsing.py): a placement whose answer was lost is found
in the order book by it, and rows, trades and socket frames name their engine order.

Keeping in step: the socket's order updates (`norenordno` frames) go to the core as they come,
a fill frame's fill first; a (re)opened socket starts a catch-up look; `look` reads the order book
and the trade book; a slow poll of both (`poll_s`) is the safety net for a frame lost while the
socket stayed up. A cancel is answered at once, but the exchange may fill the order first: after
the cancel call the adapter asks singleOrderHistory and reports what it says once the order ended.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog

from adapters import india
from adapters.firstock import schemas as w
from adapters.firstock import ticks
from adapters.firstock.auth import Credentials, parse_session_end
from adapters.firstock.client import FirstockClient
from adapters.firstock.config import FirstockConfig
from adapters.firstock.feed import FirstockFeed, QuotePoller
from adapters.firstock.parsing import (
    OPEN_WORDS,
    StatusWords,
    build_modify,
    build_modify_amo,
    build_place,
    fill_from_update,
    fills_from_trades,
    find_by_remarks,
    instrument_id,
    normal,
    product_code,
    report_from_row,
    report_from_update,
    trading_symbol,
)
from adapters.firstock.securities import SecurityCache, resolve
from engine.errors import InvalidOrder, MarketClosed, OrderNotFound, UserError, VenueError
from engine.events import ZERO, Balance, Fill, Instrument, Order, OrderReport, OrderStatus, Position
from engine.venue.contract import Channel, EmulatorInfo, Venue, VenueConfig, VenueContext
from engine.venue.poller import Poller
from engine.venue.sync import Look, VenueSync

if TYPE_CHECKING:
    from adapters.firstock.emulator import FirstockEmulator

__all__ = ["FirstockConfig", "FirstockVenue"]

log = structlog.get_logger("tickbus.firstock")
S = OrderStatus
Books = tuple[list[w.OrderRow], list[w.TradeRow]]


def order_state(report: OrderReport) -> Hashable:
    """What must change for a listed order to be reported again: a triggered stop is news."""
    return report.status, report.filled_qty, report.stop_pending


class FirstockVenue(Venue[FirstockConfig]):
    Config = FirstockConfig

    def __init__(self, ctx: VenueContext, config: FirstockConfig) -> None:
        super().__init__(ctx, config)
        self.config: FirstockConfig = config
        self.client: FirstockClient | None = None
        self.feed: FirstockFeed | None = None
        self.quotes: QuotePoller | None = None
        self.books: Poller[Books] | None = None
        self.calendar = india.default_calendar()
        self._instruments: dict[str, Instrument] = {}
        self._iids: dict[tuple[str, str], str] = {}  # (exchange, bare symbol) -> instrument id
        self.sync = VenueSync(self.name, ctx.sink, self, state_of=order_state)
        self.words = StatusWords(self.sync.unknown_status)

    # --- emulator -----------------------------------------------------------------------------

    @classmethod
    def make_emulator(cls, config: VenueConfig, seed: int) -> FirstockEmulator:
        from adapters.firstock.emulator import FirstockEmulator

        start = config.emulator_start if isinstance(config, FirstockConfig) else None
        return FirstockEmulator(seed=seed, start=start, log_requests=not config.emulator)

    @classmethod
    def with_emulator(cls, config: VenueConfig, info: EmulatorInfo) -> FirstockConfig:
        assert isinstance(config, FirstockConfig)
        c = info.credentials
        return msgspec.structs.replace(
            config, url=info.url, ws_url=info.ws_url or config.ws_url, user_id=c["user_id"], password=c["password"],
            totp_secret=c["totp_secret"], totp="", vendor_code=c["vendor_code"], api_key=c["api_key"],
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        cfg = self.config
        missing = [n for n in ("user_id", "password", "vendor_code", "api_key") if not getattr(cfg, n)]
        if not (cfg.totp or cfg.totp_secret):
            missing.append("totp_secret (or totp)")
        if missing:
            raise UserError(f"{self.name}: Firstock needs {', '.join(missing)}: set them from ${{VAR}}s "
                            "(FIRSTOCK_USER_ID, FIRSTOCK_PASSWORD, FIRSTOCK_TOTP_SECRET, FIRSTOCK_VENDOR_CODE, FIRSTOCK_API_KEY)")
        if not cfg.symbols:
            raise UserError(f"{self.name}: list the symbols to trade (symbols: [\"NSE:RELIANCE\"])")
        try:
            session_end = parse_session_end(cfg.session_end)
        except ValueError as exc:
            raise UserError(f"{self.name}: {exc}") from None
        creds = Credentials(user_id=cfg.user_id, password=cfg.password, vendor_code=cfg.vendor_code,
                            api_key=cfg.api_key, totp=cfg.totp, totp_secret=cfg.totp_secret)
        self.client = FirstockClient(
            self.name, cfg.url, credentials=creds, now_ns=self.ctx.clock.now_ns, timeout_s=cfg.timeout_s,
            session_end=session_end, login_retry_s=cfg.login_retry_s, requests_per_s=cfg.requests_per_s,
        )
        await self.client.start()
        await self.client.auth.start()
        await self._load_instruments()
        if self.ctx.mode == "live":
            self._feed().start()  # order updates come over the socket, subscribed or not
            self.books = Poller(f"{self.name}:books", self._read_books, self._deliver_books, interval_s=cfg.poll_s)
            self.books.start()

    async def close(self) -> None:
        streaming = self.feed is not None and self.feed.connected and not self.sync.behind
        looked = self.books is not None
        for part in (self.books, self.quotes, self.feed):
            if part is not None:
                await part.stop()
        if looked:  # a last look, so fills made just before the stop are not left for the next run
            await self.sync.last_look(timeout_s=self.config.timeout_s, stream_current=streaming)
        await self.sync.close()
        if self.client is not None:
            await self.client.auth.stop(self.client.logout)
            await self.client.close()

    async def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments.values())

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        insts = [self._inst(iid) for iid in instruments]
        if not self.config.stream:
            if self.quotes is None:
                self.quotes = QuotePoller(self.name, self._client(), bus=self.ctx.bus, clock=self.ctx.clock,
                                          interval_s=self.config.quote_poll_s)
            for inst in insts:
                self.quotes.watch(inst.id, inst.exchange, trading_symbol(inst))
            return
        feed = self._feed()
        feed.start()
        await feed.watch({f"{inst.exchange}:{inst.token}": inst.id for inst in insts})

    def market_is_open(self, instrument: Instrument, ts_ns: int) -> bool | None:
        if instrument.exchange not in india.Exchange.__members__:
            return None
        return self.calendar.is_open(instrument.exchange, ts_ns)

    def request_stats(self) -> dict[str, object]:
        return self.client.counts() if self.client is not None else {}

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        inst = self._inst(order.instrument)
        product = self._product(order, inst)
        self._pretrade(order, inst, product)
        request = build_place(order, inst, product, mkt_protection=self.config.mkt_protection)
        reply = await self._client().place(request, amo=order.after_market)
        if not reply.orderNumber:
            raise VenueError(self.name, "placeOrder answered without an orderNumber")
        report = OrderReport(
            venue=self.name, status=S.PLACED, client_order_id=order.client_order_id, venue_order_id=reply.orderNumber,
            after_market=True if order.after_market else None, instrument=order.instrument, side=order.side,
            ts_event=self.ctx.clock.now_ns(),
        )
        return self.sync.track(report)

    async def cancel(self, order: Order) -> OrderReport | None:
        number = order.venue_order_id or await self._number_of(order)
        known = order if order.venue_order_id else msgspec.structs.replace(order, venue_order_id=number)
        try:
            await self._client().cancel(number)
        except InvalidOrder:
            # too late: it finished meanwhile (filled, say); the venue's word beats the refusal
            report = await self.order_status(known)
            if report is None or report.status.is_open:
                raise
            return report
        try:
            report = await self.order_status(known)
        except VenueError as exc:
            log.warning("order status after a cancel unavailable", venue=self.name, order_number=number, error=str(exc))
            return None
        return report if report is not None and not report.status.is_open else None

    async def modify(
        self, order: Order, *, qty: Decimal | None = None, price: Decimal | None = None, trigger_price: Decimal | None = None,
    ) -> OrderReport | None:
        inst = self._inst(order.instrument)
        number = order.venue_order_id or await self._number_of(order)
        product = self._product(order, inst)
        changed = msgspec.structs.replace(order, qty=qty or order.qty, price=price or order.price,
                                          trigger_price=trigger_price or order.trigger_price)
        self._pretrade(changed, inst, product, entry=False)
        client = self._client()
        if order.after_market and not self.calendar.is_open(inst.exchange, self.ctx.clock.now_ns()):
            await client.modify_amo(build_modify_amo(order, number, product, qty, price, trigger_price))
        else:
            await client.modify(build_modify(order, number, inst, product, qty, price, trigger_price))
        known = order if order.venue_order_id else msgspec.structs.replace(order, venue_order_id=number)
        return await self.order_status(known)

    async def order_status(self, order: Order) -> OrderReport | None:
        client = self._client()
        now = self.ctx.clock.now_ns()
        if order.venue_order_id:
            try:
                rows = await client.order_history(order.venue_order_id)
            except OrderNotFound:
                return None
            if not rows:
                return None
            report = report_from_row(self.name, rows[0], order.instrument, now, self.words)
        else:
            row = find_by_remarks(await client.order_book(), order.client_order_id)
            if row is None:
                return None
            log.info("order found by its remarks", venue=self.name, client_order_id=order.client_order_id, order_number=row.orderNumber)
            report = report_from_row(self.name, row, order.instrument, now, self.words)
            if report is None:  # a word the table does not know: the order exists, no more
                report = OrderReport(venue=self.name, status=S.SUBMITTED, client_order_id=order.client_order_id,
                                     venue_order_id=row.orderNumber, instrument=order.instrument, side=order.side, ts_event=now)
        if report is None:
            return None
        return self.sync.track(msgspec.structs.replace(report, client_order_id=order.client_order_id))

    async def open_orders(self) -> Sequence[OrderReport]:
        now = self.ctx.clock.now_ns()
        reports = []
        for row in await self._client().order_book():
            if normal(row.status) in OPEN_WORDS:
                report = report_from_row(self.name, row, self._iid_of(row.exchange, row.tradingSymbol), now, self.words)
                if report is not None:
                    reports.append(self.sync.track(report))
        return reports

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        fills = fills_from_trades(self.name, await self._client().trade_book(), self._iid_of)
        return [f for f in fills if not f.ts_event or f.ts_event >= since_ns]

    async def balances(self) -> Sequence[Balance]:
        limits = await self._client().limits()
        total = sum((w.dec(v) or ZERO for v in (limits.cash, limits.payin, limits.collateral)), ZERO)
        used = w.dec(limits.marginused) or ZERO
        return [Balance(venue=self.name, asset="INR", free=total - used, locked=used, ts=self.ctx.clock.now_ns())]

    async def positions(self) -> Sequence[Position]:
        out = []
        for row in await self._client().positions():
            qty = w.dec(row.netQuantity) or ZERO
            if qty:
                out.append(Position(instrument=self._iid_of(row.exchange, row.tradingSymbol), qty=qty,
                                    avg_price=w.dec(row.netAveragePrice) or ZERO, realized_pnl=w.dec(row.RealizedPNL) or ZERO))
        return out

    # --- keeping in step ----------------------------------------------------------------------

    async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
        """The order book and (when `fills`) the trade book read now; Firstock has no fill cursor."""
        client = self._client()
        rows = await client.order_book()
        trades = await client.trade_book() if fills else []
        return self._look((rows, trades), fills=fills)

    def _look(self, books: Books, *, fills: bool = True) -> Look:
        rows, trades = books
        now = self.ctx.clock.now_ns()
        reports = [r for r in (report_from_row(self.name, row, self._iid_of(row.exchange, row.tradingSymbol), now, self.words)
                               for row in rows) if r is not None]
        if not fills:
            return Look(reports=reports, fills_read=False)
        return Look(fills=fills_from_trades(self.name, trades, self._iid_of), reports=reports)

    async def _read_books(self) -> Books:
        client = self._client()
        return await client.order_book(), await client.trade_book()

    def _deliver_books(self, books: Books) -> None:
        self.sync.deliver(self._look(books))

    def on_order_update(self, update: ticks.OrderUpdate) -> None:
        """A socket order update: its fill (if it tells one) first, then the order's state."""
        iid = self._iid_of(update.exch, update.tsym)
        fill = fill_from_update(self.name, update, iid)
        if fill is not None:
            self.sync.stream_fill(fill)
        report = report_from_update(self.name, update, iid, self.ctx.clock.now_ns(), self.words)
        if report is not None:
            self.sync.stream_report(self.sync.before_fills(report))

    # --- helpers ------------------------------------------------------------------------------

    def _client(self) -> FirstockClient:
        if self.client is None:
            raise VenueError(self.name, "not connected")
        return self.client

    def _feed(self) -> FirstockFeed:
        if self.feed is None:
            self.feed = FirstockFeed(
                self.name, self.config.ws_url, bus=self.ctx.bus, clock=self.ctx.clock, auth=self._client().auth,
                on_order=self.on_order_update, on_opened=self.sync.stream_opened,
                stale_after_s=self.config.stale_after_s, reconnect_when_stale=True,
            )
        return self.feed

    def _inst(self, iid: str) -> Instrument:
        inst = self._instruments.get(iid)
        if inst is None:
            raise InvalidOrder(self.name, f"unknown instrument {iid}")
        return inst

    def _iid_of(self, exchange: str, trading_symbol: str) -> str:
        key = (exchange.upper(), trading_symbol.upper().removesuffix("-EQ"))
        return self._iids.get(key) or instrument_id(self.name, exchange, trading_symbol)

    def _product(self, order: Order, inst: Instrument) -> str:
        try:
            product = india.parse_product(order.options.get("product") or self.config.product)
        except ValueError as exc:
            raise InvalidOrder(self.name, str(exc)) from None
        if product is india.Product.CNC and india.parse_exchange(inst.exchange).segment is not india.Segment.CASH_EQUITY:
            product = india.Product.NRML  # delivery means nothing for a derivative: carry forward
        return product_code(product)

    def _pretrade(self, order: Order, inst: Instrument, product: str, *, entry: bool = True) -> None:
        """india's rules before anything is sent: lot, tick, market hours, the MIS square-off."""
        if not india.is_lot_multiple(order.qty, inst.lot_size):
            raise InvalidOrder(self.name, f"quantity {order.qty} is not a multiple of the lot size {inst.lot_size}")
        for what, price in (("price", order.price), ("trigger price", order.trigger_price)):
            if price is not None and not india.is_on_tick(price, inst.tick_size):
                raise InvalidOrder(self.name, f"{what} {price} is not on the tick {inst.tick_size}")
        now = self.ctx.clock.now_ns()
        if not self.calendar.is_open(inst.exchange, now):
            if not order.after_market:
                raise MarketClosed(self.name, f"{inst.exchange} is closed: only an after-market order is taken now")
            return
        square_off = self.calendar.square_off_ns(inst.exchange, now)
        if entry and product == "I" and square_off is not None and now >= square_off:
            raise InvalidOrder(self.name, "intraday (MIS) orders are not taken after the square-off time")

    async def _number_of(self, order: Order) -> str:
        """The order number of an order we never got an answer for (found by its remarks)."""
        report = await self.order_status(order)
        if report is None or report.venue_order_id is None:
            raise OrderNotFound(self.name, f"no order at Firstock has remarks {order.client_order_id}")
        return report.venue_order_id

    async def _load_instruments(self) -> None:
        client = self._client()
        cache = SecurityCache(Path(self.ctx.state_dir) / "firstock", india.ist_date(self.ctx.clock.now_ns()))
        for inst in await resolve(self.name, list(self.config.symbols), client.security_info, cache):
            self._instruments[inst.id] = inst
            self._iids[(inst.exchange, inst.base.upper())] = inst.id
        log.info("instruments loaded", venue=self.name, count=len(self._instruments))
