"""NautilusTrader's side of `bench/vs_nautilus.py`, run by the interpreter of the virtual
environment NautilusTrader is installed in (it imports nothing of tickbus). A backtest of N quote
ticks of one instrument into a Python strategy that counts them and, with `--order-every K`,
alternates market buys and sells every K quotes; prints one JSON line: seconds in `engine.run()`,
quotes the strategy saw, fills.

    /path/to/nautilus-venv/bin/python bench/nautilus_side.py --quotes 1000000 --order-every 1000
"""

from __future__ import annotations

import argparse
import json
import random
import time

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy, StrategyConfig


class CounterConfig(StrategyConfig, frozen=True):
    instrument_id: str
    order_every: int = 0


class QuoteCounter(Strategy):
    """The same trivial work as tickbus's bench strategy: count quotes, a market order every K."""

    def __init__(self, config: CounterConfig) -> None:
        super().__init__(config)
        self.seen = 0
        self.fills = 0
        self.side = 0
        self.qty = Quantity.from_str("0.001000")  # BTCUSDT.BINANCE: 6 decimals

    def on_start(self) -> None:
        self.instrument_id = InstrumentId.from_str(self.config.instrument_id)
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.seen += 1
        every = self.config.order_every
        if every and self.seen % every == 0:
            self.side ^= 1
            side = OrderSide.BUY if self.side else OrderSide.SELL
            self.submit_order(self.order_factory.market(self.instrument_id, side, self.qty))

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills += 1


def ticks(instrument, n: int, seed: int) -> list[QuoteTick]:  # noqa: ANN001
    rng = random.Random(seed)
    mid = 50_000.0
    out = []
    ts = 1_767_571_200_000_000_000  # 2026-01-05
    for _ in range(n):
        mid = max(1000.0, mid + rng.choice((-0.5, 0.0, 0.5)))
        out.append(QuoteTick(
            instrument_id=instrument.id, bid_price=Price(mid - 0.5, 2), ask_price=Price(mid + 0.5, 2),
            bid_size=Quantity(5.0, 6), ask_size=Quantity(5.0, 6), ts_event=ts, ts_init=ts,
        ))
        ts += 10_000_000  # every 10 ms, as tickbus's synthetic feed
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--order-every", type=int, default=0)
    args = parser.parse_args()
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"), logging=LoggingConfig(log_level="ERROR")))
    venue = Venue("BINANCE")
    engine.add_venue(venue=venue, oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     starting_balances=[Money(100_000_000, USDT), Money(1_000, BTC)])
    instrument = TestInstrumentProvider.btcusdt_binance()
    engine.add_instrument(instrument)
    engine.add_data(ticks(instrument, args.quotes, 3))
    strategy = QuoteCounter(CounterConfig(instrument_id=str(instrument.id), order_every=args.order_every))
    engine.add_strategy(strategy)
    t0 = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - t0
    print(json.dumps({"seconds": elapsed, "seen": strategy.seen, "fills": strategy.fills}))
    engine.dispose()


if __name__ == "__main__":
    main()
