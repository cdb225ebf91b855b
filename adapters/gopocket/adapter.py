"""The GoPocket venue: engine orders <-> GoPocket orders over the venue-sync core (engine/venue/sync.py).

Orders: LIMIT, MARKET, SL and SLM; validity DAY or IOC from the engine's time in force (GTC, FOK and
post-only refused); `product` from `Order.options["product"]` or the config's (CNC on a derivatives
exchange is sent as NORMAL, the SDK's carry-forward word); order complexity REGULAR, AMO for
`Order.after_market`, or `options["complexity"]` CO / BO (BO needs `target` and `stop_loss`, CO a
`stop_loss` or trigger). The Indian pre-trade rules (tick, lot, market hours) are adapters/india's.
The client order id goes out as `orderTag`; the order book echoes it, which is how a placement whose
answer was lost is found (`order_status`) and how reconciliation after a restart knows our orders.

Keeping in step: `look` reads the order book and, when fills moved, the trade book (`OrderPoller`,
always on, on a budget). Pushes speed it up: a webhook delivery (`webhook.enabled`) or a socket `om`
(`ws_url` set) is applied at once through the core's stream paths - its fill (flid/flqty/flprc) and
its report - and kicks the poller; the core drops what it already has. A refused session is renewed
from `auth_code` when one is configured, else the run ends with one line saying how to log in.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog

from adapters import india
from adapters.gopocket import schemas as w
from adapters.gopocket.auth import GopocketSession, SessionStore
from adapters.gopocket.client import GopocketClient
from adapters.gopocket.config import GopocketConfig
from adapters.gopocket.contracts import Contract, ContractCache, instrument, load_contracts
from adapters.gopocket.feed import NorenFeed, OrderChanges, OrderPoller, WebhookReceiver
from adapters.gopocket.parsing import (
    PRODUCT_CODES,
    StatusWords,
    build_request,
    fill_from_noren,
    fills_from_trades,
    instrument_id,
    modify_request,
    report_from_noren,
    report_from_row,
)
from engine.errors import InvalidOrder, MarketClosed, OrderNotFound, UserError, VenueError
from engine.events import ZERO, Balance, Fill, Instrument, Order, OrderReport, OrderStatus, Position
from engine.log import register_secret
from engine.venue.contract import Channel, EmulatorInfo, Venue, VenueConfig, VenueContext
from engine.venue.sync import Look, VenueSync

if TYPE_CHECKING:
    from adapters.gopocket.emulator import GopocketEmulator

__all__ = ["GopocketConfig", "GopocketVenue"]

log = structlog.get_logger("tickbus.gopocket")
S = OrderStatus


def order_state(report: OrderReport) -> Hashable:
    return report.status, report.filled_qty, report.stop_pending


def session_file(config: GopocketConfig, state_dir: Path) -> Path:
    """Where `run.py login` keeps the session of this config's user."""
    if config.session_file:
        return Path(config.session_file)
    return Path(state_dir) / "gopocket" / f"session-{(config.user_id or 'user').upper()}.json"


