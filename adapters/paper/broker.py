"""The engine's paper broker: a virtual account trading against whatever market data is on the bus.

Orders go through the statuses a real venue reports (placed -> updated -> completed, cancelled,
expired, rejected). Latency is simulated on the engine clock. Exchanges with sessions (NSE, BSE,
...) refuse orders when closed, unless the order asks to be held as an after-market order, which
is released at the next open. State lives in memory: a paper account starts fresh every run.
Like a venue's order history, the broker remembers only the latest finished orders and fills
(`keep_finished`, `keep_fills`): the engine has journalled each as it was reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import structlog

from adapters.simulation.account import Account, FeeSchedule
from adapters.simulation.hours import MarketHours
from adapters.simulation.matching import Execution, MatchingEngine, SimOrder, StatusChange
from engine.data.bus import Subscription
from engine.errors import InsufficientFunds, InvalidOrder, MarketClosed, OrderNotFound
from engine.events import (
    Balance,
    BookSnapshot,
    Fill,
    Instrument,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
    Trade,
)
from engine.venue.contract import Venue, VenueConfig, VenueContext

NS = 1_000_000_000
log = structlog.get_logger("tickbus.paper")


class PaperConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    balances: dict[str, Decimal] = {}
    fees: FeeSchedule = FeeSchedule()
    latency_ms: float = 0.0
    allow_short: bool = False
    holidays: list[date] = []


class PaperBroker(Venue[PaperConfig]):
    Config = PaperConfig
    in_process = True
    keep_finished = 4096  # finished orders still answered by order_status
    keep_fills = 16384  # fills still answered by fills_since

    def __init__(self, ctx: VenueContext, config: PaperConfig) -> None:
        super().__init__(ctx, config)
        self.config: PaperConfig = config
        self.account = Account(config.balances, fees=config.fees, allow_short=config.allow_short)
        self.matching = MatchingEngine(id_prefix=f"{ctx.name}-f")
        self.hours = MarketHours(extra_holidays=config.holidays)
        self._instruments: dict[str, Instrument] = {}
        self._fills: deque[Fill] = deque(maxlen=self.keep_fills)
        self._orders: dict[str, Order] = {}  # client order id -> the order as the engine sent it
        self._finished: deque[str] = deque()  # finished orders' ids, oldest first
        self._latency_s = config.latency_ms / 1000.0
        self._expiry_timers: set[int] = set()  # closing times a timer is set for
        self._subscriptions: list[Subscription] = []

    # --- lifecycle ----------------------------------------------------------------------------

    def register_instruments(self, instruments: Sequence[Instrument]) -> None:
        for inst in instruments:
            self._instruments[inst.id] = inst
            self.matching.add_instrument(inst.id, inst.tick_size, inst.lot_size)

    async def connect(self) -> None:
        bus = self.ctx.bus
        self._subscriptions = [
            bus.subscribe(Quote, self.on_quote, name="paper.quotes"),
            bus.subscribe(Trade, self.on_trade, name="paper.trades"),
            bus.subscribe(BookSnapshot, self.on_book, name="paper.book"),
        ]
        for balance in await self.balances():
            self.ctx.sink.on_balance(balance)

    async def close(self) -> None:
        for sub in self._subscriptions:
            sub.cancel()
        self._subscriptions = []

    async def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments.values())

    def market_is_open(self, instrument: Instrument, ts_ns: int) -> bool | None:
        return self.hours.is_open(instrument, ts_ns)

    # --- market data (direct subscribers: no allocation unless an order is touched) -----------

    def on_quote(self, quote: Quote) -> None:
        events = self.matching.on_quote(quote)
        if events:
            self._publish(events)

    def on_trade(self, trade: Trade) -> None:
        events = self.matching.on_trade(trade)
        if events:
            self._publish(events)

    def on_book(self, book: BookSnapshot) -> None:
        events = self.matching.on_book(book)
        if events:
            self._publish(events)

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        if self._latency_s:
            await self.ctx.clock.sleep(self._latency_s)
        now = self.ctx.clock.now_ns()
        if order.client_order_id in self._orders:  # a retried placement: say what became of it
            known = await self.order_status(order)
            assert known is not None
            return known
        inst = self._instruments.get(order.instrument)
        if inst is None:
            raise InvalidOrder(self.name, f"unknown instrument {order.instrument}")
        expires = self.hours.session_close(inst, now) if order.tif is TimeInForce.DAY else None
        sim = SimOrder(
            id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            type=order.type,
            qty=order.qty,
            price=order.price,
            trigger=order.trigger_price,
            tif=order.tif,
            expires_ns=expires,
            client_id=order.client_order_id,
            created_ns=now,
        )
        if not self.hours.is_open(inst, now):
            if not order.after_market:
                raise MarketClosed(self.name, f"market closed for {inst.exchange}")
            return self._hold_after_market(order, inst, sim, now)
        return self._accept(order, inst, sim, now)

    def _accept(self, order: Order, inst: Instrument, sim: SimOrder, now: int, *, released: bool = False) -> OrderReport:
        """Hold funds and hand `sim` to the matching engine; `released`: a held after-market order."""
        reference = self._reference(inst, order)
        if sim.side is Side.BUY and sim.type is OrderType.MARKET and reference is None:
            return self._refuse(order, "no market data to fill a market order", now, released=released)
        reason = self.account.hold(sim.id, inst, sim.side, sim.type, sim.qty, sim.price, reference=reference)
        if reason is not None:
            raise InsufficientFunds(self.name, reason)
        events = self.matching.submit(sim, now)
        if sim.status is OrderStatus.REJECTED:  # refused on arrival: it was never placed
            self.account.release(sim.id)
            self._publish_balances(inst)
            return self._refuse(order, sim.reason or "rejected", now, released=released)
        self._orders[order.client_order_id] = order
        self._report_placed(order, now, after_market=False)
        touched = self._publish(events)
        if sim.expires_ns is not None and sim.is_open and sim.expires_ns not in self._expiry_timers:
            # one timer per closing time, however many DAY orders end then
            self._expiry_timers.add(sim.expires_ns)
            self.ctx.clock.call_later((sim.expires_ns - now) / NS, self._expire, sim.expires_ns)
        if inst.id not in touched:  # the hold changed what is free and locked
            self._publish_balances(inst)
        return self._report(sim)

    def _refuse(self, order: Order, reason: str, now: int, *, released: bool) -> OrderReport:
        """The venue's "no" to an order: rejected, or cancelled if it was already placed (held)."""
        if released:  # the manager already has it as placed: placed -> rejected is not a transition
            self._orders.pop(order.client_order_id, None)
            status = OrderStatus.CANCELLED
            reason = f"after-market order not released: {reason}"
        else:
            status = OrderStatus.REJECTED
        report = OrderReport(
            venue=self.name,
            client_order_id=order.client_order_id,
            venue_order_id=order.client_order_id,
            status=status,
            reason=reason,
            ts_event=now,
        )
        self.ctx.sink.on_order_report(report)
        return report

    def _hold_after_market(self, order: Order, inst: Instrument, sim: SimOrder, now: int) -> OrderReport:
        opens = self.hours.next_open(inst, now)
        self._orders[order.client_order_id] = order
        log.info("after-market order held", client_order_id=order.client_order_id, opens_ns=opens)
        self.ctx.clock.call_later((opens - now) / NS, self._release_after_market, order, inst, sim, opens)
        return OrderReport(
            venue=self.name,
            client_order_id=order.client_order_id,
            venue_order_id=order.client_order_id,
            status=OrderStatus.PLACED,
            after_market=True,
            ts_event=now,
        )

    def _release_after_market(self, order: Order, inst: Instrument, sim: SimOrder, opens: int) -> None:
        now = max(self.ctx.clock.now_ns(), opens)  # a float timer may fire a nanosecond early
        if order.client_order_id not in self._orders or sim.id in self.matching.orders:
            return  # cancelled while held
        if sim.tif is TimeInForce.DAY:
            sim.expires_ns = self.hours.session_close(inst, now)
        try:
            self._accept(order, inst, sim, now, released=True)
        except InsufficientFunds as exc:
            self._refuse(order, exc.text, now, released=True)

    def _reference(self, inst: Instrument, order: Order) -> Decimal | None:
        touch = self.matching.touch(inst.id)
        if order.trigger_price is not None:
            return order.trigger_price
        if touch is None:
            return None
        bid, ask, _, _ = touch
        px = ask if order.side is Side.BUY else bid
        return Decimal(repr(px)) if px > 0 else None

    async def cancel(self, order: Order) -> OrderReport | None:
        if self._latency_s:
            await self.ctx.clock.sleep(self._latency_s)
        now = self.ctx.clock.now_ns()
        sim = self.matching.orders.get(order.client_order_id)
        if sim is None:
            if order.client_order_id in self._orders:  # an after-market order still held
                self._orders.pop(order.client_order_id)
                return OrderReport(
                    venue=self.name,
                    client_order_id=order.client_order_id,
                    status=OrderStatus.CANCELLED,
                    ts_event=now,
                )
            raise OrderNotFound(self.name, f"no order {order.client_order_id}")
        events = self.matching.cancel(sim.id, now)
        self._publish(events)
        return self._report(sim)

    async def modify(
        self,
        order: Order,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderReport | None:
        if self._latency_s:
            await self.ctx.clock.sleep(self._latency_s)
        sim = self.matching.orders.get(order.client_order_id)
        if sim is None or not sim.is_open:
            raise OrderNotFound(self.name, f"no working order {order.client_order_id}")
        inst = self._instruments[order.instrument]
        now = self.ctx.clock.now_ns()
        if qty is not None and qty <= 0:
            raise InvalidOrder(self.name, f"quantity must be positive, got {qty}")
        if qty is not None and inst.lot_size > 0 and qty % inst.lot_size != 0:
            raise InvalidOrder(self.name, f"quantity {qty} is not a multiple of the lot size {inst.lot_size}")
        if qty is None or qty > sim.filled:  # at or below the filled quantity the engine cancels it
            new_qty = qty if qty is not None else sim.qty
            new_price = price if price is not None else sim.price
            new_trigger = trigger_price if trigger_price is not None else sim.trigger
            reference = new_trigger if new_trigger is not None else self._reference(inst, order)
            reason = self.account.rehold(
                sim.id, inst, sim.side, sim.type, new_qty - sim.filled, new_price, reference=reference,
            )
            if reason is not None:  # the old hold is untouched
                raise InsufficientFunds(self.name, reason)
        events = self.matching.modify(sim.id, now, qty=qty, price=price, trigger=trigger_price)
        self._publish(events)
        report = self._report(sim)
        return OrderReport(
            venue=report.venue,
            client_order_id=report.client_order_id,
            venue_order_id=report.venue_order_id,
            status=report.status,
            qty=sim.qty,
            price=sim.price,
            trigger_price=sim.trigger,
            ts_event=now,
        )

    async def order_status(self, order: Order) -> OrderReport | None:
        sim = self.matching.orders.get(order.client_order_id)
        if sim is not None:
            return self._report(sim)
        if order.client_order_id in self._orders:
            return OrderReport(
                venue=self.name,
                client_order_id=order.client_order_id,
                status=OrderStatus.PLACED,
                after_market=True,
            )
        return None

    async def open_orders(self) -> Sequence[OrderReport]:
        working = [self._report(sim) for sim in self.matching.open_orders()]
        held = [
            await self.order_status(order)
            for coid, order in self._orders.items()
            if coid not in self.matching.orders
        ]
        return working + [r for r in held if r is not None]

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        return [f for f in self._fills if f.ts_event >= since_ns]

    async def balances(self) -> Sequence[Balance]:
        now = self.ctx.clock.now_ns()
        return [self._balance(asset, now) for asset in self.account.assets()]

    async def positions(self) -> Sequence[Position]:
        out = []
        for inst in self._instruments.values():
            qty = self.account.total(inst.base)
            if qty:
                out.append(Position(instrument=inst.id, qty=qty))
        return out

    # --- reporting ----------------------------------------------------------------------------

    def _publish(self, events: Sequence[Execution | StatusChange]) -> set[str]:
        """Report fills and status changes, then each touched instrument's balances once."""
        sink = self.ctx.sink
        touched: dict[str, Instrument] = {}
        for event in events:
            sim = self.matching.orders.get(event.order_id)
            if sim is None:
                continue
            inst = self._instruments[sim.instrument]
            if isinstance(event, Execution):
                fee = self.account.settle(sim.id, inst, sim.side, event.qty, event.price, event.liquidity)
                fill = Fill(
                    venue=self.name,
                    instrument=sim.instrument,
                    side=sim.side,
                    qty=event.qty,
                    price=event.price,
                    fill_id=event.exec_id,
                    fee=fee,
                    fee_asset=inst.quote,
                    client_order_id=sim.client_id,
                    venue_order_id=sim.id,
                    liquidity=event.liquidity,
                    ts_event=event.ts_ns,
                )
                self._fills.append(fill)
                sink.on_fill(fill)
                touched[inst.id] = inst
            else:
                if event.status.is_terminal:
                    self.account.release(sim.id)
                    touched[inst.id] = inst
                    self._retire(sim.id)
                if event.status is OrderStatus.COMPLETED:
                    continue  # the fills already told the manager
                sink.on_order_report(
                    OrderReport(
                        venue=self.name,
                        client_order_id=sim.client_id,
                        venue_order_id=sim.id,
                        status=event.status,
                        reason=event.reason,
                        stop_pending=not sim.triggered if event.triggered else None,
                        ts_event=event.ts_ns,
                    )
                )
        for inst in touched.values():
            self._publish_balances(inst)
        return set(touched)

    def _retire(self, order_id: str) -> None:
        """Remember a finished order; forget the oldest beyond `keep_finished`."""
        finished = self._finished
        finished.append(order_id)
        if len(finished) > self.keep_finished:
            oldest = finished.popleft()
            self.matching.forget(oldest)
            self._orders.pop(oldest, None)

    def _report_placed(self, order: Order, now: int, *, after_market: bool) -> None:
        stop = order.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
        self.ctx.sink.on_order_report(
            OrderReport(
                venue=self.name,
                client_order_id=order.client_order_id,
                venue_order_id=order.client_order_id,
                status=OrderStatus.PLACED,
                stop_pending=stop or None,
                after_market=after_market or None,
                ts_event=now,
            )
        )

    def _report(self, sim: SimOrder) -> OrderReport:
        return OrderReport(
            venue=self.name,
            client_order_id=sim.client_id,
            venue_order_id=sim.id,
            status=sim.status,
            filled_qty=sim.filled,
            avg_price=sim.avg_price,
            reason=sim.reason,
            stop_pending=not sim.triggered,
            instrument=sim.instrument,
            side=sim.side,
            ts_event=self.ctx.clock.now_ns(),
        )

    def _publish_balances(self, inst: Instrument) -> None:
        now = self.ctx.clock.now_ns()
        for asset in (inst.base, inst.quote):
            self.ctx.sink.on_balance(self._balance(asset, now))

    def _balance(self, asset: str, now: int) -> Balance:
        return Balance(
            venue=self.name,
            asset=asset,
            free=self.account.free.get(asset, Decimal(0)),
            locked=self.account.locked.get(asset, Decimal(0)),
            ts=now,
        )

    def _expire(self, at_ns: int = 0) -> None:
        # a float timer may fire a nanosecond before `at_ns`: expire what is due then, not nothing
        self._expiry_timers.discard(at_ns)
        self._publish(self.matching.expire(max(self.ctx.clock.now_ns(), at_ns)))
