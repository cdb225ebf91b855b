"""A strategy that churns orders as hard as a demanding user's might: every `interval_s`, cancel
what the last burst left resting and place `burst` new limit buys a few ticks under the bid (so
they rest). For the rate-limit soak (`bench/gopax_soak.py`); not a trading idea."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from strategies import Quote, Strategy


class Params(msgspec.Struct, forbid_unknown_fields=True):
    burst: int = 4
    interval_s: float = 0.2
    qty: Decimal = Decimal("0.0001")
    ticks_under: int = 20


class Churn(Strategy):
    Params = Params

    def on_start(self) -> None:
        self.inst = self.instruments[0]
        self.bid: float | None = None
        self.bursts = 0
        self.every(self.params.interval_s, self.churn, name="churn")

    def on_quote(self, quote: Quote) -> None:
        if quote.bid > 0:
            self.bid = quote.bid

    def churn(self) -> None:
        if self.bid is None:
            return
        self.cancel_all(self.inst)
        tick = self.instrument().tick_size
        price = self.round_price(Decimal(str(self.bid)) - tick * self.params.ticks_under)
        for _ in range(self.params.burst):
            self.buy(self.inst, self.params.qty, price)
        self.bursts += 1
