"""A strategy that counts quotes and, with `order_every`, sends a market order every that many
quotes, alternating buy and sell per instrument (so each instrument's position stays 0 or `qty`
and every order finishes). For `bench/memory_soak.py` and `bench/scaling.py`; not a trading idea."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from strategies import Quote, Strategy


class Params(msgspec.Struct, forbid_unknown_fields=True):
    order_every: int = 0  # 0: never
    qty: Decimal = Decimal(1)


class EveryN(Strategy):
    Params = Params

    def on_start(self) -> None:
        self.seen = 0
        self.sent = 0
        self.long: set[str] = set()  # instruments this strategy last bought

    def on_quote(self, quote: Quote) -> None:
        self.seen += 1
        every = self.params.order_every
        if every and self.seen % every == 0:
            inst = quote.instrument
            self.sent += 1
            if inst in self.long:
                self.long.discard(inst)
                self.sell(inst, self.params.qty)
            else:
                self.long.add(inst)
                self.buy(inst, self.params.qty)
