"""The user's surface: the `Strategy` base class, and the host that runs one strategy on the bus.

A strategy receives its events on a queue of its own (a slow strategy never stalls a feed or
another strategy), in order. Callbacks may be plain or `async`. `buy`/`sell`/`cancel`/`modify`
return at once; what happens next arrives in `on_order` and `on_fill`. A strategy that keeps
raising is stopped after `max_errors` errors within `error_window_s`; the others go on.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import structlog

from engine.clock import Repeating
from engine.events import (
    ZERO,
    Bar,
    BookSnapshot,
    EngineError,
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Quote,
    Side,
    TimeInForce,
    Trade,
)

if TYPE_CHECKING:
    from engine.account.portfolio import Portfolio
    from engine.clock import Clock
    from engine.data.bus import Bus, QueuedSubscriber
    from engine.orders.manager import OrderManager

NS = 1_000_000_000
Number = Decimal | int | str | float


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    """For strategies without parameters."""


class TimerTick:
    """A timer firing, delivered through the strategy's own queue (in order with its events)."""

    __slots__ = ("name", "fn", "ts")

    def __init__(self, name: str, fn: Callable[[], Any] | None, ts: int) -> None:
        self.name = name
        self.fn = fn
        self.ts = ts


@dataclass
class StrategyContext:
    """What the engine gives a strategy."""

    id: str
    instruments: list[str]
    bus: Bus
    clock: Clock
    orders: OrderManager
    portfolio: Portfolio
    venue_for: Callable[[str], str]
    bar_interval_s: int | None = None
    log: Any = field(default=None)
    bar_source: str = "trades"
    market_open: Callable[[str], bool] | None = None  # the engine's answer (it asks the venues)


class Strategy:
    """Derive from this, set `Params` to a msgspec Struct, define the callbacks you need."""

    Params: ClassVar[type[msgspec.Struct]] = NoParams
    allow_unknown_params: ClassVar[bool] = False  # True: keys Params does not name are ignored

    def __init__(self, ctx: StrategyContext, params: Any) -> None:
        self.ctx = ctx
        self.params = params
        self.id = ctx.id
        self.instruments = list(ctx.instruments)
        self.log = ctx.log if ctx.log is not None else structlog.get_logger("tickbus.strategy").bind(strategy=ctx.id)
        self._timers: list[Repeating] = []
        self._host: StrategyHost | None = None

    # --- callbacks (override what you need; plain or async) -----------------------------------

    def on_start(self) -> Any: ...

    def on_quote(self, quote: Quote) -> Any: ...

    def on_trade(self, trade: Trade) -> Any: ...

    def on_bar(self, bar: Bar) -> Any: ...

    def on_book(self, book: BookSnapshot) -> Any: ...

    def on_order(self, order: Order) -> Any: ...

    def on_fill(self, fill: Fill) -> Any: ...

    def on_timer(self, name: str) -> Any: ...

    def on_stop(self) -> Any: ...

    # --- orders -------------------------------------------------------------------------------

    def buy(self, instrument: str, qty: Number, price: Number | None = None, **options: Any) -> Order:
        return self._order(Side.BUY, instrument, qty, price, options)

    def sell(self, instrument: str, qty: Number, price: Number | None = None, **options: Any) -> Order:
        return self._order(Side.SELL, instrument, qty, price, options)

    def _order(self, side: Side, instrument: str, qty: Number, price: Number | None, options: dict[str, Any]) -> Order:
        host = self._host
        if host is not None and host.paused is not None:
            return host.refuse_paused(side, instrument, to_decimal(qty), None if price is None else to_decimal(price))
        if options:
            trigger = options.pop("trigger", None)
            order_type = options.pop("type", None)
            tif = options.pop("tif", None)
            after_market = bool(options.pop("after_market", False))
        else:  # the common call: no keyword options to look through
            trigger = order_type = tif = None
            after_market = False
        price_d = None if price is None else to_decimal(price)
        trigger_d = None if trigger is None else to_decimal(trigger)
        if order_type is None:
            order_type = _infer_type(price_d, trigger_d)
        if tif is None:
            inst = self.ctx.portfolio.instruments.get(instrument)
            tif = TimeInForce.GTC if inst is None or inst.kind == "spot" else TimeInForce.DAY
        return self.ctx.orders.submit(
            strategy_id=self.id,
            instrument=instrument,
            venue=self.ctx.venue_for(instrument),
            side=side,
            qty=to_decimal(qty),
            type=order_type if order_type.__class__ is OrderType else OrderType(order_type),
            price=price_d,
            trigger_price=trigger_d,
            tif=tif if tif.__class__ is TimeInForce else TimeInForce(tif),
            after_market=after_market,
            options={k: str(v) for k, v in options.items()} if options else {},
        )

    def cancel(self, order: Order | str) -> Order | None:
        coid = order if isinstance(order, str) else order.client_order_id
        return self.ctx.orders.cancel(coid)

    def modify(
        self,
        order: Order | str,
        *,
        qty: Number | None = None,
        price: Number | None = None,
        trigger: Number | None = None,
    ) -> Order | None:
        coid = order if isinstance(order, str) else order.client_order_id
        return self.ctx.orders.modify(
            coid,
            qty=None if qty is None else to_decimal(qty),
            price=None if price is None else to_decimal(price),
            trigger_price=None if trigger is None else to_decimal(trigger),
        )

    def cancel_all(self, instrument: str | None = None) -> int:
        orders = self.open_orders(instrument)
        for order in orders:
            self.cancel(order)
        return len(orders)

    def open_orders(self, instrument: str | None = None) -> list[Order]:
        return self.ctx.orders.open_orders(strategy_id=self.id, instrument=instrument)

    def order(self, client_order_id: str) -> Order | None:
        """The latest state of one of this strategy's orders."""
        return self.ctx.orders.get(client_order_id)

    # --- state --------------------------------------------------------------------------------

    def position(self, instrument: str | None = None) -> Position:
        """This strategy's position in `instrument` (its first instrument by default)."""
        return self.ctx.portfolio.position(instrument or self.instruments[0], self.id)

    def balance(self, asset: str, venue: str | None = None) -> Decimal:
        """Free balance of `asset` at `venue` (the first instrument's execution venue by default)."""
        venue = venue or self.ctx.venue_for(self.instruments[0])
        bal = self.ctx.portfolio.balance(venue, asset)
        return ZERO if bal is None else bal.free

    def instrument(self, instrument: str | None = None) -> Instrument:
        return self.ctx.portfolio.instruments[instrument or self.instruments[0]]

    def round_price(self, price: Number, instrument: str | None = None, side: Side | None = None) -> Decimal:
        """`price` on the instrument's tick: buys round down, sells up, nearest without a side."""
        tick = self.instrument(instrument).tick_size
        mode = ROUND_HALF_EVEN if side is None else (ROUND_FLOOR if side is Side.BUY else ROUND_CEILING)
        return (to_decimal(price) / tick).quantize(Decimal(1), rounding=mode) * tick

    def market_open(self, instrument: str | None = None) -> bool:
        """Whether the market of `instrument` (the first by default) is open now, by its exchange's
        hours; True where a venue keeps no hours (crypto, synthetic markets without an exchange)."""
        ask = self.ctx.market_open
        return True if ask is None else ask(instrument or self.instruments[0])

    @property
    def now_ns(self) -> int:
        return self.ctx.clock.now_ns()

    # --- timers -------------------------------------------------------------------------------

    def every(self, seconds: float, fn: Callable[[], Any] | None = None, *, name: str = "timer") -> Repeating:
        """Call `fn` (or `on_timer(name)`) every `seconds` of engine time, in order with events."""
        def tick() -> None:
            if self._host is not None:
                self._host.deliver(TimerTick(name, fn, self.ctx.clock.now_ns()))

        timer = Repeating(self.ctx.clock, seconds, tick)
        self._timers.append(timer)
        return timer


