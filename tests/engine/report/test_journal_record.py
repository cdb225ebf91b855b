"""The journal's equity series and runs: exact round trips, a journal from before them, an empty run."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import msgspec

from engine.events import Fill, Side
from engine.orders.journal import ALL, EquityRow, Journal, read_record, record_summary
from engine.report.build import trades_path, write_report

D = Decimal


def test_equity_rows_and_runs_come_back_exact_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    journal.write_run(5, '{"name": "x"}')
    rows = [EquityRow(ts_ns=5, strategy="s", instrument="v:X", realized=D("1.0000001"), unrealized=D("-0.5"),
                      fees=D("0.25"), qty=D("3"), exposure=D("300.15"), mark=100.05),
            EquityRow(ts_ns=5, strategy=ALL, instrument=ALL, realized=D(0), unrealized=D(0), fees=D(0), qty=D(0),
                      exposure=D(0))]
    journal.write_equity(rows)
    assert journal.uncommitted
    journal.commit()
    assert not journal.uncommitted
    journal.close()
    record_summary(path, 5, '{"fills": 0}')
    record = read_record(path)
    assert record.equity == rows and rows[0].net == D("0.2500001")
    assert [(r.started_ns, r.config, r.summary) for r in record.runs] == [(5, '{"name": "x"}', '{"fills": 0}')]


def test_a_journal_from_before_the_equity_series_still_makes_a_report_of_its_fills(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    fill = Fill(venue="v", instrument="v:X", side=Side.BUY, qty=D(1), price=D(10), fill_id="f1", strategy_id="s",
                ts_event=1_000_000_000)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL, "
                   "client_order_id TEXT, body BLOB NOT NULL)")
        db.execute("INSERT INTO events (ts_ns, kind, client_order_id, body) VALUES (1, 'fill', NULL, ?)",
                   (msgspec.msgpack.Encoder(decimal_format="string").encode(fill),))
    record = read_record(path)
    assert record.fills == [fill] and record.equity == [] and record.runs == []
    html, csv = write_report(record, tmp_path / "old.report.html")
    assert csv == trades_path(html) == tmp_path / "old.trades.csv"
    assert csv.read_text().count("\n") == 2 and "no data" in html.read_text()
    assert not (tmp_path / "old.sqlite-wal").exists()  # read without changing it


def test_a_run_with_no_fills_and_no_samples_still_has_a_page(tmp_path: Path) -> None:
    journal = Journal(None)
    html, csv = write_report(journal.record(), tmp_path / "r" / "empty.html")
    journal.close()
    assert csv.name == "empty.trades.csv" and csv.read_text().startswith("ts_event,")
    assert "<svg" in html.read_text()
