"""Pre-trade checks and the kill switch. A refusal is a reason string the strategy receives."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import msgspec
import structlog

from engine.events import ZERO, Order, OrderType, Side

if TYPE_CHECKING:
    from engine.account.portfolio import Portfolio

NS = 1_000_000_000
log = structlog.get_logger("tickbus.risk")


class RiskLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every limit is optional; an unset limit is not checked."""

    max_order_value: Decimal | None = None
    max_position: Decimal | None = None
    position_limits: dict[str, Decimal] = {}
    max_open_orders: int | None = None
    max_orders_per_second: float | None = None
    max_rejects: int | None = None
    reject_window_s: float = 60.0
    max_loss: Decimal | None = None
    check_balance: bool = True


class OrderBookView(Protocol):
    """What the risk engine needs from the order manager."""

    @property
    def open_count(self) -> int: ...

    def open_exposure(self, instrument: str) -> tuple[Decimal, Decimal]: ...


class RiskEngine:
    def __init__(self, limits: RiskLimits, portfolio: Portfolio) -> None:
        self.limits = limits
        self.portfolio = portfolio
        self.halted: str | None = None
        self._submits: dict[str, deque[int]] = {}
        self._rejects: deque[int] = deque()

    @property
    def instruments(self) -> Mapping[str, object]:
        return self.portfolio.instruments

    def check(self, order: Order, book: OrderBookView, *, new_orders: int = 1, count_rate: bool = True) -> str | None:
        """The reason the order is refused, or None when it may go. `new_orders`: how many orders
        it becomes (freeze slices); `count_rate=False`: a slice of an order already checked whole."""
        if self.halted is not None:
            return f"kill switch: {self.halted}"
        lim = self.limits
        ref_price = self._reference_price(order)
        return (
            self._shape(order)
            or self._value(order, ref_price)
            or self._position(order, book, order.qty)
            or self._open_orders(book, new_orders)
            or (self._rate(order) if count_rate else None)
            or (self._balance(order, ref_price, order.qty) if lim.check_balance else None)
            or self._loss()
        )

    def check_modify(self, order: Order, book: OrderBookView, original: Order | None = None) -> str | None:
        """A working order changed to `order`: its new shape, and the limits it may now break by
        what it adds beyond `original` (whose remainder the open exposure already counts)."""
        if self.halted is not None:
            return f"kill switch: {self.halted}"
        added = order.remaining - (original.remaining if original is not None else ZERO)
        ref_price = self._reference_price(order)
        extra_cost = None
        if original is not None and ref_price is not None:
            old_price = self._reference_price(original) or ref_price
            extra_cost = order.remaining * ref_price - original.remaining * old_price
        return (
            self._shape(order)
            or self._value(order, ref_price)
            or (self._position(order, book, added) if added > 0 else None)
            or (self._balance(order, ref_price, added, cost=extra_cost) if self.limits.check_balance else None)
            or self._loss()
        )

    def _value(self, order: Order, ref_price: Decimal | None) -> str | None:
        cap = self.limits.max_order_value
        if cap is None or ref_price is None:
            return None
        value = order.qty * ref_price
        return f"order value {value} above max_order_value {cap}" if value > cap else None

    def _position(self, order: Order, book: OrderBookView, qty: Decimal) -> str | None:
        """The position if every open order on this side filled, plus `qty` more."""
        lim = self.limits
        cap = lim.position_limits.get(order.instrument, lim.max_position)
        if cap is None:
            return None
        position = self.portfolio.position(order.instrument).qty
        buys, sells = book.open_exposure(order.instrument)
        worst = position + buys + qty if order.side is Side.BUY else position - sells - qty
        return f"position would reach {worst}, above the limit {cap}" if abs(worst) > cap else None

    def _open_orders(self, book: OrderBookView, new_orders: int = 1) -> str | None:
        cap = self.limits.max_open_orders
        if cap is not None and book.open_count + new_orders > cap:
            return f"{book.open_count} open orders and {new_orders} more: max_open_orders is {cap}"
        return None

    def _rate(self, order: Order) -> str | None:
        cap = self.limits.max_orders_per_second
        window = self._submits.get(order.venue)
        if cap is None or window is None:
            return None
        now = order.created_ns
        while window and window[0] <= now - NS:
            window.popleft()
        return f"order rate above {cap}/s for venue {order.venue}" if len(window) >= cap else None

    def _loss(self) -> str | None:
        cap = self.limits.max_loss
        if cap is None:
            return None
        net = self.portfolio.pnl().net
        if net < -cap:
            self.halt(f"loss {-net} beyond max_loss {cap}")
            return f"kill switch: {self.halted}"
        return None

    def _shape(self, order: Order) -> str | None:
        inst = self.portfolio.instruments.get(order.instrument)
        if inst is None:
            return f"unknown instrument {order.instrument}"
        if order.qty <= 0:
            return f"quantity must be positive, got {order.qty}"
        if inst.lot_size > 0 and order.qty % inst.lot_size != 0:
            return f"quantity {order.qty} is not a multiple of the lot size {inst.lot_size}"
        if inst.min_qty > 0 and order.qty < inst.min_qty:
            return f"quantity {order.qty} below the minimum {inst.min_qty}"
        needs_price = order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_trigger = order.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
        if needs_price and (order.price is None or order.price <= 0):
            return f"a {order.type.value} order needs a positive price"
        if needs_trigger and (order.trigger_price is None or order.trigger_price <= 0):
            return f"a {order.type.value} order needs a positive trigger price"
        for name, value in (("price", order.price), ("trigger price", order.trigger_price)):
            if value is not None and inst.tick_size > 0 and value % inst.tick_size != 0:
                return f"{name} {value} is not on the tick size {inst.tick_size}"
        return None

    def _reference_price(self, order: Order) -> Decimal | None:
        if order.price is not None:
            return order.price
        if order.trigger_price is not None:
            return order.trigger_price
        return self.portfolio.mark(order.instrument)

    def _balance(self, order: Order, ref_price: Decimal | None, qty: Decimal, *, cost: Decimal | None = None) -> str | None:
        """Whether the free balance pays for `qty` (or, buying, `cost` in the quote currency)."""
        inst = self.portfolio.instruments.get(order.instrument)
        if inst is None or qty <= 0 and not cost:
            return None
        if order.side is Side.BUY:
            bal = self.portfolio.balance(order.venue, inst.quote)
            if bal is None or ref_price is None:
                return None  # nothing known to check against; the venue will decide
            needed = cost if cost is not None else qty * ref_price
            if needed > bal.free:
                return f"insufficient balance: {needed} {inst.quote} needed, {bal.free} free"
        elif inst.kind == "spot" and qty > 0:
            bal = self.portfolio.balance(order.venue, inst.base)
            if bal is not None and qty > bal.free:
                return f"insufficient balance: {qty} {inst.base} needed, {bal.free} free"
        return None

    # --- bookkeeping the order manager reports ------------------------------------------------

    def record_submit(self, venue: str, ts_ns: int) -> None:
        if self.limits.max_orders_per_second is not None:
            self._submits.setdefault(venue, deque()).append(ts_ns)

    def record_reject(self, ts_ns: int) -> None:
        lim = self.limits
        if lim.max_rejects is None:
            return
        window = self._rejects
        window.append(ts_ns)
        horizon = ts_ns - int(lim.reject_window_s * NS)
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= lim.max_rejects and self.halted is None:
            self.halt(f"{len(window)} rejects within {lim.reject_window_s:g}s")

    def halt(self, reason: str) -> None:
        self.halted = reason
        log.error("kill switch engaged: new orders halted", reason=reason)

    def resume(self) -> None:
        self.halted = None
        self._rejects.clear()


__all__ = ["RiskEngine", "RiskLimits", "ZERO"]
