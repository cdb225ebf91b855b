"""The one matching engine: simulated orders against quotes, trades and books. Pure and synchronous.

It is shared by the engine's paper broker and by every venue emulator, so it knows nothing of
accounts, fees, market hours or wire formats; callers handle those and feed it market data.

- Market orders take liquidity at the touch up to the quoted size, then at worse prices: the
  levels of a recent book snapshot behind the touch when there is one, otherwise levels one tick
  apart with the touch's size. Liquidity taken from a quote is not offered again until the next
  quote. Fills are whole lots; an order whose quantity is not a whole number of lots is rejected.
- Limit orders that cross on arrival take liquidity like a market order up to their price; the
  rest rests and fills at its own price when a later quote or trade reaches it (partial fills
  against the quoted or traded size).
- Stops wait for their trigger (buy: ask or trade at/above it; sell: bid or trade at/below it),
  then act as market (stop-market) or limit (stop-limit) orders.
- IOC leaves nothing resting (the rest expires); FOK fills completely at once or expires
  untouched; post-only is rejected if it would take liquidity; DAY orders expire at `expires_ns`.
- A market buy may be given a quote-currency `notional` instead of a quantity (GOPAX).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from decimal import ROUND_DOWN, Decimal

from adapters.simulation.orders import Event, Execution, SimOrder, StatusChange
from engine.events import (
    ZERO,
    BookSnapshot,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    Trade,
)

__all__ = ["Event", "Execution", "MatchingEngine", "SimOrder", "StatusChange"]  # the orders' types, where callers find them

S = OrderStatus


class _Market:
    """Per instrument: the touch, an optional book, what was taken from them, resting orders.

    The touch is the latest quote itself, kept whole: taking it is one store per quote, and the
    fields are read (less often) where orders are matched."""

    __slots__ = ("tick", "lot", "quote", "book", "book_ts", "taken_bid", "taken_ask", "bids", "asks", "stops", "last")

    def __init__(self, tick: Decimal, lot: Decimal) -> None:
        self.tick = tick
        self.lot = lot
        self.quote = _NO_QUOTE
        self.book: BookSnapshot | None = None
        self.book_ts = 0
        self.taken_bid = ZERO
        self.taken_ask = ZERO
        self.bids: list[SimOrder] = []  # resting buys, best (highest) first
        self.asks: list[SimOrder] = []  # resting sells, best (lowest) first
        self.stops: list[SimOrder] = []
        self.last: float | None = None

    @property
    def bid(self) -> float:
        return self.quote.bid

    @property
    def ask(self) -> float:
        return self.quote.ask

    @property
    def bid_size(self) -> float:
        return self.quote.bid_size

    @property
    def ask_size(self) -> float:
        return self.quote.ask_size

    @property
    def quote_ts(self) -> int:
        return self.quote.ts_event


_NO_QUOTE = Quote("", 0.0, 0.0, 0.0, 0.0, 0, 0)


class MatchingEngine:
    def __init__(self, *, levels: int = 10, book_ttl_ns: int = 5_000_000_000, id_prefix: str = "x") -> None:
        self.levels = levels
        self.book_ttl_ns = book_ttl_ns
        self.orders: dict[str, SimOrder] = {}
        self._markets: dict[str, _Market] = {}
        self._exec_ids = itertools.count(1)
        self._expiries: list[tuple[int, int, SimOrder]] = []  # (expires_ns, seq, order), soonest first
        self._seq = itertools.count(1)
        self._prefix = id_prefix

    # --- set-up and market data ---------------------------------------------------------------

    def add_instrument(self, instrument: str, tick: Decimal, lot: Decimal = Decimal(1)) -> None:
        if instrument not in self._markets:
            self._markets[instrument] = _Market(tick, lot)

    def has_instrument(self, instrument: str) -> bool:
        return instrument in self._markets

    def touch(self, instrument: str) -> tuple[float, float, float, float] | None:
        m = self._markets.get(instrument)
        if m is None or (m.bid <= 0 and m.ask <= 0):
            return None
        return m.bid, m.ask, m.bid_size, m.ask_size

    def last_price(self, instrument: str) -> float | None:
        m = self._markets.get(instrument)
        return None if m is None else m.last

    def on_quote(self, quote: Quote) -> Sequence[Event]:
        m = self._markets.get(quote.instrument)
        if m is None:
            return _NONE
        m.quote = quote
        m.taken_bid = m.taken_ask = ZERO
        if quote.last is not None:
            m.last = quote.last
        if not (m.stops or (m.bids and m.bids[0]._price_f >= quote.ask > 0) or (m.asks and 0 < m.asks[0]._price_f <= quote.bid)):
            return _NONE  # the common case: nothing to do, no Decimal arithmetic
        events: list[Event] = []
        ts = quote.ts_event
        self._trigger_stops(m, ts, events, bid=m.bid, ask=m.ask)
        self._passive_from_touch(m, ts, events)
        return events

    def on_trade(self, trade: Trade) -> Sequence[Event]:
        m = self._markets.get(trade.instrument)
        if m is None:
            return _NONE
        m.last = trade.price
        px = trade.price
        if not (m.stops or (m.bids and m.bids[0]._price_f > px) or (m.asks and m.asks[0]._price_f < px)):
            return _NONE
        events: list[Event] = []
        self._trigger_stops(m, trade.ts_event, events, last=px)
        available = _dec(trade.size)
        if m.bids and m.bids[0]._price_f > px:
            available = self._passive_fill(m, m.bids, available, lambda o: o._price_f > px, trade.ts_event, events)
        if m.asks and m.asks[0]._price_f < px:
            self._passive_fill(m, m.asks, available, lambda o: o._price_f < px, trade.ts_event, events)
        return events

    def on_book(self, book: BookSnapshot) -> Sequence[Event]:
        m = self._markets.get(book.instrument)
        if m is None:
            return _NONE
        m.book = book
        m.book_ts = book.ts_event
        if book.bids and book.asks:
            quote = Quote(
                book.instrument, book.bids[0][0], book.asks[0][0], book.bids[0][1], book.asks[0][1],
                book.ts_event, book.ts_recv,
            )
            return self.on_quote(quote)
        return _NONE

    # --- orders -------------------------------------------------------------------------------

    def submit(self, order: SimOrder, now_ns: int) -> Sequence[Event]:
        """Accept `order` (status placed) and match what can match now."""
        m = self._markets.get(order.instrument)
        if m is None:
            return [self._reject(order, f"unknown instrument {order.instrument}", now_ns)]
        if order.id in self.orders:
            return [self._reject(order, f"duplicate order id {order.id}", now_ns)]
        problem = self._invalid(m, order)
        if problem is not None:
            return [self._reject(order, problem, now_ns)]
        order.seq = next(self._seq)
        order.created_ns = order.created_ns or now_ns
        self.orders[order.id] = order
        if order.expires_ns is not None:
            heapq.heappush(self._expiries, (order.expires_ns, order.seq, order))
        events: list[Event] = []
        if not order.triggered:
            m.stops.append(order)
            self._trigger_stops(m, now_ns, events, bid=m.bid, ask=m.ask)
            return events
        self._activate(m, order, now_ns, events)
        return events

    @staticmethod
    def _invalid(m: _Market, order: SimOrder) -> str | None:
        """Why `order` cannot be matched as given (missing prices, a quantity off the lot), or None."""
        if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.price is None:
            return f"a {order.type.value} order needs a price"
        if order.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT) and order.trigger is None:
            return f"a {order.type.value} order needs a trigger price"
        if order.notional is not None:
            return None if order.notional > 0 else "notional must be positive"
        if order.qty <= 0:
            return "quantity must be positive"
        if m.lot > 0 and order.qty % m.lot:  # one remainder, not a division, a rounding and a product
            return f"quantity {order.qty} is not a multiple of the lot size {m.lot}"
        return None

    def cancel(self, order_id: str, now_ns: int, reason: str | None = None) -> Sequence[Event]:
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            return _NONE
        self._unrest(order)
        order.status = S.CANCELLED
        order.reason = reason
        return [StatusChange(order.id, order.owner, S.CANCELLED, reason, now_ns)]

    def modify(
        self,
        order_id: str,
        now_ns: int,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger: Decimal | None = None,
    ) -> Sequence[Event]:
        """Change a working order; it loses its time priority and may match at once."""
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            return _NONE
        if qty is not None and qty <= order.filled:
            return self.cancel(order_id, now_ns, "modified below the filled quantity")
        m = self._markets[order.instrument]
        if qty is not None and _floor_lot(qty, m.lot) != qty:
            reason = f"modify refused: quantity {qty} is not a multiple of the lot size {m.lot}"
            return [StatusChange(order.id, order.owner, order.status, reason, now_ns)]
        self._unrest(order)
        if qty is not None:
            order.qty = qty
        if price is not None:
            order.price = price
            order._price_f = float(price)
        if trigger is not None:
            order.trigger = trigger
        order.seq = next(self._seq)
        events: list[Event] = [StatusChange(order.id, order.owner, order.status, "modified", now_ns)]
        if not order.triggered:
            m.stops.append(order)
            self._trigger_stops(m, now_ns, events, bid=m.bid, ask=m.ask)
        else:
            self._activate(m, order, now_ns, events, fresh=False)
        return events

    def expire(self, now_ns: int) -> list[Event]:
        """Expire every working order whose `expires_ns` has passed (DAY orders at the close)."""
        events: list[Event] = []
        due = self._expiries
        while due and due[0][0] <= now_ns:
            _, _, order = heapq.heappop(due)
            if not order.is_open or order.expires_ns is None or order.expires_ns > now_ns:
                continue  # finished already, or its expiry moved
            self._unrest(order)
            order.status = S.EXPIRED
            order.reason = "end of day"
            events.append(StatusChange(order.id, order.owner, S.EXPIRED, "end of day", now_ns))
        return events

    def open_orders(self, owner: str | None = None) -> Iterator[SimOrder]:
        return (o for o in self.orders.values() if o.is_open and (owner is None or o.owner == owner))

    def forget(self, order_id: str) -> None:
        """Drop a finished order from memory (callers that keep their own history)."""
        order = self.orders.get(order_id)
        if order is not None and not order.is_open:
            del self.orders[order_id]
            expiries = self._expiries
            if len(expiries) > 1024 and len(expiries) > 2 * len(self.orders):
                # finished orders wait in the heap for their expiry: drop them in one pass, not one by one
                self._expiries = [entry for entry in expiries if entry[2].is_open]
                heapq.heapify(self._expiries)

    # --- matching internals -------------------------------------------------------------------

    def _activate(self, m: _Market, order: SimOrder, now: int, events: list[Event], fresh: bool = True) -> None:
        """Match a live (triggered) order against the touch, then rest, expire or finish it."""
        is_market = order.acts_as_market
        if is_market and m.bid <= 0 and m.ask <= 0:
            if fresh:
                events.append(self._reject(order, "no market data to fill a market order", now))
            else:
                self._finish(order, S.EXPIRED, "no liquidity", now, events)
            return
        limit = None if is_market else order.price
        if order.tif is TimeInForce.POST_ONLY and limit is not None and self._crosses(m, order.side, limit):
            if fresh:
                events.append(self._reject(order, "post-only order would take liquidity", now))
            else:
                self._finish(order, S.CANCELLED, "post-only order would take liquidity", now, events)
            return
        if order.tif is TimeInForce.FOK and self._available(m, order.side, limit, order) < order.remaining:
            self._finish(order, S.EXPIRED, "fill-or-kill: not enough liquidity", now, events)
            return
        self._take(m, order, limit, now, events)
        if not order.is_open:
            return
        if is_market or order.tif in (TimeInForce.IOC, TimeInForce.FOK):
            reason = "no more liquidity" if is_market else "immediate-or-cancel remainder"
            self._finish(order, S.EXPIRED, reason, now, events)
            return
        self._rest(m, order)

    def _crosses(self, m: _Market, side: Side, limit: Decimal) -> bool:
        if side is Side.BUY:
            return m.ask > 0 and limit >= _dec(m.ask)
        return m.bid > 0 and limit <= _dec(m.bid)

    def _levels(self, m: _Market, side: Side) -> Iterator[tuple[Decimal, Decimal]]:
        """Liquidity an aggressive order of `side` can take: (price, size), best first.

        The touch of the latest quote comes first; a recent book adds depth behind it (its levels
        at or better than the touch are ignored: a newer quote says they are gone); without a
        book, levels one tick apart with the touch's size.
        """
        buy = side is Side.BUY
        touch = m.ask if buy else m.bid
        size = m.ask_size if buy else m.bid_size
        book = m.book
        if book is not None and m.book_ts + self.book_ttl_ns >= m.quote_ts:
            levels = book.asks if buy else book.bids
            if levels:
                room = self.levels
                if touch > 0:
                    yield _dec(touch), _dec(size)
                    room -= 1
                    levels = tuple(lv for lv in levels if (lv[0] > touch if buy else 0 < lv[0] < touch))
                for px, qty in levels[: max(room, 0)]:
                    yield _dec(px), _dec(qty)
                return
        if touch <= 0:
            return
        price = _dec(touch)
        amount = _dec(size)
        step = m.tick if buy else -m.tick
        for _ in range(self.levels):
            if price <= 0:
                return
            yield price, amount
            price += step

    def _liquidity(self, m: _Market, side: Side, limit: Decimal | None) -> Iterator[tuple[Decimal, Decimal]]:
        """What is left of `_levels` up to `limit` once this quote's taken liquidity is skipped."""
        buy = side is Side.BUY
        skip = m.taken_ask if buy else m.taken_bid
        for px, size in self._levels(m, side):
            if limit is not None and (px > limit if buy else px < limit):
                return
            if skip >= size:
                skip -= size
                continue
            yield px, size - skip
            skip = ZERO

    def _available(self, m: _Market, side: Side, limit: Decimal | None, order: SimOrder) -> Decimal:
        """Whole lots `_take` could fill now up to `limit` (for fill-or-kill)."""
        return sum((_floor_lot(size, m.lot) for _, size in self._liquidity(m, side, limit)), ZERO)

    def _take(self, m: _Market, order: SimOrder, limit: Decimal | None, now: int, events: list[Event]) -> None:
        buy = order.side is Side.BUY
        budget_spent = False
        for px, size in self._liquidity(m, order.side, limit):
            want = order.remaining
            if order.notional is not None:
                affordable = _floor_lot((order.notional - order.spent) / px, m.lot)
                budget_spent = affordable <= 0
                want = min(want, affordable)
            if want <= 0:
                break
            whole = _floor_lot(size, m.lot)
            qty = min(whole, want)
            if qty > 0:
                self._execute(order, qty, px, "taker", now, events)
            # A level taken down to less than a lot is used up: its remainder is counted as taken,
            # so `taken` stays a prefix of the levels and the next order starts at the next level.
            consumed = qty if qty < whole else size
            if buy:
                m.taken_ask += consumed
            else:
                m.taken_bid += consumed
            if not order.is_open:
                return
            if order.notional is not None:
                budget_spent = _floor_lot((order.notional - order.spent) / px, m.lot) <= 0
        if budget_spent and order.is_open and order.filled > 0:
            # the quote budget cannot buy another lot: the order is done
            order.qty = order.filled
            self._finish(order, S.COMPLETED, None, now, events)

    def _passive_from_touch(self, m: _Market, ts: int, events: list[Event]) -> None:
        if m.bids and m.ask > 0 and m.bids[0]._price_f >= m.ask:
            ask = m.ask
            available = _dec(m.ask_size) - m.taken_ask
            left = self._passive_fill(m, m.bids, available, lambda o: o._price_f >= ask, ts, events)
            m.taken_ask = _dec(m.ask_size) - left
        if m.asks and m.bid > 0 and m.asks[0]._price_f <= m.bid:
            bid = m.bid
            available = _dec(m.bid_size) - m.taken_bid
            left = self._passive_fill(m, m.asks, available, lambda o: o._price_f <= bid, ts, events)
            m.taken_bid = _dec(m.bid_size) - left

    def _passive_fill(
        self,
        m: _Market,
        queue: list[SimOrder],
        available: Decimal,
        reached: Callable[[SimOrder], bool],
        ts: int,
        events: list[Event],
    ) -> Decimal:
        """Fill resting orders the market reached, at their own prices, up to `available`."""
        while queue and available > 0 and reached(queue[0]):
            order = queue[0]
            qty = _floor_lot(min(order.remaining, available), m.lot)
            if qty <= 0:
                break
            self._execute(order, qty, order.price, "maker", ts, events)  # type: ignore[arg-type]
            available -= qty
            if not order.is_open:
                queue.pop(0)
        return available

    def _trigger_stops(self, m: _Market, now: int, events: list[Event], *, bid: float = 0.0, ask: float = 0.0, last: float | None = None) -> None:
        if not m.stops:
            return
        fired = []
        for order in m.stops:
            trig = float(order.trigger)  # type: ignore[arg-type]
            if order.side is Side.BUY:
                hit = (ask > 0 and ask >= trig) or (last is not None and last >= trig)
            else:
                hit = (bid > 0 and bid <= trig) or (last is not None and last <= trig)
            if hit:
                fired.append(order)
        for order in fired:
            m.stops.remove(order)
            order.triggered = True
            events.append(StatusChange(order.id, order.owner, order.status, "triggered", now, triggered=True))
            self._activate(m, order, now, events, fresh=False)

    def _execute(self, order: SimOrder, qty: Decimal, price: Decimal, liquidity: str, now: int, events: list[Event]) -> None:
        order.filled += qty
        order.spent += qty * price
        exec_id = f"{self._prefix}{next(self._exec_ids)}"
        events.append(Execution(order.id, order.owner, order.instrument, order.side, qty, price, liquidity, exec_id, now))
        if order.filled >= order.qty:
            order.status = S.COMPLETED
            events.append(StatusChange(order.id, order.owner, S.COMPLETED, None, now))
        else:
            order.status = S.UPDATED

    def _finish(self, order: SimOrder, status: OrderStatus, reason: str | None, now: int, events: list[Event]) -> None:
        self._unrest(order)
        if order.notional is not None:
            order.qty = order.filled
        order.status = status
        order.reason = reason
        events.append(StatusChange(order.id, order.owner, status, reason, now))

    def _reject(self, order: SimOrder, reason: str, now: int) -> StatusChange:
        order.status = S.REJECTED
        order.reason = reason
        return StatusChange(order.id, order.owner, S.REJECTED, reason, now)

    def _rest(self, m: _Market, order: SimOrder) -> None:
        queue = m.bids if order.side is Side.BUY else m.asks
        better = (lambda a, b: a > b) if order.side is Side.BUY else (lambda a, b: a < b)
        index = len(queue)
        for i, other in enumerate(queue):
            if better(order.price, other.price):
                index = i
                break
        queue.insert(index, order)

    def _unrest(self, order: SimOrder) -> None:
        m = self._markets.get(order.instrument)
        if m is None:
            return
        for queue in (m.bids, m.asks, m.stops):
            if order in queue:
                queue.remove(order)
                return


_NONE: Sequence[Event] = ()


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


def _floor_lot(qty: Decimal, lot: Decimal) -> Decimal:
    if lot <= 0:
        return qty
    return (qty / lot).to_integral_value(rounding=ROUND_DOWN) * lot
