"""Mean reversion with bands: a resting limit buy at the lower band while flat, a resting limit
sell at the mean while long; the working order follows the bands as they move."""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

import msgspec

from strategies import Order, Quote, Side, Strategy


class Params(msgspec.Struct, forbid_unknown_fields=True):
    window: int = 200
    width: float = 2.0
    qty: Decimal = Decimal(1)
    requote_s: float = 1.0
    min_move_ticks: int = 2

    def __post_init__(self) -> None:  # checked when the config loads: one line, exit 2
        if self.window < 2:
            raise ValueError(f"window must be at least 2, got {self.window}")
        for name in ("width", "qty", "requote_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.min_move_ticks < 0:
            raise ValueError(f"min_move_ticks must not be negative, got {self.min_move_ticks}")


class MeanReversion(Strategy):
    Params = Params

    def on_start(self) -> None:
        self.mids: dict[str, deque[float]] = {i: deque(maxlen=self.params.window) for i in self.instruments}
        self.working: dict[str, Order | None] = {i: None for i in self.instruments}
        self.every(self.params.requote_s, self.requote)

    def on_quote(self, quote: Quote) -> None:
        if quote.bid > 0 and quote.ask > 0:
            self.mids[quote.instrument].append((quote.bid + quote.ask) / 2)

    def requote(self) -> None:
        for inst in self.instruments:
            mids = self.mids[inst]
            if len(mids) < self.params.window:
                continue
            mean = sum(mids) / len(mids)
            std = math.sqrt(sum((m - mean) ** 2 for m in mids) / len(mids))
            held = self.position(inst).qty
            if held > 0:
                self.place(inst, Side.SELL, held, self.round_price(mean, inst, Side.SELL))
            else:
                target = self.round_price(mean - self.params.width * std, inst, Side.BUY)
                self.place(inst, Side.BUY, self.params.qty, target)

    def place(self, inst: str, side: Side, qty: Decimal, price: Decimal) -> None:
        current = self.working[inst]
        if current is not None:
            current = self.order(current.client_order_id)
        if current is not None and current.is_open:
            if current.pending is not None:
                return
            tick = self.instrument(inst).tick_size
            moved = current.price is None or abs(current.price - price) >= tick * self.params.min_move_ticks
            if current.side is side and not moved:
                return
            self.cancel(current)  # replaced on the next requote, once the cancel is confirmed
            return
        if price <= 0:
            return
        self.working[inst] = self.buy(inst, qty, price) if side is Side.BUY else self.sell(inst, qty, price)

    def on_order(self, order: Order) -> None:
        if order.status.value == "rejected":
            self.log.warning("order rejected", client_order_id=order.client_order_id, reason=order.reason)
