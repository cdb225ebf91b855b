"""The Samco venue: engine orders <-> Samco orders over the venue-sync core (engine/venue/sync.py).

Orders: L, MKT, SL and SL-M, `orderValidity` DAY or IOC from the engine's time in force (GTC, FOK
and post-only are refused), `productType` from `Order.options["product"]` or the config's
`product` (CNC on a derivatives exchange is sent as NRML), `afterMarketOrderFlag` YES for
`Order.after_market`; the codes and the status table are parsing.py's. The order manager splits
orders above the freeze quantity; this adapter never does.

Samco takes no client order id. When a placement's outcome is unknown (a 5xx or a broken
connection) `order_status` finds the order in the order book (`parsing.match_order`: same exchange
and symbol, side, quantity, limit and trigger prices, placed between `match_window_s` before the
order was created and now, not attributed to another engine order; the earliest). Reconciliation
after a restart uses the same rule for orders the journal has no venue id for. Which order number
is which client order id is kept and written down by attribution.py before the report that
carries it leaves the adapter, so the file is never behind the journal; after a restart the
numbers the journal owns are known here too, and matching cannot hand one of them to another order.
(The adapter cannot ask the manager which numbers it knows: the Order it is given is all it sees.)

Keeping in step goes through the venue-sync core: `look` answers its question from the order book
and the trade book (`OrderPoller`: the order book on a budget, the trade book when fills moved);
each poll is handed to `VenueSync.deliver`. The core holds the working set, the fill ids
delivered, the last state per order (status, filled quantity and whether a stop is still pending:
a triggered stop is reported), the rule for a status word the table does not know, and the last
look at close. A trade's size is `tradeQuantity`; rows without it carry `filledQuantity`, read as
cumulative when the rows of one order add up to more than the order book's filledQuantity. Either
way an order's fills never add up beyond the order book's filledQuantity: a fill past it waits for
a later poll (`held_fills`).

A cancel is answered at once, but the exchange may fill the order before it cancels it: after the
cancel call the adapter asks getOrderStatus and reports what it says when the order has finished,
else nothing (the order poller reports the end).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog

from adapters import india
from adapters.samco import schemas as w
from adapters.samco.attribution import Attributions
from adapters.samco.client import SamcoClient
from adapters.samco.config import SamcoConfig
from adapters.samco.feed import OrderChanges, OrderPoller, QuotePoller, SamcoFeed
from adapters.samco.parsing import (
    DAY_S,
    INTRADAY_MINUTES,
    OPEN_WORDS,
    StatusWords,
    bars_from_candles,
    build_request,
    fills_from_trades,
    instrument_id,
    match_order,
    modify_request,
    product_code,
    report_from_reply,
    report_from_row,
    within_book,
)
from adapters.samco.scrip import Scrip, ScripCache, instrument, load_scrips
from engine.errors import InvalidOrder, OrderNotFound, UserError, VenueError
from engine.events import ZERO, Balance, Bar, Fill, Instrument, Order, OrderReport, OrderStatus, Position
from engine.log import fingerprint
from engine.venue.contract import Channel, EmulatorInfo, Venue, VenueConfig, VenueContext
from engine.venue.sync import Look, VenueSync

if TYPE_CHECKING:
    from adapters.samco.emulator import SamcoEmulator

__all__ = ["SamcoConfig", "SamcoVenue"]

log = structlog.get_logger("tickbus.samco")
NS = 1_000_000_000
S = OrderStatus


def order_state(report: OrderReport) -> Hashable:
    """What must change for a listed order to be reported again: a triggered stop is news."""
    return report.status, report.filled_qty, report.stop_pending


class SamcoVenue(Venue[SamcoConfig]):
    Config = SamcoConfig

    def __init__(self, ctx: VenueContext, config: SamcoConfig) -> None:
        super().__init__(ctx, config)
        self.config: SamcoConfig = config
        self.client: SamcoClient | None = None
        self.feed: SamcoFeed | None = None
        self.quotes: QuotePoller | None = None
        self.orders: OrderPoller | None = None
        self.calendar = india.default_calendar()
        self._instruments: dict[str, Instrument] = {}  # by instrument id
        self._iids: dict[tuple[str, str], str] = {}  # (exchange, trading symbol) -> instrument id
        self.attributions = Attributions(self.name)  # order number -> client order id, persisted
        self.sync = VenueSync(self.name, ctx.sink, self, state_of=order_state)
        self.words = StatusWords(self.sync.unknown_status)
        self.held_fills = 0  # fills kept back because the order book did not show them yet
        self.bad_trade_rows = 0  # trade book rows with a size but no price or side: no fill, counted and logged once
        self._bad_rows: set[tuple[str, str, str]] = set()

    @property
    def unknown_statuses(self) -> dict[str, int]:
        """Status words the table does not know, by times seen (the core's count)."""
        return self.sync.stats.unknown_statuses

    # --- emulator -----------------------------------------------------------------------------

    @classmethod
    def make_emulator(cls, config: VenueConfig, seed: int) -> SamcoEmulator:
        """The Samco emulator; it logs every request when served on its own (`run.py emulate`)."""
        from adapters.samco.emulator import SamcoEmulator

        start = config.emulator_start if isinstance(config, SamcoConfig) else None
        return SamcoEmulator(seed=seed, start=start, log_requests=not config.emulator)

    @classmethod
    def with_emulator(cls, config: VenueConfig, info: EmulatorInfo) -> SamcoConfig:
        assert isinstance(config, SamcoConfig)
        creds = info.credentials
        return msgspec.structs.replace(
            config,
            url=info.url,
            ws_url=info.ws_url or config.ws_url,
            scrip_master_url=f"{info.url}/ScripMaster.csv",
            api_key=creds["api_key"],
            api_secret=creds["api_secret"],
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        cfg = self.config
        if not cfg.api_key or not cfg.api_secret:
            raise UserError(
                f"{self.name}: api_key and api_secret are needed: set SAMCO_API_KEY and SAMCO_API_SECRET "
                "(the config's ${SAMCO_API_KEY}/${SAMCO_API_SECRET}) to the key and secret of Samco's web dashboard"
            )
        self.client = SamcoClient(
            self.name, cfg.url, api_key=cfg.api_key, api_secret=cfg.api_secret, now_ns=self.ctx.clock.now_ns,
            timeout_s=cfg.timeout_s, renew_before_s=cfg.renew_before_s, session_check_s=cfg.session_check_s,
            requests_per_s=cfg.requests_per_s,
        )
        await self.client.start()
        await self.client.auth.start()
        await self._load_instruments()
        if self.ctx.mode == "live":
            path = Path(self.ctx.state_dir) / "samco" / f"orders-{fingerprint(cfg.api_key)}.txt"
            await self.attributions.load(path, india.ist_date(self.ctx.clock.now_ns()))
            self.orders = OrderPoller(
                f"{self.name}:orders", self.client, self.deliver, fast_s=cfg.poll_fast_s, slow_s=cfg.poll_slow_s,
                idle_s=cfg.poll_idle_s, fast_window_s=cfg.fast_window_s,
            )
            self.orders.start()

    def session_state(self) -> str | None:
        return None if self.client is None else str(self.client.auth.state)

    def session_expiries(self) -> int:
        return 0 if self.client is None else self.client.auth.expiries

    async def close(self) -> None:
        polling = self.orders is not None and self.orders.poller.running
        for part in (self.orders, self.quotes, self.feed):
            if part is not None:
                await part.stop()
        if polling:  # a last look, so fills made just before the stop are not left for the next run
            await self.sync.last_look(timeout_s=self.config.timeout_s)
        await self.sync.close()
        if self.client is not None:
            await self.client.auth.stop()
            await self.client.close()

    async def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments.values())

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        insts = [self._inst(iid) for iid in instruments]
        if not self.config.stream:
            if self.quotes is None:
                self.quotes = QuotePoller(
                    self.name, self._client(), bus=self.ctx.bus, clock=self.ctx.clock, interval_s=self.config.quote_poll_s
                )
            for inst in insts:
                self.quotes.watch(inst.id, inst.base, inst.exchange)
            return
        if self.feed is None:
            self.feed = SamcoFeed(
                self.name, self.config.ws_url, bus=self.ctx.bus, clock=self.ctx.clock, auth=self._client().auth,
                stale_after_s=self.config.stale_after_s, reconnect_when_stale=True,
            )
            self.feed.start()
        tokens = {inst.token or "": inst.id for inst in insts}
        await self.feed.watch(tokens, depth=Channel.BOOK in channels)

    async def candles(self, symbol: str, interval_s: int, start_ns: int, end_ns: int) -> Sequence[Bar]:
        """Intraday candles (/intraday/candleData) of 1 to 60 minutes, daily ones (/history/candleData)
        for a day, in one request each."""
        inst = self._inst(f"{self.name}:{symbol}")
        client = self._client()
        if interval_s == DAY_S:
            rows: Sequence[w.IntradayCandle | w.HistoricalCandle] = await client.historical_candles(
                inst.base, inst.exchange, from_date=w.ist_text(start_ns, "%Y-%m-%d"), to_date=w.ist_text(end_ns, "%Y-%m-%d"))
        elif interval_s % 60 == 0 and interval_s // 60 in INTRADAY_MINUTES:
            rows = await client.intraday_candles(
                inst.base, inst.exchange, from_time=w.ist_text(start_ns, "%Y-%m-%d %H:%M:%S"),
                to_time=w.ist_text(end_ns, "%Y-%m-%d %H:%M:%S"), interval_min=interval_s // 60)
        else:
            raise UserError(f"--interval: Samco candles come in {', '.join(map(str, INTRADAY_MINUTES))} minutes or 1 day, "
                            f"not {interval_s} s")
        return bars_from_candles(inst.id, interval_s, rows)

    def market_is_open(self, instrument: Instrument, ts_ns: int) -> bool | None:
        if instrument.exchange not in india.Exchange.__members__:
            return None
        return self.calendar.is_open(instrument.exchange, ts_ns)

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        inst = self._inst(order.instrument)
        request = build_request(order, inst, self._product(order, inst))
        try:
            reply = await self._client().place(request)
        finally:
            self._kick()  # whatever happened, the book will tell soon
        await self._attribute(reply.orderNumber, order.client_order_id)
        word = reply.orderStatus or reply.exchangeOrderStatus
        report = report_from_reply(self.name, word, reply.orderNumber, reply.orderDetails, order, self.ctx.clock.now_ns(), self.words)
        if report.status is S.REJECTED:
            report = msgspec.structs.replace(report, reason=await self._rejection(reply.orderNumber, reply.statusMessage))
        return self.sync.track(self.sync.before_fills(report))  # its fills complete it

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
        finally:
            self._kick()
        # accepted is not done: the exchange may fill it first. What the venue says now, if it has
        # finished; else the order poller reports the end
        try:
            report = await self.order_status(known)
        except VenueError as exc:
            log.warning("order status after a cancel unavailable", venue=self.name, order_number=number, error=str(exc))
            return None
        return report if report is not None and not report.status.is_open else None

    async def modify(
        self,
        order: Order,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderReport | None:
        number = order.venue_order_id or await self._number_of(order)
        request = modify_request(order, qty, price, trigger_price)
        try:
            reply = await self._client().modify(number, request)
        finally:
            self._kick()
        word = reply.orderStatus or reply.exchangeOrderStatus
        report = report_from_reply(self.name, word, number, reply.orderDetails, order, self.ctx.clock.now_ns(), self.words)
        if report.status is S.SUBMITTED:
            return None  # a word the table does not know: the order poller brings what it is
        return self.sync.track(msgspec.structs.replace(report, qty=qty, price=price, trigger_price=trigger_price))

    async def order_status(self, order: Order) -> OrderReport | None:
        client = self._client()
        now = self.ctx.clock.now_ns()
        if order.venue_order_id:
            try:
                reply = await client.order_status(order.venue_order_id)
            except OrderNotFound:
                return None
            await self._attribute(order.venue_order_id, order.client_order_id)
            report = report_from_reply(self.name, reply.orderStatus, order.venue_order_id, reply.orderDetails, order, now, self.words)
            if report.status is S.REJECTED:
                report = msgspec.structs.replace(report, reason=await self._rejection(order.venue_order_id, ""))
            return self.sync.track(report)
        inst = self._inst(order.instrument)
        row = match_order(await client.order_book(), order, inst, self.attributions.coids, self._earliest(order))
        if row is None:
            return None
        await self._attribute(row.orderNumber, order.client_order_id)
        log.info("order found by matching", venue=self.name, client_order_id=order.client_order_id, order_number=row.orderNumber)
        found = report_from_row(self.name, row, order.instrument, order.client_order_id, now, self.words)
        return self.sync.track(found) if found is not None else self._submitted(order, row.orderNumber, now)

    async def open_orders(self) -> Sequence[OrderReport]:
        now = self.ctx.clock.now_ns()
        reports = []
        for row in await self._client().order_book():
            if row.word.strip().lower() in OPEN_WORDS:
                iid = self._iid_of(row.exchange, row.tradingSymbol)
                report = report_from_row(self.name, row, iid, self.attributions.get(row.orderNumber), now, self.words)
                if report is not None:
                    reports.append(self.sync.track(report))
        return reports

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        client = self._client()
        book = {row.orderNumber: w.dec(row.filledQuantity) or ZERO for row in await client.order_book()}
        fills, _ = within_book(fills_from_trades(self.name, await client.trade_book(), self._iids, book, self._bad_trade), book)
        return [self._with_coid(f) for f in fills if not f.ts_event or f.ts_event >= since_ns]

    async def balances(self) -> Sequence[Balance]:
        limits = await self._client().limits()
        equity = limits.equityLimit or w.Limit()
        return [
            Balance(
                venue=self.name, asset="INR", free=w.dec(equity.netAvailableMargin) or ZERO,
                locked=w.dec(equity.marginUsed) or ZERO, ts=self.ctx.clock.now_ns(),
            )
        ]

    async def positions(self) -> Sequence[Position]:
        out = []
        for row in await self._client().positions("NET"):
            qty = w.dec(row.netQuantity) or ZERO
            if qty:
                avg = w.dec(row.averageBuyPrice if qty > 0 else row.averageSellPrice) or w.dec(row.averagePrice) or ZERO
                out.append(
                    Position(
                        instrument=self._iid_of(row.exchange, row.tradingSymbol), qty=qty, avg_price=avg,
                        realized_pnl=w.dec(row.realizedGainAndLoss) or ZERO,
                    )
                )
        return out

    # --- the sync core's question -------------------------------------------------------------

    async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
        """The order book and the trade book read now (Samco has no fill cursor: the trade book
        lists the day's trades, `since` is always 0)."""
        return self._look(await self._poller().poll_now(), fills=fills)

    def deliver(self, changes: OrderChanges) -> None:
        """A poll of the books, handed to the core: new fills first, then orders that moved."""
        self.sync.deliver(self._look(changes))

    def _look(self, changes: OrderChanges, *, fills: bool = True) -> Look:
        rows, trades = changes
        now = self.ctx.clock.now_ns()
        reports = []
        for row in rows:
            iid = self._iid_of(row.exchange, row.tradingSymbol)
            report = report_from_row(self.name, row, iid, self.attributions.get(row.orderNumber), now, self.words)
            if report is not None:
                reports.append(report)
        if not fills:
            return Look(reports=reports, fills_read=False)
        book = {row.orderNumber: w.dec(row.filledQuantity) or ZERO for row in rows}
        shown, held = within_book(fills_from_trades(self.name, trades, self._iids, book, self._bad_trade), book)
        self.held_fills += held
        return Look(fills=[self._with_coid(f) for f in shown], reports=reports)

    # --- helpers ------------------------------------------------------------------------------

    def _client(self) -> SamcoClient:
        if self.client is None:
            raise VenueError(self.name, "not connected")
        return self.client

    def _poller(self) -> OrderPoller:
        if self.orders is None:
            raise VenueError(self.name, "not connected")
        return self.orders

    def _submitted(self, order: Order, number: str, now: int) -> OrderReport:
        """What a row whose status word the table does not know tells: the order exists."""
        return self.sync.track(OrderReport(
            venue=self.name, status=S.SUBMITTED, client_order_id=order.client_order_id, venue_order_id=number,
            instrument=order.instrument, side=order.side, ts_event=now,
        ))

    def _kick(self) -> None:
        if self.orders is not None:
            self.orders.kick()

    def _inst(self, iid: str) -> Instrument:
        inst = self._instruments.get(iid)
        if inst is None:
            raise InvalidOrder(self.name, f"unknown instrument {iid}")
        return inst

    def _iid_of(self, exchange: str, trading_symbol: str) -> str:
        return self._iids.get((exchange.upper(), trading_symbol.upper())) or instrument_id(self.name, exchange, trading_symbol)

    def _product(self, order: Order, inst: Instrument) -> str:
        name = order.options.get("product") or self.config.product
        try:
            product = india.parse_product(name)
        except ValueError as exc:
            raise InvalidOrder(self.name, str(exc)) from None
        if product is india.Product.CNC and india.parse_exchange(inst.exchange).segment is not india.Segment.CASH_EQUITY:
            product = india.Product.NRML  # delivery means nothing for a derivative: carry forward
        return product_code(product)

    def _earliest(self, order: Order) -> int:
        return (order.created_ns or self.ctx.clock.now_ns()) - int(self.config.match_window_s * NS)

    async def _number_of(self, order: Order) -> str:
        """The order number of an order we never got an answer for (matching the book)."""
        report = await self.order_status(order)
        if report is None or report.venue_order_id is None:
            raise OrderNotFound(self.name, f"no order at Samco matches {order.client_order_id}")
        return report.venue_order_id

    async def _rejection(self, number: str, fallback: str) -> str:
        """Why an order was rejected: the order book's rejectionReason."""
        try:
            for row in await self._client().order_book():
                if row.orderNumber == number and row.rejectionReason:
                    return row.rejectionReason
        except VenueError as exc:
            log.warning("rejection reason unavailable", venue=self.name, order_number=number, error=str(exc))
        return fallback or "rejected by Samco"

    def _bad_trade(self, row: w.TradeRow, why: str) -> None:
        """A trade book row that is no fill: counted and logged the first time it is seen (the
        trade book is read again on every poll)."""
        key = (row.orderNumber, row.tradeNumber, row.tradeTime)
        if key in self._bad_rows:
            return
        if len(self._bad_rows) >= 10_000:  # bounded: a day's bad rows, at most
            self._bad_rows.clear()
        self._bad_rows.add(key)
        self.bad_trade_rows += 1
        log.warning("trade book row dropped", venue=self.name, why=why, order_number=row.orderNumber,
                    trade_number=row.tradeNumber, side=row.transactionType[:20], price=row.tradePrice[:20])

    def _with_coid(self, fill: Fill) -> Fill:
        coid = self.attributions.get(fill.venue_order_id or "")
        return fill if coid is None else msgspec.structs.replace(fill, client_order_id=coid)

    async def _attribute(self, number: str, coid: str) -> None:
        """Order `number` is `coid`'s: remembered, and written down before anyone is told."""
        await self.attributions.attribute(number, coid, india.ist_date(self.ctx.clock.now_ns()))

    async def _load_instruments(self) -> None:
        client = self._client()
        url = self.config.scrip_master_url
        cache = ScripCache(Path(self.ctx.state_dir) / "samco", url)
        day = india.ist_date(self.ctx.clock.now_ns())
        scrips = await load_scrips(lambda: client.scrip_master(url), cache, day)
        wanted = set(self.config.symbols)
        # thousands of rows: built off the event loop (feeds of other venues may be running)
        picked = await asyncio.to_thread(_instruments_of, self.name, scrips, wanted)
        for scrip, inst in picked:
            self._instruments[inst.id] = inst
            self._iids[(scrip.exchange, scrip.trading_symbol.upper())] = inst.id
            self._iids[(scrip.exchange, inst.base.upper())] = inst.id
        missing = wanted - {i.symbol for i in self._instruments.values()}
        if missing:
            raise UserError(f"{self.name}: not in Samco's scrip master: {', '.join(sorted(missing))}")
        log.info("instruments loaded", venue=self.name, count=len(self._instruments))



def _instruments_of(venue: str, scrips: list[Scrip], wanted: set[str]) -> list[tuple[Scrip, Instrument]]:
    picked = []
    for scrip in scrips:
        inst = instrument(venue, scrip)
        if inst is not None and (not wanted or inst.symbol in wanted):
            picked.append((scrip, inst))
    return picked


