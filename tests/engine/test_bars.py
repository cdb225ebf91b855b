"""engine.data.bars: OHLCV from trades, mid bars from quotes, closing on the next interval's first event
or on time through the clock, no duplicate bar for late events."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.app.config import load_config
from engine.app.runner import Engine
from engine.clock import SimulatedClock
from engine.data.bars import BarAggregator
from engine.data.bus import Bus
from engine.events import Bar, Quote, Trade
from engine.strategy.base import Strategy

NS = 1_000_000_000
T0 = 1_767_571_200 * NS  # a whole minute
INST = "sim:A"


class Harness:
    def __init__(self, interval_s: int = 5, source: str = "trades") -> None:
        self.bus = Bus()
        self.clock = SimulatedClock(T0)
        self.agg = BarAggregator(self.bus, self.clock, INST, interval_s, source)  # type: ignore[arg-type]
        self.agg.start()
        self.bars: list[Bar] = []
        self.bus.subscribe(Bar, self.bars.append, keys=[self.agg.key])

    def trade(self, at_s: float, price: float, size: float = 1.0) -> None:
        ts = T0 + int(at_s * NS)
        self.clock.advance_to(ts)  # the clock moves first, as the backtest driver does
        self.bus.publish(Trade(INST, price, size, ts, ts), INST)

    def late_trade(self, at_s: float, price: float) -> None:
        """A trade stamped earlier than the engine clock (a lagging feed)."""
        ts = T0 + int(at_s * NS)
        self.bus.publish(Trade(INST, price, 1.0, ts, ts), INST)

    def quote(self, at_s: float, bid: float, ask: float) -> None:
        ts = T0 + int(at_s * NS)
        self.clock.advance_to(ts)
        self.bus.publish(Quote(INST, bid, ask, 1.0, 1.0, ts, ts), INST)

    def advance(self, to_s: float) -> None:
        self.clock.advance_to(T0 + int(to_s * NS))


def ohlcv(bar: Bar) -> tuple[float, float, float, float, float]:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume)


def test_trades_make_ohlcv_bars_closed_by_the_next_intervals_first_trade() -> None:
    h = Harness()
    h.trade(0.5, 100, 1)
    h.trade(1.0, 105, 2)
    h.trade(2.0, 95, 1)
    h.trade(4.9, 101, 3)
    assert h.bars == []  # still open
    h.trade(5.1, 102, 1)
    assert len(h.bars) == 1
    bar = h.bars[0]
    assert ohlcv(bar) == (100, 105, 95, 101, 7)
    assert (bar.instrument, bar.interval_s) == (INST, 5)
    assert (bar.ts_start, bar.ts_event) == (T0, T0 + 5 * NS)


def test_high_and_low_track_every_price_whatever_the_order() -> None:
    h = Harness()
    for i, price in enumerate([100, 90, 110, 80, 120, 100]):
        h.trade(i * 0.5, price)
    h.advance(5)
    assert ohlcv(h.bars[0]) == (100, 120, 80, 100, 6)


def test_quotes_make_mid_price_bars_without_volume_and_skip_one_sided_quotes() -> None:
    h = Harness(source="quotes")
    h.quote(0.1, 99, 101)  # mid 100
    h.quote(1.0, 0, 104)  # one-sided: ignored
    h.quote(2.0, 101, 103)  # 102
    h.quote(3.0, 97, 99)  # 98
    h.quote(6.0, 100, 102)
    assert [ohlcv(b) for b in h.bars] == [(100, 102, 98, 98, 0)]


def test_a_bar_closes_on_time_through_the_clock_when_no_event_comes() -> None:
    h = Harness()
    h.trade(6.0, 100)
    h.trade(7.0, 101)
    h.advance(9.999)
    assert h.bars == []
    h.advance(10.0)  # the bar's end: the timer closes it
    assert [ohlcv(b) for b in h.bars] == [(100, 101, 100, 101, 2)]
    assert h.bars[0].ts_start == T0 + 5 * NS
    h.advance(60)  # empty intervals make no bars
    assert len(h.bars) == 1
    h.trade(61.0, 103)
    h.trade(66.0, 104)
    assert [b.ts_start for b in h.bars] == [T0 + 5 * NS, T0 + 60 * NS]


def test_a_late_trade_for_a_bar_closed_on_time_makes_no_second_bar() -> None:
    h = Harness()
    h.trade(1.0, 100)
    h.advance(5.0)
    assert len(h.bars) == 1
    h.late_trade(4.0, 500)  # belongs to the bar already closed
    h.advance(20)
    assert len(h.bars) == 1
    assert ohlcv(h.bars[0]) == (100, 100, 100, 100, 1)
    assert h.agg.late == 1


def test_a_late_trade_for_an_older_interval_does_not_cut_the_open_bar_in_two() -> None:
    h = Harness()
    h.trade(1.0, 100)
    h.trade(6.0, 101)  # closes [0, 5)
    h.trade(16.0, 110)  # closes [5, 10), opens [15, 20)
    h.late_trade(12.0, 500)  # an interval that never had a bar, older than the open one
    h.trade(17.0, 111)
    h.advance(20)
    assert [b.ts_start for b in h.bars] == [T0, T0 + 5 * NS, T0 + 15 * NS]
    assert ohlcv(h.bars[-1]) == (110, 111, 110, 111, 2)
    assert h.agg.late == 1


def test_stop_ends_the_subscription_and_the_pending_close() -> None:
    h = Harness()
    h.trade(1.0, 100)
    h.agg.stop()
    h.trade(2.0, 101)
    h.advance(30)
    assert h.bars == []


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BarAggregator(Bus(), SimulatedClock(0), INST, 0)


def test_bars_from_trades_and_from_quotes_of_one_interval_go_to_different_keys() -> None:
    bus = Bus()
    clock = SimulatedClock(T0)
    from_trades = BarAggregator(bus, clock, INST, 5, "trades")
    from_quotes = BarAggregator(bus, clock, INST, 5, "quotes")
    from_trades.start()
    from_quotes.start()
    got: dict[str, list[Bar]] = {"trades": [], "quotes": []}
    bus.subscribe(Bar, got["trades"].append, keys=[(INST, 5, "trades")])
    bus.subscribe(Bar, got["quotes"].append, keys=[(INST, 5, "quotes")])
    for i in range(20):
        ts = T0 + i * NS // 2
        clock.advance_to(ts)
        bus.publish(Quote(INST, 99.0, 101.0, 1, 1, ts, ts), INST)
        bus.publish(Trade(INST, 200.0, 1.0, ts, ts), INST)
    clock.advance_to(T0 + 10 * NS)
    assert [b.close for b in got["quotes"]] == [100.0, 100.0]
    assert [b.close for b in got["trades"]] == [200.0, 200.0]


# --- in an engine: two strategies, same interval, different sources ---------------------------


class BarRecorder(Strategy):
    def on_start(self) -> None:
        self.bars: list[Bar] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)


async def test_each_strategy_gets_the_bars_of_its_own_source_once(tmp_path: Path) -> None:
    path = tmp_path / "bars.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            mode: backtest
            journal: null
            start: 2026-01-05T00:00:00Z
            duration_s: 60
            venues:
              sim:
                type: synthetic
                seed: 9
                interval_ms: 100
                instruments:
                  - {symbol: "BTC-KRW", price: 135000000, tick: 1000, lot: 0.0001, size: 2, trade_prob: 0.5}
            paper:
              balances: {KRW: 1000}
            strategies:
              - name: by-trades
                plugin: tests.engine.test_bars:BarRecorder
                instruments: ["sim:BTC-KRW"]
                bars: {seconds: 10, source: trades}
              - name: by-quotes
                plugin: tests.engine.test_bars:BarRecorder
                instruments: ["sim:BTC-KRW"]
                bars: {seconds: 10, source: quotes}
            """
        )
    )
    engine = Engine(load_config(path))

    async def go() -> None:
        await engine.start()
        await engine.run()
        await engine.stop()

    await asyncio.wait_for(go(), 30)
    bars: dict[str, Any] = {h.strategy.id: h.strategy.bars for h in engine.hosts}
    for name in ("by-trades", "by-quotes"):
        starts = [b.ts_start for b in bars[name]]
        assert starts == sorted(set(starts)), name  # one bar per interval, in order
        assert len(starts) == 6, name  # 60 s of 10 s bars, the last closed on time at the end
    assert all(b.volume > 0 for b in bars["by-trades"])
    assert all(b.volume == 0 for b in bars["by-quotes"])
