"""A simulated exchange: the state behind every venue emulator.

It owns a seeded price process (the random walk), the shared matching engine, one virtual account
per user, order and fill history, and a controllable clock. An emulator only translates its
venue's wire protocol to and from this object; strictness about the protocol (auth, rate limits,
field formats) stays in the emulator, the market mechanics stay here, written once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from adapters.simulation.account import Account, FeeSchedule
from adapters.simulation.matching import Execution, MatchingEngine, SimOrder, StatusChange
from engine.data.synthetic import RandomWalk, WalkSpec
from engine.events import Instrument, OrderStatus, OrderType, Quote, Side, TimeInForce, Trade

NS = 1_000_000_000


class EmulatorClock:
    """Wall time from a start, at a rate (1 unless told), that tests move: `advance(3600)` crosses
    an hour at once, `set(ts)` jumps there; either way it goes on from there at the same rate.

    `run_at(speed)` makes it run `speed` times wall time from its present reading (`run.py emulate
    VENUE --start T --speed X`); at rate 1 it is wall time plus an offset, as it always was.
    """

    def __init__(self, start_ns: int | None = None, *, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be positive, got {speed!r}")
        self._wall0 = time.time_ns()
        self._at0 = self._wall0 if start_ns is None else start_ns
        self.speed = speed

    def now_ns(self) -> int:
        elapsed = time.time_ns() - self._wall0
        return self._at0 + (elapsed if self.speed == 1 else int(elapsed * self.speed))

    def advance(self, seconds: float) -> None:
        self._at0 += int(seconds * NS)

    def set(self, ts_ns: int) -> None:
        self._wall0 = time.time_ns()
        self._at0 = ts_ns

    def run_at(self, speed: float) -> None:
        """From now on, `speed` emulated seconds to each wall second, with no jump in the reading."""
        if not speed > 0:
            raise ValueError(f"clock speed must be positive, got {speed!r}")
        self.set(self.now_ns())
        self.speed = speed


class ExchangeError(Exception):
    """A refusal with a reason the emulator maps onto its venue's error codes."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind  # unknown_instrument | insufficient_funds | market_closed | not_found | invalid
        self.message = message
        super().__init__(f"{kind}: {message}")


@dataclass
class FillRecord:
    id: int
    order_id: str
    owner: str
    instrument: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str
    ts_ns: int


@dataclass
class PublicTrade:
    id: int
    instrument: str
    price: float
    size: float
    side: Side
    ts_ns: int


@dataclass
class MarketState:
    instrument: Instrument
    index: int
    quote: Quote | None = None
    trades: deque[PublicTrade] = field(default_factory=lambda: deque(maxlen=1000))


class QuoteTicked(msgspec.Struct, frozen=True):
    """The price process moved an instrument's quote."""

    quote: Quote


class PublicTraded(msgspec.Struct, frozen=True):
    """A trade printed on the public tape by the price process."""

    trade: PublicTrade


class OrderChanged(msgspec.Struct, frozen=True):
    """A user's order was taken, or its status or remaining quantity changed."""

    order: SimOrder


class OrderFilled(msgspec.Struct, frozen=True):
    """A user's order traded; the account is already settled."""

    order: SimOrder
    fill: FillRecord


class BalanceChanged(msgspec.Struct, frozen=True):
    """One asset of a user's account moved (a fill settled or a hold released)."""

    owner: str
    asset: str


ExchangeEvent = QuoteTicked | PublicTraded | OrderChanged | OrderFilled | BalanceChanged
Listener = Callable[[ExchangeEvent], None]