def to_decimal(value: Number) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _infer_type(price: Decimal | None, trigger: Decimal | None) -> OrderType:
    if trigger is None:
        return OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderType.STOP_MARKET if price is None else OrderType.STOP_LIMIT


def _overrides(strategy: Strategy, name: str) -> bool:
    return getattr(type(strategy), name) is not getattr(Strategy, name)


class StrategyHost:
    """Runs one strategy: its queue, its subscriptions, its error policy."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        max_errors: int = 5,
        error_window_s: float = 60.0,
        queue_size: int | None = None,
    ) -> None:
        self.strategy = strategy
        self.ctx = strategy.ctx
        self.max_errors = max_errors
        self.error_window_s = error_window_s
        self.errors = 0
        self.stopped_reason: str | None = None
        self.failed = False  # stopped by its error policy (the run then exits with code 3)
        self.paused: str | None = None  # why new orders are refused (an operator's pause)
        self.refused_while_paused = 0
        self._recent: deque[int] = deque()
        self.feed_latency: deque[int] | None = None  # see sample_feed_latency
        self._last_error: BaseException | None = None
        self._queue: QueuedSubscriber = self.ctx.bus.queued(
            f"strategy.{strategy.id}", self.dispatch, maxsize=queue_size, on_error=self._on_error
        )
        s = strategy
        self._callbacks: dict[type, Callable[[Any], Any]] = {
            Quote: s.on_quote,
            Trade: s.on_trade,
            Bar: s.on_bar,
            BookSnapshot: s.on_book,
            OrderUpdate: lambda update: s.on_order(update.order),
            Fill: s.on_fill,
            TimerTick: self._on_tick,
        }
        strategy._host = self

    @property
    def queue(self) -> QueuedSubscriber:
        return self._queue

    def sample_feed_latency(self, every: int = 64, keep: int = 4096) -> deque[int]:
        """From now on, every `every`-th quote's age when its callback starts (engine clock now
        minus the quote's `ts_recv`, ns) goes into the returned ring; off (and free) until asked."""
        samples: deque[int] = deque(maxlen=keep)
        on_quote = self._callbacks[Quote]
        now_ns = self.ctx.clock.now_ns
        seen = 0

        def sampled(quote: Quote) -> Any:
            nonlocal seen
            seen += 1
            if seen % every == 0:
                samples.append(now_ns() - quote.ts_recv)
            return on_quote(quote)

        self._callbacks[Quote] = sampled
        self.feed_latency = samples
        return samples

    def dispatch(self, event: Any) -> Any:
        return self._callbacks[event.__class__](event)

    def _on_tick(self, tick: TimerTick) -> Any:
        return tick.fn() if tick.fn is not None else self.strategy.on_timer(tick.name)

    def deliver(self, event: Any) -> None:
        if self.stopped_reason is None:
            self._queue.deliver(event)

    async def start(self) -> None:
        s = self.strategy
        ids = s.instruments
        q = self._queue
        if _overrides(s, "on_quote"):
            q.subscribe(Quote, keys=ids)
        if _overrides(s, "on_trade"):
            q.subscribe(Trade, keys=ids)
        if _overrides(s, "on_book"):
            q.subscribe(BookSnapshot, keys=ids)
        if _overrides(s, "on_bar") and self.ctx.bar_interval_s:
            source = self.ctx.bar_source
            q.subscribe(Bar, keys=[(i, self.ctx.bar_interval_s, source) for i in ids])
        if _overrides(s, "on_order"):
            q.subscribe(OrderUpdate, keys=[s.id])
        if _overrides(s, "on_fill"):
            q.subscribe(Fill, keys=[s.id])
        # Events that arrive while on_start runs wait in the queue: no callback sees a strategy
        # that has not finished starting. One that cannot start is stopped at once.
        if not await self._call(s.on_start, "on_start"):
            if self.stopped_reason is None:
                self.halt(f"on_start failed: {self._last_error!r}")
            return
        if self.stopped_reason is None:
            q.start()

    async def stop(self, reason: str = "engine stopping") -> None:
        await self._queue.stop(drain=self.stopped_reason is None)
        for timer in self.strategy._timers:
            timer.cancel()
        if self.stopped_reason is None:
            self.stopped_reason = reason
            await self._call(self.strategy.on_stop, "on_stop")

    async def _call(self, fn: Callable[[], Any], name: str) -> bool:
        try:
            result = fn()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self._last_error = exc
            self.ctx.bus.handler_failed(f"strategy.{self.strategy.id}.{name}", None, exc)
            self._on_error(None, exc)
            return False
        return True

    def _on_error(self, event: Any, exc: BaseException) -> None:
        self.errors += 1
        now = self.ctx.clock.now_ns()
        recent = self._recent
        recent.append(now)
        while recent and recent[0] <= now - int(self.error_window_s * NS):
            recent.popleft()
        if len(recent) >= self.max_errors and self.stopped_reason is None:
            self.halt(f"{len(recent)} errors within {self.error_window_s:g}s; last: {exc!r}")

    def pause(self, reason: str) -> None:
        """Refuse this strategy's new orders (events still arrive; cancels still go out)."""
        self.paused = reason

    def resume(self) -> None:
        self.paused = None

    def refuse_paused(self, side: Side, instrument: str, qty: Decimal, price: Decimal | None) -> Order:
        """A new order while paused: refused here, before the order manager, and told to the
        strategy like any refusal (a rejected order, and `on_order`)."""
        self.refused_while_paused += 1
        now = self.ctx.clock.now_ns()
        order = Order(
            client_order_id=f"paused-{self.strategy.id}-{self.refused_while_paused}", strategy_id=self.strategy.id,
            instrument=instrument, venue=self.ctx.venue_for(instrument), side=side,
            type=OrderType.MARKET if price is None else OrderType.LIMIT, qty=qty, price=price,
            status=OrderStatus.REJECTED, reason=f"strategy paused: {self.paused}", created_ns=now, updated_ns=now,
        )
        if self.refused_while_paused == 1 or self.refused_while_paused % 1000 == 0:
            self.strategy.log.warning("order refused: strategy paused", reason=self.paused,
                                      refused=self.refused_while_paused, instrument=instrument)
        self.deliver(OrderUpdate(order, None, now))
        return order

    def halt(self, reason: str) -> None:
        """Stop this strategy only (its error policy): no more events or timers; its open orders
        stay as they are."""
        self.stopped_reason = reason
        self.failed = True
        dropped = self._queue.halt()
        for timer in self.strategy._timers:
            timer.cancel()
        self.strategy.log.error("strategy stopped", reason=reason, dropped_events=dropped)
        self.ctx.bus.publish(
            EngineError(source=f"strategy.{self.strategy.id}", message=reason, ts=self.ctx.clock.now_ns()),
            self.strategy.id,
        )
