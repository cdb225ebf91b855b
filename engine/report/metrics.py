"""The report's figures, from the recorded equity series and the journal's fills.

Definitions (the report's page repeats them):

- net PnL = realised + unrealised - fees, the last sample of the series.
- return = net PnL / capital (`report.capital`, else the paper account's starting balance).
- the sampled returns r_t = (net_t - net_{t-1}) / capital, one per sampling interval.
- Sharpe = mean(r) / stdev(r) x sqrt(P), stdev with n - 1, a zero risk-free rate; Sortino = mean(r)
  / sqrt(mean(min(r, 0)^2)) x sqrt(P). P, the periods in a year, is calendar time: 365.25 x 86,400
  / interval_s (markets with sessions are annualised as if they traded around the clock; both
  ratios are unchanged by the capital, so they exist without one).
- max drawdown = the largest fall of net PnL from its running peak (the peak starts at 0), in
  money; as a fraction of capital + peak when a capital is known.
- a round trip: a strategy's position in one instrument from flat back to flat (a fill that flips
  it closes one trip and opens the next); its PnL is the realised PnL on the average cost minus the
  fees of its fills (a flipping fill's fee split by quantity). Win rate = trips with PnL > 0 / trips.
- trades = fills; turnover = sum of |qty x price| of the fills, and as a multiple of capital.
- exposure = |qty| x mark summed over instruments, the mean and the peak over the samples; time in
  market = the share of samples with exposure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import msgspec

from engine.events import ZERO, Fill, Side
from engine.orders.journal import EquityRow

YEAR_S = 365.25 * 86_400


class RoundTrip(msgspec.Struct, frozen=True, kw_only=True):
    strategy: str
    instrument: str
    side: str  # "long" or "short"
    opened_ns: int
    closed_ns: int
    qty: Decimal  # the largest position held in the trip
    pnl: Decimal  # realised on the average cost, minus fees
    fees: Decimal


class Figures(msgspec.Struct, kw_only=True):
    """One row of a figures table: a strategy, an instrument, or the whole run."""

    scope: str
    net: Decimal
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    ret: Decimal | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: Decimal
    max_drawdown_pct: Decimal | None
    trades: int
    round_trips: int
    win_rate: float | None
    turnover: Decimal
    turnover_x: Decimal | None
    exposure_mean: Decimal
    exposure_max: Decimal
    time_in_market: float | None


def sampled_returns(nets: Sequence[Decimal], capital: Decimal | None) -> list[float]:
    """Per-interval changes of net PnL, over capital (or 1: the ratios below do not depend on it)."""
    base = capital if capital else Decimal(1)
    return [float((b - a) / base) for a, b in zip(nets, nets[1:], strict=False)]


def periods_per_year(interval_s: float) -> float:
    return YEAR_S / interval_s


def sharpe(returns: Sequence[float], periods: float) -> float | None:
    """Annualised Sharpe ratio of `returns` (zero risk-free rate); None when it is not defined."""
    n = len(returns)
    if n < 2:
        return None
    mean = math.fsum(returns) / n
    var = math.fsum((r - mean) ** 2 for r in returns) / (n - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(periods)


def sortino(returns: Sequence[float], periods: float) -> float | None:
    """Annualised Sortino ratio (target 0, downside deviation over every period); None without losses."""
    n = len(returns)
    if n < 2:
        return None
    downside = math.fsum(min(r, 0.0) ** 2 for r in returns) / n
    if downside <= 0:
        return None
    return math.fsum(returns) / n / math.sqrt(downside) * math.sqrt(periods)


def drawdowns(nets: Sequence[Decimal]) -> list[Decimal]:
    """The drawdown at each sample: net PnL minus its running peak (<= 0; the peak starts at 0)."""
    peak = ZERO
    out = []
    for net in nets:
        peak = max(peak, net)
        out.append(net - peak)
    return out


def max_drawdown(nets: Sequence[Decimal], capital: Decimal | None = None) -> tuple[Decimal, Decimal | None]:
    """The largest fall from a peak in money, and as a fraction of the equity at that peak."""
    peak = ZERO
    worst = ZERO
    worst_pct: Decimal | None = ZERO if capital else None
    for net in nets:
        peak = max(peak, net)
        worst = max(worst, peak - net)
        if capital and worst_pct is not None:
            worst_pct = max(worst_pct, (peak - net) / (capital + peak))
    return worst, worst_pct


def fee_in_quote(fill: Fill, bases: Mapping[str, str]) -> Decimal:
    """A fill's fee in the quote currency (a fee taken in the base asset is valued at the fill price)."""
    if fill.fee_asset is not None and fill.fee_asset == bases.get(fill.instrument):
        return fill.fee * fill.price
    return fill.fee


