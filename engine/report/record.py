"""What a run records for its report: the equity series, sampled on a fixed interval of engine time
(simulated time in a backtest, so the same backtest gives the same series), and the run's config.

The sampler is one repeating clock timer: nothing runs per market-data event. Each sample is a few
rows per strategy and instrument, handed to the journal and written with its group commit."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from engine.clock import NS, Clock, TimerHandle
from engine.events import ZERO, Instrument, Position
from engine.log import REDACTED, is_secret_key, scrub
from engine.orders.journal import ALL, EquityRow, JournalRecord, OrderJournal

if TYPE_CHECKING:
    from engine.account.portfolio import Portfolio
    from engine.app.config import Plan

log = structlog.get_logger("tickbus.report")


def equity_rows(pf: Portfolio, now_ns: int, strategies: Iterable[str], watched: Iterable[str]) -> list[EquityRow]:
    """One sample: every strategy in each instrument it holds or held and over all of them, then all
    strategies together per instrument (with the instrument's mark) and over everything."""
    rows: list[EquityRow] = []
    marks: dict[str, Decimal | None] = {}

    def mark(inst: str) -> Decimal | None:
        if inst not in marks:
            marks[inst] = pf.mark(inst)
        return marks[inst]

    def scope(strategy: str, positions: list[Position], with_marks: bool) -> None:
        total = [ZERO, ZERO, ZERO, ZERO]
        for p in positions:
            m = mark(p.instrument)
            unrealized = (m - p.avg_price) * p.qty if m is not None and p.qty else ZERO
            exposure = abs(p.qty) * m if m is not None else ZERO
            rows.append(EquityRow(ts_ns=now_ns, strategy=strategy, instrument=p.instrument, realized=p.realized_pnl,
                                  unrealized=unrealized, fees=p.fees, qty=p.qty, exposure=exposure,
                                  mark=None if not with_marks or m is None else float(m)))
            for i, value in enumerate((p.realized_pnl, unrealized, p.fees, exposure)):
                total[i] += value
        rows.append(EquityRow(ts_ns=now_ns, strategy=strategy, instrument=ALL, realized=total[0],
                              unrealized=total[1], fees=total[2], qty=ZERO, exposure=total[3]))

    for sid in sorted(set(strategies) | set(pf.strategies())):
        scope(sid, pf.positions(sid), with_marks=False)
    held = {p.instrument: p for p in pf.positions()}
    for inst in sorted(set(watched) - set(held)):
        held[inst] = Position(instrument=inst, qty=ZERO)
    scope(ALL, [held[i] for i in sorted(held)], with_marks=True)
    return rows


class EquityRecorder:
    """Samples the portfolio every `interval_s` of engine time into the journal."""

    def __init__(self, *, clock: Clock, portfolio: Portfolio, journal: OrderJournal, interval_s: float,
                 strategies: list[str], watched: list[str]) -> None:
        self.clock = clock
        self.portfolio = portfolio
        self.journal = journal
        self.interval_s = interval_s
        self.strategies = strategies
        self.watched = watched
        self.started_ns = clock.now_ns()
        self.samples = 0
        self.record: JournalRecord | None = None  # a journal in memory, read before it closed
        self._timer: TimerHandle | None = None
        self._due = 0  # the samples taken on the interval: the k-th is due at started_ns + k x interval

    def start(self, config: dict[str, Any]) -> None:
        self.journal.write_run(self.started_ns, json.dumps(config, sort_keys=True))
        self.sample()
        self._schedule()

    def _schedule(self) -> None:
        """The next sample at its place on the interval (a late timer does not push the ones after it)."""
        self._due += 1
        at = self.started_ns + int(self._due * self.interval_s * NS)
        self._timer = self.clock.call_later((at - self.clock.now_ns()) / NS, self._tick)

    def _tick(self) -> None:
        if self._timer is None:
            return
        self._schedule()
        self.sample()

    def sample(self) -> None:
        # a run without strategies of its own (a split run's core): every instrument it has a mark for
        watched = self.watched or list(self.portfolio.marks)
        rows = equity_rows(self.portfolio, self.clock.now_ns(), self.strategies, watched)
        self.journal.write_equity(rows)
        self.samples += 1
        try:
            self.journal.commit()
        except Exception as exc:  # noqa: BLE001 - the rows stay pending; the order book's commit halts orders
            log.error("equity sample not committed", error=repr(exc))

    def pause(self) -> None:
        """The run is stopping: no more timed samples (the stop's own clock moves take none)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def finish(self) -> None:
        """The last sample, after the stop's cancels; a journal in memory is read before it closes."""
        self.pause()
        try:
            self.sample()
            if self.journal.path is None:
                self.record = self.journal.record()
        except Exception as exc:  # noqa: BLE001 - the journal must still close
            log.error("the report's last sample failed", error=repr(exc))


def config_snapshot(plan: Plan, instruments: dict[str, Instrument], capital: Decimal | None,
                    capital_from: str | None, interval_s: float) -> dict[str, Any]:
    """The run's config as the report shows it (secrets masked), and what its figures need."""
    cfg = plan.config
    return {
        "file": plan.file,
        "name": plan.name,
        "mode": cfg.mode,
        "journal": plan.journal_path,
        "config": _masked(msgspec.to_builtins(cfg)),
        "interval_s": interval_s,
        "capital": None if capital is None else str(capital),
        "capital_from": capital_from,
        "instruments": {
            i.id: {"base": i.base, "quote": i.quote, "tick_size": str(i.tick_size), "exchange": i.exchange}
            for i in sorted(instruments.values(), key=lambda i: i.id)
        },
    }


def default_capital(plan: Plan, instruments: Iterable[Instrument]) -> tuple[Decimal | None, str | None]:
    """`report.capital`, else the paper account's starting balance in the traded instruments' quote
    currency (when they share one), else none (return and drawdown % are then not shown)."""
    report = plan.report
    if report is not None and report.capital is not None:
        return report.capital, "report.capital"
    quotes = {i.quote for i in instruments}
    if plan.paper is None or len(quotes) != 1:
        return None, None
    (quote,) = quotes
    balances: dict[str, Decimal] = getattr(plan.paper.config, "balances", {}) or {}
    amount = balances.get(quote)
    if amount is None or amount <= 0:
        return None, None
    return Decimal(amount), f"paper.balances.{quote}"


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(k) and v else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return scrub(value)
