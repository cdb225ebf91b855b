"""A run's report from its journal record alone: the figures, the series the charts draw, the trade
list; written as one self-contained HTML file and the trades as CSV beside it."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from engine.events import Fill
from engine.orders.journal import ALL, EquityRow, JournalRecord
from engine.report.metrics import Figures, RoundTrip, figures, round_trips

DEFAULT_INTERVAL_S = 10.0


class Report(msgspec.Struct, kw_only=True):
    run: dict[str, Any]  # the latest run's config snapshot (engine/report/record.py)
    summary: dict[str, Any] | None  # its summary, once it ended
    runs: int  # runs recorded on this journal
    total: Figures
    strategies: list[Figures]
    instruments: list[Figures]
    series: dict[tuple[str, str], list[EquityRow]]  # (strategy, instrument) -> samples in time order
    fills: list[Fill]
    trips: list[RoundTrip]
    capital: Decimal | None
    interval_s: float


def build(record: JournalRecord) -> Report:
    """Every figure of the run the journal holds (its latest run's config and summary)."""
    latest = record.runs[-1] if record.runs else None
    run: dict[str, Any] = json.loads(latest.config) if latest else {}
    summary = json.loads(latest.summary) if latest and latest.summary else None
    capital = Decimal(run["capital"]) if run.get("capital") else None
    interval_s = float(run.get("interval_s") or DEFAULT_INTERVAL_S)
    bases = {inst: info["base"] for inst, info in (run.get("instruments") or {}).items()}
    series: dict[tuple[str, str], list[EquityRow]] = defaultdict(list)
    for row in record.equity:
        series[(row.strategy, row.instrument)].append(row)
    fills = record.fills
    trips = round_trips(fills, bases)
    strategy_ids = sorted({s for s, i in series if s != ALL and i == ALL} | {f.strategy_id or "" for f in fills})
    instrument_ids = sorted({i for s, i in series if s == ALL and i != ALL} | {f.instrument for f in fills})

    def scope(name: str, rows: list[EquityRow], chosen: list[Fill], its_trips: list[RoundTrip]) -> Figures:
        return figures(name, rows, chosen, its_trips, capital=capital, interval_s=interval_s)

    return Report(
        run=run,
        summary=summary,
        runs=len(record.runs),
        total=scope("all", series.get((ALL, ALL), []), fills, trips),
        strategies=[
            scope(s, series.get((s, ALL), []), [f for f in fills if (f.strategy_id or "") == s],
                  [t for t in trips if t.strategy == s])
            for s in strategy_ids
        ],
        instruments=[
            scope(i, series.get((ALL, i), []), [f for f in fills if f.instrument == i],
                  [t for t in trips if t.instrument == i])
            for i in instrument_ids
        ],
        series=dict(series),
        fills=fills,
        trips=trips,
        capital=capital,
        interval_s=interval_s,
    )


def trades_path(html: Path) -> Path:
    """The trade list's CSV beside the report: `x.report.html` -> `x.trades.csv`."""
    name = html.name
    for suffix in (".report.html", ".html"):
        if name.endswith(suffix):
            return html.with_name(name[: -len(suffix)] + ".trades.csv")
    return html.with_name(name + ".trades.csv")


def write_report(record: JournalRecord, html: Path) -> tuple[Path, Path]:
    """The HTML report at `html` and the trades CSV beside it; an OSError is the caller's to tell."""
    from engine.app.summary import write_fills
    from engine.report.html import render

    report = build(record)
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render(report), encoding="utf-8")
    csv = trades_path(html)
    write_fills(report.fills, csv)
    return html, csv
