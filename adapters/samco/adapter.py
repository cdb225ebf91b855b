"""The Samco venue: engine orders <-> Samco orders, the status table, fills, reconciliation.

Orders: L, MKT, SL and SL-M (india's order-type codes), `orderValidity` DAY or IOC from the
engine's time in force (GTC, FOK and post-only are refused), `productType` from
`Order.options["product"]` or the config's `product` (CNC on a derivatives exchange is sent as
NRML), `afterMarketOrderFlag` YES for `Order.after_market`. Every value goes out as a string.
The order manager splits orders above the freeze quantity; this adapter never does.

Status table (case-insensitive): PENDING / Open -> placed (updated once filledQuantity > 0),
Trigger Pending -> placed with its stop pending, Complete / Executed -> completed, Cancelled ->
cancelled, Rejected -> rejected (rejectionReason kept), "After market order req received" -> placed
as an after-market order.

Samco takes no client order id. When a placement's outcome is unknown (a 5xx or a broken
connection) `order_status` finds the order in the order book: same exchange and symbol, side,
quantity, limit and trigger prices, placed between `match_window_s` before the order was created
and now, and not already attributed to another engine order; of those, the earliest.
Reconciliation after a restart uses the same rule for orders the journal has no venue id for.

Which order number belongs to which client order id is kept in `_coids` and written to
`<state_dir>/samco/orders-<key fingerprint>.txt` (one line per attribution, the last three IST days
kept) before the report that carries it leaves the adapter: the order manager journals what the
adapter tells it, so the file is never behind the journal. After a restart the numbers the journal
already owns are therefore known here too, and matching cannot hand one of them to another order;
open_orders() names them by client id. (The adapter cannot ask the manager which numbers it knows:
the Order it is given is all it sees.)

Order updates come from `OrderPoller` (the order book on a budget, the trade book when fills moved);
a trade's fill id is its tradeNumber, or "<orderNumber>:<cumulative filled qty>" without one. A
trade's size is `tradeQuantity`; rows without it carry `filledQuantity`, which may be the trade's
size or the order's cumulative fill: when the rows of one order add up to more than the order
book's filledQuantity they are read as cumulative. Either way an order's fills never add up beyond
the order book's filledQuantity: a fill past it waits for a later poll. Each mark (fill ids
delivered, statuses reported) moves only once the order manager has taken the event.

A cancel is answered at once, but the exchange may fill the order before it cancels it: after the
cancel call the adapter asks getOrderStatus and reports what it says when the order has finished,
else nothing (the order poller reports the end). `close()` takes a last look at the books.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import msgspec
import structlog

from adapters import india
from adapters.samco import schemas as w
from adapters.samco.client import SamcoClient
from adapters.samco.feed import (
    OPEN_WORDS,
    OrderChanges,
    OrderPoller,
    QuotePoller,
    SamcoFeed,
)
from adapters.samco.scrip import (
    SCRIP_MASTER_URL,
    Scrip,
    ScripCache,
    instrument,
    load_scrips,
)
from engine.errors import InvalidOrder, OrderNotFound, UserError, VenueError
from engine.events import (
    ZERO,
    Balance,
    Fill,
    Instrument,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from engine.log import fingerprint
from engine.venue.contract import Channel, EmulatorInfo, Venue, VenueConfig, VenueContext

if TYPE_CHECKING:
    from adapters.samco.emulator import SamcoEmulator

log = structlog.get_logger("tickbus.samco")
NS = 1_000_000_000
S = OrderStatus
VENUE = "samco"  # the key of india's wire-code tables


class SamcoConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A Samco venue block; `api_key` and `api_secret` belong in ${VAR}s."""

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key", "api_secret")

    api_key: str = ""
    api_secret: str = ""
    url: str = "https://tradeapi.samco.in"
    ws_url: str = "wss://stream.samco.in"
    scrip_master_url: str = SCRIP_MASTER_URL
    symbols: list[str] = []  # e.g. ["NSE:RELIANCE"]; empty loads the whole scrip master
    product: Literal["CNC", "MIS", "NRML"] = "CNC"
    stream: bool = True
    poll_fast_s: float = 0.5
    poll_slow_s: float = 2.0
    poll_idle_s: float = 15.0
    fast_window_s: float = 5.0
    quote_poll_s: float = 1.0
    stale_after_s: float = 30.0
    renew_before_s: float = 600.0
    session_check_s: float = 30.0
    match_window_s: float = 300.0
    timeout_s: float = 10.0
    requests_per_s: int = 10  # our own budget: Samco publishes no rate limits


