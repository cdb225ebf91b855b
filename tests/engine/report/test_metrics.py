"""The report's figures on hand-made series and fills whose answers are worked out by hand."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from engine.account.portfolio import Portfolio
from engine.events import Fill, Quote, Side
from engine.orders.journal import ALL, EquityRow
from engine.report.metrics import (
    YEAR_S,
    drawdowns,
    figures,
    max_drawdown,
    round_trips,
    sampled_returns,
    sharpe,
    sortino,
    turnover,
    win_rate,
)
from engine.report.record import equity_rows

D = Decimal


def fill(n: int, side: Side, qty: str, price: str, fee: str = "0", strategy: str = "s", inst: str = "v:X") -> Fill:
    return Fill(venue="v", instrument=inst, side=side, qty=D(qty), price=D(price), fill_id=f"f{n}", fee=D(fee),
                fee_asset="INR", strategy_id=strategy, ts_event=n * 1_000_000_000)


def row(ts: int, net: str, exposure: str = "0") -> EquityRow:
    return EquityRow(ts_ns=ts, strategy=ALL, instrument=ALL, realized=D(net), unrealized=D(0), fees=D(0), qty=D(0),
                     exposure=D(exposure))


def test_max_drawdown_is_the_largest_fall_from_the_running_peak_in_money_and_of_capital_plus_peak() -> None:
    nets = [D(n) for n in (0, 10, 5, 15, 3, 8)]
    assert drawdowns(nets) == [D(0), D(0), D(-5), D(0), D(-12), D(-7)]
    money, pct = max_drawdown(nets, D(100))
    assert money == D(12)
    assert pct == D(12) / D(115)  # at net 3, from the peak of 15 on a capital of 100
    assert max_drawdown(nets) == (D(12), None)
    assert max_drawdown([D(-4), D(-1)]) == (D(4), None)  # the peak starts at 0: a loss from the start counts


def test_sharpe_and_sortino_of_known_returns_annualised_by_calendar_periods() -> None:
    returns = sampled_returns([D(n) for n in (0, 1, 3, 2, 4)], D(1))
    assert returns == [1.0, 2.0, -1.0, 2.0]
    periods = YEAR_S / (YEAR_S / 100)  # an interval of a hundredth of a year: 100 periods
    # mean 1, sample variance (0 + 1 + 4 + 1) / 3 = 2
    assert sharpe(returns, periods) == pytest.approx(1 / math.sqrt(2) * 10)
    # downside deviation sqrt((0 + 0 + 1 + 0) / 4) = 0.5
    assert sortino(returns, periods) == pytest.approx(2 * 10)
    assert sampled_returns([D(0), D(50)], D(1000)) == [0.05]
    assert sharpe([1.0, 1.0, 1.0], 100) is None  # no spread: not defined
    assert sortino([1.0, 2.0], 100) is None  # no losing period
    assert sharpe([1.0], 100) is None


def test_round_trips_win_rate_and_turnover_including_a_flip() -> None:
    fills = [
        fill(1, Side.BUY, "10", "100", "1"),
        fill(2, Side.SELL, "10", "105", "1"),  # long trip: +50 - 2 fees = 48
        fill(3, Side.SELL, "5", "110", "1"),
        fill(4, Side.BUY, "10", "108", "2"),  # closes the short: +10 - (1 + half of 2) = 8; opens long 5 @ 108
        fill(5, Side.SELL, "5", "107", "1"),  # long trip: -5 - (1 + 1) = -7
        fill(6, Side.BUY, "3", "100", "0"),  # still open: not a trip
    ]
    trips = round_trips(fills)
    assert [(t.side, t.qty, t.pnl, t.fees) for t in trips] == [
        ("long", D(10), D(48), D(2)), ("short", D(5), D(8), D(2)), ("long", D(5), D(-7), D(2))]
    assert [(t.opened_ns, t.closed_ns) for t in trips] == [(1e9, 2e9), (3e9, 4e9), (4e9, 5e9)]
    assert win_rate(trips) == pytest.approx(2 / 3)
    assert win_rate([]) is None
    assert turnover(fills) == D(1000 + 1050 + 550 + 1080 + 535 + 300)


def test_trips_are_kept_apart_per_strategy_and_instrument_and_a_fee_in_the_base_asset_is_valued() -> None:
    a = fill(1, Side.BUY, "1", "100", strategy="a")
    b = fill(2, Side.SELL, "1", "100", strategy="b")
    a_out = fill(3, Side.SELL, "1", "103", strategy="a")
    b_out = Fill(venue="v", instrument="v:X", side=Side.BUY, qty=D(1), price=D(90), fill_id="f4", fee=D("0.01"),
                 fee_asset="X", strategy_id="b", ts_event=4)
    trips = round_trips([a, b, a_out, b_out], {"v:X": "X"})
    assert [(t.strategy, t.pnl) for t in trips] == [("a", D(3)), ("b", D(10) - D("0.9"))]


def test_figures_of_one_scope() -> None:
    series = [row(k, n, e) for k, (n, e) in enumerate([("0", "0"), ("10", "500"), ("4", "500"), ("20", "0")])]
    fills = [fill(1, Side.BUY, "5", "100"), fill(2, Side.SELL, "5", "104")]
    fig = figures("all", series, fills, round_trips(fills), capital=D(1000), interval_s=60)
    assert fig.net == D(20) and fig.ret == D("0.02")
    assert fig.max_drawdown == D(6) and fig.max_drawdown_pct == D(6) / D(1010)
    assert fig.trades == 2 and fig.round_trips == 1 and fig.win_rate == 1.0
    assert fig.turnover == D(1020) and fig.turnover_x == D("1.02")
    assert fig.exposure_mean == D(250) and fig.exposure_max == D(500) and fig.time_in_market == 0.5
    assert fig.sharpe is not None and fig.sortino is not None
    empty = figures("none", [], [], [], capital=None, interval_s=60)
    assert empty.net == 0 and empty.ret is None and empty.sharpe is None and empty.time_in_market is None


def test_a_sample_of_the_portfolio_has_a_row_per_strategy_and_instrument_and_the_totals() -> None:
    pf = Portfolio()
    pf.on_quote(Quote("v:X", 101.0, 103.0, 1.0, 1.0, 0, 0))
    pf.on_quote(Quote("v:Y", 9.0, 11.0, 1.0, 1.0, 0, 0))
    pf.apply_fill(fill(1, Side.BUY, "2", "100", "1", strategy="a"))
    pf.apply_fill(fill(2, Side.SELL, "1", "104", "1", strategy="b"))
    rows = {(r.strategy, r.instrument): r for r in equity_rows(pf, 7, ["a", "b", "idle"], ["v:X", "v:Y"])}
    assert set(rows) == {("a", "v:X"), ("a", ALL), ("b", "v:X"), ("b", ALL), ("idle", ALL),
                         (ALL, "v:X"), (ALL, "v:Y"), (ALL, ALL)}
    a = rows[("a", "v:X")]
    assert (a.qty, a.unrealized, a.fees, a.exposure, a.mark) == (D(2), D(4), D(1), D(204), None)
    assert rows[("b", ALL)].net == D(102 - 104) * -1 - 1  # short 1 @ 104 marked at 102
    total = rows[(ALL, "v:X")]
    assert total.qty == 1 and total.mark == 102.0 and total.net == rows[("a", ALL)].net + rows[("b", ALL)].net
    assert rows[(ALL, "v:Y")].mark == 10.0 and rows[(ALL, "v:Y")].exposure == 0
    assert rows[(ALL, ALL)].net == total.net and all(r.ts_ns == 7 for r in rows.values())
