"""A test strategy: a market buy every `every` quotes, up to `max_orders`; logs each order event
and fill it hears of, so a test can count them across processes."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.events import Fill, Order, Quote
from engine.strategy.base import Strategy


class Params(msgspec.Struct, forbid_unknown_fields=True):
    max_orders: int = 3
    every: int = 5
    qty: Decimal = Decimal(1)


class Ticker(Strategy):
    Params = Params

    def on_start(self) -> None:
        self.quotes = 0
        self.sent = 0

    def on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        if self.sent < self.params.max_orders and self.quotes % self.params.every == 0:
            order = self.buy(quote.instrument, self.params.qty)
            self.sent += 1
            self.log.info("test sent", client_order_id=order.client_order_id)

    def on_order(self, order: Order) -> None:
        self.log.info("test order", client_order_id=order.client_order_id, status=str(order.status))

    def on_fill(self, fill: Fill) -> None:
        self.log.info("test fill", client_order_id=fill.client_order_id, fill_id=fill.fill_id)
