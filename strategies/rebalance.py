"""An equal-weight basket, rebalanced on a timer: every `every_s` seconds each instrument's target is
`notional / n` at its latest mid price, in whole lots, and the differences are bought and sold in
one callback (so a venue like smallcase takes them as one transaction). Market orders. A rebalance
is skipped while orders of the last one are still working, or before every price is known."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import msgspec

from strategies import Quote, Strategy


class Params(msgspec.Struct, forbid_unknown_fields=True):
    notional: Decimal = Decimal(500_000)  # the basket's total value, in the quote currency
    every_s: float = 60.0
    min_trade_value: Decimal = Decimal(0)  # smaller differences are left alone

    def __post_init__(self) -> None:  # checked when the config loads: one line, exit 2
        if self.notional <= 0:
            raise ValueError(f"notional must be positive, got {self.notional}")
        if self.every_s <= 0:
            raise ValueError(f"every_s must be positive, got {self.every_s}")
        if self.min_trade_value < 0:
            raise ValueError(f"min_trade_value must not be negative, got {self.min_trade_value}")


def target_qty(value: Decimal, price: Decimal, lot: Decimal) -> Decimal:
    """The most whole lots that `value` buys at `price`."""
    return (value / price / lot).to_integral_value(rounding=ROUND_FLOOR) * lot


class Rebalance(Strategy):
    Params = Params

    def on_start(self) -> None:
        self.prices: dict[str, Decimal] = {}
        self.rebalances = 0
        self.every(self.params.every_s, self.rebalance, name="rebalance")

    def on_quote(self, quote: Quote) -> None:
        if quote.bid > 0 and quote.ask > 0:
            self.prices[quote.instrument] = Decimal(repr((quote.bid + quote.ask) / 2))
        elif quote.last:
            self.prices[quote.instrument] = Decimal(repr(quote.last))

    def rebalance(self) -> None:
        if self.open_orders():
            self.log.info("rebalance skipped: orders still working", working=len(self.open_orders()))
            return
        missing = [i for i in self.instruments if i not in self.prices]
        if missing:
            self.log.info("rebalance skipped: no price yet", instruments=missing)
            return
        share = self.params.notional / len(self.instruments)
        trades = []
        for inst in self.instruments:
            price = self.prices[inst]
            delta = target_qty(share, price, self.instrument(inst).lot_size) - self.position(inst).qty
            if delta and abs(delta) * price >= self.params.min_trade_value:
                trades.append((inst, delta))
        self.rebalances += 1
        self.log.info("rebalance", number=self.rebalances, trades=len(trades))
        for inst, delta in trades:
            if delta > 0:
                self.buy(inst, delta)
            else:
                self.sell(inst, -delta)
