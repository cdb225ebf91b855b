"""`run.py sweep`: parameter specs, config paths, and a small grid of real backtests ranked, with the
walk-forward split."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from engine.app.sweep import parse_param, set_path
from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "backtest_historical.yaml")


def test_param_specs_are_ranges_steps_and_lists() -> None:
    assert parse_param("a.b=3:6") == ("a.b", [3, 4, 5, 6])
    assert parse_param("a=3:10:3") == ("a", [3, 6, 9])
    assert parse_param("a=0.1:0.3:0.1") == ("a", [0.1, 0.2, 0.3])
    assert parse_param("a=5,8,13") == ("a", [5, 8, 13])
    assert parse_param("mode=fast,slow") == ("mode", ["fast", "slow"])
    for bad in ("a", "a=", "a=6:3", "a=1:2:0", "a=1:nan", "a=1:2:3:4"):
        with pytest.raises(UserError):
            parse_param(bad)


def test_config_paths_by_index_by_strategy_name_and_dotted() -> None:
    config = {"strategies": [{"name": "sma", "params": {"fast": 1}}], "paper": {}}
    set_path(config, "strategies[0].params.fast", 5)
    set_path(config, "strategies.sma.params.slow", 20)
    set_path(config, "paper.latency_ms", 7)
    assert config == {"strategies": [{"name": "sma", "params": {"fast": 5, "slow": 20}}], "paper": {"latency_ms": 7}}
    for bad in ("strategies[3].params.fast", "strategies.nope.params.fast", "strategies[0]"):
        with pytest.raises(UserError):
            set_path(config, bad, 1)


def sweep(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", "sweep", CONFIG, "--out", str(tmp), "--jobs", "2", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def backtest(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "run.py", "backtest", *args, "--log-format", "json", "--log-level", "error"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


def test_a_small_grid_is_backtested_and_ranked_by_net_pnl(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "--param", "strategies[0].params.fast=3:4", "--param", "strategies.sma.params.slow=15,25")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "sweep.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {(r["strategies[0].params.fast"], r["strategies.sma.params.slow"]) for r in rows} == {
        ("3", "15"), ("3", "25"), ("4", "15"), ("4", "25")}
    nets = [Decimal(r["net"]) for r in rows]
    assert nets == sorted(nets, reverse=True) and [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    assert all(not r["error"] for r in rows)
    # the best row is what a backtest of that combination by hand gives
    best = rows[0]
    text = Path(CONFIG).read_text().replace("params: {fast: 5, slow: 20", f"params: {{fast: {best['strategies[0].params.fast']}, slow: {best['strategies.sma.params.slow']}")
    hand = tmp_path / "hand.yaml"
    hand.write_text(text)
    summary = backtest(str(hand))
    assert summary["pnl"]["net"] == best["net"] and str(summary["fills"]) == best["fills"]  # type: ignore[index]
    page = (tmp_path / "sweep.html").read_text()
    assert page.count("<tr>") == 5 and "http" not in page  # self-contained


def test_the_walk_forward_split_ranks_in_sample_and_shows_out_of_sample(tmp_path: Path) -> None:
    period = ["--from", "2026-12-07T09:15:00+05:30", "--to", "2026-12-07T15:30:00+05:30"]
    proc = sweep(tmp_path, "--param", "strategies[0].params.fast=3,5", "--split", "0.6", *period)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "sweep.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(r["oos_net"] and r["oos_fills"] for r in rows)
    assert Decimal(rows[0]["net"]) >= Decimal(rows[1]["net"])
    cut = "2026-12-07T13:00:00+05:30"  # 60 % of 09:15..15:30
    [five] = [r for r in rows if r["strategies[0].params.fast"] == "5"]  # the config's own value
    assert backtest(CONFIG, "--from", cut, "--to", period[3])["pnl"]["net"] == five["oos_net"]  # type: ignore[index]
    assert backtest(CONFIG, *period[:2], "--to", cut)["pnl"]["net"] == five["net"]  # type: ignore[index]


def test_sweep_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["--param", "strategies[9].params.fast=3:5"], ["--param", "x=1", "--metric", "nope"], [],
                 ["--param", "strategies[0].params.fast=3", "--split", "0.5"]):
        proc = sweep(tmp_path, *args)
        assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr, proc.stderr
