"""A strategy that measures rather than trades, for `bench/nats_bridge.py`: the age of each quote
when it reaches the strategy (wall time now minus the quote's `ts_event`), and, every `order_every_s`,
a market buy's time from `buy()` to the engine sending it to the venue (the `submitted` update's
`updated_ns`). At the stop it logs one `probe` line with the counts, the quotes per second between its first and
last quote, and the percentiles."""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec

from engine.events import OrderStatus
from strategies import Order, Quote, Strategy

MAX_SAMPLES = 500_000


class Params(msgspec.Struct, forbid_unknown_fields=True):
    order_every_s: float = 0.5
    qty: Decimal = Decimal(1)


def pct(values: list[int], q: float) -> float:
    """The q-quantile in microseconds (values are ns)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / 1000


class Probe(Strategy):
    Params = Params

    def on_start(self) -> None:
        self.quote_ages: list[int] = []
        self.quotes = 0
        self.first_ns = self.last_ns = 0
        self.sent_at: dict[str, int] = {}
        self.order_lags: list[int] = []
        self.every(self.params.order_every_s, self.send, name="probe")

    def on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        self.last_ns = time.time_ns()
        if not self.first_ns:
            self.first_ns = self.last_ns
        if len(self.quote_ages) < MAX_SAMPLES:
            self.quote_ages.append(time.time_ns() - quote.ts_event)

    def send(self) -> None:
        order = self.buy(self.instruments[0], self.params.qty)
        self.sent_at[order.client_order_id] = time.time_ns()

    def on_order(self, order: Order) -> None:
        if order.status is OrderStatus.SUBMITTED:
            sent = self.sent_at.pop(order.client_order_id, None)
            if sent is not None:
                self.order_lags.append(order.updated_ns - sent)

    def on_stop(self) -> None:
        self.log.info(
            "probe", quotes=self.quotes, quotes_per_s=self.quotes / max((self.last_ns - self.first_ns) / 1e9, 1e-9),
            quote_p50_us=pct(self.quote_ages, 0.5), quote_p99_us=pct(self.quote_ages, 0.99),
            orders=len(self.order_lags), order_p50_us=pct(self.order_lags, 0.5), order_p99_us=pct(self.order_lags, 0.99),
        )
