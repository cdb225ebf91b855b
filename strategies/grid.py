"""A grid: a resting ladder of limit buys below the price; every filled buy is answered by a sell
one step above it, every filled sell by a buy one step below. When the price leaves the ladder,
the grid is cancelled and rebuilt around it."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from strategies import Fill, Order, Quote, Side, Strategy


class Params(msgspec.Struct, forbid_unknown_fields=True):
    levels: int = 5
    step_ticks: int = 5
    qty: Decimal = Decimal(1)
    recenter_steps: int = 8

    def __post_init__(self) -> None:  # checked when the config loads: one line, exit 2
        for name in ("levels", "step_ticks", "recenter_steps", "qty"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class Grid(Strategy):
    Params = Params

    def on_start(self) -> None:
        if len(self.instruments) != 1:
            raise ValueError("grid trades exactly one instrument")
        self.inst = self.instruments[0]
        self.step = self.instrument().tick_size * self.params.step_ticks
        self.center: Decimal | None = None
        self.rebuilds = 0

    def on_quote(self, quote: Quote) -> None:
        if quote.bid <= 0 or quote.ask <= 0:
            return
        mid = self.round_price((quote.bid + quote.ask) / 2)
        if self.center is None:
            self.build(mid)
        elif abs(mid - self.center) > self.step * self.params.recenter_steps:
            self.rebuilds += 1
            self.log.info("recentre", old=str(self.center), new=str(mid))
            for order in self.open_orders(self.inst):
                if order.side is Side.BUY:  # answering sells stay: they close what was bought
                    self.cancel(order)
            self.build(mid)

    def build(self, mid: Decimal) -> None:
        self.center = mid
        for level in range(1, self.params.levels + 1):
            price = mid - self.step * level
            if price > 0:
                self.buy(self.inst, self.params.qty, price)

    def on_fill(self, fill: Fill) -> None:
        if fill.side is Side.BUY:
            self.sell(self.inst, fill.qty, fill.price + self.step)
        else:
            price = fill.price - self.step
            if price > 0:
                self.buy(self.inst, fill.qty, price)

    def on_order(self, order: Order) -> None:
        if order.status.value == "rejected":
            self.log.warning("order rejected", client_order_id=order.client_order_id, reason=order.reason)