# --- the mapping tables ------------------------------------------------------------------------

STOP, AMO = "stop", "amo"
STATUS: dict[str, tuple[OrderStatus, str | None]] = {
    "pending": (S.PLACED, None),
    "open": (S.PLACED, None),
    "trigger pending": (S.PLACED, STOP),
    "complete": (S.COMPLETED, None),
    "executed": (S.COMPLETED, None),
    "cancelled": (S.CANCELLED, None),
    "canceled": (S.CANCELLED, None),
    "rejected": (S.REJECTED, None),
    "after market order req received": (S.PLACED, AMO),
}
STOP_TYPES = frozenset({OrderType.STOP_LIMIT, OrderType.STOP_MARKET})
PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})


def map_status(word: str, filled: Decimal | None) -> tuple[OrderStatus, str | None] | None:
    """The engine status (and "stop"/"amo") of Samco's word, or None for a word not in the table."""
    found = STATUS.get(word.strip().lower())
    if found is None:
        return None
    status, flag = found
    if status is S.PLACED and filled and flag is None:
        return S.UPDATED, None
    return status, flag


def build_request(order: Order, inst: Instrument, product: str) -> w.OrderRequest:
    """The placeOrder body for `order` (every value a string)."""
    try:
        validity = india.validity_for(order.tif)
    except ValueError as exc:
        raise InvalidOrder(order.venue, str(exc)) from None
    if order.qty != order.qty.to_integral_value():
        raise InvalidOrder(order.venue, f"quantity must be a whole number, got {order.qty}")
    priced = order.type in PRICED_TYPES
    if priced and order.price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a price")
    if order.type in STOP_TYPES and order.trigger_price is None:
        raise InvalidOrder(order.venue, f"a {order.type.value} order needs a trigger price")
    return w.OrderRequest(
        symbolName=inst.base,
        exchange=inst.exchange,
        transactionType=india.side_code(VENUE, order.side),
        orderType=india.order_type_code(VENUE, order.type),
        quantity=w.text(order.qty),
        price=w.text(order.price) if priced else "0",
        triggerPrice=w.text(order.trigger_price) if order.type in STOP_TYPES else "",
        disclosedQuantity=order.options.get("disclosed_qty", "0"),
        orderValidity=validity.value,
        productType=product,
        afterMarketOrderFlag="YES" if order.after_market else "NO",
        marketProtection=order.options.get("market_protection", ""),
    )


def report_from_row(venue: str, row: w.OrderRow, iid: str, coid: str | None, ts: int) -> OrderReport | None:
    """The engine's view of one order book row (None for a status word not in the table)."""
    filled = w.dec(row.filledQuantity)
    mapped = map_status(row.word, filled)
    if mapped is None:
        return None
    status, flag = mapped
    kind = _order_type(row.orderType)
    avg = (w.dec(row.averagePrice) or w.dec(row.fillPrice)) if filled else None
    return OrderReport(
        venue=venue,
        status=status,
        client_order_id=coid,
        venue_order_id=row.orderNumber,
        filled_qty=filled,
        avg_price=avg,
        qty=row.total,
        price=w.dec(row.orderPrice) if kind in PRICED_TYPES else None,
        trigger_price=w.dec(row.triggerPrice) if kind in STOP_TYPES else None,
        reason=(row.rejectionReason or None) if status in (S.REJECTED, S.CANCELLED) else None,
        stop_pending=(flag == STOP) if kind in STOP_TYPES else None,
        after_market=True if flag == AMO else None,
        instrument=iid,
        side=_side(row.transactionType),
        ts_event=ts,
    )


def report_from_reply(venue: str, word: str, number: str, details: w.OrderDetails | None, order: Order, ts: int) -> OrderReport:
    """The engine's view of a placeOrder/modifyOrder/getOrderStatus answer."""
    filled = w.dec(details.filledQuantity) if details is not None else None
    mapped = map_status(word, filled)
    if mapped is None:
        log.warning("unknown order status in a reply, taken as placed", venue=venue, status=word, order_number=number)
        mapped = (S.PLACED, None)
    status, flag = mapped
    avg = w.dec(details.avgExecutionPrice) if details is not None and filled else None
    return OrderReport(
        venue=venue,
        status=status,
        client_order_id=order.client_order_id,
        venue_order_id=number,
        filled_qty=filled,
        avg_price=avg,
        stop_pending=(flag == STOP) if order.type in STOP_TYPES else None,
        after_market=True if flag == AMO else None,
        instrument=order.instrument,
        side=order.side,
        ts_event=ts,
    )


