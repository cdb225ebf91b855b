"""Moving-average crossover on bars: long when the fast average crosses above the slow one, flat
when it crosses back below. Market orders."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import msgspec

from strategies import Bar, Order, Strategy


class Params(msgspec.Struct, forbid_unknown_fields=True):
    fast: int = 5
    slow: int = 20
    qty: Decimal = Decimal(1)


class SmaCross(Strategy):
    Params = Params

    def on_start(self) -> None:
        p = self.params
        if not 0 < p.fast < p.slow:
            raise ValueError(f"need 0 < fast < slow, got fast={p.fast} slow={p.slow}")
        self.closes = {i: deque(maxlen=p.slow) for i in self.instruments}
        self.above: dict[str, bool | None] = {i: None for i in self.instruments}
        self.working: dict[str, Order | None] = {i: None for i in self.instruments}

    def on_bar(self, bar: Bar) -> None:
        closes = self.closes[bar.instrument]
        closes.append(bar.close)
        if len(closes) < self.params.slow:
            return
        fast = sum(list(closes)[-self.params.fast:]) / self.params.fast
        slow = sum(closes) / len(closes)
        above = fast > slow
        was = self.above[bar.instrument]
        self.above[bar.instrument] = above
        if was is None or above == was or self.working[bar.instrument] is not None:
            return
        held = self.position(bar.instrument).qty
        if above and held <= 0:
            self.working[bar.instrument] = self.buy(bar.instrument, self.params.qty - held)
        elif not above and held > 0:
            self.working[bar.instrument] = self.sell(bar.instrument, held)

    def on_order(self, order: Order) -> None:
        if not order.is_open:
            self.working[order.instrument] = None
            if order.status.value == "rejected":
                self.log.warning("order rejected", client_order_id=order.client_order_id, reason=order.reason)
