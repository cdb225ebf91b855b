"""Small strategies for the historical replay tests (loaded by `module:Class` from the configs)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.events import Bar, Fill, Quote, Side
from engine.strategy.base import Strategy

SEEN: dict[str, list[Any]] = {}  # what each strategy saw, for the test to read back


class BuyThenSellQuotes(Strategy):
    """Buys 2 at market on the first quote, then offers them at 101."""

    def on_start(self) -> None:
        self.bought = False
        SEEN["quotes"] = []

    def on_quote(self, quote: Quote) -> None:
        SEEN["quotes"].append((quote.ts_event, self.market_open(quote.instrument)))
        if not self.bought:
            self.bought = True
            self.buy(quote.instrument, 2)

    def on_fill(self, fill: Fill) -> None:
        if fill.side is Side.BUY:
            self.sell(fill.instrument, fill.qty, Decimal("101"))


class BuyThenSellBars(Strategy):
    """Buys 1 at market on the first bar, then offers it at 103."""

    def on_start(self) -> None:
        self.bought = False
        SEEN["bars"] = []

    def on_bar(self, bar: Bar) -> None:
        SEEN["bars"].append(bar)
        if not self.bought:
            self.bought = True
            self.buy(bar.instrument, 1)

    def on_fill(self, fill: Fill) -> None:
        if fill.side is Side.BUY:
            self.sell(fill.instrument, fill.qty, Decimal("103"))