def fills_from_trades(
    venue: str,
    rows: Iterable[w.TradeRow],
    iid_of: dict[tuple[str, str], str],
    fallback: str,
    book_filled: Mapping[str, Decimal] | None = None,
) -> list[Fill]:
    """Fills from trade book rows, oldest first; ids are tradeNumbers or "<order>:<cumulative>".

    `book_filled` (order number -> the order book's filledQuantity) tells how to read rows without
    `tradeQuantity`: if an order's rows add up to more than it, their filledQuantity is cumulative.
    """
    by_order: dict[str, list[tuple[int, w.TradeRow]]] = {}
    for r in rows:
        by_order.setdefault(r.orderNumber, []).append((r.ts_ns or 0, r))
    fills = []
    for number, group in by_order.items():
        sizes = _trade_sizes(group, (book_filled or {}).get(number))
        total = ZERO
        for (ts, r), size in zip(group, sizes, strict=False):
            price, side = w.dec(r.tradePrice), _side(r.transactionType)
            if not size or price is None or side is None:
                continue
            total += size
            fills.append(
                Fill(
                    venue=venue,
                    instrument=iid_of.get((r.exchange.upper(), r.tradingSymbol.upper())) or _iid(fallback, r.exchange, r.tradingSymbol),
                    side=side,
                    qty=size,
                    price=price,
                    fill_id=r.tradeNumber or f"{number}:{w.text(total)}",
                    fee_asset="INR",
                    venue_order_id=number,
                    ts_event=ts,
                )
            )
    fills.sort(key=lambda f: f.ts_event)
    return fills


def _trade_sizes(group: list[tuple[int, w.TradeRow]], book_filled: Decimal | None) -> list[Decimal | None]:
    """The size of each of one order's trades; sorts `group` oldest first (in place)."""
    if all(r.tradeQuantity for _, r in group):
        group.sort(key=lambda pair: (pair[0], pair[1].tradeNumber))
        return [w.dec(r.tradeQuantity) for _, r in group]
    group.sort(key=lambda pair: (pair[0], w.dec(pair[1].filledQuantity) or ZERO, pair[1].tradeNumber))
    values = [r.size for _, r in group]
    if book_filled is None or sum((v or ZERO for v in values), ZERO) <= book_filled:
        return values  # each row is one trade
    sizes: list[Decimal | None] = []
    before = ZERO
    for value in values:  # cumulative: each row's size is what it adds
        if value is None or value <= before:
            sizes.append(None)
            continue
        sizes.append(value - before)
        before = value
    return sizes


def match_order(
    rows: Iterable[w.OrderRow], order: Order, inst: Instrument, claimed: Mapping[str, str], earliest_ns: int
) -> w.OrderRow | None:
    """The order book row that is `order` (see the module docstring), or None; `claimed` maps
    order numbers to the client order ids they belong to."""
    rows = list(rows)
    for row in rows:
        if claimed.get(row.orderNumber) == order.client_order_id:
            return row  # attributed to this very order already
    side = india.side_code(VENUE, order.side)
    names = {inst.base.upper(), f"{inst.base}-EQ".upper()}
    found: list[tuple[int, w.OrderRow]] = []
    for row in rows:
        if row.orderNumber in claimed or row.exchange.upper() != inst.exchange or row.tradingSymbol.upper() not in names:
            continue
        if row.transactionType.upper() != side or row.total != order.qty:
            continue
        if order.type in PRICED_TYPES and w.dec(row.orderPrice) != order.price:
            continue
        if order.type in STOP_TYPES and w.dec(row.triggerPrice) != order.trigger_price:
            continue
        placed = w.ist_ns(row.orderTime)
        if placed is not None and placed < earliest_ns:
            continue
        found.append((placed or 0, row))
    return min(found, key=lambda pair: pair[0])[1] if found else None


def _order_type(code: str) -> OrderType | None:
    """The engine order type of Samco's code; None for one outside L/MKT/SL/SL-M (a CO or BO leg)."""
    try:
        return india.order_type_from_code(VENUE, code).engine if code else None
    except ValueError:
        return None


def _side(code: str) -> Side | None:
    try:
        return india.side_from_code(VENUE, code) if code else None
    except ValueError:
        return None