class _Trip:
    __slots__ = ("qty", "avg", "realized", "fees", "opened", "peak")

    def __init__(self) -> None:
        self.qty = self.avg = self.realized = self.fees = self.peak = ZERO
        self.opened = 0


def round_trips(fills: Iterable[Fill], bases: Mapping[str, str] | None = None) -> list[RoundTrip]:
    """Every closed round trip, in the order they closed."""
    open_: dict[tuple[str, str], _Trip] = {}
    done: list[RoundTrip] = []
    for f in fills:
        key = (f.strategy_id or "", f.instrument)
        t = open_.setdefault(key, _Trip())
        fee = fee_in_quote(f, bases or {})
        signed = f.qty if f.side is Side.BUY else -f.qty
        if t.qty == 0:
            t.opened, t.realized, t.fees, t.peak = f.ts_event, ZERO, ZERO, ZERO
        if t.qty == 0 or (t.qty > 0) == (signed > 0):
            total = t.qty + signed
            t.avg = (t.avg * abs(t.qty) + f.price * f.qty) / abs(total)
            t.qty, t.fees = total, t.fees + fee
            t.peak = max(t.peak, abs(total))
            continue
        closing = min(f.qty, abs(t.qty))
        direction = 1 if t.qty > 0 else -1
        closing_fee = fee * closing / f.qty
        t.realized += (f.price - t.avg) * closing * direction
        t.fees += closing_fee
        t.qty += signed
        if t.qty != 0 and (t.qty > 0) == (direction > 0):
            continue  # reduced, still open
        done.append(RoundTrip(strategy=key[0], instrument=key[1], side="long" if direction > 0 else "short",
                              opened_ns=t.opened, closed_ns=f.ts_event, qty=t.peak, pnl=t.realized - t.fees,
                              fees=t.fees))
        if t.qty != 0:  # flipped: the rest opens the next trip at this price
            t.opened, t.avg, t.realized, t.fees, t.peak = f.ts_event, f.price, ZERO, fee - closing_fee, abs(t.qty)
    return done


def win_rate(trips: Sequence[RoundTrip]) -> float | None:
    return None if not trips else sum(1 for t in trips if t.pnl > 0) / len(trips)


def turnover(fills: Iterable[Fill]) -> Decimal:
    return sum((f.qty * f.price for f in fills), ZERO)


def figures(scope: str, series: Sequence[EquityRow], fills: Sequence[Fill], trips: Sequence[RoundTrip], *,
            capital: Decimal | None, interval_s: float) -> Figures:
    """Every figure of one scope: its equity series (in time order), its fills and round trips."""
    nets = [row.net for row in series]
    last = series[-1] if series else None
    returns = sampled_returns(nets, capital)
    periods = periods_per_year(interval_s)
    dd, dd_pct = max_drawdown(nets, capital)
    traded = turnover(fills)
    exposures = [row.exposure for row in series]
    net = last.net if last else ZERO
    return Figures(
        scope=scope,
        net=net,
        realized=last.realized if last else ZERO,
        unrealized=last.unrealized if last else ZERO,
        fees=last.fees if last else ZERO,
        ret=net / capital if capital else None,
        sharpe=sharpe(returns, periods),
        sortino=sortino(returns, periods),
        max_drawdown=dd,
        max_drawdown_pct=dd_pct,
        trades=len(fills),
        round_trips=len(trips),
        win_rate=win_rate(trips),
        turnover=traded,
        turnover_x=traded / capital if capital else None,
        exposure_mean=sum(exposures, ZERO) / len(exposures) if exposures else ZERO,
        exposure_max=max(exposures, default=ZERO),
        time_in_market=sum(1 for e in exposures if e) / len(exposures) if exposures else None,
    )
