"""`python run.py backtest CONFIG`: the shipped historical config, determinism, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.test_run import ROOT, check_ledger, run_py

CONFIG = "configs/backtest_historical.yaml"


def test_the_shipped_historical_backtest_trades_the_sample_day_and_reconciles(tmp_path: Path) -> None:
    proc = run_py("backtest", CONFIG, "--log-format", "json", "--trades", str(tmp_path / "t.csv"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["mode"] == "backtest" and summary["fills"] > 0
    assert summary["stop_reason"].endswith("(to the data's end)")
    check_ledger(summary, {"INR": 1000000})
    assert len((tmp_path / "t.csv").read_text().splitlines()) == summary["fills"] + 1
    assert "\r" not in proc.stderr  # no progress line when stderr is not a terminal


def test_the_same_backtest_twice_gives_the_same_trade_list_byte_for_byte(tmp_path: Path) -> None:
    for name in ("a", "b"):
        proc = run_py("backtest", CONFIG, "--from", "2026-12-07T10:00:00+05:30", "--to", "2026-12-07T12:00:00+05:30",
                      "--trades", str(tmp_path / f"{name}.csv"))
        assert proc.returncode == 0, proc.stderr[-3000:]
    first = (tmp_path / "a.csv").read_bytes()
    assert first == (tmp_path / "b.csv").read_bytes()
    assert first.count(b"\n") > 2  # some fills, not just the header


def test_a_missing_data_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / CONFIG).read_text())
    raw["venues"]["nse"]["path"] = str(tmp_path / "nothing.csv.gz")
    config = tmp_path / "bt.yaml"
    config.write_text(yaml.safe_dump(raw))
    proc = run_py("backtest", str(config))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"{config}: venues.nse.path: no such file or folder: {tmp_path / 'nothing.csv.gz'}"]


def test_a_missing_column_is_one_line_and_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "q.csv"
    data.write_text("ts,instrument,bid,ask,bid_size\n")
    raw = yaml.safe_load((ROOT / CONFIG).read_text())
    raw["venues"]["nse"]["path"] = str(data)
    config = tmp_path / "bt.yaml"
    config.write_text(yaml.safe_dump(raw))
    proc = run_py("backtest", str(config))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{data}: missing column 'ask_size'")


def test_a_naive_from_time_is_refused() -> None:
    proc = run_py("backtest", CONFIG, "--from", "2026-12-07T10:00:00")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "--from: give the time with its offset, e.g. 2026-12-07T10:00:00+05:30 or 2026-12-07T10:00:00Z"
