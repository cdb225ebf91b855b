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

    def __post_init__(self) -> None:  # checked when the config loads: one line, exit 2
        if not 0 < self.fast < self.slow:
            raise ValueError(f"need 0 < fast < slow, got fast={self.fast} slow={self.slow}")
        if self.qty <= 0:
            raise ValueError(f"qty must be positive, got {self.qty}")


class SmaCross(Strategy):
    Params = Params

    def on_start(self) -> None:
        p = self.params
        self.closes: dict[str, deque[float]] = {i: deque(maxlen=p.slow) for i in self.instruments}
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
            order = self.buy(bar.instrument, self.params.qty - held)
        elif not above and held > 0:
            order = self.sell(bar.instrument, held)
        else:
            return
        # An order refused at once (risk) is already final: on_order may even have run inside
        # buy() (backtests run handlers inline), so only an open order is remembered as working.
        self.working[bar.instrument] = order if order.is_open else None

    def on_order(self, order: Order) -> None:
        if not order.is_open:
            self.working[order.instrument] = None
            if order.status.value == "rejected":
                self.log.warning("order rejected", client_order_id=order.client_order_id, reason=order.reason)