class GopocketVenue(Venue[GopocketConfig]):
    Config = GopocketConfig

    def __init__(self, ctx: VenueContext, config: GopocketConfig) -> None:
        super().__init__(ctx, config)
        self.config: GopocketConfig = config
        self.client: GopocketClient | None = None
        self.orders: OrderPoller | None = None
        self.webhook: WebhookReceiver | None = None
        self.feed: NorenFeed | None = None
        self.calendar = india.default_calendar()
        self._instruments: dict[str, Instrument] = {}
        self._by_token: dict[tuple[str, str], str] = {}  # (exchange, token) -> instrument id
        self._by_symbol: dict[tuple[str, str], str] = {}  # (exchange, trading symbol) -> instrument id
        self._coids: dict[str, str] = {}  # brokerOrderId -> client order id (from orderTag)
        self.sync = VenueSync(self.name, ctx.sink, self, state_of=order_state)
        self.words = StatusWords(self.sync.unknown_status)
        self.pushed = 0  # webhook / socket order updates applied

    # --- emulator and login hooks ---------------------------------------------------------------

    @classmethod
    def make_emulator(cls, config: VenueConfig, seed: int) -> GopocketEmulator:
        from adapters.gopocket.emulator import GopocketEmulator

        start = config.emulator_start if isinstance(config, GopocketConfig) else None
        return GopocketEmulator(seed=seed, start=start, log_requests=not config.emulator)

    @classmethod
    def with_emulator(cls, config: VenueConfig, info: EmulatorInfo) -> GopocketConfig:
        assert isinstance(config, GopocketConfig)
        c = info.credentials
        return msgspec.structs.replace(
            config, url=info.url + "/", login_url=info.url + "/", contract_url=info.url + "/contract/csv/",
            webhook_url=info.url + "/order-notify/webhook/", ws_url=info.ws_url or config.ws_url,
            user_id=c["user_id"], auth_code=c["auth_code"], api_secret=c["api_secret"], app_code=c["app_code"],
        )

    @classmethod
    async def login(cls, config: VenueConfig, *, state_dir: Path, config_file: str, say: Callable[[str], None]) -> Path:
        """`python run.py login gopocket CONFIG`: the SSO round trip, the session stored (0600)."""
        from adapters.gopocket.login import sso_login

        assert isinstance(config, GopocketConfig)
        return await sso_login(config, session_file(config, state_dir), config_file=config_file, say=say)

    # --- lifecycle ------------------------------------------------------------------------------

    async def connect(self) -> None:
        cfg = self.config
        if not cfg.user_id or not (cfg.session_token or cfg.api_secret):
            raise UserError(
                f"{self.name}: user_id and api_secret are needed (GOPOCKET_USER_ID, GOPOCKET_API_SECRET in the "
                f"config's ${{VAR}}s), and a session: run `python run.py login gopocket {self.ctx.config_file or 'CONFIG'}`"
            )
        client = self.client = GopocketClient(
            self.name, cfg.url, user_id=cfg.user_id, api_prefix=cfg.api_prefix, session_path=cfg.session_path,
            timeout_s=cfg.timeout_s, rate_limits=cfg.rate_limits,
        )
        client.auth = GopocketSession(
            self.name, client.exchange, user_id=cfg.user_id, api_secret=cfg.api_secret, auth_code=cfg.auth_code,
            session_token=cfg.session_token,
            store=None if cfg.emulator else SessionStore(session_file(cfg, self.ctx.state_dir)),  # a demo session is not kept
            config_file=self.ctx.config_file,
        )
        await client.start()
        await client.profile()  # the session works (or the one line saying how to log in again)
        await self._load_instruments()
        if self.ctx.mode != "live":
            return
        self.orders = OrderPoller(
            f"{self.name}:orders", client, self.deliver, fast_s=cfg.poll_fast_s, slow_s=cfg.poll_slow_s,
            idle_s=cfg.poll_idle_s, fast_window_s=cfg.fast_window_s,
        )
        self.orders.start()
        if cfg.webhook.enabled:
            await self._start_webhook()
        if cfg.ws_url:
            self._socket().start()
            await self._socket().subscribe("o:")

    async def _start_webhook(self) -> None:
        cfg, client = self.config.webhook, self._client()
        assert client.auth is not None
        key = cfg.key or secrets.token_urlsafe(24)
        register_secret(key)
        receiver = self.webhook = WebhookReceiver(
            self.name, key=key, auth=client.auth, on_update=self.on_push,
            host=cfg.host, port=cfg.port, path=cfg.path,
        )
        await receiver.start()
        await client.subscribe_webhook(self.config.webhook_url, receiver.callback_url(cfg.public_url))

    def _socket(self) -> NorenFeed:
        if self.feed is None:
            client = self._client()
            assert client.auth is not None
            self.feed = NorenFeed(
                self.name, self.config.ws_url, bus=self.ctx.bus, clock=self.ctx.clock, auth=client.auth,
                user_id=self.config.user_id, on_order=self.on_push, on_opened=self.sync.stream_opened,
                stale_after_s=self.config.stale_after_s,
            )
        return self.feed

    async def close(self) -> None:
        polling = self.orders is not None and self.orders.poller.running
        if self.webhook is not None and self.client is not None:
            try:
                await self.client.subscribe_webhook(self.config.webhook_url, self.webhook.callback_url(self.config.webhook.public_url), unsubscribe=True)
            except VenueError as exc:
                log.warning("webhook unsubscribe failed", venue=self.name, error=str(exc))
        for part in (self.orders, self.feed, self.webhook):
            if part is not None:
                await part.stop()
        if polling:
            await self.sync.last_look(timeout_s=self.config.timeout_s)
        await self.sync.close()
        if self.client is not None:
            await self.client.close()

    async def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments.values())

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        if not self.config.ws_url:
            raise VenueError(self.name, "market data needs the socket: set ws_url (GoPocket publishes no official one)")
        insts = [self._inst(iid) for iid in instruments]
        await self._socket().watch({f"{i.exchange}|{i.token}": i.id for i in insts}, depth=Channel.BOOK in channels)
        self._socket().start()

    def market_is_open(self, instrument: Instrument, ts_ns: int) -> bool | None:
        if instrument.exchange not in india.Exchange.__members__:
            return None
        return self.calendar.is_open(instrument.exchange, ts_ns)

    def request_stats(self) -> dict[str, object]:
        return self.client.request_counts() if self.client is not None else {}

    # --- execution ------------------------------------------------------------------------------

    def _pretrade(self, order: Order, inst: Instrument) -> None:
        """india's rules, before anything is sent: lot multiple, price and trigger on the tick, the
        market open unless the order is an after-market one."""
        if not india.is_lot_multiple(order.qty, inst.lot_size):
            raise InvalidOrder(self.name, f"quantity {order.qty} is not a multiple of the lot size {inst.lot_size}")
        for what, price in (("price", order.price), ("trigger price", order.trigger_price)):
            if price is not None and not india.is_on_tick(price, inst.tick_size):
                raise InvalidOrder(self.name, f"{what} {price} is not a multiple of the tick size {inst.tick_size}")
        if not order.after_market and self.market_is_open(inst, self.ctx.clock.now_ns()) is False:
            raise MarketClosed(self.name, f"the market is closed for {inst.symbol}: send it as an after-market order")

    async def place(self, order: Order) -> OrderReport:
        inst = self._inst(order.instrument)
        self._pretrade(order, inst)
        request = build_request(order, inst, self._product(order, inst))
        try:
            placed = await self._client().place(request)
        finally:
            self._kick()
        self._coids[placed.brokerOrderId] = order.client_order_id
        report = OrderReport(
            venue=self.name, status=S.PLACED, client_order_id=order.client_order_id,
            venue_order_id=placed.brokerOrderId, after_market=True if order.after_market else None,
            instrument=order.instrument, side=order.side, ts_event=self.ctx.clock.now_ns(),
        )
        found = await self._row_report(placed.brokerOrderId)  # the book says at once if the RMS refused it
        if found is not None and found.status is S.REJECTED:
            report = found
        return self.sync.track(report)

    async def cancel(self, order: Order) -> OrderReport | None:
        number = order.venue_order_id or await self._number_of(order)
        try:
            await self._client().cancel(number)
        except InvalidOrder:
            report = await self._row_report(number)  # too late: the venue's word beats the refusal
            if report is None or report.status.is_open:
                raise
            return self.sync.track(report)
        finally:
            self._kick()
        report = await self._row_report(number)
        return self.sync.track(report) if report is not None and not report.status.is_open else None

    async def modify(
        self, order: Order, *, qty: Decimal | None = None, price: Decimal | None = None, trigger_price: Decimal | None = None,
    ) -> OrderReport | None:
        number = order.venue_order_id or await self._number_of(order)
        try:
            await self._client().modify(modify_request(number, order, qty, price, trigger_price))
        finally:
            self._kick()
        report = await self._row_report(number)
        if report is None:
            return None
        return self.sync.track(msgspec.structs.replace(report, qty=qty or report.qty, price=price or report.price))

    async def order_status(self, order: Order) -> OrderReport | None:
        rows = await self._client().order_book()
        for row in rows:
            if row.brokerOrderId == order.venue_order_id or (row.orderTag and row.orderTag == order.client_order_id):
                self._learn(row)
                report = report_from_row(self.name, row, self._iid(row.exchange, row.instrumentId, row.tradingSymbol),
                                         self.ctx.clock.now_ns(), self.words)
                if report is None:
                    return self._submitted(order, row.brokerOrderId)
                return self.sync.track(msgspec.structs.replace(report, client_order_id=order.client_order_id))
        return None

    async def open_orders(self) -> Sequence[OrderReport]:
        reports = []
        for report in self._reports(await self._client().order_book()):
            if report.status.is_open:
                reports.append(self.sync.track(report))
        return reports

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        client = self._client()
        for row in await client.order_book():
            self._learn(row)
        fills = fills_from_trades(self.name, await client.trade_book(), self._iid)
        return [self._with_coid(f) for f in fills if not f.ts_event or f.ts_event >= since_ns]

    async def balances(self) -> Sequence[Balance]:
        rows = await self._client().limits()
        row = rows[0] if rows else w.LimitsRow()
        return [Balance(venue=self.name, asset="INR", free=w.dec(row.availableMargin) or ZERO,
                        locked=w.dec(row.marginUsed) or ZERO, ts=self.ctx.clock.now_ns())]

    async def positions(self) -> Sequence[Position]:
        out = []
        for row in await self._client().positions():
            qty = w.dec(row.netQuantity) or ZERO
            if qty:
                avg = w.dec(row.netBuyAvgPrice if qty > 0 else row.netSellAvgPrice) or ZERO
                out.append(Position(instrument=self._iid(row.exchange, row.instrumentId, row.tradingSymbol), qty=qty,
                                    avg_price=avg, realized_pnl=w.dec(row.realizedPnl) or ZERO))
        return out

    # --- keeping in step ------------------------------------------------------------------------

    async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
        return self._look(await self._poller().poll_now(), fills=fills)

    def deliver(self, changes: OrderChanges) -> None:
        self.sync.deliver(self._look(changes))

    def _look(self, changes: OrderChanges, *, fills: bool = True) -> Look:
        rows, trades = changes
        reports = self._reports(rows)
        if not fills:
            return Look(reports=reports, fills_read=False)
        book = {r.brokerOrderId: w.dec(r.fillQuantity) or ZERO for r in rows}
        shown: list[Fill] = []
        totals: dict[str, Decimal] = {}
        for fill in fills_from_trades(self.name, trades, self._iid):
            number = fill.venue_order_id or ""
            total = totals.get(number, ZERO) + fill.qty
            if number in book and total > book[number]:
                continue  # the order book does not show it yet: a later look
            totals[number] = total
            shown.append(self._with_coid(fill))
        return Look(fills=shown, reports=reports)

    def on_push(self, msg: w.NorenOrder) -> None:
        """A webhook delivery or a socket `om`: its fill, then its report, through the core."""
        self.pushed += 1
        iid = self._iid(msg.exch, msg.token, msg.tsym)
        coid = self._coids.get(msg.norenordno) or msg.remarks or None  # Noren echoes the tag as remarks [I]
        fill = fill_from_noren(self.name, msg, iid, coid)
        if fill is not None:
            self.sync.stream_fill(fill)
        report = report_from_noren(self.name, msg, iid, coid, self.ctx.clock.now_ns(), self.words)
        if report is not None and not (report.status is S.COMPLETED and fill is None and self._missing_fills(report)):
            self.sync.stream_report(report)
        self._kick()

    def _missing_fills(self, report: OrderReport) -> bool:
        return self.sync.before_fills(report).status is not report.status

    # --- helpers --------------------------------------------------------------------------------

    def _reports(self, rows: list[w.OrderRow]) -> list[OrderReport]:
        now = self.ctx.clock.now_ns()
        reports = []
        for row in rows:
            self._learn(row)
            report = report_from_row(self.name, row, self._iid(row.exchange, row.instrumentId, row.tradingSymbol), now, self.words)
            if report is not None:
                reports.append(report)
        return reports

    def _learn(self, row: w.OrderRow) -> None:
        if row.orderTag and row.brokerOrderId:
            self._coids.setdefault(row.brokerOrderId, row.orderTag)

    async def _row_report(self, number: str) -> OrderReport | None:
        try:
            rows = await self._client().order_book()
        except VenueError as exc:
            log.warning("order book unavailable", venue=self.name, order_number=number, error=str(exc))
            return None
        reports = self._reports([row for row in rows if row.brokerOrderId == number])
        return reports[0] if reports else None

    def _client(self) -> GopocketClient:
        if self.client is None:
            raise VenueError(self.name, "not connected")
        return self.client

    def _poller(self) -> OrderPoller:
        if self.orders is None:
            raise VenueError(self.name, "not connected")
        return self.orders

    def _kick(self) -> None:
        if self.orders is not None:
            self.orders.kick()

    def _submitted(self, order: Order, number: str) -> OrderReport:
        return self.sync.track(OrderReport(
            venue=self.name, status=S.SUBMITTED, client_order_id=order.client_order_id, venue_order_id=number,
            instrument=order.instrument, side=order.side, ts_event=self.ctx.clock.now_ns(),
        ))

    def _inst(self, iid: str) -> Instrument:
        inst = self._instruments.get(iid)
        if inst is None:
            raise InvalidOrder(self.name, f"unknown instrument {iid}")
        return inst

    def _iid(self, exchange: str, token: w.Num, trading_symbol: str) -> str:
        ex = exchange.upper()
        return (self._by_token.get((ex, str(token))) or self._by_symbol.get((ex, trading_symbol.upper()))
                or instrument_id(self.name, ex, trading_symbol))

    def _product(self, order: Order, inst: Instrument) -> str:
        try:
            product = india.parse_product(order.options.get("product") or self.config.product)
        except ValueError as exc:
            raise InvalidOrder(self.name, str(exc)) from None
        if product is india.Product.CNC and india.parse_exchange(inst.exchange).segment is not india.Segment.CASH_EQUITY:
            product = india.Product.NRML
        return PRODUCT_CODES[product]

    async def _number_of(self, order: Order) -> str:
        report = await self.order_status(order)
        if report is None or report.venue_order_id is None:
            raise OrderNotFound(self.name, f"no order at GoPocket carries the tag {order.client_order_id}")
        return report.venue_order_id

    def _with_coid(self, fill: Fill) -> Fill:
        coid = self._coids.get(fill.venue_order_id or "")
        return fill if coid is None else msgspec.structs.replace(fill, client_order_id=coid)

    async def _load_instruments(self) -> None:
        client, cfg = self._client(), self.config
        cache = ContractCache(Path(self.ctx.state_dir) / "gopocket", cfg.contract_url)
        day = india.ist_date(self.ctx.clock.now_ns())
        wanted = set(cfg.symbols)
        exchanges = sorted({s.split(":", 1)[0].upper() for s in wanted} or {e.upper() for e in cfg.exchanges})
        for exchange in exchanges:
            rows = await load_contracts(functools.partial(client.contract_master, cfg.contract_url, exchange), cache, exchange, day)
            picked = await asyncio.to_thread(_instruments_of, self.name, rows, wanted)
            for contract, inst in picked:
                self._instruments[inst.id] = inst
                self._by_token[(contract.exchange, contract.token)] = inst.id
                self._by_symbol[(contract.exchange, contract.trading_symbol.upper())] = inst.id
        missing = wanted - {i.symbol for i in self._instruments.values()}
        if missing:
            raise UserError(f"{self.name}: not in GoPocket's contract master: {', '.join(sorted(missing))}")
        log.info("instruments loaded", venue=self.name, count=len(self._instruments))


def _instruments_of(venue: str, rows: list[Contract], wanted: set[str]) -> list[tuple[Contract, Instrument]]:
    picked = []
    for contract in rows:
        inst = instrument(venue, contract)
        if inst is not None and (not wanted or inst.symbol in wanted):
            picked.append((contract, inst))
    return picked



