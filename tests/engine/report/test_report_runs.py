"""Every run ends with its report and trade list; `run.py report JOURNAL` makes them again from the
journal alone; a backtest's are deterministic."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import yaml

from engine.orders.journal import ALL, read_record
from tests.test_run import ROOT, run_py

CONFIG = ROOT / "configs" / "backtest_historical.yaml"
WINDOW = ("--from", "2026-12-07T10:00:00+05:30", "--to", "2026-12-07T12:00:00+05:30")


def config(tmp: Path, name: str = "bt", **changes: Any) -> Path:
    raw = yaml.safe_load(CONFIG.read_text())
    raw.update({"name": name, "state_dir": str(tmp / "state"), "journal": str(tmp / f"{name}.sqlite"), **changes})
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def backtest(path: Path, *args: str) -> dict[str, Any]:
    proc = run_py("backtest", str(path), "--log-format", "json", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return summary


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_backtest_writes_its_report_and_a_trades_csv_equal_to_the_journals_fills(tmp_path: Path) -> None:
    summary = backtest(config(tmp_path))
    html, trades = Path(summary["report"]["html"]), Path(summary["report"]["trades"])
    assert (html, trades) == (tmp_path / "bt.report.html", tmp_path / "bt.trades.csv")
    record = read_record(tmp_path / "bt.sqlite")
    rows = csv_rows(trades)
    assert summary["fills"] > 0 and len(rows) == len(record.fills) == summary["fills"]
    for got, f in zip(rows, record.fills, strict=True):
        assert (got["fill_id"], got["client_order_id"], got["instrument"], got["side"], got["qty"], got["price"],
                got["fee"], got["ts_event"], got["strategy"]) == (
            f.fill_id, f.client_order_id, f.instrument, f.side.value, str(f.qty), str(f.price), str(f.fee),
            str(f.ts_event), f.strategy_id)
    # sampled every 10 s of simulated time from the start, and once more at the end
    times = [r.ts_ns for r in record.equity if (r.strategy, r.instrument) == (ALL, ALL)]
    assert {b - a for a, b in zip(times[:-2], times[1:-1], strict=True)} == {10 * 10**9} and len(times) > 2000
    # the equity series ends where the summary does, and the journal keeps the summary
    last = [r for r in record.equity if (r.strategy, r.instrument) == (ALL, ALL)][-1]
    assert str(last.net) == summary["pnl"]["net"] and str(last.fees) == summary["pnl"]["fees"]
    assert json.loads(record.runs[-1].summary or "{}")["fills"] == summary["fills"]
    page = html.read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert 'id="equity-chart"' in page and summary["pnl"]["net"].split(".")[0] in page


def test_the_same_backtest_twice_gives_byte_identical_trade_lists_and_equity_series(tmp_path: Path) -> None:
    series = []
    for name in ("a", "b"):
        summary = backtest(config(tmp_path, name), *WINDOW)
        series.append(Path(summary["report"]["trades"]).read_bytes())
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as db:
            series.append(db.execute("SELECT * FROM equity ORDER BY rowid").fetchall())
    assert series[0] == series[2] and series[0].count(b"\n") > 2
    assert series[1] == series[3] and len(series[1]) > 100


def test_report_rebuilds_the_same_trade_list_and_page_from_a_finished_runs_journal(tmp_path: Path) -> None:
    summary = backtest(config(tmp_path), *WINDOW)
    out = tmp_path / "again" / "r.html"
    proc = run_py("report", str(tmp_path / "bt.sqlite"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "again" / "r.trades.csv").read_bytes() == Path(summary["report"]["trades"]).read_bytes()
    assert out.read_text() == Path(summary["report"]["html"]).read_text()
    proc = run_py("report", str(tmp_path / "bt.sqlite"))  # no --out: beside the journal
    assert proc.returncode == 0 and (tmp_path / "bt.report.html").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(("-wal", "-shm"))]  # the file left as it was


def test_a_paper_run_writes_its_report_beside_its_journal(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "configs" / "paper_sma.yaml").read_text())
    raw.update({"journal": str(tmp_path / "p.sqlite"), "state_dir": str(tmp_path / "state"),
                "report": {"interval_s": 5, "capital": 250000}})
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    proc = run_py(str(path), "--duration", "3", "--log-format", "json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["report"] == {"html": str(tmp_path / "p.report.html"), "trades": str(tmp_path / "p.trades.csv")}
    record = read_record(tmp_path / "p.sqlite")
    run = json.loads(record.runs[-1].config)
    assert (run["mode"], run["capital"], run["capital_from"], run["interval_s"]) == ("paper", "250000", "report.capital", 5)
    assert len({r.ts_ns for r in record.equity}) >= 2  # the start and the end at least
    assert len(csv_rows(tmp_path / "p.trades.csv")) == summary["fills"]


def test_a_run_with_its_journal_in_memory_writes_the_report_in_state_dir_and_report_false_writes_none(
        tmp_path: Path) -> None:
    summary = backtest(config(tmp_path, journal=None), *WINDOW)
    assert summary["report"]["html"] == str(tmp_path / "state" / "reports" / "bt.report.html")
    assert Path(summary["report"]["trades"]).read_text().count("\n") == summary["fills"] + 1
    off = backtest(config(tmp_path, "off", report=False), *WINDOW)
    assert "report" not in off and not (tmp_path / "off.report.html").exists()
    with sqlite3.connect(tmp_path / "off.sqlite") as db:
        assert db.execute("SELECT count(*) FROM equity").fetchone() == (0,)


def test_report_of_a_missing_or_non_journal_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database, just words " * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    for path, why in ((tmp_path / "none.sqlite", "no such file"), (text, "not a tickbus journal"),
                      (other, "an SQLite file but not a tickbus journal")):
        proc = run_py("report", str(path))
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{path}: {why}"), lines


def test_a_report_option_mistake_is_one_line_naming_the_field(tmp_path: Path) -> None:
    proc = run_py("check", str(config(tmp_path, report={"interval_s": 0})))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"{tmp_path / 'bt.yaml'}: report.interval_s: expected float > 0.0, got 0"]
    proc = run_py("check", str(config(tmp_path, report={"capital": -5})))
    assert proc.returncode == 2 and proc.stderr.strip().endswith("report.capital: expected a positive amount, got -5")
