"""The rebalancing strategy on smallcase: one callback's orders are one transaction, a rebalance waits
for the last one, and the leprechaun config runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from adapters.smallcase.emulator import SmallcaseEmulator
from engine.events import OrderStatus, Quote
from engine.strategy.base import StrategyContext, StrategyHost
from strategies.rebalance import Params, Rebalance, target_qty

from .conftest import TICKERS, Harness, bounded, until, venue_on

REPO = Path(__file__).resolve().parents[3]
BASKET = [f"sim:NSE:{t}" for t in TICKERS]
PRICES = {"RELIANCE": 1290.5, "TCS": 3050.0, "INFY": 1512.4, "HDFCBANK": 1985.6, "ICICIBANK": 1422.3}


async def strategy_on(h: Harness, notional: int = 100_000) -> Rebalance:
    """A Rebalance whose orders go to smallcase (the runner's `route`), its timer out of the way."""
    m = h.manager
    ctx = StrategyContext(
        id="s1", instruments=BASKET, bus=m.bus, clock=m.clock, orders=m, portfolio=m.portfolio, venue_for=lambda _: "smallcase",
    )
    strategy = Rebalance(ctx, Params(notional=Decimal(notional), every_s=3600))
    await bounded(StrategyHost(strategy).start())
    for ticker, price in PRICES.items():
        m.bus.publish(Quote(f"sim:NSE:{ticker}", price - 0.05, price + 0.05, 100, 100, 0, 0), f"sim:NSE:{ticker}")
    await until(lambda: len(strategy.prices) == len(BASKET))
    return strategy


def test_target_quantity_is_the_whole_lots_the_value_buys() -> None:
    assert target_qty(Decimal(20_000), Decimal("1290.50"), Decimal(1)) == 15
    assert target_qty(Decimal(20_000), Decimal("1290.50"), Decimal(5)) == 15
    assert target_qty(Decimal(20_000), Decimal("1290.50"), Decimal(10)) == 10
    assert target_qty(Decimal(100), Decimal("1290.50"), Decimal(1)) == 0


async def test_a_rebalance_is_one_transaction_and_reaches_equal_weights(emulator: SmallcaseEmulator, harness: Harness) -> None:
    strategy = await strategy_on(harness)

    strategy.rebalance()
    await until(lambda: harness.manager.open_count == 0 and len(harness.fills) == len(BASKET))

    (tx,) = emulator.gateway.transactions.values()
    assert sorted(s.ticker for s in tx.securities) == sorted(TICKERS)
    held = {i: harness.manager.portfolio.position(i, "s1").qty for i in BASKET}
    assert held == {f"sim:NSE:{t}": target_qty(Decimal(20_000), Decimal(repr(p)), Decimal(1)) for t, p in PRICES.items()}


async def test_a_rebalance_is_skipped_while_the_last_ones_orders_work(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator) as h:
        strategy = await strategy_on(h)
        strategy.rebalance()
        await until(lambda: h.manager.open_count == len(BASKET))

        strategy.rebalance()
        await until(lambda: not h.manager.busy)

        assert len(real_emulator.gateway.transactions) == 1 and strategy.rebalances == 1
        assert all(o.status is OrderStatus.SUBMITTED for o in h.manager.open_orders())


def test_the_leprechaun_config_rebalances_end_to_end_with_fills() -> None:
    proc = subprocess.run(
        [sys.executable, "run.py", "configs/smallcase_leprechaun.yaml", "--duration", "10", "--log-format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    created = [r for r in records if r["event"] == "transaction created; the emulated leprechaun user completes it"]
    assert summary["fills"] >= len(BASKET) and summary["strategies"]["basket"]["fills"] == summary["fills"]
    assert summary["orders_engine"]["duplicate_fills"] == 0 and summary["bus"]["handler_errors"] == 0
    assert created and created[0]["orders"] == len(BASKET)  # the first rebalance is one transaction
    assert all(r["link"] and r["transaction_id"] in r["link"] for r in created)
    assert any(r["event"] == "postback receiver listening" for r in records)
    assert "Traceback" not in proc.stderr