class SimExchange:
    def __init__(
        self,
        instruments: Iterable[tuple[Instrument, WalkSpec]],
        *,
        seed: int = 1,
        clock: EmulatorClock | None = None,
        fees: FeeSchedule | None = None,
        is_open: Callable[[Instrument, int], bool] | None = None,
        order_ids: Callable[[], str] | None = None,
        tick_interval_s: float = 0.2,
    ) -> None:
        pairs = list(instruments)
        self.clock = clock or EmulatorClock()
        self.fees = fees or FeeSchedule()
        self.is_open = is_open or (lambda inst, ts: True)
        self.matching = MatchingEngine(id_prefix="")
        self.walk = RandomWalk([spec for _, spec in pairs], seed=seed)
        self.markets: dict[str, MarketState] = {}
        for index, (inst, _) in enumerate(pairs):
            self.markets[inst.symbol] = MarketState(inst, index)
            self.matching.add_instrument(inst.symbol, inst.tick_size, inst.lot_size)
        self.accounts: dict[str, Account] = {}
        self.fills: dict[str, list[FillRecord]] = {}
        self._owner_orders: dict[str, list[SimOrder]] = {}
        self._by_client: dict[tuple[str, str], SimOrder] = {}
        counter = itertools.count(10_000_001)
        self._next_order_id = order_ids or (lambda: str(next(counter)))
        self._fill_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._listeners: list[Listener] = []
        self.tick_interval_s = tick_interval_s
        self._task: asyncio.Task[None] | None = None
        for _ in range(3):  # a first quote everywhere, so a market order can fill at once
            self.step()

    # --- accounts -----------------------------------------------------------------------------

    def open_account(self, owner: str, balances: dict[str, Decimal], *, allow_short: bool = False) -> Account:
        account = Account(balances, fees=self.fees, allow_short=allow_short)
        self.accounts[owner] = account
        self.fills.setdefault(owner, [])
        self._owner_orders.setdefault(owner, [])
        return account

    def account(self, owner: str) -> Account:
        try:
            return self.accounts[owner]
        except KeyError:
            raise ExchangeError("not_found", f"no account {owner}") from None

    # --- market data --------------------------------------------------------------------------

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, event: ExchangeEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def market(self, symbol: str) -> MarketState:
        try:
            return self.markets[symbol]
        except KeyError:
            raise ExchangeError("unknown_instrument", f"unknown instrument {symbol}") from None

    def step(self) -> None:
        """One step of the price process for every instrument, with matching and notifications."""
        now = self.clock.now_ns()
        for symbol, state in self.markets.items():
            quote, trade = self.walk.step(state.index, now)
            quote = Quote(symbol, quote.bid, quote.ask, quote.bid_size, quote.ask_size, now, now, quote.last)
            state.quote = quote
            self._apply(self.matching.on_quote(quote))
            self._notify(QuoteTicked(quote))
            if trade is not None:
                record = PublicTrade(next(self._trade_ids), symbol, trade.price, trade.size, trade.aggressor or Side.BUY, now)
                state.trades.append(record)
                self._apply(self.matching.on_trade(Trade(symbol, trade.price, trade.size, now, now, trade.aggressor)))
                self._notify(PublicTraded(record))

    def print_trade(self, symbol: str, price: Decimal, size: Decimal, aggressor: Side = Side.SELL) -> None:
        """A public trade at `price` (a test's or a demo's): the resting orders it passes through
        fill at their own prices, as when the price process trades there."""
        now = self.clock.now_ns()
        state = self.market(symbol)
        record = PublicTrade(next(self._trade_ids), symbol, float(price), float(size), aggressor, now)
        state.trades.append(record)
        self._apply(self.matching.on_trade(Trade(symbol, float(price), float(size), now, now, aggressor)))
        self._notify(PublicTraded(record))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval_s)
            self.step()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="sim-exchange")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def book(self, symbol: str, depth: int = 10) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Levels around the touch (one tick apart) plus resting user orders, best first."""
        state = self.market(symbol)
        quote = state.quote
        if quote is None:
            return [], []
        tick = state.instrument.tick_size
        bid, ask = Decimal(repr(quote.bid)), Decimal(repr(quote.ask))
        bids = {bid - tick * i: Decimal(repr(quote.bid_size)) for i in range(depth)}
        asks = {ask + tick * i: Decimal(repr(quote.ask_size)) for i in range(depth)}
        for order in self.matching.open_orders():
            if order.instrument != symbol or order.price is None or not order.triggered:
                continue
            side = bids if order.side is Side.BUY else asks
            side[order.price] = side.get(order.price, Decimal(0)) + order.remaining
        best_bids = sorted(((p, q) for p, q in bids.items() if p > 0), reverse=True)[:depth]
        best_asks = sorted(asks.items())[:depth]
        return best_bids, best_asks

    # --- orders -------------------------------------------------------------------------------

    def place(
        self,
        owner: str,
        *,
        symbol: str,
        side: Side,
        type: OrderType,
        qty: Decimal,
        price: Decimal | None = None,
        trigger: Decimal | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        notional: Decimal | None = None,
        client_id: str | None = None,
        expires_ns: int | None = None,
    ) -> SimOrder:
        account = self.account(owner)
        state = self.market(symbol)
        inst = state.instrument
        now = self.clock.now_ns()
        if not self.is_open(inst, now):
            raise ExchangeError("market_closed", f"market closed for {symbol}")
        if client_id is not None:
            previous = self._by_client.get((owner, client_id))
            if previous is not None and previous.is_open:
                raise ExchangeError("duplicate_client_id", f"client order id {client_id} is in use")
        reference = None
        if state.quote is not None:
            reference = Decimal(repr(state.quote.ask if side is Side.BUY else state.quote.bid))
        order = SimOrder(
            id=self._next_order_id(),
            instrument=symbol,
            side=side,
            type=type,
            qty=qty if notional is None else Decimal("Infinity"),
            price=price,
            trigger=trigger,
            tif=tif,
            owner=owner,
            notional=notional,
            client_id=client_id,
            expires_ns=expires_ns,
            created_ns=now,
        )
        reason = account.hold(order.id, inst, side, type, qty, price or trigger, reference=reference or trigger, notional=notional)
        if reason is not None:
            raise ExchangeError("insufficient_funds", reason)
        self._owner_orders[owner].append(order)
        if client_id is not None:
            self._by_client[(owner, client_id)] = order
        self._notify(OrderChanged(order))
        self._apply(self.matching.submit(order, now))
        if order.status is OrderStatus.REJECTED and order.id not in self.matching.orders:
            # refused on arrival (off the lot, no price): the matching engine never took it,
            # so nothing will release what was held for it
            account.release(order.id)
            self._notify(BalanceChanged(owner, inst.quote if side is Side.BUY else inst.base))
        return order

    def cancel(self, owner: str, order_id: str) -> SimOrder:
        order = self.order(owner, order_id)
        if not order.is_open:
            raise ExchangeError("not_open", f"order {order_id} is {order.status.value}")
        self._apply(self.matching.cancel(order.id, self.clock.now_ns()))
        return order

    def modify(self, owner: str, order_id: str, *, qty: Decimal | None = None, price: Decimal | None = None, trigger: Decimal | None = None) -> SimOrder:
        order = self.order(owner, order_id)
        if not order.is_open:
            raise ExchangeError("not_open", f"order {order_id} is {order.status.value}")
        new_qty = order.qty if qty is None else qty
        if new_qty > order.filled:
            state = self.market(order.instrument)
            reference = None
            if state.quote is not None:
                reference = Decimal(repr(state.quote.ask if order.side is Side.BUY else state.quote.bid))
            reason = self.account(owner).rehold(
                order.id, state.instrument, order.side, order.type, new_qty - order.filled,
                price if price is not None else order.price or trigger or order.trigger,
                reference=reference or trigger or order.trigger,
            )
            if reason is not None:
                raise ExchangeError("insufficient_funds", reason)
        self._apply(self.matching.modify(order.id, self.clock.now_ns(), qty=qty, price=price, trigger=trigger))
        return order

    def order(self, owner: str, order_id: str) -> SimOrder:
        order = self.matching.orders.get(order_id)
        if order is None or order.owner != owner:
            raise ExchangeError("not_found", f"no order {order_id}")
        return order

    def order_by_client_id(self, owner: str, client_id: str) -> SimOrder:
        order = self._by_client.get((owner, client_id))
        if order is None:
            raise ExchangeError("not_found", f"no order with client id {client_id}")
        return order

    def orders(self, owner: str, *, open_only: bool = False) -> list[SimOrder]:
        orders = self._owner_orders.get(owner, [])
        return [o for o in orders if o.is_open] if open_only else list(orders)

    def expire(self) -> None:
        self._apply(self.matching.expire(self.clock.now_ns()))

    # --- executions ---------------------------------------------------------------------------

    def _apply(self, events: Iterable[Execution | StatusChange]) -> None:
        for event in events:
            order = self.matching.orders.get(event.order_id)
            if order is None:
                continue
            account = self.accounts.get(order.owner)
            inst = self.markets[order.instrument].instrument
            if isinstance(event, Execution):
                fee = Decimal(0)
                if account is not None:
                    fee = account.settle(order.id, inst, order.side, event.qty, event.price, event.liquidity)
                record = FillRecord(
                    id=next(self._fill_ids), order_id=order.id, owner=order.owner, instrument=order.instrument,
                    side=order.side, qty=event.qty, price=event.price, fee=fee, fee_asset=inst.quote,
                    liquidity=event.liquidity, ts_ns=event.ts_ns,
                )
                self.fills.setdefault(order.owner, []).append(record)
                self._notify(OrderFilled(order, record))
                self._notify(BalanceChanged(order.owner, inst.base))
                self._notify(BalanceChanged(order.owner, inst.quote))
            else:
                if event.status.is_terminal and account is not None:
                    account.release(order.id)
                    self._notify(BalanceChanged(order.owner, inst.quote if order.side is Side.BUY else inst.base))
                self._notify(OrderChanged(order))

