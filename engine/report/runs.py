"""The report's part in a run: the recorder started with the engine, the report written when it
ends (beside the journal), and `run.py report JOURNAL` for a past run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from engine.errors import UserError
from engine.orders.journal import NotAJournal, RunRow, read_record, record_summary
from engine.report.build import trades_path, write_report
from engine.report.record import EquityRecorder, config_snapshot, default_capital

if TYPE_CHECKING:
    from engine.app.runner import Engine

log = structlog.get_logger("tickbus.report")


def start_recorder(engine: Engine) -> EquityRecorder | None:
    """The equity series of this run, or None with `report: false`."""
    report = engine.plan.report
    if report is None:
        return None
    watched = sorted({i for sp in engine.plan.strategies for i in sp.config.instruments})
    instruments = {i: engine.portfolio.instruments[i] for i in watched if i in engine.portfolio.instruments}
    capital, capital_from = default_capital(engine.plan, instruments.values())
    recorder = EquityRecorder(
        clock=engine.clock, portfolio=engine.portfolio, journal=engine.journal, interval_s=report.interval_s,
        strategies=[sp.config.name for sp in engine.plan.strategies], watched=watched,
    )
    recorder.start(config_snapshot(engine.plan, instruments, capital, capital_from, report.interval_s))
    return recorder


def finish_report(engine: Engine, summary: dict[str, Any]) -> dict[str, str] | None:
    """Write the ended run's report and trades beside its journal; their paths (or why not) for
    the summary. The summary is kept in the journal, so `run.py report` shows it again."""
    recorder = engine.recorder
    html = engine.plan.report_path
    if recorder is None or html is None:
        return None
    journal = engine.journal.path
    summary["report"] = {"html": str(html), "trades": str(trades_path(html))}  # first: kept with the summary
    try:
        if journal is not None:
            record_summary(journal, recorder.started_ns, json.dumps(summary, sort_keys=True))
            record = read_record(journal)
        else:
            if recorder.record is None:
                raise RuntimeError("the journal was not read before it closed")
            record = recorder.record
            if record.runs:
                last = record.runs[-1]
                record.runs[-1] = RunRow(last.started_ns, last.config, json.dumps(summary, sort_keys=True))
        write_report(record, html)
    except (OSError, NotAJournal, RuntimeError) as exc:
        log.error("report not written", path=str(html), error=str(exc))
        summary["report"] = {"error": f"{html}: {exc}"}
    return summary["report"]


def cmd_report(journal: str, out: str | None) -> int:
    """`run.py report JOURNAL [--out FILE]`: a past run's report again, from its journal alone."""
    try:
        record = read_record(journal)
    except NotAJournal as exc:
        raise UserError(f"{journal}: {exc}") from None
    html = Path(out) if out else Path(journal).with_suffix(".report.html")
    try:
        html_path, csv_path = write_report(record, html)
    except OSError as exc:
        raise UserError(f"--out: cannot write {html}: {exc.strerror or exc}") from None
    print(f"report: {html_path}\ntrades: {csv_path} ({len(record.fills)} fills)")
    return 0