def _iid(venue: str, exchange: str, trading_symbol: str) -> str:
    symbol = trading_symbol[:-3] if trading_symbol.upper().endswith("-EQ") else trading_symbol
    return f"{venue}:{exchange.upper()}:{symbol}"


# --- the venue ---------------------------------------------------------------------------------


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
        self._coids: dict[str, str] = {}  # order number -> client order id (persisted: `_attribute`)
        self._seen: dict[str, tuple[str, str]] = {}  # order number -> (status, filled) last reported
        self._fill_ids: set[str] = set()
        self._delivered: dict[str, Decimal] = {}  # order number -> quantity of its fills delivered
        self._attributions: Path | None = None
        self.unknown_statuses: dict[str, int] = {}
        self.held_fills = 0  # fills kept back because the order book did not show them yet

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
            self._attributions = Path(self.ctx.state_dir) / "samco" / f"orders-{fingerprint(cfg.api_key)}.txt"
            today = india.ist_date(self.ctx.clock.now_ns())
            self._coids.update(await asyncio.to_thread(_load_attributions, self._attributions, today))
            self.orders = OrderPoller(
                f"{self.name}:orders", self.client, self.deliver, fast_s=cfg.poll_fast_s, slow_s=cfg.poll_slow_s,
                idle_s=cfg.poll_idle_s, fast_window_s=cfg.fast_window_s,
            )
            self.orders.start()

    async def close(self) -> None:
        if self.orders is not None and self.orders.poller.running:
            try:  # a last look, so fills made just before the stop are not left for the next run
                self.deliver(await asyncio.wait_for(self.orders.poll_now(), self.config.timeout_s))
            except Exception as exc:  # noqa: BLE001 - a venue error, a broken connection, the timeout: logged, not raised
                log.warning("last order poll failed", venue=self.name, error=str(exc) or repr(exc))
        for part in (self.orders, self.quotes, self.feed):
            if part is not None:
                await part.stop()
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
        report = report_from_reply(self.name, word, reply.orderNumber, reply.orderDetails, order, self.ctx.clock.now_ns())
        if report.status is S.REJECTED:
            report = msgspec.structs.replace(report, reason=await self._rejection(reply.orderNumber, reply.statusMessage))
        return report

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
        request = w.ModifyRequest(
            orderType=india.order_type_code(VENUE, order.type),
            quantity=w.text(qty),
            price=w.text(price) if order.type in PRICED_TYPES else "",
            triggerPrice=w.text(trigger_price) if order.type in STOP_TYPES else "",
            orderValidity=india.validity_for(order.tif).value,
        )
        try:
            reply = await self._client().modify(number, request)
        finally:
            self._kick()
        word = reply.orderStatus or reply.exchangeOrderStatus
        report = report_from_reply(self.name, word, number, reply.orderDetails, order, self.ctx.clock.now_ns())
        return msgspec.structs.replace(report, qty=qty, price=price, trigger_price=trigger_price)

    async def order_status(self, order: Order) -> OrderReport | None:
        client = self._client()
        now = self.ctx.clock.now_ns()
        if order.venue_order_id:
            try:
                reply = await client.order_status(order.venue_order_id)
            except OrderNotFound:
                return None
            await self._attribute(order.venue_order_id, order.client_order_id)
            report = report_from_reply(self.name, reply.orderStatus, order.venue_order_id, reply.orderDetails, order, now)
            if report.status is S.REJECTED:
                report = msgspec.structs.replace(report, reason=await self._rejection(order.venue_order_id, ""))
            return report
        row = match_order(await client.order_book(), order, self._inst(order.instrument), self._coids, self._earliest(order))
        if row is None:
            return None
        await self._attribute(row.orderNumber, order.client_order_id)
        log.info("order found by matching", venue=self.name, client_order_id=order.client_order_id, order_number=row.orderNumber)
        return report_from_row(self.name, row, order.instrument, order.client_order_id, now)

    async def open_orders(self) -> Sequence[OrderReport]:
        now = self.ctx.clock.now_ns()
        reports = []
        for row in await self._client().order_book():
            if row.word.lower() in OPEN_WORDS:
                report = report_from_row(self.name, row, self._iid_of(row.exchange, row.tradingSymbol), self._coids.get(row.orderNumber), now)
                if report is not None:
                    reports.append(report)
        return reports

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        client = self._client()
        book = {row.orderNumber: w.dec(row.filledQuantity) or ZERO for row in await client.order_book()}
        fills = fills_from_trades(self.name, await client.trade_book(), self._iids, self.name, book)
        kept: list[Fill] = []
        totals: dict[str, Decimal] = {}
        for fill in fills:  # never beyond what the order book shows filled
            number = fill.venue_order_id or ""
            total = totals.get(number, ZERO) + fill.qty
            if number in book and total > book[number]:
                continue
            totals[number] = total
            if not fill.ts_event or fill.ts_event >= since_ns:
                kept.append(self._with_coid(fill))
        return kept

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

    # --- the order poller delivers here -------------------------------------------------------

    def deliver(self, changes: OrderChanges) -> None:
        """New fills first (they are facts), then orders whose status or filled quantity moved."""
        rows, trades = changes
        sink = self.ctx.sink
        book = {row.orderNumber: w.dec(row.filledQuantity) or ZERO for row in rows}
        for fill in fills_from_trades(self.name, trades, self._iids, self.name, book):
            if fill.fill_id in self._fill_ids:
                continue
            number = fill.venue_order_id or ""
            delivered = self._delivered.get(number, ZERO) + fill.qty
            if number in book and delivered > book[number]:
                self.held_fills += 1  # the order book does not show it yet (or the rows overcount)
                continue
            sink.on_fill(self._with_coid(fill))
            self._fill_ids.add(fill.fill_id)  # marked once the manager has it
            self._delivered[number] = delivered
        now = self.ctx.clock.now_ns()
        for row in rows:
            state = (row.word, row.filledQuantity)
            if self._seen.get(row.orderNumber) == state:
                continue
            iid = self._iid_of(row.exchange, row.tradingSymbol)
            report = report_from_row(self.name, row, iid, self._coids.get(row.orderNumber), now)
            if report is None:
                self._seen[row.orderNumber] = state
                self.unknown_statuses[row.word] = self.unknown_statuses.get(row.word, 0) + 1
                log.warning("unknown order status skipped", venue=self.name, status=row.word, order_number=row.orderNumber)
                continue
            sink.on_order_report(report)
            self._seen[row.orderNumber] = state

    # --- helpers ------------------------------------------------------------------------------

    def _client(self) -> SamcoClient:
        if self.client is None:
            raise VenueError(self.name, "not connected")
        return self.client

    def _kick(self) -> None:
        if self.orders is not None:
            self.orders.kick()

    def _inst(self, iid: str) -> Instrument:
        inst = self._instruments.get(iid)
        if inst is None:
            raise InvalidOrder(self.name, f"unknown instrument {iid}")
        return inst

    def _iid_of(self, exchange: str, trading_symbol: str) -> str:
        return self._iids.get((exchange.upper(), trading_symbol.upper())) or _iid(self.name, exchange, trading_symbol)

    def _product(self, order: Order, inst: Instrument) -> str:
        name = order.options.get("product") or self.config.product
        try:
            product = india.parse_product(name)
        except ValueError as exc:
            raise InvalidOrder(self.name, str(exc)) from None
        if product is india.Product.CNC and india.parse_exchange(inst.exchange).segment is not india.Segment.CASH_EQUITY:
            product = india.Product.NRML  # delivery means nothing for a derivative: carry forward
        return india.product_code(VENUE, product)

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

    def _with_coid(self, fill: Fill) -> Fill:
        coid = self._coids.get(fill.venue_order_id or "")
        return fill if coid is None else msgspec.structs.replace(fill, client_order_id=coid)

    async def _attribute(self, number: str, coid: str) -> None:
        """Order `number` is `coid`'s: remembered, and written down before anyone is told."""
        if not number or self._coids.get(number) == coid:
            return
        self._coids[number] = coid
        if self._attributions is not None:
            day = india.ist_date(self.ctx.clock.now_ns())
            try:
                await asyncio.to_thread(_append_attribution, self._attributions, day, number, coid)
            except OSError as exc:  # a safety net for restarts: never a reason to fail the order
                log.error("order attribution not written", venue=self.name, order_number=number, error=str(exc))

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


ATTRIBUTION_DAYS = 3  # order numbers are per day; a few days cover after-market orders and restarts


def _load_attributions(path: Path, today: date) -> dict[str, str]:
    """The order number -> client order id lines of the last few IST days (older ones dropped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    kept: list[str] = []
    found: dict[str, str] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            continue
        if (today - day).days < ATTRIBUTION_DAYS:
            kept.append(line)
            found[parts[1]] = parts[2]
    if len(kept) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)
    return found


def _append_attribution(path: Path, day: date, number: str, coid: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{day.isoformat()} {number} {coid}\n")
